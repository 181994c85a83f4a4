//! Promises the product makes to the people it serves, kept (issue 19): the acceptance
//! notice says by when the engineer comes; "reply to add details" adds to the ticket.

use baoxiu::flow::Lang;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chat::{Browser, texts};
use crate::helpers::{Backend, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    the_acceptance_notice_says_when_the_engineer_will_be_there,
    a_reply_adds_to_the_open_ticket,
    remote_work_starts_only_with_the_reporters_consent
);

/// The outbox rows of a ticket: (recipient, event, payload).
async fn outbox(app: &TestApp, number: &str) -> Vec<(String, String, Value)> {
    app.outbox_of(number)
        .await
        .into_iter()
        .map(|m| {
            let (kind, id) = m.to.parts();
            (format!("{kind}:{id}"), m.event, m.payload)
        })
        .collect()
}

fn due_of(detail: &Value, clock: &str) -> DateTime<Utc> {
    let c = detail["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["kind"] == clock)
        .unwrap_or_else(|| panic!("no {clock} clock: {detail}"));
    serde_json::from_value(c["due_at"].clone()).expect("a due time")
}

async fn the_acceptance_notice_says_when_the_engineer_will_be_there(backend: Backend) {
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
    let detail = app.detail(&number).await;
    let on_site = due_of(&detail, "on_site");
    let resolution = due_of(&detail, "resolution");

    let (_, event, payload) = outbox(&app, &number)
        .await
        .into_iter()
        .find(|(to, event, _)| to.starts_with("reporter") && event.starts_with("ticket_accepted"))
        .expect("the reporter is told of the acceptance");
    assert_eq!(event, "ticket_accepted");
    let at: DateTime<Utc> =
        serde_json::from_value(payload["on_site_due_at"].clone()).expect("on_site_due_at");
    assert_eq!(at, on_site);

    // Shown in the reporter's (the calendar's) time zone, in both languages.
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    for lang in [Lang::ZhCn, Lang::En] {
        let text = app.chat.flows().text(&event, lang, &payload);
        assert!(text.contains(&local(on_site)), "{text}");
        assert!(text.contains(&local(resolution)), "{text}");
        assert!(!text.contains('—'), "every value is there: {text}");
    }
}

async fn a_reply_adds_to_the_open_ticket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (me, _) = Browser::hello(&app, "Anna Smith", "en").await;
    let number = me.file_a_printer_fault().await;
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;

    let said = me.say("It also makes a grinding noise now").await;
    assert!(said.contains(&number), "the reply names the ticket: {said}");
    assert!(said.contains("Added to your ticket"), "{said}");

    // Recorded on the ticket, and the engineer who has the job is told.
    let detail = app.detail(&number).await;
    let comment = detail["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .find(|e| e["action"] == "comment")
        .unwrap_or_else(|| panic!("a comment in the trail: {detail}"));
    assert_eq!(comment["note"], "It also makes a grinding noise now");
    assert_eq!(comment["actor"]["kind"], "reporter");
    let alice = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("db")
        .expect("alice");
    let told = outbox(&app, &number).await;
    assert!(
        told.iter().any(
            |(to, event, payload)| *to == format!("engineer:{}", alice.id)
                && event == "reporter_comment"
                && payload["note"] == "It also makes a grinding noise now"
        ),
        "{told:?}"
    );
    // No second ticket was started.
    assert_eq!(app.count("tickets").await, 1);

    // /report still starts a new report.
    let asked = me.say("/report").await;
    assert!(asked.contains("What kind of fault"), "{asked}");
}

fn audit_actions(detail: &Value) -> Vec<String> {
    detail["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["action"].as_str().unwrap_or("?"),
                e["note"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

async fn remote_work_starts_only_with_the_reporters_consent(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = token("alice");
    let alice_id = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("db")
        .expect("alice")
        .id;

    let mut numbers = Vec::new();
    for (name, answer, status, mode, told) in [
        (
            "Anna Smith",
            "allow",
            "in_progress",
            json!("remote"),
            "remote_consent_given",
        ),
        (
            "Bo Li",
            "refuse",
            "accepted",
            Value::Null,
            "remote_consent_refused",
        ),
    ] {
        let (me, _) = Browser::hello(&app, name, "en").await;
        let number = me.file_a_printer_fault().await;
        numbers.push(number.clone());
        app.act(&alice, &number, "accept", json!({}), StatusCode::OK)
            .await;
        // Asking: nothing starts yet, the reporter is asked.
        let t = app
            .act(
                &alice,
                &number,
                "start",
                json!({"mode": "remote"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(t["status"], "accepted");
        assert_eq!(t["remote_consent"], "asked");
        assert_eq!(t["work_mode"], Value::Null);
        let asked = outbox(&app, &number).await;
        assert!(
            asked
                .iter()
                .any(|(to, e, _)| to.starts_with("reporter") && e == "remote_consent_request"),
            "{asked:?}"
        );
        // Starting remote while waiting is refused with a clear sentence.
        let refused = app
            .act(
                &alice,
                &number,
                "start",
                json!({"mode": "remote"}),
                StatusCode::CONFLICT,
            )
            .await;
        assert!(
            refused["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not yet answered"),
            "{refused}"
        );

        // The reporter answers with the request's button.
        let said = texts(
            &me.send(json!({ "choice": format!("consent:{answer}@{number}") }))
                .await,
        );
        assert!(said.contains(&number), "{said}");
        let d = app.detail(&number).await;
        assert_eq!(d["ticket"]["status"], status, "{answer}");
        assert_eq!(d["ticket"]["work_mode"], mode, "{answer}");
        let trail = audit_actions(&d);
        let note = if answer == "allow" {
            "allowed"
        } else {
            "refused"
        };
        assert!(
            trail.contains(&"remote_consent_asked:-".to_owned())
                && trail.contains(&format!("remote_consent:{note}")),
            "{trail:?}"
        );
        let sent = outbox(&app, &number).await;
        assert!(
            sent.iter()
                .any(|(to, e, _)| *to == format!("engineer:{alice_id}") && e == told),
            "{sent:?}"
        );
        // Answering twice changes nothing.
        let again = texts(
            &me.send(json!({ "choice": format!("consent:allow@{number}") }))
                .await,
        );
        assert!(again.contains("Nobody is asking"), "{again}");
    }
    // Remote work cancels the on-site clock only once allowed.
    let d = app.detail(&numbers[0]).await;
    let on_site = d["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["kind"] == "on_site")
        .cloned()
        .expect("on-site clock");
    assert_eq!(on_site["status"], "cancelled", "{on_site}");
    let d = app.detail(&numbers[1]).await;
    let on_site = d["clocks"]
        .as_array()
        .expect("clocks")
        .iter()
        .find(|c| c["kind"] == "on_site")
        .cloned()
        .expect("on-site clock");
    assert_eq!(on_site["status"], "running", "{on_site}");
}
