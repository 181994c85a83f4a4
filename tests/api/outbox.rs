//! The dispatcher in virtual time against a courier that fails on demand, dead letters
//! and their replay, and two schedulers racing over the same due clocks.

use std::sync::{Arc, Mutex};

use baoxiu::clock::{Clock, ManualClock};
use baoxiu::outbox::dispatcher::Dispatcher;
use baoxiu::outbox::{Courier, Delivery, DeliveryError, Parcel};
use baoxiu::sla::Scheduler;
use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    a_platform_down_for_ten_minutes_loses_nothing_and_keeps_order,
    dead_letters_after_the_last_attempt_alert_managers_and_can_be_replayed,
    two_schedulers_fire_each_of_ten_thousand_escalations_exactly_once,
    a_new_tickets_messages_carry_its_number,
    typed_values_cannot_forge_lines_in_notices_or_cards,
    a_round_cut_short_by_a_stop_gives_its_claims_back,
    a_delivery_is_recorded_as_soon_as_it_is_sent,
);

/// A door that never answers (a platform hanging while the service stops).
struct Hanging;

impl Courier for Hanging {
    fn channel(&self) -> &'static str {
        "web"
    }
    fn deliver<'a>(&'a self, _: &'a Parcel) -> Delivery<'a> {
        Box::pin(std::future::pending())
    }
}

/// A stop cuts a dispatcher's round short (the platform hangs): the messages it had
/// claimed are given back at once, not left leased to a process that is gone, and the
/// next dispatcher delivers them without waiting for the lease to run out.
async fn a_round_cut_short_by_a_stop_gives_its_claims_back(backend: Backend) {
    let app = spawn_app(backend).await;
    reporters_with_news(&app).await;
    let stuck = app.dispatcher(vec![Arc::new(Hanging)]);
    let round = tokio::spawn(stuck.clone().run(std::future::pending()));
    let leased = "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND lease_until IS NOT NULL";
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while app.scalar(leased).await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the round claims messages");
    round.abort();
    let _ = round.await;
    // Not compared with a count taken now: an unroutable message's record may still be
    // on its way to the store when the round is aborted (it is settled, not given back).
    let claimed = i64::try_from(stuck.release_claims().await.expect("release")).unwrap();
    assert!(claimed > 0, "the hanging messages are given back");
    assert_eq!(app.scalar(leased).await, 0);
    // Same virtual time: without the release the two-minute lease would hold them.
    let courier = Arc::new(Flaky {
        clock: app.clock.clone(),
        up_at: app.desk.now(),
        delivered: Mutex::default(),
    });
    let sent = dispatcher(&app, courier)
        .run_once()
        .await
        .expect("round")
        .sent;
    assert!(
        sent > 0 && i64::from(sent) >= claimed.min(2),
        "sent {sent} of {claimed}"
    );
}

/// A web door that delivers the first message it is given and hangs on every other.
#[derive(Default)]
struct FirstOnly {
    delivered: Mutex<Vec<i64>>,
}

impl Courier for FirstOnly {
    fn channel(&self) -> &'static str {
        "web"
    }
    fn deliver<'a>(&'a self, p: &'a Parcel) -> Delivery<'a> {
        let first = {
            let mut delivered = self.delivered.lock().unwrap();
            let first = delivered.is_empty();
            if first {
                delivered.push(p.id);
            }
            first
        };
        if first {
            Box::pin(std::future::ready(Ok(())))
        } else {
            Box::pin(std::future::pending())
        }
    }
}

/// A message sent is recorded as sent at once, not when the slowest delivery of its round
/// ends: a crash in between would send it again (the kill -9 soak counted these).
async fn a_delivery_is_recorded_as_soon_as_it_is_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    reporters_with_news(&app).await;
    let courier = Arc::new(FirstOnly::default());
    let round = tokio::spawn({
        let dispatcher = app.dispatcher(vec![courier.clone()]);
        async move { dispatcher.run_once().await }
    });
    let sent = "SELECT COUNT(*) FROM outbox WHERE status = 'sent'";
    let recorded = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while app.scalar(sent).await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        !round.is_finished(),
        "the other deliveries of the round still hang"
    );
    round.abort();
    assert!(
        recorded.is_ok(),
        "the delivered message was not recorded while its round ran"
    );
    assert_eq!(courier.delivered.lock().unwrap().len(), 1);
    assert_eq!(app.scalar(sent).await, 1);
}

/// A web door that fails until `up_at` (virtual time), recording what it delivered.
struct Flaky {
    clock: ManualClock,
    up_at: DateTime<Utc>,
    delivered: Mutex<Vec<(String, i64, String)>>,
}

impl Courier for Flaky {
    fn channel(&self) -> &'static str {
        "web"
    }
    fn deliver<'a>(&'a self, p: &'a Parcel) -> Delivery<'a> {
        Box::pin(async move {
            if self.clock.now() < self.up_at {
                return Err(DeliveryError::Temporary("503 from the platform".into()));
            }
            self.delivered
                .lock()
                .unwrap()
                .push((p.to.external_id.clone(), p.id, p.event.clone()));
            Ok(())
        })
    }
}

/// The desk writes a new ticket's messages before the store numbers it; they must still
/// say which ticket they are about (a job card without a number has no buttons).
async fn a_new_tickets_messages_carry_its_number(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &printer_fault()).await;
    let pending = app.store.outbox_by_status("pending", 100).await.unwrap();
    assert!(
        pending.iter().any(|m| m.event == "job_offered"),
        "{pending:#?}"
    );
    for m in &pending {
        assert_eq!(m.payload["ticket"], number.as_str(), "{m:#?}");
    }
}

/// Two web reporters, each with a ticket an engineer then works: four messages each.
async fn reporters_with_news(app: &TestApp) -> Vec<String> {
    let mut numbers = Vec::new();
    for (id, name) in [("w-1", "张三"), ("w-2", "李四")] {
        numbers.push(app.web_report(id, name).await);
    }
    for n in &numbers {
        let alice = token("alice");
        app.act(&alice, n, "accept", json!({}), StatusCode::OK)
            .await;
        app.act(
            &alice,
            n,
            "start",
            json!({"mode": "on_site"}),
            StatusCode::OK,
        )
        .await;
        app.act(&alice, n, "arrive", json!({}), StatusCode::OK)
            .await;
        app.act(
            &alice,
            n,
            "progress",
            json!({"note": "更换了搓纸轮"}),
            StatusCode::OK,
        )
        .await;
    }
    numbers
}

/// The `n`th distinct recipient among dead messages.
fn dead_to(dead: &[baoxiu::store::OutboxMessage], n: usize) -> baoxiu::store::Recipient {
    let mut seen = Vec::new();
    for m in dead {
        if !seen.contains(&m.to) {
            seen.push(m.to);
        }
    }
    seen[n]
}

fn dispatcher(app: &TestApp, courier: Arc<Flaky>) -> Dispatcher {
    app.dispatcher(vec![courier])
}

async fn a_platform_down_for_ten_minutes_loses_nothing_and_keeps_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let t0 = app.desk.now();
    reporters_with_news(&app).await;
    let courier = Arc::new(Flaky {
        clock: app.clock.clone(),
        up_at: t0 + Duration::minutes(10),
        delivered: Mutex::default(),
    });
    let d = dispatcher(&app, courier.clone());
    // Forty minutes in ten-second steps: with jitter, the attempt after an outage that
    // ends at 10 minutes comes by 26 minutes at the latest (attempts back off from 30 s,
    // doubling: the last failing one is before 600 s, the next at most 960 s later).
    for _ in 0..240 {
        d.run_once().await.unwrap();
        app.clock.advance(Duration::seconds(10));
    }
    let delivered = courier.delivered.lock().unwrap().clone();
    for who in ["w-1", "w-2"] {
        let mine: Vec<(i64, &str)> = delivered
            .iter()
            .filter(|(to, ..)| to == who)
            .map(|(_, id, e)| (*id, e.as_str()))
            .collect();
        let events: Vec<&str> = mine.iter().map(|(_, e)| *e).collect();
        assert_eq!(
            events,
            [
                "ticket_accepted",
                "engineer_on_the_way",
                "engineer_arrived",
                "progress_update"
            ],
            "{who}: each message once, in order"
        );
        assert!(mine.windows(2).all(|w| w[0].0 < w[1].0));
    }
    let dead = app.store.outbox_by_status("dead", 100).await.unwrap();
    assert!(dead.is_empty(), "nothing given up: {dead:?}");
    let sent = app.store.outbox_by_status("sent", 100).await.unwrap();
    assert_eq!(sent.len(), 8);
    // The first message to each person was retried through the outage; the rest waited
    // behind it (in order) and went out at the first attempt.
    for m in &sent {
        let retried = m.event == "ticket_accepted";
        assert_eq!(m.attempts > 1, retried, "{m:?}");
    }
    // The queue as Prometheus sees it.
    let metrics = app.get("", "/metrics").await.text().await.unwrap();
    assert!(metrics.contains("baoxiu_outbox_pending 0\n"), "{metrics}");
    assert!(
        metrics.contains("baoxiu_outbox_messages{status=\"sent\",channel=\"web\"} 8\n"),
        "{metrics}"
    );
}

async fn dead_letters_after_the_last_attempt_alert_managers_and_can_be_replayed(backend: Backend) {
    let app = spawn_app(backend).await;
    let t0 = app.desk.now();
    reporters_with_news(&app).await;
    let courier = Arc::new(Flaky {
        clock: app.clock.clone(),
        up_at: t0 + Duration::days(365),
        delivered: Mutex::default(),
    });
    let d = dispatcher(&app, courier.clone());
    // Backoff doubles from 30 s (with jitter): eight attempts take 32–64 minutes.
    for _ in 0..70 {
        d.run_once().await.unwrap();
        app.clock.advance(Duration::minutes(1));
    }
    let store = &app.store;
    let mut dead = store.outbox_by_status("dead", 100).await.unwrap();
    dead.sort_by_key(|m| m.id);
    let news = [
        "ticket_accepted",
        "engineer_on_the_way",
        "engineer_arrived",
        "progress_update",
    ];
    for reporter in 0..2 {
        // Messages to one person die in order: the next waits until the one before is done.
        let mine: Vec<&str> = dead
            .iter()
            .filter(|m| m.to == dead_to(&dead, reporter))
            .map(|m| m.event.as_str())
            .collect();
        assert!(!mine.is_empty() && news.starts_with(&mine), "{mine:?}");
    }
    assert!(dead.iter().all(|m| m.attempts == 8), "{dead:?}");
    assert!(
        dead.iter()
            .all(|m| m.last_error.as_deref() == Some("503 from the platform"))
    );
    // The manager (mia, no chat linked) was alerted once per dead message.
    let unroutable = store.outbox_by_status("unroutable", 100).await.unwrap();
    let alerts = unroutable
        .iter()
        .filter(|m| m.event == "delivery_failed")
        .count();
    assert_eq!(alerts, dead.len());
    assert!(courier.delivered.lock().unwrap().is_empty());

    assert_eq!(
        store.outbox_requeue(None, app.desk.now()).await.unwrap(),
        dead.len() as u64
    );
    assert!(
        store
            .outbox_by_status("dead", 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .outbox_requeue(Some(dead[0].id), app.desk.now())
            .await
            .unwrap(),
        0,
        "a pending message is not requeued"
    );
}

async fn two_schedulers_fire_each_of_ten_thousand_escalations_exactly_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let t0 = app.desk.now();
    app.report("li.na", &printer_fault()).await;
    // 9,999 copies of the reported ticket, and on each one 48-hour replacement clock
    // falling due at the same moment.
    let due = t0 + Duration::hours(48);
    let columns = "kind, status, priority, impact, urgency, reporter_id, reporter_name, \
        department, phone, site, building, room, asset_tag, device_model, ip, category, \
        description, started_at, people_affected, vip, photos, group_id, tier, assignee_id, \
        offered_to, work_mode, arrived_at, pending_reason, cause, solution, closure, \
        reopen_count, escalation_level, response_due_at, resolution_due_at, created_at, \
        updated_at, accepted_at, resolved_at, closed_at, version";
    let copies = format!(
        "WITH RECURSIVE g(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM g WHERE n < 10000)
         INSERT INTO tickets (number, {columns})
         SELECT 'BX-2026-' || substr('000000' || n, -6, 6), {columns} FROM tickets, g WHERE id = 1"
    );
    let copies = if app.database_url.starts_with("postgres") {
        copies.replace("substr('000000' || n, -6, 6)", "lpad(n::text, 6, '0')")
    } else {
        copies
    };
    let (since, due_text) = (t0.to_rfc3339(), due.to_rfc3339());
    let clocks = format!(
        "INSERT INTO sla_clocks (ticket_id, kind, status, open, budget_secs, used_secs, since,
           due_at, warned, breaches, steps, next_at, lease_until)
         SELECT id, 'replacement', 'running', TRUE, 172800, 0, '{since}', '{due_text}', FALSE,
           0, 0, '{due_text}', NULL FROM tickets"
    );
    app.sql(&["DELETE FROM sla_clocks", &copies, &clocks]).await;
    assert_eq!(app.count("sla_clocks").await, 10_000);

    let other = app.restart().await;
    app.clock.set(due);
    other.clock.set(due);
    let (first, second) = (
        Scheduler::new(app.desk.clone()),
        Scheduler::new(other.desk.clone()),
    );
    let (a, b) = tokio::join!(first.tick(), second.tick());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.events + b.events, 10_000, "{a:?} + {b:?}");
    let per_ticket: i64 = app
        .scalar(
            "SELECT COUNT(*) FROM (SELECT ticket_id FROM audit_events WHERE action = 'replacement_due'
               GROUP BY ticket_id HAVING COUNT(*) = 1) once",
        )
        .await;
    assert_eq!(
        per_ticket, 10_000,
        "every ticket's escalation recorded exactly once"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'replacement_due'")
            .await,
        10_000
    );
    // And nothing is left due.
    assert_eq!(
        Scheduler::new(app.desk.clone())
            .tick()
            .await
            .unwrap()
            .events,
        0
    );
}

/// A reporter's typed newlines (and Unicode line separators) do not make lines of their
/// own in what the engineers are sent: the job offer (the group card's text on every door)
/// and its card show the description on one line.
async fn typed_values_cannot_forge_lines_in_notices_or_cards(backend: Backend) {
    let app = spawn_app(backend).await;
    for handle in ["alice", "bob"] {
        app.link(handle, |e| e.web_id = Some(format!("w-{handle}")))
            .await;
    }
    let mut fault = printer_fault();
    fault["description"] = json!("printer\n✅ 已由 张伟 接单\r\n\u{2028}⛔ 已关闭\t!");
    let number = app.report("li.na", &fault).await;
    let pending = app.store.outbox_by_status("pending", 100).await.unwrap();
    let offers: Vec<_> = pending
        .iter()
        .filter(|m| m.event == "job_offered")
        .collect();
    assert!(!offers.is_empty(), "{pending:#?}");
    for m in offers {
        let parcel = app
            .chat
            .parcel(m)
            .await
            .expect("rendered")
            .expect("alice and bob are reachable");
        assert_eq!(parcel.ticket.as_deref(), Some(number.as_str()));
        for reply in &parcel.replies {
            let text = match reply {
                baoxiu::flow::Outgoing::Text(t) => t.clone(),
                baoxiu::flow::Outgoing::Choices { text, .. } => text.clone(),
                baoxiu::flow::Outgoing::Form { title, .. } => title.clone(),
            };
            for line in text.lines() {
                let line = line.trim_start();
                assert!(
                    !line.starts_with('✅') && !line.starts_with('⛔'),
                    "a forged line: {text}"
                );
            }
            assert!(
                !text.contains('\u{2028}') && !text.contains('\t'),
                "{text:?}"
            );
            if text.contains("printer") {
                assert!(
                    text.contains("printer ✅ 已由 张伟 接单 ⛔ 已关闭 !"),
                    "{text}"
                );
            }
        }
    }
}
