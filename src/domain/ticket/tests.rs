//! The state machine, exhaustively: every status × every action × every kind of caller.

use super::*;
use crate::domain::intake::{Department, Description, Device, Location, Phone, Place, TicketKind};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    use chrono::TimeZone;
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
}

fn engineer(id: i64, group: &str, tier: Tier) -> Engineer {
    Engineer {
        id: EngineerId(id),
        handle: format!("e{id}"),
        name: format!("Engineer {id}"),
        group: group.into(),
        tier,
        on_duty: true,
        telegram_id: None,
        discord_id: None,
        web_id: None,
        wecom_id: None,
    }
}

const REPORTER: ReporterId = ReporterId(7);

fn assignee() -> Engineer {
    engineer(1, "printer", Tier::FirstLine)
}

fn note(s: &str) -> Note {
    Note::parse(s).unwrap()
}

/// A ticket in `status` with the fields that status implies.
pub(crate) fn ticket_in(status: Status) -> Ticket {
    let held = matches!(
        status,
        Status::Accepted
            | Status::InProgress
            | Status::Pending
            | Status::Resolved
            | Status::Reopened
            | Status::Closed
    );
    Ticket {
        id: TicketId(1),
        number: TicketNumber::new("BX", 2026, 1),
        reporter: REPORTER,
        intake: Intake {
            kind: TicketKind::Fault,
            reporter_name: crate::domain::intake::PersonName::parse("李娜").unwrap(),
            department: Department::parse("财务部").unwrap(),
            phone: Phone::parse("13800138000").unwrap(),
            location: Location {
                site: Place::parse("总部").unwrap(),
                building: None,
                room: Some(Place::parse("3F-301").unwrap()),
            },
            device: Device::default(),
            category: "printer".into(),
            description: Description::parse("卡纸").unwrap(),
            started_at: None,
            people_affected: 1,
            photos: vec![],
            channel: crate::domain::channel::Channel::Telegram,
            received_at: None,
        },
        vip: false,
        impact: Impact::One,
        urgency: Urgency::High,
        priority: Priority::P3,
        status,
        group: "printer".into(),
        tier: Tier::FirstLine,
        assignee: held.then_some(EngineerId(1)),
        offered_to: None,
        work_mode: matches!(status, Status::InProgress | Status::Pending)
            .then_some(WorkMode::Remote),
        arrived_at: None,
        pending_reason: (status == Status::Pending).then_some(PendingReason::Vendor),
        cause: None,
        solution: None,
        closure: (status == Status::Closed).then_some(Closure::Confirmed),
        reopen_count: 0,
        escalation_level: 0,
        response_due_at: None,
        resolution_due_at: None,
        next_due_at: None,
        created_at: at(9, 0),
        updated_at: at(9, 0),
        accepted_at: held.then_some(at(9, 5)),
        resolved_at: None,
        closed_at: None,
        loaner: None,
        loaner_issued_at: None,
        loaner_returned_at: None,
        remote_consent: None,
        version: 1,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    OwnReporter,
    OtherReporter,
    Assignee,
    Colleague,
    GroupExpert,
    OtherGroup,
    ManagerEngineer,
    Desk,
    System,
}

const EVERYONE: [Who; 9] = [
    Who::OwnReporter,
    Who::OtherReporter,
    Who::Assignee,
    Who::Colleague,
    Who::GroupExpert,
    Who::OtherGroup,
    Who::ManagerEngineer,
    Who::Desk,
    Who::System,
];

fn caller(who: Who) -> Caller {
    match who {
        Who::OwnReporter => Caller::Reporter(REPORTER),
        Who::OtherReporter => Caller::Reporter(ReporterId(8)),
        Who::Assignee => Caller::Engineer(assignee()),
        Who::Colleague => Caller::Engineer(engineer(2, "printer", Tier::FirstLine)),
        Who::GroupExpert => Caller::Engineer(engineer(3, "printer", Tier::Expert)),
        Who::OtherGroup => Caller::Engineer(engineer(4, "network", Tier::FirstLine)),
        Who::ManagerEngineer => Caller::Engineer(engineer(5, "desktop", Tier::Manager)),
        Who::Desk => Caller::Desk {
            name: "service desk".into(),
        },
        Who::System => Caller::System,
    }
}

fn actions() -> Vec<Action> {
    vec![
        Action::Accept,
        Action::StartWork(WorkMode::OnSite),
        Action::Arrive,
        Action::Progress(note("正在处理")),
        Action::Comment(note("补充信息")),
        Action::Pend(PendingReason::Vendor, note("等配件")),
        Action::Resume,
        Action::Resolve {
            cause: note("搓纸轮磨损"),
            solution: note("更换搓纸轮"),
        },
        Action::Confirm,
        Action::Reopen(note("还是卡纸")),
        Action::AutoClose,
        Action::Cancel(None),
        Action::Reassign {
            group: "desktop".into(),
            engineer: None,
        },
        Action::Escalate(note("需要专家")),
        Action::IssueLoaner(note("备用笔记本 BJ-0012")),
        Action::ReturnLoaner,
        Action::AnswerRemoteConsent(true),
    ]
}

/// The specification, written as a table independent of `apply`'s code:
/// from which statuses each action is legal, and the status it leads to.
fn legal(action: &Action, from: Status) -> Option<Status> {
    use Status::*;
    let working = matches!(from, Accepted | InProgress | Reopened);
    let open = !from.is_final() && from != Resolved;
    match action {
        Action::Accept => matches!(from, New | Offered).then_some(Accepted),
        Action::StartWork(_) | Action::Arrive => working.then_some(InProgress),
        Action::Progress(_) => (working || from == Pending).then_some(from),
        Action::Comment(_) => (!from.is_final()).then_some(from),
        Action::Pend(..) => working.then_some(Pending),
        Action::Resume => (from == Pending).then_some(InProgress),
        Action::Resolve { .. } => working.then_some(Resolved),
        Action::Confirm | Action::AutoClose => (from == Resolved).then_some(Closed),
        Action::Reopen(_) => (from == Resolved).then_some(Reopened),
        Action::Cancel(_) => open.then_some(Cancelled),
        Action::Reassign { .. } | Action::Escalate(_) => open.then_some(Offered),
        Action::IssueLoaner(_) => (!from.is_final()).then_some(from),
        // `ticket_in` has no loaner out (see `a_loaner_is_issued_and_returned_once`).
        Action::ReturnLoaner => None,
        // `ticket_in` has no consent asked (see `remote_work_waits_for_the_reporters_consent`).
        Action::AnswerRemoteConsent(_) => None,
    }
}

/// Who may do what on a first-line printer ticket; `held` says whether the `Assignee`
/// engineer actually holds it (before acceptance they are just one of the group).
fn allowed(action: &Action, who: Who, held: bool) -> bool {
    use Who::*;
    let manager = matches!(who, ManagerEngineer | Desk);
    let holder = who == Assignee && held;
    match action {
        Action::Accept => matches!(who, Assignee | Colleague | GroupExpert | ManagerEngineer),
        Action::StartWork(_) | Action::Arrive | Action::Resolve { .. } => holder,
        Action::Progress(_) | Action::Pend(..) | Action::Resume => holder || manager,
        Action::Comment(_) => who != System,
        Action::Confirm | Action::Reopen(_) => who == OwnReporter,
        Action::AutoClose => who == System,
        Action::Cancel(_) => who == OwnReporter || manager,
        Action::Reassign { .. } => manager,
        Action::Escalate(_) => {
            matches!(who, Assignee | Colleague | GroupExpert | System) || manager
        }
        Action::IssueLoaner(_) | Action::ReturnLoaner => holder || manager,
        Action::AnswerRemoteConsent(_) => who == OwnReporter,
    }
}

#[test]
fn every_status_action_and_caller_follows_the_table() {
    let mut checked = 0;
    for &status in Status::ALL {
        let before = ticket_in(status);
        for action in actions() {
            for who in EVERYONE {
                let result = before.apply(&caller(who), action.clone(), at(10, 0));
                let expected = legal(&action, status);
                let may = allowed(&action, who, before.assignee.is_some());
                let ctx = format!("{status} / {} / {who:?}", action.verb());
                match (expected, may, &result) {
                    (Some(to), true, Ok(change)) => {
                        assert_eq!(change.ticket.status, to, "{ctx}");
                        assert_eq!(change.from, Some(status), "{ctx}");
                        assert_eq!(change.action, action.verb(), "{ctx}");
                        assert_eq!(change.ticket.updated_at, at(10, 0), "{ctx}");
                        assert_eq!(
                            change.ticket.version, before.version,
                            "{ctx}: the store bumps it"
                        );
                    }
                    (Some(_), false, Err(TicketError::Forbidden { .. })) => {}
                    (
                        None,
                        true,
                        Err(
                            TicketError::IllegalTransition { .. }
                            | TicketError::AlreadyTaken { .. }
                            | TicketError::NoLoanerOut
                            | TicketError::NoConsentAsked,
                        ),
                    ) => {}
                    (None, false, Err(_)) => {}
                    _ => panic!("{ctx}: expected legal={expected:?} allowed={may}, got {result:?}"),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        Status::ALL.len() * actions().len() * EVERYONE.len()
    );
}

#[test]
fn a_loaner_is_issued_and_returned_once() {
    let pending = ticket_in(Status::Pending);
    let holder = caller(Who::Assignee);
    let out = pending
        .apply(
            &holder,
            Action::IssueLoaner(note("备用笔记本 BJ-0012")),
            at(10, 0),
        )
        .unwrap();
    assert_eq!(out.ticket.status, Status::Pending, "the repair goes on");
    assert_eq!(
        out.ticket.loaner.as_ref().map(|n| n.as_str()),
        Some("备用笔记本 BJ-0012")
    );
    assert_eq!(out.ticket.loaner_issued_at, Some(at(10, 0)));
    assert_eq!(out.note.as_deref(), Some("备用笔记本 BJ-0012"));
    assert!(
        out.notices
            .iter()
            .any(|n| n.to == Audience::Reporter && n.event == "loaner_issued")
    );
    assert_eq!(
        out.ticket
            .apply(&holder, Action::IssueLoaner(note("另一台")), at(11, 0))
            .map(|_| ()),
        Err(TicketError::LoanerOut)
    );
    // Returned after the ticket is closed: still recorded.
    let mut closed = out.ticket.clone();
    closed.status = Status::Closed;
    let back = closed
        .apply(
            &caller(Who::ManagerEngineer),
            Action::ReturnLoaner,
            at(12, 0),
        )
        .unwrap();
    assert_eq!(back.ticket.loaner_returned_at, Some(at(12, 0)));
    assert_eq!(back.ticket.status, Status::Closed);
    assert_eq!(
        back.ticket
            .apply(
                &caller(Who::ManagerEngineer),
                Action::ReturnLoaner,
                at(13, 0)
            )
            .map(|_| ()),
        Err(TicketError::NoLoanerOut)
    );
    assert!(matches!(
        out.ticket
            .apply(&caller(Who::OwnReporter), Action::ReturnLoaner, at(12, 0)),
        Err(TicketError::Forbidden { .. })
    ));
}

/// (A loaner lent on a ticket may still come back after it closed: see above.)
/// Plan 004: remote control only with the user's consent.
#[test]
fn remote_work_waits_for_the_reporters_consent() {
    let me = caller(Who::Assignee);
    let reporter = caller(Who::OwnReporter);
    let accepted = ticket_in(Status::Accepted);

    // Asking changes nothing but the consent, and asks the reporter.
    let asked = accepted
        .apply(&me, Action::StartWork(WorkMode::Remote), at(10, 0))
        .unwrap();
    assert_eq!(asked.action, "remote_consent_asked");
    assert_eq!(asked.ticket.status, Status::Accepted);
    assert_eq!(asked.ticket.work_mode, None);
    assert_eq!(asked.ticket.remote_consent, Some(RemoteConsent::Asked));
    assert_eq!(
        asked.notices,
        vec![notice(Audience::Reporter, "remote_consent_request")]
    );
    let waiting = asked.ticket;

    // Starting remote again while waiting is refused; going on site is not.
    assert_eq!(
        waiting.apply(&me, Action::StartWork(WorkMode::Remote), at(10, 1)),
        Err(TicketError::ConsentPending)
    );
    assert!(
        waiting
            .apply(&me, Action::StartWork(WorkMode::OnSite), at(10, 1))
            .is_ok()
    );
    // Only the ticket's reporter answers.
    for who in [
        Who::Assignee,
        Who::OtherReporter,
        Who::ManagerEngineer,
        Who::System,
    ] {
        assert_eq!(
            waiting.apply(&caller(who), Action::AnswerRemoteConsent(true), at(10, 2)),
            Err(TicketError::Forbidden {
                action: "remote_consent"
            }),
            "{who:?}"
        );
    }

    // Allowed: remote work begins, and the engineer is told.
    let allowed = waiting
        .apply(&reporter, Action::AnswerRemoteConsent(true), at(10, 5))
        .unwrap();
    assert_eq!(allowed.ticket.status, Status::InProgress);
    assert_eq!(allowed.ticket.work_mode, Some(WorkMode::Remote));
    assert_eq!(allowed.ticket.remote_consent, Some(RemoteConsent::Given));
    assert_eq!(allowed.note.as_deref(), Some("allowed"));
    assert_eq!(
        allowed.notices,
        vec![notice(
            Audience::Engineer(assignee().id),
            "remote_consent_given"
        )]
    );
    // Answered once.
    assert_eq!(
        allowed
            .ticket
            .apply(&reporter, Action::AnswerRemoteConsent(false), at(10, 6)),
        Err(TicketError::NoConsentAsked)
    );

    // Refused: nothing starts; the engineer is told (and may ask again later).
    let refused = waiting
        .apply(&reporter, Action::AnswerRemoteConsent(false), at(10, 5))
        .unwrap();
    assert_eq!(refused.ticket.status, Status::Accepted);
    assert_eq!(refused.ticket.work_mode, None);
    assert_eq!(refused.ticket.remote_consent, Some(RemoteConsent::Refused));
    assert_eq!(
        refused.notices,
        vec![notice(
            Audience::Engineer(assignee().id),
            "remote_consent_refused"
        )]
    );
    let again = refused
        .ticket
        .apply(&me, Action::StartWork(WorkMode::Remote), at(11, 0))
        .unwrap();
    assert_eq!(again.ticket.remote_consent, Some(RemoteConsent::Asked));

    // A new holder asks anew: consent is not handed over with the job.
    let manager = caller(Who::ManagerEngineer);
    let reassigned = allowed
        .ticket
        .apply(
            &manager,
            Action::Reassign {
                group: "printer".into(),
                engineer: None,
            },
            at(12, 0),
        )
        .unwrap();
    assert_eq!(reassigned.ticket.remote_consent, None);
}

#[test]
fn final_tickets_never_change() {
    for status in [Status::Closed, Status::Cancelled] {
        for action in actions() {
            for who in EVERYONE {
                assert!(
                    ticket_in(status)
                        .apply(&caller(who), action.clone(), at(10, 0))
                        .is_err()
                );
            }
        }
    }
}

#[test]
fn first_accept_wins_and_later_ones_are_told_who_has_it() {
    let offered = ticket_in(Status::Offered);
    let won = offered
        .apply(&caller(Who::Colleague), Action::Accept, at(9, 3))
        .unwrap();
    assert_eq!(won.ticket.assignee, Some(EngineerId(2)));
    assert_eq!(won.ticket.accepted_at, Some(at(9, 3)));
    assert!(
        won.notices
            .iter()
            .any(|n| n.to == Audience::Reporter && n.event == "ticket_accepted")
    );
    assert!(won.notices.iter().any(|n| n.event == "job_taken"));
    let late = won
        .ticket
        .apply(&caller(Who::Assignee), Action::Accept, at(9, 4));
    assert_eq!(
        late,
        Err(TicketError::AlreadyTaken {
            by: Some(EngineerId(2))
        })
    );
}

#[test]
fn an_offer_to_one_engineer_can_only_be_taken_by_them_or_a_manager() {
    let mut t = ticket_in(Status::Offered);
    t.offered_to = Some(EngineerId(3));
    assert!(matches!(
        t.apply(&caller(Who::Colleague), Action::Accept, at(10, 0)),
        Err(TicketError::Forbidden { .. })
    ));
    assert!(
        t.apply(&caller(Who::GroupExpert), Action::Accept, at(10, 0))
            .is_ok()
    );
    assert!(
        t.apply(&caller(Who::ManagerEngineer), Action::Accept, at(10, 0))
            .is_ok()
    );
}

#[test]
fn expert_tier_jobs_are_not_for_first_line() {
    let mut t = ticket_in(Status::Offered);
    t.tier = Tier::Expert;
    assert!(
        t.apply(&caller(Who::Colleague), Action::Accept, at(10, 0))
            .is_err()
    );
    assert!(
        t.apply(&caller(Who::GroupExpert), Action::Accept, at(10, 0))
            .is_ok()
    );
}

#[test]
fn arrival_is_recorded_once_and_implies_on_site() {
    let t = ticket_in(Status::Accepted);
    let arrived = t
        .apply(&caller(Who::Assignee), Action::Arrive, at(11, 0))
        .unwrap()
        .ticket;
    assert_eq!(arrived.arrived_at, Some(at(11, 0)));
    assert_eq!(arrived.work_mode, Some(WorkMode::OnSite));
    assert_eq!(
        arrived.apply(&caller(Who::Assignee), Action::Arrive, at(11, 5)),
        Err(TicketError::AlreadyArrived)
    );
}

#[test]
fn resume_returns_to_work_or_to_accepted() {
    let pending = ticket_in(Status::Pending);
    let r = pending
        .apply(&caller(Who::Assignee), Action::Resume, at(12, 0))
        .unwrap();
    assert_eq!(r.ticket.status, Status::InProgress);
    assert_eq!(r.ticket.pending_reason, None);
    let mut never_started = pending.clone();
    never_started.work_mode = None;
    let r = never_started
        .apply(&caller(Who::Assignee), Action::Resume, at(12, 0))
        .unwrap();
    assert_eq!(r.ticket.status, Status::Accepted);
}

#[test]
fn not_fixed_goes_back_to_the_same_engineer_and_counts() {
    let resolved = ticket_in(Status::InProgress)
        .apply(
            &caller(Who::Assignee),
            Action::Resolve {
                cause: note("驱动"),
                solution: note("重装驱动"),
            },
            at(13, 0),
        )
        .unwrap()
        .ticket;
    assert_eq!(resolved.resolved_at, Some(at(13, 0)));
    let reopened = resolved
        .apply(
            &caller(Who::OwnReporter),
            Action::Reopen(note("还是不行")),
            at(14, 0),
        )
        .unwrap();
    assert_eq!(reopened.ticket.status, Status::Reopened);
    assert_eq!(reopened.ticket.assignee, Some(EngineerId(1)));
    assert_eq!(reopened.ticket.reopen_count, 1);
    assert_eq!(reopened.ticket.resolved_at, None);
    assert_eq!(reopened.notices[0].to, Audience::Engineer(EngineerId(1)));
    let closed = resolved
        .apply(&caller(Who::OwnReporter), Action::Confirm, at(14, 0))
        .unwrap();
    assert_eq!(closed.ticket.closure, Some(Closure::Confirmed));
    let auto = resolved
        .apply(&Caller::System, Action::AutoClose, at(14, 0))
        .unwrap();
    assert_eq!(auto.ticket.closure, Some(Closure::AutoClosed));
}

#[test]
fn escalation_climbs_the_tiers_and_stops_at_managers() {
    let mut t = ticket_in(Status::InProgress);
    for (tier, level) in [(Tier::Expert, 1), (Tier::Manager, 2)] {
        let c = t
            .apply(&Caller::System, Action::Escalate(note("SLA")), at(15, 0))
            .unwrap();
        assert_eq!(c.ticket.tier, tier);
        assert_eq!(c.ticket.escalation_level, level);
        assert_eq!(c.ticket.status, Status::Offered);
        assert_eq!(c.ticket.assignee, None);
        assert_eq!(
            c.notices.iter().any(|n| n.to == Audience::Managers),
            tier == Tier::Manager
        );
        t = c.ticket;
    }
    assert_eq!(
        t.apply(&Caller::System, Action::Escalate(note("again")), at(15, 0)),
        Err(TicketError::AtTopTier)
    );
}

#[test]
fn reassign_to_an_engineer_checks_their_group() {
    let t = ticket_in(Status::Accepted);
    let desk = caller(Who::Desk);
    let wrong = t.apply(
        &desk,
        Action::Reassign {
            group: "network".into(),
            engineer: Some(engineer(9, "printer", Tier::FirstLine)),
        },
        at(10, 0),
    );
    assert!(matches!(wrong, Err(TicketError::NotInGroup { .. })));
    let ok = t
        .apply(
            &desk,
            Action::Reassign {
                group: "network".into(),
                engineer: Some(engineer(9, "network", Tier::FirstLine)),
            },
            at(10, 0),
        )
        .unwrap();
    assert_eq!(ok.ticket.group, "network");
    assert_eq!(ok.ticket.offered_to, Some(EngineerId(9)));
    assert!(ok.notices.contains(&Notice {
        to: Audience::Engineer(EngineerId(1)),
        event: "job_reassigned"
    }));
}

#[test]
fn visibility_follows_the_confidentiality_rule() {
    let t = ticket_in(Status::Accepted);
    let sees: Vec<Who> = EVERYONE
        .into_iter()
        .filter(|w| t.visible_to(&caller(*w)))
        .collect();
    assert_eq!(
        sees,
        vec![
            Who::OwnReporter,
            Who::Assignee,
            Who::Colleague,
            Who::GroupExpert,
            Who::ManagerEngineer,
            Who::Desk,
            Who::System
        ]
    );
}

#[test]
fn ticket_numbers_have_one_shape() {
    let n = TicketNumber::new("BX", 2026, 123);
    assert_eq!(n.as_str(), "BX-2026-000123");
    assert_eq!(TicketNumber::parse("bx-2026-000123"), Some(n));
    for bad in [
        "",
        "BX-2026",
        "BX-26-000001",
        "BX-2026-12",
        "B1-2026-000001",
        "BX-2026-000001-1",
    ] {
        assert_eq!(TicketNumber::parse(bad), None, "{bad}");
    }
}

#[test]
fn status_text_round_trips() {
    for s in Status::ALL {
        assert_eq!(s.as_str().parse::<Status>(), Ok(*s));
    }
    assert!("done".parse::<Status>().is_err());
}
