//! Every path of `engineer_job`, and the mapping of its results to ticket actions.

use super::*;
use crate::domain::ticket::{Action, WorkMode};

fn job_action(outcome: Outcome) -> JobAction {
    match outcome {
        Outcome::JobAction(a) => a,
        other => panic!("expected a job action, got {other:?}"),
    }
}

#[test]
fn the_card_shows_the_ticket_in_both_languages() {
    let chat = Chat::job(Lang::ZhCn);
    assert_eq!(
        chat.said(),
        "🛠 工单 BX-2026-000123 · P2 · 待接单\n类别：打印机与外设\n地点：上海总部 / 302\n问题：打印机卡纸"
    );
    let ids = chat.buttons();
    assert_eq!(ids.len(), 8);
    assert!(
        ids.iter()
            .all(|id| id.ends_with("@BX-2026-000123") && id.len() <= 64),
        "{ids:?}"
    );
    let chat = Chat::job(Lang::En);
    assert!(chat.said().starts_with(
        "🛠 Ticket BX-2026-000123 · P2 · waiting for an engineer\nCategory: Printer & peripherals"
    ));
    assert_eq!(Flows::choice_scope(&ids[0]), Some(TICKET));
    assert_eq!(Flows::choice_scope("category:printer"), None);
}

#[test]
fn one_tap_actions() {
    for (option, kind, action) in [
        ("accept", JobActionKind::Accept, Some(Action::Accept)),
        ("decline", JobActionKind::Decline, None),
        (
            "remote",
            JobActionKind::StartRemote,
            Some(Action::StartWork(WorkMode::Remote)),
        ),
        (
            "on_my_way",
            JobActionKind::OnMyWay,
            Some(Action::StartWork(WorkMode::OnSite)),
        ),
        ("arrived", JobActionKind::Arrived, Some(Action::Arrive)),
    ] {
        let mut chat = Chat::job(Lang::ZhCn);
        let got = job_action(chat.press(option));
        assert_eq!(
            got,
            JobAction {
                ticket: Some(TICKET.into()),
                kind: kind.clone()
            }
        );
        assert_eq!(to_ticket_action(&got.kind).unwrap(), action);
        // Ready for the next action on the same card.
        assert_eq!(chat.step(), "card");
        assert!(chat.conv.answers().is_empty());
        assert!(!chat.conv.is_finished());
    }
}

#[test]
fn typed_actions() {
    for (typed, kind) in [
        ("接单", JobActionKind::Accept),
        ("accept", JobActionKind::Accept),
        ("5", JobActionKind::Arrived),
        ("omw", JobActionKind::OnMyWay),
    ] {
        let mut chat = Chat::job(Lang::En);
        assert_eq!(job_action(chat.text(typed)).kind, kind, "{typed}");
    }
}

#[test]
fn progress_note() {
    let mut chat = Chat::job(Lang::ZhCn);
    chat.press("progress");
    assert_eq!(chat.step(), "progress_note");
    let got = job_action(chat.text("已远程排查，正在重装驱动"));
    assert_eq!(
        got.kind,
        JobActionKind::Progress {
            note: "已远程排查，正在重装驱动".into()
        }
    );
    match to_ticket_action(&got.kind).unwrap() {
        Some(Action::Progress(note)) => assert_eq!(note.as_str(), "已远程排查，正在重装驱动"),
        other => panic!("{other:?}"),
    }
    assert_eq!(chat.step(), "card");
}

#[test]
fn need_parts_asks_the_reason_and_a_note() {
    for (option, reason) in [
        ("vendor", PendingReason::Vendor),
        ("reporter", PendingReason::Reporter),
    ] {
        let mut chat = Chat::job(Lang::En);
        chat.press("need_parts");
        assert_eq!(chat.step(), "pend_reason");
        chat.press(option);
        assert_eq!(chat.step(), "pend_note");
        let got = job_action(chat.text("fuser unit ordered,\narrives Tuesday"));
        assert_eq!(
            got.kind,
            JobActionKind::NeedParts {
                reason,
                note: "fuser unit ordered,\narrives Tuesday".into()
            }
        );
        match to_ticket_action(&got.kind).unwrap() {
            Some(Action::Pend(r, note)) => {
                assert_eq!(r, reason);
                assert_eq!(note.as_str(), "fuser unit ordered,\narrives Tuesday");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn resolve_asks_cause_then_solution_and_back_works() {
    let mut chat = Chat::job(Lang::ZhCn);
    chat.press("resolve");
    assert_eq!(chat.step(), "cause");
    chat.text("网卡驱动损坏");
    assert_eq!(chat.step(), "solution");
    chat.cmd("back", "");
    assert_eq!(chat.step(), "cause");
    chat.cmd("back", "");
    assert_eq!(chat.step(), "card");
    chat.cmd("back", "");
    assert!(chat.said().contains("已经是第一步了"));
    chat.press("resolve");
    chat.text("网卡驱动损坏");
    let got = job_action(chat.text("重装驱动并重启"));
    assert_eq!(
        got.kind,
        JobActionKind::Resolve {
            cause: "网卡驱动损坏".into(),
            solution: "重装驱动并重启".into()
        }
    );
    match to_ticket_action(&got.kind).unwrap() {
        Some(Action::Resolve { cause, solution }) => {
            assert_eq!(cause.as_str(), "网卡驱动损坏");
            assert_eq!(solution.as_str(), "重装驱动并重启");
        }
        other => panic!("{other:?}"),
    }
}

/// Issue 19: no knowledge base exists yet, so the solution question must not promise one.
#[test]
fn the_solution_question_promises_only_what_exists() {
    for lang in [Lang::ZhCn, Lang::En] {
        let mut chat = Chat::job(lang);
        chat.press("resolve");
        chat.text("a cause");
        assert_eq!(chat.step(), "solution");
        let asked = chat.said().to_lowercase();
        assert!(
            !asked.contains("知识库") && !asked.contains("knowledge"),
            "{asked}"
        );
    }
}

#[test]
fn an_abandoned_action_does_not_leak_into_the_next() {
    let mut chat = Chat::job(Lang::En);
    chat.press("resolve");
    chat.text("a cause");
    chat.cmd("back", "");
    chat.cmd("back", "");
    chat.press("progress");
    let got = job_action(chat.text("still working"));
    assert_eq!(
        got.kind,
        JobActionKind::Progress {
            note: "still working".into()
        }
    );
}

#[test]
fn cancel_inside_an_action() {
    let mut chat = Chat::job(Lang::ZhCn);
    chat.press("need_parts");
    assert_eq!(chat.cmd("cancel", ""), Outcome::Cancelled);
    assert!(chat.conv.is_finished());
}

#[test]
fn buttons_of_another_job_or_flow_are_refused() {
    let mut chat = Chat::job(Lang::ZhCn);
    let before = chat.conv.clone();
    for id in [
        "card:accept@BX-2026-000999", // another ticket's card
        "card:accept",                // no ticket
        "category:printer",           // a fault report's button
        "card:accept@BX-2026-000123@x",
        "card:nonexistent@BX-2026-000123",
        "pend_reason:vendor@BX-2026-000123", // a later step's button
    ] {
        assert_eq!(
            chat.send(Incoming::Choice(id.into())),
            Outcome::Continue,
            "{id}"
        );
        assert_eq!(chat.conv, before, "{id}");
        assert!(
            chat.said().starts_with("这个按钮已过期"),
            "{id}: {}",
            chat.said()
        );
    }
}

#[test]
fn starting_a_job_card_needs_a_ticket_number() {
    let err = FLOWS
        .start("engineer_job", Lang::ZhCn, &map(&[("priority", "P1")]))
        .unwrap_err();
    assert_eq!(
        err,
        FlowError::MissingVar {
            flow: "engineer_job".into(),
            var: "ticket".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "flow `engineer_job` needs `ticket` to start"
    );
    for bad in [
        "BX 2026",
        "BX-2026-000123-EXTRA-LONG-SUFFIX",
        "BX:1",
        "BX@1",
    ] {
        let err = FLOWS
            .start("engineer_job", Lang::ZhCn, &map(&[("ticket", bad)]))
            .unwrap_err();
        assert!(matches!(err, FlowError::BadVar { .. }), "{bad}");
    }
    // Missing values show as a dash, not an empty gap.
    let (_, out) = FLOWS
        .start("engineer_job", Lang::En, &map(&[("ticket", TICKET)]))
        .unwrap();
    assert!(
        text_of(&out[0]).contains("Where: — / —"),
        "{}",
        text_of(&out[0])
    );
}

#[test]
fn notes_that_the_domain_refuses_are_reported_not_panicked() {
    let err = to_ticket_action(&JobActionKind::Progress { note: " ".into() }).unwrap_err();
    assert_eq!(err.to_string(), "note is required");
}
