//! Clock rules on both calendars: thresholds to the second, pauses, reopen, escalation
//! order, and that every event fires once.

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use super::*;
use crate::domain::calendar::CalendarConfig;
use crate::domain::priority::Priority;
use crate::domain::sla::{EscalationPolicy, Span};
use crate::domain::ticket::Status;
use crate::domain::ticket::tests::ticket_in;

const TZ: Tz = chrono_tz::Asia::Shanghai;

/// Local Shanghai time "YYYY-MM-DD HH:MM:SS". 2026-11-23 is a Monday.
fn at(text: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap();
    TZ.from_local_datetime(&naive).unwrap().with_timezone(&Utc)
}

fn always() -> Calendar {
    Calendar::always(TZ)
}

/// Monday–Friday 09:00–18:00, Wednesday 2026-11-25 a holiday, Saturday 2026-11-28 a
/// make-up workday (调休).
fn office() -> Calendar {
    let config: CalendarConfig = toml::from_str(
        r#"
        kind = "working_hours"
        hours = { mon = ["09:00-18:00"], tue = ["09:00-18:00"], wed = ["09:00-18:00"], thu = ["09:00-18:00"], fri = ["09:00-18:00"] }
        holidays = ["2026-11-25"]
        workdays = ["2026-11-28"]
        "#,
    )
    .unwrap();
    config.build().unwrap()
}

fn rules<'a>(calendar: &'a Calendar, chain: &'a Chain) -> Rules<'a> {
    Rules {
        calendar,
        wall: calendar,
        warn_at: 0.75,
        chain,
        confirm_reminders: &[],
    }
}

fn p1_chain() -> Chain {
    EscalationPolicy::default().p1
}

fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

/// Drains everything due at `now`.
fn fire_all(c: &mut SlaClock, now: DateTime<Utc>, r: Rules) -> Vec<Due> {
    std::iter::from_fn(|| c.fire(now, r)).collect()
}

#[test]
fn met_one_second_before_the_deadline_breached_one_second_after_on_both_calendars() {
    let chain = p1_chain();
    // 24×7: four hours from Monday 09:00 is 13:00.
    // Office hours: Monday 16:00 + 4 h = 2 h on Monday, 2 h on Tuesday → Tuesday 11:00.
    for (cal, start, deadline) in [
        (always(), "2026-11-23 09:00:00", "2026-11-23 13:00:00"),
        (office(), "2026-11-23 16:00:00", "2026-11-24 11:00:00"),
    ] {
        let r = rules(&cal, &chain);
        let clock = SlaClock::start(ClockKind::Resolution, Duration::hours(4), at(start), r);
        assert_eq!(clock.due_at, Some(at(deadline)));

        let mut early = clock.clone();
        assert!(!early.stop(at(deadline) - Duration::seconds(1), &cal));
        assert_eq!(early.status, ClockStatus::Met);
        assert_eq!(early.breaches, 0);

        let mut exact = clock.clone();
        assert!(!exact.stop(at(deadline), &cal));
        assert_eq!(
            exact.status,
            ClockStatus::Met,
            "the deadline itself is in time"
        );

        let mut late = clock.clone();
        assert!(late.stop(at(deadline) + Duration::seconds(1), &cal));
        assert_eq!(late.status, ClockStatus::Breached);
        assert_eq!(late.breaches, 1);
        assert!(
            !late.stop(at(deadline) + mins(5), &cal),
            "a stopped clock stops once"
        );
        assert_eq!(late.breaches, 1);
    }
}

#[test]
fn warning_breach_each_step_and_reminders_fire_once_in_order() {
    let (cal, chain) = (always(), p1_chain());
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut c = SlaClock::start(ClockKind::Response, mins(10), t0, r);
    // 75 % of 10 min; breach at 10; experts at +0; managers at +30; reminders every 30.
    let expected = [
        (Duration::seconds(450), Due::Warning),
        (mins(10), Due::Breach),
        (mins(10), Due::Step(0, EscalationTarget::Experts)),
        (mins(40), Due::Step(1, EscalationTarget::Managers)),
        (mins(70), Due::Reminder),
        (mins(100), Due::Reminder),
    ];
    for (offset, due) in expected {
        assert_eq!(c.next_at, Some(t0 + offset), "next look for {due:?}");
        assert_eq!(
            c.fire(t0 + offset - Duration::seconds(1), r),
            None,
            "{due:?} not early"
        );
        assert_eq!(c.fire(t0 + offset, r), Some(due));
    }
    assert_eq!(c.fire(t0 + mins(100), r), None, "nothing fires twice");
    assert_eq!(c.breaches, 1);
    assert_eq!(c.status, ClockStatus::Breached);
}

#[test]
fn a_late_scheduler_skips_the_stale_warning_and_sends_one_reminder() {
    let (cal, chain) = (always(), p1_chain());
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut c = SlaClock::start(ClockKind::Response, mins(10), t0, r);
    let fired = fire_all(&mut c, t0 + Duration::hours(3), r);
    assert_eq!(
        fired,
        [
            Due::Breach,
            Due::Step(0, EscalationTarget::Experts),
            Due::Step(1, EscalationTarget::Managers),
            Due::Reminder,
        ]
    );
    // Reminders due at 70, 100, …, 160 min collapsed into one; the next is at 190.
    assert_eq!(c.next_at, Some(t0 + mins(190)));
}

#[test]
fn a_pause_over_a_weekend_resumes_without_a_false_breach() {
    let cal = office();
    let chain = EscalationPolicy::default().p3;
    let r = rules(&cal, &chain);
    // Friday 14:00, 12 working hours. Pending from Friday 16:00 (2 h used) to Monday 10:00.
    let mut c = SlaClock::start(
        ClockKind::Resolution,
        Duration::hours(12),
        at("2026-11-20 14:00:00"),
        r,
    );
    c.pause(at("2026-11-20 16:00:00"), &cal);
    assert_eq!((c.status, c.next_at), (ClockStatus::Paused, None));
    assert_eq!(c.used, Duration::hours(2));
    let monday = at("2026-11-23 10:00:00");
    c.resume(monday, r);
    assert_eq!(c.fire(monday, r), None, "no instant breach on resume");
    // 10 h left: Monday 10:00–18:00 (8 h) + Tuesday 09:00–11:00.
    assert_eq!(c.due_at, Some(at("2026-11-24 11:00:00")));
    assert_eq!(c.status, ClockStatus::Running);
    // Warning at 9 h used: 7 h after Monday 10:00 → Monday 17:00.
    assert_eq!(c.next_at, Some(at("2026-11-23 17:00:00")));
}

#[test]
fn holidays_and_make_up_workdays_move_deadlines() {
    let cal = office();
    let chain = p1_chain();
    let r = rules(&cal, &chain);
    // Tuesday 17:00 + 4 h: 1 h Tuesday, Wednesday is a holiday, 3 h Thursday.
    let c = SlaClock::start(
        ClockKind::Resolution,
        Duration::hours(4),
        at("2026-11-24 17:00:00"),
        r,
    );
    assert_eq!(c.due_at, Some(at("2026-11-26 12:00:00")));
    // Friday 17:00 + 2 h: 1 h Friday, 1 h on the make-up Saturday.
    let c = SlaClock::start(
        ClockKind::Resolution,
        Duration::hours(2),
        at("2026-11-27 17:00:00"),
        r,
    );
    assert_eq!(c.due_at, Some(at("2026-11-28 10:00:00")));
    // Saturday 17:30 + 1 h: Sunday is off, so Monday 09:30.
    let c = SlaClock::start(
        ClockKind::Resolution,
        Duration::hours(1),
        at("2026-11-28 17:30:00"),
        r,
    );
    assert_eq!(c.due_at, Some(at("2026-11-30 09:30:00")));
}

#[test]
fn a_paused_breached_clock_stops_escalating_until_resumed() {
    let (cal, chain) = (always(), p1_chain());
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut c = SlaClock::start(ClockKind::Resolution, mins(60), t0, r);
    let fired = fire_all(&mut c, t0 + mins(61), r);
    assert_eq!(
        fired,
        [Due::Breach, Due::Step(0, EscalationTarget::Experts)]
    );
    c.pause(t0 + mins(70), &cal);
    assert_eq!((c.status, c.next_at), (ClockStatus::Breached, None));
    assert!(fire_all(&mut c, t0 + mins(500), r).is_empty());
    c.resume(t0 + mins(500), r);
    // 70 min used; the managers step is at 60 + 30 = 90 min used → 20 min after resuming.
    assert_eq!(c.next_at, Some(t0 + mins(520)));
    assert_eq!(c.status, ClockStatus::Breached);
    assert!(
        !c.stop(t0 + mins(510), &cal),
        "the breach was already counted"
    );
    assert_eq!((c.status, c.breaches), (ClockStatus::Breached, 1));
}

#[test]
fn missed_progress_periods_are_counted_from_when_each_ended() {
    let (cal, chain) = (always(), p1_chain());
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut c = SlaClock::start(ClockKind::Progress, mins(30), t0, r);
    assert_eq!(c.next_at, Some(t0 + mins(30)));
    let fired = fire_all(&mut c, t0 + mins(75), r);
    assert_eq!(fired, [Due::ProgressMissed, Due::ProgressMissed]);
    assert_eq!((c.breaches, c.next_at), (2, Some(t0 + mins(90))));
    c.restart(t0 + mins(80), r);
    assert_eq!(
        (c.status, c.next_at),
        (ClockStatus::Running, Some(t0 + mins(110)))
    );
    assert!(!c.stop(t0 + mins(100), &cal));
    assert_eq!((c.status, c.breaches), (ClockStatus::Met, 2));
}

#[test]
fn the_replacement_rule_breaches_once_and_never_escalates() {
    let (cal, chain) = (always(), p1_chain());
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut c = SlaClock::start(ClockKind::Replacement, Duration::hours(48), t0, r);
    assert_eq!(c.next_at, Some(t0 + Duration::hours(48)));
    assert_eq!(
        fire_all(&mut c, t0 + Duration::hours(100), r),
        [Due::Breach]
    );
    assert_eq!(c.next_at, None);
}

/// The ticket's clocks through its life, driven by the desk's verbs.
#[test]
fn clocks_follow_the_ticket_lifecycle() {
    let (cal, policy) = (always(), SlaPolicy::default());
    let chain = p1_chain();
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut t = ticket_in(Status::Offered);
    t.priority = Priority::P2;
    let mut clocks = Clocks::for_new(&t, &policy, t0, r);
    let kinds: Vec<_> = clocks.0.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ClockKind::Response,
            ClockKind::Resolution,
            ClockKind::Replacement
        ]
    );

    let step = |clocks: &mut Clocks, verb: &str, minutes: i64| {
        clocks.on_change(verb, &t, &policy, t0 + mins(minutes), r)
    };
    // Accepted after 31 min: response (30 min) breached, noticed at the stop.
    let (changed, breached) = step(&mut clocks, "accept", 31);
    assert_eq!(breached, [ClockKind::Response]);
    assert_eq!(
        changed.len(),
        3,
        "response stopped, on-site and progress started"
    );
    assert_eq!(
        clocks.get(ClockKind::Response).unwrap().status,
        ClockStatus::Breached
    );
    assert!(clocks.get(ClockKind::OnSite).unwrap().open);
    assert!(clocks.get(ClockKind::Progress).unwrap().open);

    step(&mut clocks, "pend", 60);
    assert!(
        clocks
            .0
            .iter()
            .all(|c| c.since.is_none() == (c.kind != ClockKind::Replacement)),
        "pending pauses every SLA clock; the replacement rule runs on"
    );
    step(&mut clocks, "resume", 600);
    let resolution = clocks.get(ClockKind::Resolution).unwrap();
    // 8 h budget, 60 min used before pending → due 7 h after resuming.
    assert_eq!(resolution.due_at, Some(t0 + mins(600) + Duration::hours(7)));
    assert!(
        clocks.get(ClockKind::Response).unwrap().since.is_none(),
        "stopped stays stopped"
    );

    step(&mut clocks, "resolve", 700);
    assert_eq!(
        clocks.get(ClockKind::Resolution).unwrap().status,
        ClockStatus::Met
    );
    assert_eq!(
        clocks.get(ClockKind::OnSite).unwrap().status,
        ClockStatus::Cancelled
    );
    // Only the reporter's confirmation timer runs now: three days of wall-clock time.
    for c in &clocks.0 {
        let expected =
            (c.kind == ClockKind::Confirmation).then(|| t0 + mins(700) + Duration::days(3));
        assert_eq!(c.next_at, expected, "{:?}", c.kind);
    }

    // Not fixed: resolution resumes with what was left (8 h − 160 min used).
    step(&mut clocks, "reopen", 2000);
    let resolution = clocks.get(ClockKind::Resolution).unwrap();
    assert_eq!(resolution.status, ClockStatus::Running);
    assert_eq!(resolution.due_at, Some(t0 + mins(2000) + mins(480 - 160)));
    assert_eq!(
        clocks.get(ClockKind::OnSite).unwrap().status,
        ClockStatus::Cancelled
    );

    step(&mut clocks, "cancel", 2100);
    assert!(clocks.0.iter().all(|c| !c.open && c.next_at.is_none()));
}

#[test]
fn remote_work_cancels_the_on_site_clock_and_a_consultation_has_no_replacement_rule() {
    let (cal, policy) = (always(), SlaPolicy::default());
    let chain = p1_chain();
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut t = ticket_in(Status::Offered);
    t.intake.kind = TicketKind::Consultation;
    t.priority = Priority::P3;
    let mut clocks = Clocks::for_new(&t, &policy, t0, r);
    assert!(clocks.get(ClockKind::Replacement).is_none());
    clocks.on_change("accept", &t, &policy, t0, r);
    assert!(
        clocks.get(ClockKind::Progress).is_none(),
        "P3 has no progress cadence"
    );
    t.work_mode = Some(crate::domain::ticket::WorkMode::Remote);
    clocks.on_change("start", &t, &policy, t0 + mins(5), r);
    assert_eq!(
        clocks.get(ClockKind::OnSite).unwrap().status,
        ClockStatus::Cancelled
    );
}

#[test]
fn a_span_policy_change_does_not_move_a_started_clock() {
    let (cal, chain) = (always(), p1_chain());
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut c = SlaClock::start(ClockKind::Resolution, Span::parse("4h").unwrap().0, t0, r);
    // The budget is the clock's own: a resume computes from it, not from the policy.
    c.pause(t0 + Duration::hours(1), &cal);
    c.resume(t0 + Duration::hours(2), r);
    assert_eq!(c.due_at, Some(t0 + Duration::hours(5)));
}

#[test]
fn the_confirmation_timer_counts_wall_clock_time_and_fires_once() {
    let (office, wall, chain) = (office(), always(), p1_chain());
    let r = Rules {
        calendar: &office,
        wall: &wall,
        warn_at: 0.75,
        chain: &chain,
        confirm_reminders: &[],
    };
    // Resolved Friday 17:00: three days later is Monday 17:00, office hours or not.
    let resolved = at("2026-11-27 17:00:00");
    let mut c = SlaClock::start(ClockKind::Confirmation, Duration::days(3), resolved, r);
    assert_eq!(c.next_at, Some(at("2026-11-30 17:00:00")));
    assert_eq!(c.fire(at("2026-11-30 16:59:59"), r), None);
    assert_eq!(c.fire(at("2026-11-30 17:00:00"), r), Some(Due::Breach));
    assert_eq!((c.open, c.next_at), (false, None));
    assert_eq!(c.fire(at("2026-12-30 17:00:00"), r), None, "fires once");
}

#[test]
fn the_reporter_is_reminded_to_confirm_after_one_and_two_days() {
    let (office, wall, chain) = (office(), always(), p1_chain());
    let reminders = crate::domain::sla::SlaPolicy::default().confirm_reminders;
    let r = Rules {
        calendar: &office,
        wall: &wall,
        warn_at: 0.75,
        chain: &chain,
        confirm_reminders: &reminders,
    };
    // Resolved Friday 17:00: reminded Saturday and Sunday 17:00, due Monday 17:00.
    let resolved = at("2026-11-27 17:00:00");
    let mut c = SlaClock::start(ClockKind::Confirmation, Duration::days(3), resolved, r);
    assert_eq!(c.next_at, Some(at("2026-11-28 17:00:00")));
    assert_eq!(c.fire(at("2026-11-28 16:59:59"), r), None);
    assert_eq!(
        fire_all(&mut c, at("2026-11-28 17:00:00"), r),
        [Due::ConfirmReminder]
    );
    assert_eq!(c.next_at, Some(at("2026-11-29 17:00:00")));
    assert_eq!(
        fire_all(&mut c, at("2026-11-29 17:00:00"), r),
        [Due::ConfirmReminder]
    );
    assert_eq!(c.next_at, Some(at("2026-11-30 17:00:00")));
    assert_eq!(
        fire_all(&mut c, at("2026-11-30 17:00:00"), r),
        [Due::Breach]
    );
    assert_eq!((c.open, c.next_at), (false, None));

    // A scheduler that was down: missed reminders collapse into one, and none comes once
    // the time is up.
    let mut c = SlaClock::start(ClockKind::Confirmation, Duration::days(3), resolved, r);
    assert_eq!(
        fire_all(&mut c, at("2026-11-29 18:00:00"), r),
        [Due::ConfirmReminder]
    );
    assert_eq!(c.next_at, Some(at("2026-11-30 17:00:00")));
    let mut c = SlaClock::start(ClockKind::Confirmation, Duration::days(3), resolved, r);
    assert_eq!(
        fire_all(&mut c, at("2026-12-01 09:00:00"), r),
        [Due::Breach]
    );
}

#[test]
fn the_replacement_rule_runs_on_wall_clock_time_and_is_never_paused() {
    // An office-hours SLA calendar; the replacement rule still counts every hour.
    let (office, wall, chain) = (office(), always(), p1_chain());
    let r = Rules {
        calendar: &office,
        wall: &wall,
        warn_at: 0.75,
        chain: &chain,
        confirm_reminders: &[],
    };
    let policy = SlaPolicy::default();
    let mut t = ticket_in(Status::Offered);
    // Reported Friday 17:00: owed a device Sunday 17:00, weekend or not.
    let reported = at("2026-11-27 17:00:00");
    t.created_at = reported;
    let mut clocks = Clocks::for_new(&t, &policy, reported, r);
    let due = at("2026-11-29 17:00:00");
    let replacement = |c: &Clocks| c.get(ClockKind::Replacement).unwrap().clone();
    assert_eq!(replacement(&clocks).due_at, Some(due));
    assert_eq!(replacement(&clocks).next_at, Some(due));
    // Waiting for the vendor from Friday 18:00 pauses the SLA clocks, not this one.
    clocks.on_change("pend", &t, &policy, at("2026-11-27 18:00:00"), r);
    assert_eq!(
        clocks.get(ClockKind::Resolution).unwrap().status,
        ClockStatus::Paused
    );
    let c = replacement(&clocks);
    assert_eq!((c.status, c.next_at), (ClockStatus::Running, Some(due)));
    let mut c = replacement(&clocks);
    assert_eq!(c.fire(due - Duration::seconds(1), r), None);
    assert_eq!(fire_all(&mut c, due, r), [Due::Breach]);

    // Resolved Saturday, reopened Monday 09:00: still counted from the report, so the
    // device is owed at once.
    clocks.on_change("resume", &t, &policy, at("2026-11-28 09:00:00"), r);
    clocks.on_change("resolve", &t, &policy, at("2026-11-28 10:00:00"), r);
    assert_eq!(replacement(&clocks).status, ClockStatus::Met);
    let monday = at("2026-11-30 09:00:00");
    clocks.on_change("reopen", &t, &policy, monday, r);
    let mut c = replacement(&clocks);
    assert_eq!((c.due_at, c.next_at), (Some(due), Some(monday)));
    assert_eq!(fire_all(&mut c, monday, r), [Due::Breach]);
}

#[test]
fn the_next_deadline_is_the_earliest_among_running_clocks_breached_ones_included() {
    let cal = always();
    let chain = p1_chain();
    let r = rules(&cal, &chain);
    let t0 = at("2026-11-23 09:00:00");
    let mut clocks = Clocks(vec![
        SlaClock::start(ClockKind::Response, mins(10), t0, r),
        SlaClock::start(ClockKind::Resolution, mins(240), t0, r),
    ]);
    assert_eq!(Clocks(Vec::new()).next_due(), None, "no clock");
    assert_eq!(clocks.next_due(), Some(t0 + mins(10)));
    // Past its deadline the response clock is breached but still open: it still leads.
    let late = t0 + mins(30);
    let fired = fire_all(&mut clocks.0[0], late, r);
    assert!(fired.contains(&Due::Breach), "{fired:?}");
    assert_eq!(clocks.next_due(), Some(t0 + mins(10)));
    // Stopped, it no longer counts; paused neither.
    clocks.0[0].stop(late, &cal);
    assert_eq!(clocks.next_due(), Some(t0 + mins(240)));
    clocks.0[1].pause(late, &cal);
    assert_eq!(clocks.next_due(), None, "only paused and stopped clocks");
    // Resumed an hour later, its deadline has moved by the hour.
    clocks.0[1].resume(late + mins(60), r);
    assert_eq!(clocks.next_due(), Some(t0 + mins(300)));
}
