//! Retention on the injected clock: old delivered messages, finished chat updates and
//! receipts, and photos of tickets closed long ago go; recent ones, unfinished ones and
//! open tickets' photos stay.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{Backend, MANAGER, TestApp, printer_fault, spawn_app};
use crate::on_both_backends;

on_both_backends!(retention_forgets_what_is_old_and_keeps_the_rest);

/// Runs `sql` with `$1` bound to `at`, on whichever database the test uses.
async fn at(app: &TestApp, sql: &str, at: DateTime<Utc>) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if app.database_url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .expect("connect");
        sqlx::query(sql)
            .bind(at)
            .execute(&mut c)
            .await
            .expect("sql");
    } else {
        let mut c = sqlx::PgConnection::connect(&app.database_url)
            .await
            .expect("connect");
        sqlx::query(sql)
            .bind(at)
            .execute(&mut c)
            .await
            .expect("sql");
    }
}

async fn id_of(app: &TestApp, number: &str) -> i64 {
    app.scalar(&format!("SELECT id FROM tickets WHERE number = '{number}'"))
        .await
}

async fn retention_forgets_what_is_old_and_keeps_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = app.clock_now();
    let days = |n: i64| now - Duration::days(n);

    // Delivered messages: 31 days ago (go), 29 days ago (stay); pending ones stay.
    let old = app.report("li.na", &printer_fault()).await;
    let recent = app.report("li.na", &printer_fault()).await;
    let waiting = app.report("wang.fang", &printer_fault()).await;
    let (old_id, recent_id, waiting_id) = (
        id_of(&app, &old).await,
        id_of(&app, &recent).await,
        id_of(&app, &waiting).await,
    );
    let sent =
        "UPDATE outbox SET status = 'sent', sent_at = $1, created_at = $1 WHERE ticket_id = ";
    at(&app, &format!("{sent}{old_id}"), days(31)).await;
    at(&app, &format!("{sent}{recent_id}"), days(29)).await;
    at(
        &app,
        &format!("UPDATE outbox SET created_at = $1 WHERE ticket_id = {waiting_id}"),
        days(400),
    )
    .await;
    let old_sent = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id = {old_id}"
        ))
        .await;
    assert!(old_sent > 0);

    // Telegram updates: 1,200 finished 8 days ago (more than two batches) go; one
    // unfinished as old, one finished 6 days ago, and the newest (the polling offset)
    // stay.
    at(
        &app,
        "INSERT INTO telegram_updates (update_id, body, received_at, handled_at, sent_at)
         WITH RECURSIVE s(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM s WHERE i < 1299)
         SELECT i, '{}', $1, $1, $1 FROM s",
        days(8),
    )
    .await;
    at(
        &app,
        "INSERT INTO telegram_updates (update_id, body, received_at) VALUES (2000, '{}', $1)",
        days(8),
    )
    .await;
    at(
        &app,
        "INSERT INTO telegram_updates (update_id, body, received_at, handled_at, sent_at)
         VALUES (2001, '{}', $1, $1, $1)",
        days(6),
    )
    .await;
    at(
        &app,
        "INSERT INTO telegram_updates (update_id, body, received_at, handled_at, sent_at)
         VALUES (2002, '{}', $1, $1, $1)",
        days(8),
    )
    .await;
    // Discord receipts: handled 8 days ago (goes), unhandled as old and handled a day
    // ago (stay).
    at(
        &app,
        "INSERT INTO discord_events (event_id, kind, received_at, handled_at) VALUES
         ('d-old', 'message', $1, $1), ('d-open', 'message', $1, NULL)",
        days(8),
    )
    .await;
    at(
        &app,
        "INSERT INTO discord_events (event_id, kind, received_at, handled_at)
         VALUES ('d-new', 'message', $1, $1)",
        days(1),
    )
    .await;

    // Photos: of a ticket cancelled 366 days ago (go), of one cancelled 364 days ago,
    // and of an open ticket that was closed long ago and reopened (stay).
    for number in [&old, &recent] {
        let r = app
            .post(
                MANAGER,
                &format!("/api/tickets/{number}/cancel"),
                &json!({ "note": "duplicate" }),
            )
            .await;
        assert!(
            r.status().is_success(),
            "{}",
            r.text().await.unwrap_or_default()
        );
    }
    at(
        &app,
        &format!("UPDATE tickets SET closed_at = $1 WHERE id = {old_id}"),
        days(366),
    )
    .await;
    at(
        &app,
        &format!("UPDATE tickets SET closed_at = $1 WHERE id = {recent_id}"),
        days(364),
    )
    .await;
    at(
        &app,
        &format!("UPDATE tickets SET closed_at = $1 WHERE id = {waiting_id}"),
        days(400),
    )
    .await;
    at(
        &app,
        "INSERT INTO attachments (ticket_id, n, door, file_ref, status, next_try_at)
         SELECT id, 1, 'telegram', 'file', 'fetched', $1 FROM tickets",
        now,
    )
    .await;
    assert_eq!(app.count("attachments").await, 3);

    let outbox_before = app.count("outbox").await;
    let retained = app.desk.apply_retention().await.expect("retention");
    assert_eq!(retained.sent_messages, u64::try_from(old_sent).unwrap());
    assert_eq!(retained.handled_updates, 1200 + 1);
    assert_eq!(retained.attachments, 1);

    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id = {old_id} AND status = 'sent'"
        ))
        .await,
        0
    );
    assert!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id = {recent_id} AND status = 'sent'"
        ))
        .await
            > 0
    );
    assert!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id = {waiting_id}"
        ))
        .await
            > 0,
        "undelivered messages stay however old"
    );
    assert_eq!(app.count("outbox").await, outbox_before - old_sent);
    let updates = app
        .scalar("SELECT COUNT(*) FROM telegram_updates WHERE update_id >= 2000")
        .await;
    assert_eq!(app.count("telegram_updates").await, 3);
    assert_eq!(updates, 3);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM discord_events WHERE event_id IN ('d-open', 'd-new')")
            .await,
        2
    );
    assert_eq!(app.count("discord_events").await, 2);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM attachments WHERE ticket_id = {old_id}"
        ))
        .await,
        0
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM attachments WHERE ticket_id IN ({recent_id}, {waiting_id})"
        ))
        .await,
        2,
        "a recently closed ticket's and an open ticket's photos stay"
    );
    // Tickets and their audit trails are records: never deleted.
    assert_eq!(app.count("tickets").await, 3);

    // A second pass finds nothing more.
    let again = app.desk.apply_retention().await.expect("retention");
    assert_eq!(again, baoxiu::desk::Retained::default());
}
