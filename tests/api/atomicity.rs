//! A change, its audit event and its messages are one transaction: when any part fails,
//! nothing is written (not even a ticket number is used up).

use baoxiu::desk::DeskError;
use baoxiu::domain::ticket::{Action, Caller};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    a_failing_outbox_write_undoes_the_report,
    a_failing_audit_write_undoes_the_action
);

/// Makes inserts into `table` fail when `column = value` (fault injection by trigger).
async fn fail_inserts(app: &TestApp, table: &str, column: &str, value: &str) {
    if app.database_url.starts_with("sqlite") {
        app.sql(&[&format!(
            "CREATE TRIGGER inject BEFORE INSERT ON {table} WHEN NEW.{column} = '{value}'
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )])
        .await;
    } else {
        app.sql(&[
            &format!(
                "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.{column} = '{value}' THEN RAISE EXCEPTION 'injected failure'; END IF;
                 RETURN NEW; END $$"
            ),
            &format!("CREATE TRIGGER inject BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION inject()"),
        ])
        .await;
    }
}

async fn drop_injection(app: &TestApp) {
    if app.database_url.starts_with("sqlite") {
        app.sql(&["DROP TRIGGER inject"]).await;
    } else {
        app.sql(&[
            "DROP TRIGGER inject ON outbox",
            "DROP TRIGGER IF EXISTS inject ON audit_events",
        ])
        .await;
    }
}

async fn a_failing_outbox_write_undoes_the_report(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.report("li.na", &printer_fault()).await;
    let before = (
        app.count("tickets").await,
        app.count("audit_events").await,
        app.count("outbox").await,
    );
    fail_inserts(&app, "outbox", "event", "job_offered").await;

    let r = app
        .post(&token("li.na"), "/api/tickets", &printer_fault())
        .await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.text().await.unwrap_or_default();
    assert!(
        !body.contains("injected"),
        "internal errors are not shown: {body}"
    );
    let after = (
        app.count("tickets").await,
        app.count("audit_events").await,
        app.count("outbox").await,
    );
    assert_eq!(after, before, "nothing half-written");

    drop_injection(&app).await;
    let next = app.report("li.na", &printer_fault()).await;
    let seq = |n: &str| {
        n.rsplit('-')
            .next()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0)
    };
    assert_eq!(
        seq(&next),
        seq(&first) + 1,
        "the failed report used up no number"
    );
}

async fn a_failing_audit_write_undoes_the_action(backend: Backend) {
    let app = spawn_app(backend).await;
    let n = app.report("li.na", &printer_fault()).await;
    fail_inserts(&app, "audit_events", "action", "accept").await;
    let alice = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice");
    let r = app
        .desk
        .act(&Caller::Engineer(alice), &n, Action::Accept)
        .await;
    assert!(matches!(r, Err(DeskError::Store(_))), "{r:?}");
    let d = app.detail(&n).await;
    assert_eq!(d["ticket"]["status"], "offered");
    assert_eq!(d["ticket"]["assignee"], json!(null));
    assert_eq!(d["ticket"]["version"], 1);
    assert_eq!(
        app.count("outbox").await,
        2,
        "no ticket_accepted message left behind"
    );
}

on_both_backends!(one_failing_write_among_concurrent_ones_fails_alone);

/// On SQLite concurrent writes share one group transaction; a failing one must be rolled
/// back alone while the others commit, each with its audit and messages.
async fn one_failing_write_among_concurrent_ones_fails_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    app.report("li.na", &printer_fault()).await; // remembers department and phone
    fail_inserts(&app, "tickets", "description", "FAIL").await;
    let lina = token("li.na");
    let reports = (0..24).map(|i| {
        let mut body = printer_fault();
        body["description"] = json!(if i == 11 {
            "FAIL".to_owned()
        } else {
            format!("第{i}台打印机卡纸")
        });
        let (app, lina) = (&app, &lina);
        async move { app.post(lina, "/api/tickets", &body).await.status() }
    });
    let statuses = futures_util::future::join_all(reports).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 23, "{statuses:?}");
    assert_eq!(statuses[11], StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(app.count("tickets").await, 24);
    assert_eq!(
        app.count("audit_events").await,
        24,
        "one audit event per ticket, none for the failure"
    );
    assert_eq!(app.count("outbox").await, 24 * 2, "two offers per ticket");
}
