//! Complaints as records (issue 19): `/complain` in a chat door at any time, the REST API,
//! a survey's complaint; an owner (the on-call manager), an 8-hour clock escalated to
//! every manager, an outcome told to the complainant, figures of their own in reports,
//! and the text for managers only.

use baoxiu::conversation::Person;
use baoxiu::flow::{Incoming, Outgoing};
use baoxiu::sla::Scheduler;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, TestApp, printer_fault, spawn_app, spawn_app_with, token};
use crate::on_both_backends;

on_both_backends!(
    complain_in_chat_at_any_time_files_a_record_for_the_on_call_manager,
    an_unanswered_complaint_escalates_to_every_manager_after_8_hours,
    complaint_text_is_for_managers_only,
    reports_count_complaint_records,
);

fn said(replies: &[Outgoing]) -> String {
    baoxiu::doors::terminal::render(replies)
}

async fn say(app: &TestApp, who: &Person, text: &str) -> String {
    said(
        &app.chat
            .handle(who, Incoming::Text(text.into()))
            .await
            .expect("handled"),
    )
}

async fn list(app: &TestApp) -> Vec<Value> {
    let r = app.get(MANAGER, "/api/complaints").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Vec<Value>>().await.expect("json")
}

async fn engineer_id(app: &TestApp, handle: &str) -> i64 {
    app.desk
        .engineer_by_handle(handle)
        .await
        .expect("lookup")
        .expect("engineer")
        .id
        .0
}

async fn complain_in_chat_at_any_time_files_a_record_for_the_on_call_manager(backend: Backend) {
    // zhou is on call around the clock; mia is the first manager.
    let app = spawn_app_with(backend, |c| {
        c.managers.on_call = vec![
            toml::from_str(
                "handle = \"zhou\"\nhours = { mon = [\"00:00-24:00\"], tue = [\"00:00-24:00\"] }",
            )
            .expect("shift"),
        ];
    })
    .await;
    app.desk
        .add_engineer(
            &baoxiu::domain::ticket::Caller::Desk {
                name: "seed".into(),
            },
            baoxiu::desk::NewEngineer {
                handle: "zhou".into(),
                name: "zhou".into(),
                group: "desktop".into(),
                tier: baoxiu::domain::routing::Tier::Manager,
                on_duty: true,
            },
        )
        .await
        .expect("zhou");
    let number = app.web_report("wang-browser", "王芳").await;
    let her = Person {
        channel: "web".into(),
        external_id: "wang-browser".into(),
        name: "王芳".into(),
        language: Some("en".into()),
    };
    // In the middle of a new report, /complain asks which ticket and what happened.
    say(&app, &her, "/report").await;
    let asked = say(&app, &her, "/complain").await;
    assert!(asked.contains("Which ticket"), "{asked}");
    let asked = say(&app, &her, &number).await;
    assert!(asked.contains("what happened"), "{asked}");
    let done = say(&app, &her, "COMPLAINT-ONE 工程师迟到两小时").await;
    assert!(done.contains("recorded"), "{done}");

    // With the number and the text, it is filed at once; without a ticket, it is about
    // the service in general.
    let done = say(
        &app,
        &her,
        &format!("/complain {number} COMPLAINT-TWO 又坏了"),
    )
    .await;
    assert!(done.contains("recorded"), "{done}");
    let done = say(&app, &her, "/complain COMPLAINT-THREE 电话没人接").await;
    assert!(done.contains("recorded"), "{done}");
    // A number alone: only what happened is asked.
    let asked = say(&app, &her, &format!("/complain {number}")).await;
    assert!(asked.contains("what happened"), "{asked}");
    let done = say(&app, &her, "/cancel").await;
    assert!(!done.contains("recorded"), "{done}");
    // Somebody else's ticket is not theirs to complain about.
    let other = app.report("li.na", &printer_fault()).await;
    let refused = say(&app, &her, &format!("/complain {other} 不是我的")).await;
    assert!(!refused.contains("recorded"), "{refused}");

    let all = list(&app).await;
    assert_eq!(all.len(), 3, "{all:?}");
    let zhou = engineer_id(&app, "zhou").await;
    let now = app.desk.now();
    for c in &all {
        assert_eq!(c["status"], "open");
        assert_eq!(c["channel"], "web");
        assert_eq!(c["owner_id"], zhou, "the on-call manager owns it");
        let due: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(c["due_at"].clone()).expect("due_at");
        assert_eq!(due, now + Duration::hours(8));
    }
    assert_eq!(all[2]["ticket"], json!(number));
    assert!(all[2]["text"].as_str().unwrap().contains("COMPLAINT-ONE"));
    assert_eq!(all[1]["ticket"], json!(number));
    assert_eq!(all[0]["ticket"], Value::Null);
    assert!(all[0]["text"].as_str().unwrap().contains("COMPLAINT-THREE"));
    // The owner is told of each, through the outbox.
    let told = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE event = 'complaint_received'
             AND recipient_kind = 'engineer' AND recipient_id = {zhou}"
        ))
        .await;
    assert_eq!(told, 3);
    let detail: Value = app
        .get(MANAGER, &format!("/api/complaints/{}", all[0]["id"]))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(detail["events"][0]["action"], "filed");
    assert_eq!(detail["events"][0]["actor_kind"], "reporter");
}

async fn an_unanswered_complaint_escalates_to_every_manager_after_8_hours(backend: Backend) {
    let app = spawn_app(backend).await;
    let li = token("li.na");
    let r = app
        .post(
            &li,
            "/api/complaints",
            &json!({ "text": "服务台电话总是占线" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let c: Value = r.json().await.expect("json");
    let id = c["id"].as_i64().expect("id");
    assert_eq!(
        c["owner_id"],
        engineer_id(&app, "mia").await,
        "no rota: the first manager"
    );
    let scheduler = Scheduler::new(app.desk.clone());
    let t0 = app.desk.now();

    app.clock
        .set(t0 + Duration::hours(8) - Duration::seconds(1));
    assert_eq!(scheduler.tick().await.unwrap().complaints, 0, "not yet");
    app.clock.set(t0 + Duration::hours(8));
    assert_eq!(scheduler.tick().await.unwrap().complaints, 1);
    assert_eq!(scheduler.tick().await.unwrap().complaints, 0, "once");
    let managers = app
        .scalar("SELECT COUNT(*) FROM engineers WHERE tier = 'manager'")
        .await;
    let overdue = app
        .scalar("SELECT COUNT(*) FROM outbox WHERE event = 'complaint_overdue'")
        .await;
    assert_eq!(overdue, managers);

    // The outcome is told to the complainant; an answered complaint may only be closed.
    let answered = app
        .post(
            MANAGER,
            &format!("/api/complaints/{id}/answer"),
            &json!({ "outcome": "已增加一条热线" }),
        )
        .await;
    assert_eq!(answered.status(), StatusCode::OK);
    let detail: Value = answered.json().await.expect("json");
    assert_eq!(detail["complaint"]["status"], "answered");
    assert_eq!(detail["complaint"]["outcome"], "已增加一条热线");
    let told = app
        .scalar(
            "SELECT COUNT(*) FROM outbox WHERE event = 'complaint_outcome'
             AND recipient_kind = 'reporter'",
        )
        .await;
    assert_eq!(told, 1);
    let again = app
        .post(
            MANAGER,
            &format!("/api/complaints/{id}/answer"),
            &json!({ "outcome": "再说一次" }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let closed: Value = app
        .post(
            MANAGER,
            &format!("/api/complaints/{id}/answer"),
            &json!({ "outcome": "回访满意", "close": true }),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(closed["complaint"]["status"], "closed");
    let actions: Vec<&str> = closed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["filed", "escalated", "answered", "closed"]);
    for (status, n) in [("open", 0), ("closed", 1)] {
        let listed: Vec<Value> = app
            .get(MANAGER, &format!("/api/complaints?status={status}"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(listed.len(), n, "{status}");
    }
}

async fn complaint_text_is_for_managers_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &printer_fault()).await;
    crate::access::surveyed(
        &app,
        "li.na",
        &number,
        baoxiu::desk::SurveyReply {
            rating: None,
            comment: Some("SECRET-COMPLAINT 修了三次还坏".into()),
            complaint: true,
        },
    )
    .await;
    // The survey's complaint is a record of its own, owned and with its clock.
    let all = list(&app).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["ticket"], json!(number));
    assert!(
        all[0]["text"]
            .as_str()
            .unwrap()
            .contains("SECRET-COMPLAINT")
    );
    let id = all[0]["id"].as_i64().unwrap();
    let filed = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE event = 'complaint_filed' AND payload LIKE '%\"complaint\":{id}%'"
        ))
        .await;
    assert_eq!(filed, 1, "the managers' message names the record");

    for who in [token("alice"), token("carol"), token("li.na")] {
        for path in [
            "/api/complaints".to_owned(),
            format!("/api/complaints/{id}"),
        ] {
            let r = app.get(&who, &path).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} {path}");
        }
        let r = app
            .post(
                &who,
                &format!("/api/complaints/{id}/answer"),
                &json!({ "outcome": "x" }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who} answers");
    }
    for engineer in ["alice", "carol"] {
        let text = app
            .get(&token(engineer), &format!("/api/tickets/{number}"))
            .await
            .text()
            .await
            .expect("text");
        assert!(!text.contains("SECRET-COMPLAINT"), "{engineer}: {text}");
        let r = app.get(&token(engineer), "/api/reports?period=month").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // An engineer cannot file one (they are not the complainant).
    let r = app
        .post(&token("alice"), "/api/complaints", &json!({ "text": "x" }))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn reports_count_complaint_records(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &printer_fault()).await;
    let t0 = app.desk.now();
    let file = async |key: &str, body: Value| -> i64 {
        let r = app.post(&token(key), "/api/complaints", &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.expect("json")["id"]
            .as_i64()
            .unwrap()
    };
    let a = file("li.na", json!({ "ticket": number, "text": "太慢" })).await;
    let b = file("li.na", json!({ "text": "电话没人接" })).await;
    let _c = file("wang.fang", json!({ "text": "态度差" })).await;
    let answer = async |id: i64| {
        let r = app
            .post(
                MANAGER,
                &format!("/api/complaints/{id}/answer"),
                &json!({ "outcome": "已处理" }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    };
    app.clock.set(t0 + Duration::hours(2));
    answer(a).await; // within 8 hours
    app.clock.set(t0 + Duration::hours(9));
    answer(b).await; // late
    app.clock.set(t0 + Duration::days(1));
    let r = app
        .get(MANAGER, "/api/reports?from=2026-11-23&to=2026-11-23")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.expect("json");
    let c = &report["complaint_records"];
    assert_eq!(c["received"], 3, "{c}");
    assert_eq!(c["answered_in_time"], 1, "{c}");
    assert_eq!(c["open"], 1, "{c}");
    // li.na's department is remembered from her report; wang.fang never gave one.
    assert_eq!(c["by_department"], json!({ "-": 1, "财务部": 2 }), "{c}");
    assert!(
        !report.to_string().contains("太慢"),
        "no complaint text in reports"
    );
}
