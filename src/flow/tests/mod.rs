//! Tests of the engine against the shipped bot-flows: every path, every bad input at every
//! step, the mapping to the desk's inputs, load-time problems, and a no-panic property.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::domain::intake::Intake;
use crate::domain::priority::{Impact, Urgency};
use crate::domain::report_form::Remembered;
use crate::domain::routing::Routing;

mod bad_input;
mod bench;
mod fault;
mod job;
mod messages;
mod problems;
mod props;
mod report;

/// The shipped flows, loaded once.
static FLOWS: LazyLock<Flows> = LazyLock::new(|| match Flows::load_dir(&Flows::builtin_dir()) {
    Ok(f) => f,
    Err(problems) => panic!(
        "shipped bot-flows have problems:\n{}",
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    ),
});

const TICKET: &str = "BX-2026-000123";

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 30, 0).unwrap()
}

/// The text of a reply (a form's title).
fn text_of(o: &Outgoing) -> &str {
    match o {
        Outgoing::Text(t) | Outgoing::Choices { text: t, .. } | Outgoing::Form { title: t, .. } => {
            t
        }
    }
}

/// Validates submitted answers the way the desk will.
fn parse_report(answers: &BTreeMap<String, String>) -> (Intake, Impact, Urgency) {
    let known = Remembered {
        name: "王伟".into(),
        department: Some("行政部".into()),
        phone: Some("13900139000".into()),
    };
    match report_form(answers, now()).parse(&known, &Routing::default(), now()) {
        Ok(v) => v,
        Err(e) => panic!("report_form({answers:?}) does not parse: {e:?}"),
    }
}

/// A person chatting: the conversation and the replies to the last input.
struct Chat {
    conv: Conversation,
    last: Vec<Outgoing>,
}

impl Chat {
    fn report(lang: Lang, known: &[(&str, &str)]) -> Chat {
        let (conv, last) = FLOWS
            .start("fault_report", lang, &map(known))
            .expect("fault_report starts");
        Chat { conv, last }
    }

    fn job(lang: Lang) -> Chat {
        let known = [
            ("ticket", TICKET),
            ("priority", "P2"),
            ("status", "offered"),
            ("category", "printer"),
            ("site", "上海总部"),
            ("room", "302"),
            ("summary", "打印机卡纸"),
        ];
        let (conv, last) = FLOWS
            .start("engineer_job", lang, &map(&known))
            .expect("engineer_job starts");
        Chat { conv, last }
    }

    fn send(&mut self, input: Incoming) -> Outcome {
        let step = FLOWS.step(&mut self.conv, input);
        self.last = step.replies;
        step.outcome
    }

    fn text(&mut self, t: &str) -> Outcome {
        self.send(Incoming::Text(t.into()))
    }

    fn cmd(&mut self, name: &str, args: &str) -> Outcome {
        self.send(Incoming::Command(name.into(), args.into()))
    }

    /// Presses the button whose option part is `option`; it must be on screen.
    fn press(&mut self, option: &str) -> Outcome {
        let id = self
            .buttons()
            .into_iter()
            .find(|id| {
                id.split('@')
                    .next()
                    .and_then(|b| b.split_once(':'))
                    .is_some_and(|(_, o)| o == option)
            })
            .unwrap_or_else(|| panic!("no button `{option}` in {:#?}", self.last));
        self.send(Incoming::Choice(id))
    }

    fn buttons(&self) -> Vec<String> {
        self.last
            .iter()
            .flat_map(|o| match o {
                Outgoing::Choices { options, .. } => {
                    options.iter().map(|(id, _)| id.clone()).collect()
                }
                _ => Vec::new(),
            })
            .collect()
    }

    fn step(&self) -> &str {
        self.conv.step()
    }

    /// All reply texts joined.
    fn said(&self) -> String {
        self.last.iter().map(text_of).collect::<Vec<_>>().join("\n")
    }

    /// Answers the current fault-report step with a good answer; `category` picks the
    /// branch.
    fn answer(&mut self, category: &str) -> Outcome {
        match self.step() {
            "category" => self.press(category),
            "desktop_symptom" => self.press("slow"),
            "printer_model" => self.text("HP LaserJet M404"),
            "printer_symptom" => self.press("paper_jam"),
            "network_scope" => self.press("one_pc"),
            "system_name" => self.text("OA 系统"),
            "site" => self.text("上海总部"),
            "building" => self.press("skip"),
            "room" => self.text("302"),
            "device" => self.text("PC-0231"),
            "description" => self.text("打印机一直卡纸\n拿不出来"),
            "started" => self.press("within_hour"),
            "people" => self.text("5"),
            "urgency" => self.press("degraded"),
            "department" => self.text("财务部"),
            "phone" => self.text("13800138000"),
            other => panic!("no scripted answer for `{other}`"),
        }
    }

    /// Answers until the summary, returning the steps asked.
    fn answer_until_summary(&mut self, category: &str) -> Vec<String> {
        let mut asked = Vec::new();
        while self.step() != "summary" {
            asked.push(self.step().to_owned());
            assert_eq!(self.answer(category), Outcome::Continue, "at {asked:?}");
            assert!(asked.len() < 30, "loop: {asked:?}");
        }
        asked
    }

    fn submit(&mut self) -> BTreeMap<String, String> {
        match self.press("submit") {
            Outcome::Submitted(a) => a,
            other => panic!("expected Submitted, got {other:?}"),
        }
    }
}

#[test]
fn shipped_flows_load_with_no_problems() {
    assert_eq!(
        FLOWS.flow_ids(),
        [
            "complaint",
            "confirm_fix",
            "engineer_job",
            "fault_report",
            "inspection",
            "remote_consent",
            "survey"
        ]
    );
    // The category ids are the desk's routing categories, in order.
    let flow = &FLOWS.inner.flows["fault_report"];
    let category = &flow.steps[flow.index["category"]];
    let ids: Vec<&str> = category.options.iter().map(|o| o.id.as_str()).collect();
    let routing = Routing::default();
    let routed: Vec<&str> = routing.categories().collect();
    assert_eq!(ids, routed);
    assert_eq!(
        ids,
        [
            "desktop",
            "printer",
            "network",
            "server",
            "database",
            "application"
        ]
    );
}

#[test]
fn lang_codes() {
    for (code, lang) in [
        ("en", Lang::En),
        ("en-US", Lang::En),
        ("EN_gb", Lang::En),
        ("zh", Lang::ZhCn),
        ("zh-Hans", Lang::ZhCn),
        ("zh-CN", Lang::ZhCn),
        ("", Lang::ZhCn),
        ("fr", Lang::ZhCn),
        ("english", Lang::ZhCn),
    ] {
        assert_eq!(Lang::from_code(code), lang, "{code}");
    }
    assert_eq!(Lang::ZhCn.as_code(), "zh-CN");
    assert_eq!(Lang::En.as_code(), "en");
    assert_eq!(Lang::from_code(Lang::En.as_code()), Lang::En);
}

#[test]
fn commands_are_parsed_alike_for_every_door() {
    let parsed = |t: &str| super::parse_command(t);
    let cmd = |n: &str, a: &str| Some((n.to_owned(), a.to_owned()));
    assert_eq!(parsed("/start"), cmd("start", ""));
    assert_eq!(parsed("  /Report  "), cmd("report", ""));
    assert_eq!(
        parsed("/start asset_PRN-3F-02"),
        cmd("start", "asset_PRN-3F-02")
    );
    assert_eq!(
        parsed("/job@baoxiu_bot  BX-2026-000001 "),
        cmd("job", "BX-2026-000001")
    );
    assert_eq!(parsed("/link\tAB12"), cmd("link", "AB12"));
    for not_one in [
        "start",
        "/",
        "/ start",
        "/home/user is full",
        "/状态",
        "",
        "//x",
    ] {
        assert_eq!(parsed(not_one), None, "{not_one}");
    }
    assert_eq!(parsed(&format!("/{}", "a".repeat(33))), None);
}

#[test]
fn flows_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Flows>();
    assert_traits::<Conversation>();
}
