//! A ticket's whole life over HTTP, with its audit trail and outgoing messages.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    report_accept_work_resolve_confirm,
    not_fixed_reopens_to_same_engineer,
    escalation_and_reassign,
    nobody_on_duty_alerts_managers,
    vip_fault_is_p1,
    a_new_ticket_is_answered_as_stored
);

fn actions(detail: &Value) -> Vec<String> {
    detail["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .map(|e| {
            format!(
                "{}:{}->{}",
                e["action"].as_str().unwrap_or("?"),
                e["from"].as_str().unwrap_or("-"),
                e["to"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

async fn outbox_events(app: &crate::helpers::TestApp, number: &str) -> Vec<(String, String)> {
    app.outbox_of(number)
        .await
        .into_iter()
        .map(|m| {
            let (kind, id) = m.to.parts();
            (format!("{kind}:{id}"), m.event)
        })
        .collect()
}

async fn report_accept_work_resolve_confirm(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &printer_fault()).await;
    assert!(number.starts_with("BX-2026-"), "{number}");

    let t = app.detail(&number).await;
    assert_eq!(t["ticket"]["status"], "offered");
    assert_eq!(t["ticket"]["priority"], "P3", "one person, high urgency");
    assert_eq!(t["ticket"]["group"], "printer");
    assert_eq!(t["ticket"]["intake"]["device"]["asset_tag"], "PRN-3F-02");
    assert_eq!(t["ticket"]["intake"]["phone"], "13800138000");
    // P3: respond within 2 h. The default calendar is 24×7.
    assert_eq!(
        t["ticket"]["response_due_at"],
        json!(
            (app.clock_now() + Duration::hours(2))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );

    // Both on-duty printer first-liners (alice id 1, bob id 2) are offered the job; the
    // reporter had their receipt as the answer to the report itself.
    let events = outbox_events(&app, &number).await;
    assert_eq!(
        events,
        vec![
            ("engineer:1".into(), "job_offered".into()),
            ("engineer:2".into(), "job_offered".into()),
        ]
    );

    app.clock.advance(Duration::minutes(5));
    let accepted = app
        .act(&token("bob"), &number, "accept", json!({}), StatusCode::OK)
        .await;
    assert_eq!(accepted["status"], "accepted");
    app.act(
        &token("bob"),
        &number,
        "start",
        json!({"mode": "on_site"}),
        StatusCode::OK,
    )
    .await;
    app.clock.advance(Duration::minutes(20));
    let arrived = app
        .act(&token("bob"), &number, "arrive", json!({}), StatusCode::OK)
        .await;
    assert_eq!(
        arrived["arrived_at"],
        json!(
            app.clock_now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );
    app.act(
        &token("bob"),
        &number,
        "progress",
        json!({"note": "正在更换搓纸轮"}),
        StatusCode::OK,
    )
    .await;
    app.act(
        &token("bob"),
        &number,
        "pend",
        json!({"reason": "vendor", "note": "等配件"}),
        StatusCode::OK,
    )
    .await;
    app.act(&token("bob"), &number, "resume", json!({}), StatusCode::OK)
        .await;
    app.act(
        &token("bob"),
        &number,
        "resolve",
        json!({"cause": "搓纸轮磨损", "solution": "更换搓纸轮"}),
        StatusCode::OK,
    )
    .await;
    let closed = app
        .act(
            &token("li.na"),
            &number,
            "confirm",
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closure"], "confirmed");

    let d = app.detail(&number).await;
    assert_eq!(
        actions(&d),
        [
            "report:-->offered",
            "accept:offered->accepted",
            "start:accepted->in_progress",
            "arrive:in_progress->in_progress",
            "progress:in_progress->in_progress",
            "pend:in_progress->pending",
            "resume:pending->in_progress",
            "resolve:in_progress->resolved",
            "confirm:resolved->closed",
        ]
    );
    // Every event says who: the reporter by name, the engineer by name.
    let audit = d["audit"].as_array().expect("audit");
    assert_eq!(audit[0]["actor"]["name"], "李娜");
    assert!(
        audit[1..8]
            .iter()
            .all(|e| e["actor"]["name"] == "bob" && e["actor"]["kind"] == "engineer")
    );
    assert_eq!(audit[5]["note"], "vendor: 等配件");
    assert_eq!(d["ticket"]["version"], 9, "one version per change");

    let events: Vec<String> = outbox_events(&app, &number)
        .await
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        events[2..],
        [
            "ticket_accepted",
            "job_taken", // to alice: the offer she saw is gone (bob is not told of his own accept)
            "engineer_on_the_way",
            "engineer_arrived",
            "progress_update",
            "ticket_pending",
            "ticket_resumed",
            "ticket_resolved",
            "ticket_confirmed",
        ]
    );
    // The reporter's department and phone are remembered for next time.
    let again = app
        .report(
            "li.na",
            &json!({"site": "总部", "category": "desktop", "description": "蓝屏"}),
        )
        .await;
    let d2 = app.detail(&again).await;
    assert_eq!(d2["ticket"]["intake"]["department"], "财务部");
    assert_eq!(d2["ticket"]["intake"]["phone"], "13800138000");
    assert_ne!(again, number);
}

async fn not_fixed_reopens_to_same_engineer(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &printer_fault()).await;
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;
    app.act(
        &token("alice"),
        &number,
        "resolve",
        json!({"cause": "驱动", "solution": "重装驱动"}),
        StatusCode::OK,
    )
    .await;
    let r = app
        .act(
            &token("li.na"),
            &number,
            "reopen",
            json!({"note": "还是打不出来"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(r["status"], "reopened");
    assert_eq!(r["assignee"], 1);
    assert_eq!(r["reopen_count"], 1);
    app.act(
        &token("alice"),
        &number,
        "resolve",
        json!({"cause": "硒鼓", "solution": "换硒鼓"}),
        StatusCode::OK,
    )
    .await;
    let closed = app
        .act(
            &token("li.na"),
            &number,
            "confirm",
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(closed["reopen_count"], 1);
    let d = app.detail(&number).await;
    assert!(actions(&d).contains(&"reopen:resolved->reopened".to_string()));
    assert_eq!(d["audit"][3]["note"], "还是打不出来");
}

async fn escalation_and_reassign(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &printer_fault()).await;
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;
    let up = app
        .act(
            &token("alice"),
            &number,
            "escalate",
            json!({"note": "需要专家"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(up["tier"], "expert");
    assert_eq!(up["status"], "offered");
    // First line cannot take an expert-tier job; the expert can.
    app.act(
        &token("bob"),
        &number,
        "accept",
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;
    app.act(
        &token("carol"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;
    // The desk re-dispatches to the network group's dave.
    let moved = app
        .act(
            MANAGER,
            &number,
            "reassign",
            json!({"engineer": "dave"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(moved["group"], "network");
    assert_eq!(moved["offered_to"], 4);
    // Now carol (printer) no longer sees it; dave does and accepts.
    assert_eq!(
        app.get(&token("carol"), &format!("/api/tickets/{number}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    app.act(&token("dave"), &number, "accept", json!({}), StatusCode::OK)
        .await;
    let events: Vec<(String, String)> = outbox_events(&app, &number).await;
    assert!(
        events.contains(&("engineer:3".into(), "job_offered".into())),
        "experts offered: {events:?}"
    );
    assert!(events.contains(&("engineer:3".into(), "job_reassigned".into())));
    assert!(events.contains(&("engineer:4".into(), "job_offered".into())));
}

async fn nobody_on_duty_alerts_managers(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .report("li.na", &json!({"department": "财务部", "phone": "13800138000", "site": "总部", "category": "database", "description": "ERP 数据库连不上", "people_affected": 40, "impact": "everyone", "urgency": "high"}))
        .await;
    let d = app.detail(&r).await;
    assert_eq!(d["ticket"]["status"], "new");
    assert_eq!(d["ticket"]["priority"], "P1");
    let events = outbox_events(&app, &r).await;
    assert!(
        events.contains(&("engineer:5".into(), "no_engineer_on_duty".into())),
        "{events:?}"
    );
}

async fn vip_fault_is_p1(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.report("wang.fang", &printer_fault()).await;
    let d = app.detail(&first).await;
    assert_eq!(d["ticket"]["priority"], "P3");
    let reporter = d["ticket"]["reporter"].as_i64().expect("reporter id");
    // Only managers may mark a VIP.
    let r = app
        .patch(
            &token("alice"),
            &format!("/api/reporters/{reporter}"),
            &json!({"vip": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .patch(
            MANAGER,
            &format!("/api/reporters/{reporter}"),
            &json!({"vip": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let second = app.report("wang.fang", &printer_fault()).await;
    let d = app.detail(&second).await;
    assert_eq!(d["ticket"]["priority"], "P1");
    assert_eq!(d["ticket"]["vip"], true);
    assert_eq!(
        d["ticket"]["response_due_at"],
        json!(
            (app.clock_now() + Duration::minutes(10))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );
}

/// The ticket a report answers with is the one stored, every field of it (SQLite hands back
/// the ticket it wrote instead of reading the row back), photos and times included.
async fn a_new_ticket_is_answered_as_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = printer_fault();
    body["device_model"] = json!("HP LaserJet M404");
    body["started_at"] = json!(app.clock_now() - Duration::minutes(20));
    body["photos"] = json!(["file-1", "file-2"]);
    let r = app.post(&token("li.na"), "/api/tickets", &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let answered: Value = r.json().await.expect("json");
    let number = answered["number"].as_str().expect("number");
    assert_eq!(answered["intake"]["photos"], json!(["file-1", "file-2"]));
    assert_eq!(answered["version"], 1);
    assert_eq!(app.detail(number).await["ticket"], answered);
}
