//! The channel a ticket came from is recorded and reportable, and a phone or email report
//! the desk records has the contract's answer target (issue 19; plan 002: phone answered
//! within 30 minutes, email within 2 hours).

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chat::Browser;
use crate::helpers::{Backend, MANAGER, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    the_channel_a_ticket_came_from_is_recorded_and_reportable,
    a_desk_entered_phone_report_has_the_phone_answer_target,
    only_the_desk_records_phone_walk_in_and_email_reports
);

fn due_of(detail: &Value, clock: &str) -> Option<DateTime<Utc>> {
    let c = detail["clocks"]
        .as_array()?
        .iter()
        .find(|c| c["kind"] == clock)?;
    serde_json::from_value(c["due_at"].clone()).ok()
}

/// Records `body` for reporter `li.na` as the desk; the response.
async fn on_behalf(app: &TestApp, body: &Value) -> reqwest::Response {
    let li = app
        .desk
        .reporter_for_identity("api", "li.na", "李娜")
        .await
        .expect("reporter");
    app.post(
        MANAGER,
        &format!("/api/tickets?on_behalf_of={}", li.id),
        body,
    )
    .await
}

fn with(extra: Value) -> Value {
    let mut body = printer_fault();
    for (k, v) in extra.as_object().expect("an object") {
        body[k] = v.clone();
    }
    body
}

async fn the_channel_a_ticket_came_from_is_recorded_and_reportable(backend: Backend) {
    let app = spawn_app(backend).await;
    let (browser, _) = Browser::hello(&app, "Anna Smith", "en").await;
    let web = browser.file_a_printer_fault().await;
    let api = app.report("li.na", &printer_fault()).await;
    let r = on_behalf(&app, &with(json!({"channel": "phone"}))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let phone = r.json::<Value>().await.unwrap()["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = on_behalf(&app, &with(json!({"channel": "walk_in"}))).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    for (number, channel) in [(&web, "web"), (&api, "api"), (&phone, "phone")] {
        assert_eq!(
            app.detail(number).await["ticket"]["intake"]["channel"],
            channel,
            "{number}"
        );
    }

    // The breakdown by channel puts each ticket in its channel's group, and the groups
    // add up to the total.
    let r: Value = app
        .get(
            MANAGER,
            "/api/reports?from=2026-11-23&to=2026-11-23&by=channel",
        )
        .await
        .json()
        .await
        .unwrap();
    let groups: serde_json::Map<String, Value> = r["groups"]
        .as_object()
        .expect("groups")
        .iter()
        .map(|(k, g)| (k.clone(), g["tickets"].clone()))
        .collect();
    assert_eq!(
        Value::Object(groups),
        json!({"web": 1, "api": 1, "phone": 1, "walk_in": 1})
    );
    assert_eq!(r["total"]["tickets"], 4);
}

async fn a_desk_entered_phone_report_has_the_phone_answer_target(backend: Backend) {
    let app = spawn_app(backend).await;
    // 10:00 in Shanghai; the call came in at 09:45.
    app.clock.advance(Duration::hours(1));
    let called = app.clock_now() - Duration::minutes(15);

    // A P3 by phone: answered within 30 minutes of the call, not the priority's 2 hours.
    let r = on_behalf(
        &app,
        &with(json!({"channel": "phone", "received_at": called})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let phone: Value = r.json().await.unwrap();
    assert_eq!(phone["priority"], "P3");
    let detail = app.detail(phone["number"].as_str().unwrap()).await;
    assert_eq!(
        due_of(&detail, "response"),
        Some(called + Duration::minutes(30))
    );
    // Its other clocks run from the call too.
    assert_eq!(
        due_of(&detail, "replacement"),
        Some(called + Duration::hours(48))
    );

    // The same fault typed into the API keeps its priority's target, from now.
    let api = app.report("li.na", &printer_fault()).await;
    assert_eq!(
        due_of(&app.detail(&api).await, "response"),
        Some(app.clock_now() + Duration::hours(2))
    );

    // A consultation (P4, no clock of its own) by email is answered within 2 hours.
    let r = on_behalf(
        &app,
        &with(json!({"kind": "consultation", "channel": "email"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let email: Value = r.json().await.unwrap();
    assert_eq!(email["priority"], "P4");
    let detail = app.detail(email["number"].as_str().unwrap()).await;
    assert_eq!(
        due_of(&detail, "response"),
        Some(app.clock_now() + Duration::hours(2))
    );
    assert_eq!(due_of(&detail, "resolution"), None);
}

async fn only_the_desk_records_phone_walk_in_and_email_reports(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = app.clock_now();
    let refused = [
        // A reporter cannot claim they phoned in.
        (
            token("li.na"),
            with(json!({"channel": "phone"})),
            StatusCode::FORBIDDEN,
        ),
        // When a chat or API report came in is when it was filed.
        (
            MANAGER.to_owned(),
            with(json!({"received_at": now - Duration::minutes(5)})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            MANAGER.to_owned(),
            with(json!({"channel": "phone", "received_at": now + Duration::hours(1)})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            MANAGER.to_owned(),
            with(json!({"channel": "email", "received_at": now - Duration::days(8)})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            MANAGER.to_owned(),
            with(json!({"channel": "unrecorded"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            MANAGER.to_owned(),
            with(json!({"channel": "fax"})),
            StatusCode::BAD_REQUEST,
        ),
    ];
    let li = app
        .desk
        .reporter_for_identity("api", "li.na", "李娜")
        .await
        .expect("reporter");
    for (who, body, status) in refused {
        let path = if who == MANAGER {
            format!("/api/tickets?on_behalf_of={}", li.id)
        } else {
            "/api/tickets".to_owned()
        };
        let r = app.post(&who, &path, &body).await;
        let got = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(got, status, "{body}: {text}");
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert!(
                text.contains("channel") || text.contains("received_at"),
                "{text}"
            );
        }
    }
    assert_eq!(app.count("tickets").await, 0, "nothing was filed");
}
