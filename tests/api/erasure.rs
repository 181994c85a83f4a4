//! Erasing a reporter's personal data (PIPL): nothing personal of theirs remains in any
//! table, their tickets still count, and the erasure is recorded with who and when.

use baoxiu::conversation::Person;
use baoxiu::domain::ticket::Caller;
use baoxiu::flow::Incoming;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, MANAGER, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(erasing_a_reporter_leaves_nothing_personal_and_keeps_the_counts);

const NAME: &str = "王小明";
const PHONE: &str = "13912345678";
const TELEGRAM: &str = "4242";
const WEB: &str = "w-erase-me";

async fn delete(app: &TestApp, who: &str, path: &str) -> StatusCode {
    app.client
        .delete(format!("{}{path}", app.base))
        .bearer_auth(who)
        .send()
        .await
        .expect("delete")
        .status()
}

async fn total_tickets(app: &TestApp) -> Value {
    let r = app
        .get(
            MANAGER,
            "/api/reports?from=2026-11-23&to=2026-11-23&by=category",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.expect("json");
    report["total"]["tickets"].clone()
}

async fn erasing_a_reporter_leaves_nothing_personal_and_keeps_the_counts(backend: Backend) {
    let app = spawn_app(backend).await;
    // Someone else, whose data must stay.
    let other = app.report("li.na", &printer_fault()).await;

    // The reporter writes on Telegram (a conversation under way), files a fault, and
    // also uses the web chat; they leave a comment, a survey remark and a photo.
    let person = Person {
        channel: "telegram".into(),
        external_id: TELEGRAM.into(),
        name: NAME.into(),
        language: None,
    };
    app.chat
        .handle(&person, Incoming::Text("/report".into()))
        .await
        .expect("step");
    let reporter = app.chat.reporter(&person).await.expect("reporter");
    let id = reporter.id.0;
    let mut form = printer_fault();
    form["reporter_name"] = NAME.into();
    form["phone"] = PHONE.into();
    let ticket = app
        .desk
        .report(
            &Caller::Reporter(reporter.id),
            reporter.id,
            serde_json::from_value(form).expect("form"),
        )
        .await
        .expect("report");
    let tid = ticket.id.0;
    app.sql(&[
        &format!(
            "INSERT INTO reporter_identities (channel, external_id, reporter_id) VALUES ('web', '{WEB}', {id})"
        ),
        &format!(
            "INSERT INTO web_sessions (token_hash, external_id, created_at, expires_at)
             VALUES ('hash-1', '{WEB}', '2026-11-23T01:00:00Z', '2027-11-23T01:00:00Z')"
        ),
        &format!(
            "INSERT INTO web_messages (external_id, at, from_bot, body)
             VALUES ('{WEB}', '2026-11-23T01:00:00Z', FALSE, '\"我是{NAME}，电话{PHONE}\"')"
        ),
        &format!(
            "INSERT INTO conversation_drafts (channel, external_id, state, discarded_at)
             VALUES ('web', '{WEB}', '{{\"said\":\"{PHONE}\"}}', '2026-11-23T01:00:00Z')"
        ),
        &format!(
            "INSERT INTO telegram_updates (update_id, body, received_at, replies)
             VALUES (77, '{{\"update_id\":77,\"message\":{{\"message_id\":5,\"from\":{{\"id\":{TELEGRAM},\"is_bot\":false,\"first_name\":\"{NAME}\"}},\"text\":\"{PHONE}\"}}}}',
                     '2026-11-23T01:00:00Z', '[\"{NAME}\"]')"
        ),
        &format!(
            "INSERT INTO audit_events (ticket_id, at, actor_kind, actor_id, actor_name, action, to_status, note)
             VALUES ({tid}, '2026-11-23T01:00:00Z', 'reporter', '{id}', '{NAME}', 'comment', 'offered', '打我电话 {PHONE}')"
        ),
        &format!(
            "INSERT INTO surveys (ticket_id, reporter_id, status, send_at, expires_at, rating, comment)
             VALUES ({tid}, {id}, 'answered', '2026-11-23T01:00:00Z', '2026-11-30T01:00:00Z', 5, '{NAME} 很满意')"
        ),
        &format!(
            "INSERT INTO attachments (ticket_id, n, door, file_ref, status, next_try_at)
             VALUES ({tid}, 1, 'telegram', 'photo-of-{NAME}', 'fetched', '2026-11-23T01:00:00Z')"
        ),
    ])
    .await;
    app.sql(&[&format!(
        "INSERT INTO outbox (ticket_id, recipient_kind, recipient_id, event, payload, status,
           attempts, next_attempt_at, created_at)
         VALUES ({tid}, 'reporter', {id}, 'ticket_accepted', '{{\"note\":\"{PHONE}\"}}', 'sent', 1,
           '2026-11-23T01:00:00Z', '2026-11-23T01:00:00Z')"
    )])
    .await;
    let tickets_before = app.count("tickets").await;
    let total_before = total_tickets(&app).await;
    assert_eq!(total_before, 2);

    // Only managers may erase.
    assert_eq!(
        delete(&app, &token("alice"), &format!("/api/reporters/{id}")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&app, &token("li.na"), &format!("/api/reporters/{id}")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&app, MANAGER, "/api/reporters/999999").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&app, MANAGER, &format!("/api/reporters/{id}")).await,
        StatusCode::NO_CONTENT
    );

    // Nothing personal of theirs remains, anywhere.
    for q in [
        format!(
            "SELECT COUNT(*) FROM reporters WHERE id = {id} AND (name <> '' OR phone IS NOT NULL OR department IS NOT NULL)"
        ),
        format!("SELECT COUNT(*) FROM reporter_identities WHERE reporter_id = {id}"),
        format!("SELECT COUNT(*) FROM conversations WHERE external_id IN ('{TELEGRAM}', '{WEB}')"),
        format!(
            "SELECT COUNT(*) FROM conversation_drafts WHERE external_id IN ('{TELEGRAM}', '{WEB}')"
        ),
        format!("SELECT COUNT(*) FROM web_sessions WHERE external_id = '{WEB}'"),
        format!("SELECT COUNT(*) FROM web_messages WHERE external_id = '{WEB}'"),
        format!(
            "SELECT COUNT(*) FROM telegram_updates WHERE body LIKE '%{NAME}%' OR body LIKE '%{PHONE}%' OR replies LIKE '%{NAME}%'"
        ),
        format!(
            "SELECT COUNT(*) FROM tickets WHERE reporter_name = '{NAME}' OR phone = '{PHONE}' OR photos LIKE '%photo%'"
        ),
        format!(
            "SELECT COUNT(*) FROM audit_events WHERE actor_name = '{NAME}' OR note LIKE '%{PHONE}%'"
        ),
        format!("SELECT COUNT(*) FROM surveys WHERE comment IS NOT NULL AND reporter_id = {id}"),
        format!("SELECT COUNT(*) FROM attachments WHERE ticket_id = {tid}"),
        format!(
            "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter' AND recipient_id = {id}"
        ),
        format!("SELECT COUNT(*) FROM outbox WHERE payload LIKE '%{PHONE}%'"),
    ] {
        assert_eq!(app.scalar(&q).await, 0, "{q}");
    }

    // The tickets stay, anonymous, and keep counting.
    assert_eq!(app.count("tickets").await, tickets_before);
    assert_eq!(total_tickets(&app).await, total_before);
    let t = app.detail(ticket.number.as_str()).await;
    assert_eq!(t["ticket"]["intake"]["category"], "printer", "{t}");
    assert_eq!(t["ticket"]["intake"]["reporter_name"], "", "{t}");
    assert_eq!(t["ticket"]["intake"]["phone"], "", "{t}");
    // Someone else's data is untouched.
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM tickets WHERE number = '{other}' AND reporter_name = '李娜'"
        ))
        .await,
        1
    );
    // Recorded: by whom and when, not what.
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM reporter_erasures WHERE reporter_id = {id} AND actor_kind = 'desk' AND actor_name = 'desk'"
        ))
        .await,
        1
    );

    // Writing again from the same chat is a stranger: a new, empty reporter.
    let again = app.chat.reporter(&person).await.expect("reporter");
    assert_ne!(again.id.0, id);
}
