//! `/readyz`: ready when the database answers and has every migration; `/healthz` stays
//! a liveness check.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(readyz_says_whether_the_database_can_take_work);

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
