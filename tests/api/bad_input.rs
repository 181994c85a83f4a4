//! Bad input gets a clear error and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    bad_reports_are_refused_with_reasons,
    illegal_transitions_change_nothing
);

async fn bad_reports_are_refused_with_reasons(backend: Backend) {
    let app = spawn_app(backend).await;
    let lina = token("li.na");
    let with = |k: &str, v: Value| {
        let mut b = printer_fault();
        b[k] = v;
        b
    };
    // (body, expected status, text the answer must contain)
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            with("colour", json!("red")),
            StatusCode::BAD_REQUEST,
            "unknown field `colour`",
        ),
        (
            with("description", json!("x".repeat(4001))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "description is too long: 4001 characters, the limit is 4000",
        ),
        (
            with("description", json!("   ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "description is required",
        ),
        (
            with("ip", json!("10.1.3.300")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "IP address is not valid",
        ),
        (
            with("phone", json!("call me")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "phone is not valid",
        ),
        (
            with("category", json!("coffee")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown category `coffee`; choose one of: desktop, printer",
        ),
        (
            with("people_affected", json!(0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "people affected must be between",
        ),
        (
            with("urgency", json!("yesterday")),
            StatusCode::BAD_REQUEST,
            "unknown variant `yesterday`",
        ),
        (
            with("started_at", json!("2030-01-01T00:00:00Z")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cannot start in the future",
        ),
        (
            with("reporter_name", json!("a\u{0}b")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "name contains control characters",
        ),
        (
            json!({"category": "printer"}),
            StatusCode::BAD_REQUEST,
            "missing field",
        ),
    ];
    for (body, status, needle) in cases {
        let r = app.post(&lina, "/api/tickets", &body).await;
        assert_eq!(r.status(), status, "{needle}");
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let text = r.text().await.unwrap_or_default();
        assert!(text.contains(needle), "expected {needle:?} in {text}");
    }
    // Several problems are reported together, each with its field.
    let mut both = with("ip", json!("nope"));
    both["phone"] = json!("x");
    let r: Value = app
        .post(&lina, "/api/tickets", &both)
        .await
        .json()
        .await
        .expect("json");
    let fields: Vec<&str> = r["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["phone", "ip"]);
    // Not JSON at all.
    let r = app
        .client
        .post(format!("{}/api/tickets", app.base))
        .bearer_auth(&lina)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A reporter cannot file on someone else's behalf.
    let r = app
        .post(&lina, "/api/tickets?on_behalf_of=999", &printer_fault())
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("tickets").await, 0, "nothing was created");
    assert_eq!(app.count("outbox").await, 0);
}

async fn illegal_transitions_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let n = app.report("li.na", &printer_fault()).await;
    let before = app.detail(&n).await;
    let alice = token("alice");
    app.act(
        &token("li.na"),
        &n,
        "confirm",
        json!({}),
        StatusCode::CONFLICT,
    )
    .await;
    app.act(
        &alice,
        &n,
        "resolve",
        json!({"cause": "x", "solution": "y"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    app.act(&alice, &n, "accept", json!({}), StatusCode::OK)
        .await;
    let r = app
        .act(&alice, &n, "arrive", json!({}), StatusCode::OK)
        .await;
    assert_eq!(r["work_mode"], "on_site");
    let again = app
        .act(&alice, &n, "arrive", json!({}), StatusCode::CONFLICT)
        .await;
    assert_eq!(again["detail"], "arrival on site was already recorded");
    let r = app
        .act(
            &alice,
            &n,
            "resolve",
            json!({"cause": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(r["detail"], "`solution` is required for this action");
    let r = app
        .act(&alice, &n, "teleport", json!({}), StatusCode::BAD_REQUEST)
        .await;
    assert!(
        r["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("unknown action `teleport`")
    );
    let r = app
        .act(
            &alice,
            &n,
            "progress",
            json!({"note": "ok", "mood": "happy"}),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert!(
        r["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field `mood`")
    );
    app.act(
        &alice,
        "BX-2026-999999",
        "accept",
        json!({}),
        StatusCode::NOT_FOUND,
    )
    .await;
    app.act(
        &alice,
        "not-a-number",
        "accept",
        json!({}),
        StatusCode::NOT_FOUND,
    )
    .await;
    app.act(
        MANAGER,
        &n,
        "reassign",
        json!({"group": "kitchen"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let after = app.detail(&n).await;
    assert_eq!(
        after["audit"].as_array().map(Vec::len),
        Some(3),
        "report, accept, arrive only"
    );
    assert_eq!(
        after["ticket"]["version"].as_i64(),
        before["ticket"]["version"].as_i64().map(|v| v + 2)
    );
    let cancelled = app
        .act(
            &token("li.na"),
            &n,
            "cancel",
            json!({"note": "自己修好了"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    app.act(
        &alice,
        &n,
        "progress",
        json!({"note": "还在吗"}),
        StatusCode::CONFLICT,
    )
    .await;
}
