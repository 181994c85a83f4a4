//! Every bad input at every step of both flows: each gets the step's own hint and the
//! conversation stays exactly where it was.

use super::*;
use std::collections::BTreeSet;

/// The inputs every step must refuse (those a step legitimately accepts are left out).
fn bad_inputs(conv: &Conversation) -> Vec<(&'static str, Incoming)> {
    let flow = &FLOWS.inner.flows[conv.flow()];
    let step = &flow.steps[flow.index[conv.step()]];
    let picking = conv.picking;
    // A button of another step of the same flow.
    let other = flow
        .steps
        .iter()
        .find(|s| s.id != step.id && !s.options.is_empty())
        .map(|s| {
            let id = format!("{}:{}", s.id, s.options[0].id);
            if flow.scoped {
                format!("{id}@{TICKET}")
            } else {
                id
            }
        })
        .unwrap_or_default();
    let mut v = vec![
        ("empty", Incoming::Text(String::new())),
        ("blank", Incoming::Text("  \n\t ".into())),
        ("10,000 characters", Incoming::Text("界".repeat(10_000))),
        ("emoji only", Incoming::Text("😀🎉👍".into())),
        ("control characters", Incoming::Text("abc\u{7}def".into())),
        ("escape sequence", Incoming::Text("\u{1b}[31mred".into())),
        ("nul", Incoming::Text("a\0b".into())),
        ("another step's button", Incoming::Choice(other)),
        (
            "another conversation's button",
            Incoming::Choice(if flow.scoped {
                "card:accept@BX-2026-000999".into()
            } else {
                "card:accept@BX-2026-000123".into()
            }),
        ),
        (
            "an unknown option",
            Incoming::Choice(format!("{}:no_such_option", step.id)),
        ),
        ("a garbage id", Incoming::Choice("\u{0}:::@@".into())),
        ("an overlong id", Incoming::Choice("x".repeat(10_000))),
        ("an empty id", Incoming::Choice(String::new())),
        ("an empty form", Incoming::Form(BTreeMap::new())),
    ];
    if picking || !step.photo {
        v.push(("a photo", Incoming::Photo("AgACAgIAAxkBAAI".into())));
    }
    if picking || !step.contact {
        v.push(("a contact", Incoming::Contact("13800138000".into())));
    }
    v
}

/// Throws every bad input at the conversation's current step (on copies).
fn battery(conv: &Conversation, seen: &mut BTreeSet<String>) {
    let hint = engine::hint_of(&FLOWS, conv);
    assert!(!hint.is_empty());
    seen.insert(if conv.picking {
        "(picker)".into()
    } else {
        conv.step().to_owned()
    });
    for (what, input) in bad_inputs(conv) {
        let mut c = conv.clone();
        let step = FLOWS.step(&mut c, input);
        let at = format!("{}/{} ← {what}", c.flow(), c.step());
        assert_eq!(step.outcome, Outcome::Continue, "{at}");
        assert_eq!(&c, conv, "{at}: the conversation moved");
        assert_eq!(step.replies.len(), 1, "{at}: {:#?}", step.replies);
        let said = text_of(&step.replies[0]);
        assert!(
            said.contains(&hint),
            "{at}: `{said}` lacks the hint `{hint}`"
        );
        if what == "10,000 characters" {
            assert!(
                said.contains("10000"),
                "{at}: the cap is not explained: {said}"
            );
        }
        // The buttons of the step come back with the hint.
        let shown = FLOWS.current(conv);
        let want: Vec<_> = shown
            .iter()
            .filter_map(|o| match o {
                Outgoing::Choices { options, .. } => Some(options.clone()),
                _ => None,
            })
            .collect();
        let got: Vec<_> = step
            .replies
            .iter()
            .filter_map(|o| match o {
                Outgoing::Choices { options, .. } => Some(options.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(got, want, "{at}");
    }
}

#[test]
fn every_fault_report_step_refuses_bad_input() {
    let mut seen = BTreeSet::new();
    for lang in [Lang::ZhCn, Lang::En] {
        for category in ["desktop", "printer", "network", "server"] {
            let mut chat = Chat::report(lang, &[]);
            while chat.step() != "summary" {
                battery(&chat.conv, &mut seen);
                chat.answer(category);
            }
            battery(&chat.conv, &mut seen);
            chat.press("change");
            battery(&chat.conv, &mut seen);
            // A step being changed.
            chat.press("room");
            battery(&chat.conv, &mut seen);
        }
    }
    let flow = &FLOWS.inner.flows["fault_report"];
    let all: BTreeSet<String> = flow
        .steps
        .iter()
        .map(|s| s.id.clone())
        .chain(["(picker)".to_owned()])
        .collect();
    assert_eq!(seen, all);
}

#[test]
fn every_engineer_job_step_refuses_bad_input() {
    let mut seen = BTreeSet::new();
    for lang in [Lang::ZhCn, Lang::En] {
        let mut chat = Chat::job(lang);
        battery(&chat.conv, &mut seen);
        chat.press("progress");
        battery(&chat.conv, &mut seen);
        chat.cmd("back", "");
        chat.press("need_parts");
        battery(&chat.conv, &mut seen);
        chat.press("vendor");
        battery(&chat.conv, &mut seen);
        chat.cmd("cancel", "");
        let mut chat = Chat::job(lang);
        chat.press("resolve");
        battery(&chat.conv, &mut seen);
        chat.text("cause");
        battery(&chat.conv, &mut seen);
    }
    let flow = &FLOWS.inner.flows["engineer_job"];
    let all: BTreeSet<String> = flow.steps.iter().map(|s| s.id.clone()).collect();
    assert_eq!(seen, all);
}

#[test]
fn refusals_say_why() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    while chat.step() != "device" {
        chat.answer("printer");
    }
    for (input, why) in [
        ("", "没有收到内容。"),
        ("😀😀", "请用文字回答（不能只有表情或符号）。"),
        // Spaces and full-width forms are forgiven (the register matches tags
        // normalised); words are not a tag.
        ("打印机坏了", "格式不对。"),
        ("a\u{7}", "内容里有无法识别的控制字符。"),
    ] {
        chat.text(input);
        assert!(chat.said().starts_with(why), "{input:?}: {}", chat.said());
        assert_eq!(chat.step(), "device");
    }
    chat.text(&"界".repeat(10_000));
    assert!(
        chat.said()
            .starts_with("内容太长：10000 个字，这里最多 45 个字。"),
        "{}",
        chat.said()
    );
    chat.send(Incoming::Photo("f".into()));
    assert!(
        chat.said().starts_with("这里不需要照片。\n请输入资产标签"),
        "{}",
        chat.said()
    );
    chat.send(Incoming::Choice("category:printer".into()));
    assert!(
        chat.said()
            .starts_with("这个按钮已过期，或者不属于当前问题。")
    );
}

#[test]
fn multiline_only_where_allowed() {
    let mut chat = Chat::report(Lang::En, &[]);
    chat.press("desktop");
    chat.press("slow");
    chat.text("HQ\nsecond line");
    assert_eq!(chat.step(), "site", "a site is one line");
    while chat.step() != "description" {
        chat.answer("desktop");
    }
    chat.text("line one\r\nline two\ttabbed");
    assert_eq!(
        chat.conv.answers()["description"],
        "line one\nline two\ttabbed"
    );
}
