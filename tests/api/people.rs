//! The staff directory (issue 20): the client's staff list imported from CSV (UTF-8, BOM,
//! GBK) whole or not at all; a known person is never asked what the directory holds; a
//! stranger is let in, asked for the contract number, or politely refused as
//! `[intake] strangers` says — and a refused one leaves nothing behind.

use baoxiu::conversation::Person;
use baoxiu::desk::TicketFilter;
use baoxiu::domain::people::StrangerPolicy;
use baoxiu::domain::ticket::{Caller, Ticket};
use baoxiu::flow::{Incoming, Outgoing};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, MANAGER, TestApp, spawn_app, spawn_app_with, token};
use crate::on_both_backends;

on_both_backends!(
    a_known_person_is_asked_nothing_the_directory_holds,
    a_bad_row_refuses_the_whole_file_and_changes_nothing,
    only_engineers_and_managers_read_the_directory,
    refused_strangers_are_told_politely_and_nothing_is_stored,
    strangers_give_the_contract_number_first,
);

/// The staff list as Excel on Chinese Windows saves it: GBK, Chinese headers.
const STAFF: &str = "姓名,部门,手机,地点,楼宇,房间,聊天账号,邮箱\r\n\
                     赵敏,财务部,138 0013 8001,总部,A座,301,web:zhao-browser; telegram:5001,zhao.min@example.com\r\n\
                     钱进,人事部,13800138002,苏州分公司,,2F,web:qian-browser,\r\n";

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// Posts a file to an import endpoint as `who`.
pub(crate) async fn upload(
    app: &TestApp,
    who: &str,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(who)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) fn web(id: &str, name: &str) -> Person {
    Person {
        channel: "web".into(),
        external_id: id.into(),
        name: name.into(),
        language: Some("zh-CN".into()),
    }
}

pub(crate) fn said(replies: &[Outgoing]) -> String {
    baoxiu::doors::terminal::render(replies)
}

/// The step a person's conversation is at, or `None` when it has ended.
async fn step_of(app: &TestApp, who: &Person) -> Option<String> {
    let stored = app
        .store
        .conversation(&who.channel, &who.external_id)
        .await
        .expect("read conversation")?;
    let v: Value = serde_json::from_str(&stored.state).expect("state is JSON");
    v["step"].as_str().map(str::to_owned)
}

/// A report walked to the end from `first` (a start command), answering each question as
/// a printer's reporter would: the steps asked, in order, and everything said.
pub(crate) async fn walk(app: &TestApp, who: &Person, first: Incoming) -> (Vec<String>, String) {
    let mut text = said(&app.chat.handle(who, first).await.expect("start"));
    let mut steps = Vec::new();
    while let Some(step) = step_of(app, who).await {
        assert!(steps.len() < 30, "the report never ends: {steps:?}");
        let answer = match step.as_str() {
            "category" => "printer",
            "printer_model" => "HP M404",
            "printer_symptom" => "1",
            "site" => "分部",
            "building" => "C座",
            "room" => "999",
            "device" => "PRN-0042",
            "description" => "打印机卡纸",
            "started" => "1",
            "people" => "1",
            "urgency" => "2",
            "department" => "行政部",
            "phone" => "13900000000",
            "summary" => "提交",
            other => panic!("unexpected question `{other}` after {steps:?}:\n{text}"),
        };
        steps.push(step);
        let replies = app
            .chat
            .handle(who, Incoming::Text(answer.into()))
            .await
            .expect("answer");
        text.push_str(&said(&replies));
    }
    (steps, text)
}

/// The newest ticket.
pub(crate) async fn newest(app: &TestApp) -> Ticket {
    let desk = Caller::Desk {
        name: "test".into(),
    };
    app.desk
        .list(&desk, &TicketFilter::default(), 1, 1)
        .await
        .expect("list")
        .items
        .into_iter()
        .next()
        .expect("a ticket was filed")
}

async fn a_known_person_is_asked_nothing_the_directory_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = upload(&app, MANAGER, "/api/people/import", gbk(STAFF)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], 2);

    // Zhao writes for the first time, under another display name.
    let zhao = web("zhao-browser", "zm");
    let (steps, text) = walk(
        &app,
        &zhao,
        Incoming::Command("start".into(), String::new()),
    )
    .await;
    for never in ["department", "phone", "site", "building", "room"] {
        assert!(
            !steps.contains(&never.to_owned()),
            "asked {never}: {steps:?}"
        );
    }
    // The usual location is offered in the summary, where it can be changed.
    assert!(text.contains("总部") && text.contains("301"), "{text}");
    let t = newest(&app).await;
    assert_eq!(
        t.intake.reporter_name.as_str(),
        "赵敏",
        "the directory's name"
    );
    assert_eq!(t.intake.department.as_str(), "财务部");
    assert_eq!(t.intake.phone.as_str(), "13800138001");
    assert_eq!(t.intake.location.site.as_str(), "总部");
    assert_eq!(
        t.intake.location.building.as_ref().map(|b| b.as_str()),
        Some("A座")
    );
    assert_eq!(
        t.intake.location.room.as_ref().map(|r| r.as_str()),
        Some("301")
    );

    // Someone the directory does not know is asked all of it.
    let stranger = web("sun-browser", "孙立");
    let (steps, _) = walk(
        &app,
        &stranger,
        Incoming::Command("start".into(), String::new()),
    )
    .await;
    for asked in ["department", "phone", "site", "building", "room"] {
        assert!(
            steps.contains(&asked.to_owned()),
            "{asked} not asked: {steps:?}"
        );
    }
    let t = newest(&app).await;
    assert_eq!(t.intake.location.site.as_str(), "分部");
}

async fn a_bad_row_refuses_the_whole_file_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    // UTF-8 with a BOM, English headers.
    let mut good = b"\xEF\xBB\xBF".to_vec();
    good.extend_from_slice(
        b"name,department,phone,chat_ids\nWang Fang,IT,13800138000,telegram:42\n",
    );
    let (status, body) = upload(&app, MANAGER, "/api/people/import", good).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let bad = "姓名,手机\n张三,13800138000\n李四,打电话给我\n王五,13800138003\n";
    let (status, body) = upload(&app, MANAGER, "/api/people/import", bad.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("line 3: phone `打电话给我`"), "{detail}");
    assert!(detail.ends_with("nothing was imported"), "{detail}");

    let twice = "name,chat_ids\nA,telegram:1\nB,telegram:1\n";
    let (status, body) = upload(
        &app,
        MANAGER,
        "/api/people/import",
        twice.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("line 3"),
        "{body}"
    );

    let (status, _) = upload(&app, MANAGER, "/api/people/import", vec![0xFF, 0xFE, 0xFF]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The first import stands, whole.
    let r = app.get(MANAGER, "/api/people").await;
    let people: Vec<Value> = r.json().await.expect("json");
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(people[0]["name"], "Wang Fang");
    assert_eq!(app.count("people").await, 1);
    assert_eq!(app.count("people_identities").await, 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM register_events WHERE register = 'people'")
            .await,
        1,
        "one import, one event"
    );
}

async fn only_engineers_and_managers_read_the_directory(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, _) = upload(&app, MANAGER, "/api/people/import", gbk(STAFF)).await;
    assert_eq!(status, StatusCode::OK);
    let r = app.get(&token("alice"), "/api/people").await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.get(&token("li.na"), "/api/people").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, _) = upload(&app, &token("alice"), "/api/people/import", gbk(STAFF)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "engineers do not change the directory"
    );
    let (status, _) = upload(&app, &token("li.na"), "/api/people/import", gbk(STAFF)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("people").await, 2);
}

async fn refused_strangers_are_told_politely_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.intake.strangers = StrangerPolicy::Refuse).await;
    let (status, _) = upload(&app, MANAGER, "/api/people/import", gbk(STAFF)).await;
    assert_eq!(status, StatusCode::OK);
    let reporters = app.count("reporters").await;

    let stranger = web("nobody-browser", "路人");
    for input in [
        Incoming::Command("start".into(), String::new()),
        Incoming::Text("打印机坏了".into()),
    ] {
        let reply = said(&app.chat.handle(&stranger, input).await.expect("handled"));
        assert!(reply.contains("员工名录"), "{reply}");
    }
    assert_eq!(
        app.count("reporters").await,
        reporters,
        "no reporter was made"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM reporter_identities WHERE external_id = 'nobody-browser'")
            .await,
        0
    );
    assert_eq!(
        app.count("conversations").await,
        0,
        "no conversation was kept"
    );

    // A person in the directory reports as usual.
    let qian = web("qian-browser", "qj");
    let (steps, _) = walk(
        &app,
        &qian,
        Incoming::Command("start".into(), String::new()),
    )
    .await;
    assert!(steps.contains(&"summary".to_owned()), "{steps:?}");
    assert_eq!(newest(&app).await.intake.reporter_name.as_str(), "钱进");
}

async fn strangers_give_the_contract_number_first(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.intake.strangers = StrangerPolicy::AskContractNumber;
        c.intake.contract_numbers = vec!["HT-2026-001".into()];
    })
    .await;
    let caller = web("caller-browser", "来电者");
    let asked = said(
        &app.chat
            .handle(&caller, Incoming::Command("start".into(), String::new()))
            .await
            .expect("handled"),
    );
    assert!(asked.contains("合同编号"), "{asked}");
    let again = said(
        &app.chat
            .handle(&caller, Incoming::Text("HT-2025-999".into()))
            .await
            .expect("handled"),
    );
    assert!(again.contains("合同编号"), "{again}");
    assert_eq!(
        app.count("reporters").await,
        0,
        "nothing stored before the number"
    );
    assert_eq!(app.count("conversations").await, 0);

    // Typed loosely, the right number lets them in and starts their report.
    let admitted = said(
        &app.chat
            .handle(&caller, Incoming::Text("ht 2026 001".into()))
            .await
            .expect("handled"),
    );
    assert!(admitted.contains("合同编号已确认"), "{admitted}");
    assert_eq!(app.count("reporters").await, 1);
    assert_eq!(step_of(&app, &caller).await.as_deref(), Some("category"));
}
