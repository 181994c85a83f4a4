//! No input sequence panics or leaves the conversation nowhere; whatever is submitted is
//! accepted by the desk's own validation.

use super::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;

/// Every button id the flows can show, scoped and not, plus the picker's.
fn all_ids() -> Vec<String> {
    let mut ids = vec!["change:_back".to_owned()];
    for flow in FLOWS.inner.flows.values() {
        for s in &flow.steps {
            let mut add = |o: &str| {
                ids.push(format!("{}:{o}", s.id));
                ids.push(format!("{}:{o}@{TICKET}", s.id));
            };
            for o in &s.options {
                add(&o.id);
            }
            if s.skip {
                add("skip");
            }
            ids.push(format!("change:{}", s.id));
        }
    }
    ids
}

const TEXTS: &[&str] = &[
    "1",
    "2",
    "3",
    "4",
    "5",
    "8",
    "打印机",
    "printer",
    "上海总部",
    "HQ",
    "302",
    "跳过",
    "skip",
    "PC-0231",
    "10.1.2.3",
    "13800138000",
    "+86 21 5555 0100",
    "提交",
    "submit",
    "修改",
    "change",
    "取消",
    "地点",
    "Site",
    "卡纸",
    "/back",
    "/help",
    "/cancel",
    "/status",
    "/lang en",
    "/lang zh",
    "",
    " ",
    "😀",
    "a\u{7}b",
    "yes",
    "接单",
    "resolve",
    "vendor",
    "everyone",
    "line\nbreak",
    "/var is full",
];

fn incoming() -> impl Strategy<Value = Incoming> {
    let field = select(&["site", "building", "room", "x"][..]).prop_map(String::from);
    let value = select(TEXTS).prop_map(String::from);
    prop_oneof![
        6 => select(TEXTS).prop_map(|t| Incoming::Text(t.to_owned())),
        1 => any::<String>().prop_map(Incoming::Text),
        6 => select(all_ids()).prop_map(Incoming::Choice),
        1 => any::<String>().prop_map(Incoming::Choice),
        1 => (
            select(&["cancel", "back", "back", "help", "status", "lang", "start", "report", "job", "xyz", ""][..]),
            select(&["", "en", "zh", "fr"][..]),
        )
            .prop_map(|(c, a)| Incoming::Command(c.into(), a.into())),
        1 => any::<String>().prop_map(Incoming::Photo),
        1 => any::<String>().prop_map(Incoming::Contact),
        1 => btree_map(field, value, 0..4).prop_map(Incoming::Form),
    ]
}

fn check(conv: &Conversation, step: Step) -> Result<(), TestCaseError> {
    prop_assert!(FLOWS.is_valid(conv), "invalid: {conv:?}");
    let flow = &FLOWS.inner.flows[conv.flow()];
    if conv.picking {
        prop_assert_eq!(
            flow.steps[flow.index[conv.step()]].kind,
            model::Kind::Summary
        );
    }
    match step.outcome {
        Outcome::Continue => prop_assert!(!step.replies.is_empty(), "no reply: {conv:?}"),
        Outcome::Submitted(answers) => {
            let known = Remembered {
                name: "王伟".into(),
                department: None,
                phone: None,
            };
            let parsed = report_form(&answers, now()).parse(&known, &Routing::default(), now());
            prop_assert!(parsed.is_ok(), "{answers:?}: {parsed:?}");
        }
        Outcome::JobAction(job) => {
            prop_assert_eq!(job.ticket.as_deref(), Some(TICKET));
            prop_assert!(to_ticket_action(&job.kind).is_ok(), "{job:?}");
            prop_assert_eq!(conv.step(), "card");
        }
        Outcome::Cancelled => prop_assert!(conv.is_finished()),
        Outcome::Command(c, _) => {
            prop_assert!(c == "lang" || crate::flow::SERVICE_COMMANDS.contains(&c.as_str()))
        }
    }
    let json = serde_json::to_string(conv).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Conversation =
        serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, conv);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: crate::fuzz_cases(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn fuzz_any_input_sequence_is_handled(
        job in any::<bool>(),
        en in any::<bool>(),
        remembered in any::<bool>(),
        inputs in vec(incoming(), 0..60),
    ) {
        let lang = if en { Lang::En } else { Lang::ZhCn };
        let mut chat = if job {
            Chat::job(lang)
        } else if remembered {
            Chat::report(lang, &[("department", "行政部"), ("phone", "13800138000")])
        } else {
            Chat::report(lang, &[])
        };
        for input in inputs {
            let step = FLOWS.step(&mut chat.conv, input);
            check(&chat.conv, step)?;
        }
    }

    #[test]
    fn fuzz_any_stored_state_is_handled(
        flow in select(&["fault_report", "engineer_job", "gone"][..]),
        step in prop_oneof![select(all_ids()).prop_map(|id| id.split(':').next().unwrap_or("").to_owned()), any::<String>()],
        flags in any::<(bool, bool, bool)>(),
        answers in btree_map(select(&["category", "site", "people", "started", "photos", "note", "x"][..]).prop_map(String::from), select(TEXTS).prop_map(String::from), 0..6),
        input in incoming(),
    ) {
        let json = serde_json::json!({
            "flow": flow, "step": step, "lang": "en",
            "picking": flags.0, "changing": flags.1, "done": flags.2,
            "answers": answers, "vars": {"ticket": TICKET},
        });
        let mut conv: Conversation = serde_json::from_value(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let step = FLOWS.step(&mut conv, input);
        if flow == "gone" || flags.2 {
            prop_assert_eq!(step.outcome, Outcome::Cancelled);
        } else {
            prop_assert!(FLOWS.is_valid(&conv));
            let _ = FLOWS.current(&conv);
        }
    }
}
