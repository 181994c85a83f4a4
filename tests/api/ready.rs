//! `/readyz`: ready when the database answers and has every migration; `/healthz` stays
//! a liveness check.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, printer_fault, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    readyz_says_whether_the_database_can_take_work,
    an_unstaffed_desk_is_visible_and_the_receipt_says_so,
    a_calendar_without_this_years_holidays_is_a_warning,
);

/// Issue 19: a working-hours calendar with no holidays for the current year would count
/// public holidays as working days: `/readyz` says so (2026 ships; 2027 does not yet).
async fn a_calendar_without_this_years_holidays_is_a_warning(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |c| {
        c.calendar.kind = baoxiu::domain::calendar::CalendarKind::WorkingHours;
    })
    .await;
    let holidays = |body: &Value| {
        body["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|w| w.contains("no holidays"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(holidays(&body).is_empty(), "2026 ships: {body}");
    app.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2027, 1, 5, 2, 0, 0).unwrap());
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "still ready: {body}");
    let w = holidays(&body);
    assert!(
        w.len() == 1 && w[0].contains("2027") && w[0].contains("calendar import"),
        "{body}"
    );
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn readyz_says_whether_the_database_can_take_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");

    // A database a migration short (restored from an older backup, say).
    let latest = app
        .scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .await;
    app.sql(&[&format!(
        "DELETE FROM _sqlx_migrations WHERE version = {latest}"
    )])
    .await;
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!("{latest:04}")) && detail.contains("baoxiu migrate"),
        "{detail}"
    );
    let (status, _) = get(&app, "/healthz").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness does not depend on migrations"
    );

    // A database that does not answer.
    app.store.close().await;
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("does not answer")),
        "{body}"
    );
}

/// What the receipt of a report in `category` would say.
async fn receipt(app: &TestApp, category: &str) -> &'static str {
    let r = app
        .desk
        .reporter_for_identity("web", "w-receipt", "张三")
        .await
        .unwrap();
    let mut form = printer_fault();
    form["category"] = category.into();
    let caller = baoxiu::domain::ticket::Caller::Reporter(r.id);
    let draft = app
        .desk
        .prepare_report(&caller, r.id, serde_json::from_value(form).unwrap())
        .await
        .unwrap();
    draft.receipt_event()
}

async fn an_unstaffed_desk_is_visible_and_the_receipt_says_so(backend: Backend) {
    let app = spawn_app(backend).await;
    // The cast staffs printers and the network; the database group has nobody on duty.
    assert_eq!(receipt(&app, "printer").await, "ticket_received");
    assert_eq!(
        receipt(&app, "database").await,
        "ticket_received_no_engineer",
        "not \"the engineers on duty have been told\": a manager was"
    );
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "the service works: {body}");
    let unstaffed = &body["staffing"]["groups_unstaffed"];
    assert!(
        unstaffed.as_array().unwrap().contains(&"database".into()),
        "{body}"
    );
    assert_eq!(body["staffing"]["managers"], 1);
    assert_eq!(body["warnings"].as_array().unwrap().len(), 1, "{body}");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("baoxiu_groups_unstaffed{group=\"database\"} 1")
            && !metrics.contains("baoxiu_groups_unstaffed{group=\"printer\"}")
            && metrics.contains("baoxiu_managers_reachable 1"),
        "{metrics}"
    );

    // No manager either: nobody at all would hear of a database fault.
    app.link("mia", |e| e.tier = baoxiu::domain::routing::Tier::Expert)
        .await;
    assert_eq!(receipt(&app, "database").await, "ticket_received_unstaffed");
    let (_, body) = get(&app, "/readyz").await;
    let warnings = body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{body}");
    assert!(
        warnings[1].as_str().unwrap().contains("no manager"),
        "{body}"
    );
}
