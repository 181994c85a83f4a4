//! Engineers link their Telegram account with a one-time code from the desk.

use super::*;

on_both_backends!(
    engineers_link_with_a_one_time_code,
    managers_issue_link_codes_over_the_api,
);

async fn engineers_link_with_a_one_time_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_tg, task) = polling(&app, &sim);
    let desk = Caller::Desk {
        name: "desk".into(),
    };
    let code = app
        .desk
        .issue_link_code(&desk, "alice")
        .await
        .expect("code");
    let reporter = Caller::Reporter(baoxiu::domain::ReporterId(1));
    assert!(app.desk.issue_link_code(&reporter, "alice").await.is_err());

    let mut her = User::new(&sim, 88, "Alice", "en");
    her.say("/link", "Send /link followed by the code").await;
    her.say("/link ABCD2345", "wrong, expired or already used")
        .await;
    let lowered = code.code.to_lowercase();
    her.say(&format!("/link {lowered}"), "Linked").await;
    let linked = app
        .store
        .engineer_by_identity("telegram", "88")
        .await
        .expect("lookup")
        .expect("linked");
    assert_eq!(linked.handle, "alice");
    // As an engineer now: /jobs lists jobs instead of starting a report.
    her.say("/jobs", "open tickets").await;
    assert_eq!(her.count("What kind of fault"), 0);

    // The code works once.
    let mut other = User::new(&sim, 99, "Mallory", "en");
    other
        .say(&format!("/link {}", code.code), "already used")
        .await;
    assert!(
        app.store
            .engineer_by_identity("telegram", "99")
            .await
            .expect("lookup")
            .is_none()
    );
    // An expired code changes nothing.
    let late = app.desk.issue_link_code(&desk, "bob").await.expect("code");
    app.clock.advance(chrono::Duration::minutes(16));
    other
        .say(&format!("/link {}", late.code), "already used")
        .await;
    let bob = app
        .desk
        .engineer_by_handle("bob")
        .await
        .expect("load")
        .expect("bob");
    assert_eq!(bob.telegram_id, None);
    stop([task]).await;
}

async fn managers_issue_link_codes_over_the_api(backend: Backend) {
    use crate::helpers::{MANAGER, token};
    let app = spawn_app(backend).await;
    let alice = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice");
    let path = format!("/api/engineers/{}/link-code", alice.id.0);
    let empty = serde_json::json!({});
    let issue = || app.post(MANAGER, &path, &empty);

    let r = issue().await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let first: serde_json::Value = r.json().await.expect("json");
    assert_eq!(first["engineer"], "alice");
    let code = first["code"].as_str().expect("code").to_owned();
    assert_eq!(code.len(), 8, "{first}");
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(first["expires_at"].clone()).expect("expiry");
    assert_eq!(expires, app.clock_now() + chrono::Duration::minutes(15));

    // A new code replaces the unused one; the new one links, once.
    let second: serde_json::Value = issue().await.json().await.expect("json");
    let code2 = second["code"].as_str().expect("code").to_owned();
    assert_ne!(code, code2);
    let desk = &app.desk;
    let redeem = async |code: &str| {
        desk.redeem_link_code(code, "telegram", "88")
            .await
            .expect("redeem")
            .engineer()
    };
    assert!(redeem(&code).await.is_none(), "replaced");
    assert_eq!(redeem(&code2).await.map(|e| e.handle), Some("alice".into()));
    assert!(redeem(&code2).await.is_none(), "used");

    // Only managers; the engineer herself and reporters are refused before any lookup.
    for who in [token("alice"), token("li.na")] {
        let r = app.post(&who, &path, &serde_json::json!({})).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who}");
        let r = app
            .post(
                &who,
                "/api/engineers/999999/link-code",
                &serde_json::json!({}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who}: no probing");
    }
    let r = app
        .post("wrong-token-0123456789", &path, &serde_json::json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .post(
            MANAGER,
            "/api/engineers/999999/link-code",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    // Mia is a manager engineer: she may issue codes too.
    let r = app.post(&token("mia"), &path, &serde_json::json!({})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
