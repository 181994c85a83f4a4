//! The Telegram door end to end: real teloxide over real HTTP against tgsim, the local
//! Bot API stand-in, over a real database.

use std::time::Duration;

use baoxiu::conversation::Person;
use baoxiu::domain::ticket::Caller;
use baoxiu::doors::telegram::{Telegram, TelegramConfig};
use baoxiu::flow::{Incoming, Lang, Outgoing};
use baoxiu::outbox::dispatcher::Dispatcher;
use baoxiu::outbox::{Address, DeliveryError, Parcel};
use reqwest::{StatusCode, Url};
use secrecy::SecretString;
use tgsim::{ChatType, Contact, ManualClock, RateLimits, SimMessage, SimUser, TgSim, TgSimConfig};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, printer_fault, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_reporter_walks_the_whole_report_with_buttons,
    the_webhook_refuses_a_wrong_or_missing_secret,
    the_same_update_twice_has_one_effect,
    a_restart_mid_report_skips_nothing,
    an_update_cut_short_by_a_crash_is_not_applied_twice,
    forged_taps_change_nothing,
    engineers_link_with_a_one_time_code,
    an_offer_goes_out_through_the_outbox_and_the_reporter_hears_who_is_coming,
    a_429_storm_over_500_notifications_loses_nothing_and_repeats_nothing,
    offers_go_to_the_groups_chat_as_one_card_that_shows_who_took_the_job,
    managers_issue_link_codes_over_the_api,
);

const TOKEN: &str = "123:ABC";
const SECRET: &str = "webhook_Secret-0123456789";
pub(crate) const REPORTER: i64 = 42;

fn sim_config() -> TgSimConfig {
    TgSimConfig::new(TOKEN)
        .limits(RateLimits::off())
        .webhook_retry_delay(Duration::from_millis(20))
        .wait_timeout(Duration::from_secs(20))
}

pub(crate) async fn sim() -> TgSim {
    TgSim::start(sim_config()).await.expect("tgsim starts")
}

/// Pointed at the simulator, without our own flood limits (the 429 tests rely on the
/// simulator's limits, not on the client holding back).
fn config(sim: &TgSim) -> TelegramConfig {
    let mut c = TelegramConfig::new(TOKEN);
    c.api_url = Some(Url::parse(&sim.url()).expect("url"));
    c.limits = None;
    // Photos are fetched when a test says so.
    c.photo_fetch_every = None;
    c
}

/// The door in polling mode; aborting the task stops it as a crash would.
pub(crate) fn polling(app: &TestApp, sim: &TgSim) -> (Telegram, JoinHandle<()>) {
    let tg = app.telegram(config(sim));
    let task = tokio::spawn(tg.clone().run());
    (tg, task)
}

/// The door in webhook mode with its route served on a port of its own; the worker runs
/// only if `run`.
async fn webhook(app: &TestApp, sim: &TgSim, run: bool) -> (Telegram, String, Vec<JoinHandle<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/telegram/webhook",
        listener.local_addr().expect("addr")
    );
    let mut c = config(sim);
    c.webhook_url = Some(Url::parse(&url).expect("url"));
    c.webhook_secret = Some(SecretString::from(SECRET));
    let tg = app.telegram(c);
    let router = tg.webhook_router();
    let mut tasks = vec![tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    })];
    if run {
        tasks.push(tokio::spawn(tg.clone().run()));
    } else {
        // Without the worker nobody registers the webhook: do it as it would.
        sim.set_webhook(&url, Some(SECRET), None)
            .expect("setWebhook");
    }
    (tg, url, tasks)
}

pub(crate) async fn stop(tasks: impl IntoIterator<Item = JoinHandle<()>>) {
    for t in tasks {
        t.abort();
        let _ = t.await;
    }
}

/// Waits (without sleeping) until the bot has answered a callback query; returns the
/// toast text, if any.
async fn answered(sim: &TgSim, callback_query_id: Option<&str>) -> Option<String> {
    let id = callback_query_id.expect("a callback query id");
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(answer) = sim.callback(id).and_then(|c| c.answer) {
                return answer.text;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("callback {id} was never answered"))
}

/// Waits (without sleeping) until `telegram_updates` holds `n` rows.
async fn stored(app: &TestApp, n: i64) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while app.count("telegram_updates").await != n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} updates were never stored"));
}

/// A Telegram user in their private chat with the bot.
pub(crate) struct User<'a> {
    sim: &'a TgSim,
    pub(crate) id: i64,
    /// The last bot message seen, so each wait looks only at what came after it.
    last: i64,
    taps: Vec<String>,
}

impl<'a> User<'a> {
    pub(crate) fn new(sim: &'a TgSim, id: i64, name: &str, lang: &str) -> User<'a> {
        sim.add_user(SimUser {
            id,
            first_name: name.to_owned(),
            last_name: Some("Smith".to_owned()),
            username: None,
            language_code: Some(lang.to_owned()),
        })
        .expect("user");
        User {
            sim,
            id,
            last: 0,
            taps: Vec::new(),
        }
    }

    /// The next bot message containing `needle`.
    pub(crate) async fn expect(&mut self, needle: &str) -> SimMessage {
        let last = self.last;
        let m = self
            .sim
            .wait_for_bot_message(self.id, |m| {
                m.message_id > last
                    && m.content
                        .text
                        .as_deref()
                        .is_some_and(|t| t.contains(needle))
            })
            .await
            .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}\n{}", self.shown()));
        self.last = m.message_id;
        m
    }

    /// The next bot message with a button labelled `label`.
    pub(crate) async fn expect_button(&mut self, label: &str) -> SimMessage {
        let last = self.last;
        let m = self
            .sim
            .wait_for_bot_message(self.id, |m| {
                m.message_id > last && m.content.button(label).is_some()
            })
            .await
            .unwrap_or_else(|e| panic!("waiting for a {label:?} button: {e}\n{}", self.shown()));
        self.last = m.message_id;
        m
    }

    pub(crate) async fn say(&mut self, text: &str, then: &str) -> SimMessage {
        self.sim
            .inject_text(self.id, self.id, text)
            .expect("inject");
        self.expect(then).await
    }

    pub(crate) async fn tap(&mut self, on: &SimMessage, label: &str, then: &str) -> SimMessage {
        let tap = self
            .sim
            .tap_label(self.id, self.id, on.message_id, label)
            .unwrap_or_else(|e| panic!("tap {label:?}: {e}\n{}", self.shown()));
        self.taps.extend(tap.callback_query_id);
        self.expect(then).await
    }

    /// Everything the bot said in this chat, for failure messages.
    pub(crate) fn shown(&self) -> String {
        texts(self.sim, self.id).join("\n---\n")
    }

    /// How many bot messages contain `needle`.
    pub(crate) fn count(&self, needle: &str) -> usize {
        texts(self.sim, self.id)
            .iter()
            .filter(|t| t.contains(needle))
            .count()
    }
}

fn texts(sim: &TgSim, chat: i64) -> Vec<String> {
    sim.bot_messages(chat)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.content.text.clone())
        .collect()
}

pub(crate) fn ticket_number(text: &str) -> Option<String> {
    let start = text.find("BX-")?;
    text.get(start..start + 14).map(str::to_owned)
}

pub(crate) async fn ticket_json(app: &TestApp, number: &str) -> serde_json::Value {
    let desk = Caller::Desk {
        name: "test".into(),
    };
    let d = app.desk.ticket(&desk, number).await.expect("ticket");
    serde_json::to_value(&d).expect("json")
}

/// Walks the whole fault report as `anna` (buttons, typed answers, a photo, a shared
/// contact); returns the ticket number from the receipt and the photo's file id.
pub(crate) async fn walk_report(sim: &TgSim, anna: &mut User<'_>) -> (String, String) {
    let q = anna.say("/start", "What kind of fault").await;
    let q = anna.tap(&q, "Printer & peripherals", "Which printer").await;
    assert!(
        q.content.button("Skip").is_some(),
        "optional: a Skip button"
    );
    let q = anna
        .say("HP LaserJet M404", "What is the printer doing")
        .await;
    anna.tap(&q, "Paper jam", "Which site").await;
    anna.say("Head office", "Which building").await;
    anna.say("Tower B", "Which room").await;
    anna.say("12F-1203", "asset tag").await;
    anna.say("prn-12f-01", "describe the fault").await;
    let photo = sim
        .inject_photo(anna.id, anna.id, None, tgsim::PLACEHOLDER_JPEG.to_vec())
        .expect("photo");
    anna.expect("Photo received").await;
    let q = anna
        .say(
            "Paper jammed in tray 2 <b>not markup</b>",
            "When did it start",
        )
        .await;
    let q = anna.tap(&q, "Just now", "How many people").await;
    let q = anna.tap(&q, "Several people", "How badly").await;
    anna.tap(&q, "Work has stopped", "Which department").await;
    anna.say("Finance", "reach you").await;
    sim.inject_contact(
        anna.id,
        anna.id,
        Contact {
            phone_number: "+86 21 5555 0100".into(),
            first_name: "Anna".into(),
            last_name: None,
            user_id: Some(anna.id),
            vcard: None,
        },
    )
    .expect("contact");
    let summary = anna.expect("check your report").await;
    assert!(
        summary
            .content
            .shown_text()
            .is_some_and(|t| t.contains("<b>not markup</b>")),
        "user text is shown as typed: {summary:?}"
    );
    assert_eq!(
        summary.content.parse_mode, None,
        "plain text, nothing to escape"
    );
    let receipt = anna.tap(&summary, "✅ Submit", "recorded as ticket").await;
    let number = ticket_number(receipt.content.text.as_deref().unwrap_or_default())
        .expect("a ticket number in the receipt");
    (number, photo.file_id.expect("file id"))
}

async fn a_reporter_walks_the_whole_report_with_buttons(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_tg, task) = polling(&app, &sim);
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, photo) = walk_report(&sim, &mut anna).await;
    // The submit tap's record (handled, with the receipt to send again after a crash) was
    // written with the ticket, so it names the ticket's number.
    let receipts = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM telegram_updates
             WHERE handled_at IS NOT NULL AND replies LIKE '%{number}%'"
        ))
        .await;
    assert_eq!(receipts, 1, "the receipt is recorded with the submit tap");

    let d = ticket_json(&app, &number).await;
    let t = &d["ticket"];
    assert_eq!(t["intake"]["category"], "printer");
    assert_eq!(t["intake"]["reporter_name"], "Anna Smith");
    assert_eq!(t["intake"]["location"]["site"], "Head office");
    assert_eq!(t["intake"]["device"]["asset_tag"], "PRN-12F-01");
    assert_eq!(t["intake"]["phone"], "+862155550100");
    assert_eq!(t["intake"]["department"], "Finance");
    assert_eq!(
        t["intake"]["photos"],
        serde_json::json!([photo]),
        "the photo's file id is kept"
    );
    // Every tap was answered (the button's spinner stops), each exactly once.
    for id in &anna.taps {
        let cb = sim.callback(id).expect("callback recorded");
        assert!(cb.answer.is_some(), "tap {} answered", cb.data);
    }
    assert_eq!(
        sim.stats().requests.get("answerCallbackQuery").copied(),
        Some(anna.taps.len() as u64)
    );
    // /status lists the new ticket.
    let status = anna.say("/status", &number).await;
    assert!(status.content.text.is_some());
    stop([task]).await;
}

async fn the_webhook_refuses_a_wrong_or_missing_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_tg, url, tasks) = webhook(&app, &sim, false).await;
    let body = serde_json::json!({
        "update_id": 7,
        "message": {
            "message_id": 1, "date": 1_800_000_000,
            "chat": {"id": REPORTER, "type": "private", "first_name": "Anna"},
            "from": {"id": REPORTER, "is_bot": false, "first_name": "Anna"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}]
        }
    });
    let client = reqwest::Client::new();
    let post = |secret: Option<&str>| {
        let mut r = client.post(&url).json(&body);
        if let Some(s) = secret {
            r = r.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        r.send()
    };
    for wrong in [
        None,
        Some(""),
        Some("webhook_Secret-012345678"),
        Some("webhook_Secret-01234567890"),
        Some("WEBHOOK_SECRET-0123456789"),
    ] {
        let r = post(wrong).await.expect("post");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
    }
    assert_eq!(app.count("telegram_updates").await, 0, "nothing stored");
    // The right secret is accepted and the update stored before the answer.
    let r = post(Some(SECRET)).await.expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(app.count("telegram_updates").await, 1);
    // Not an update at all: refused, nothing stored.
    let r = client
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body("{\"hello\": 1}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("telegram_updates").await, 1);
    stop(tasks).await;
}

async fn the_same_update_twice_has_one_effect(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_tg, url, tasks) = webhook(&app, &sim, true).await;
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let q = anna.say("/start", "What kind of fault").await;
    let tap = sim
        .tap_label(REPORTER, REPORTER, q.message_id, "Network")
        .expect("tap");
    let q = anna.expect("How far does the network").await;
    assert!(
        sim.webhook().is_some(),
        "the adapter registered its webhook"
    );

    // Telegram sends the tap again (our 200 was lost, say): nothing happens twice.
    let body = stored_body(&app, tap.update_id).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let r = client
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::OK, "a repeat is acknowledged");
    }
    // Anna's next answer is handled after anything queued before it for her.
    anna.tap(&q, "Whole floor / many PCs", "Which site").await;
    assert_eq!(
        anna.count("How far does the network"),
        1,
        "{}",
        anna.shown()
    );
    assert_eq!(
        anna.count("out of date"),
        0,
        "the repeat was not seen as a stale tap"
    );
    assert_eq!(app.count("telegram_updates").await, 3);
    assert_eq!(
        sim.stats().requests.get("answerCallbackQuery").copied(),
        Some(2),
        "one answer per tap"
    );
    stop(tasks).await;
}

async fn stored_body(app: &TestApp, update_id: i64) -> String {
    let q = format!("SELECT body FROM telegram_updates WHERE update_id = {update_id}");
    if app.database_url.starts_with("sqlite") {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .expect("connect");
        sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&mut c)
            .await
            .expect("stored update")
    } else {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&app.database_url)
            .await
            .expect("connect");
        sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&mut c)
            .await
            .expect("stored update")
    }
}

async fn a_restart_mid_report_skips_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_a, first) = polling(&app, &sim);
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let q = anna.say("/start", "What kind of fault").await;
    let q = anna.tap(&q, "Printer & peripherals", "Which printer").await;
    anna.tap(&q, "Skip", "What is the printer doing").await;
    let symptom = anna.last;
    stop([first]).await;

    // While the service is down Anna answers twice more.
    let tap = sim
        .tap_label(REPORTER, REPORTER, symptom, "Toner / ink")
        .expect("tap");
    sim.inject_text(REPORTER, REPORTER, "Head office")
        .expect("inject");

    // A new instance on the same database takes both, in order.
    let again = app.restart().await;
    let (_b, second) = polling(&again, &sim);
    anna.expect("Which site").await;
    let q = anna.expect("Which building").await;
    assert!(q.content.button("Skip").is_some());
    assert_eq!(anna.count("What kind of fault"), 1, "not started over");
    answered(&sim, tap.callback_query_id.as_deref()).await;
    // And the report finishes on the new instance.
    anna.say("Skip", "Which room").await;
    anna.say("3F", "asset tag").await;
    anna.say("Skip", "describe the fault").await;
    let q = anna.say("Out of toner", "When did it start").await;
    let q = anna.tap(&q, "Just now", "How many people").await;
    let q = anna.tap(&q, "Just me", "How badly").await;
    anna.tap(&q, "It can wait", "Which department").await;
    anna.say("Finance", "reach you").await;
    let summary = anna.say("13800138000", "check your report").await;
    let receipt = anna.tap(&summary, "✅ Submit", "recorded as ticket").await;
    let number =
        ticket_number(receipt.content.text.as_deref().unwrap_or_default()).expect("number");
    let d = ticket_json(&app, &number).await;
    assert_eq!(d["ticket"]["intake"]["location"]["site"], "Head office");
    assert_eq!(app.count("tickets").await, 1);
    stop([second]).await;
}

async fn an_update_cut_short_by_a_crash_is_not_applied_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    // 1. Stored, then a crash before handling: the next run handles it.
    let (_a, _url, tasks) = webhook(&app, &sim, false).await;
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    sim.inject_text(REPORTER, REPORTER, "/start")
        .expect("inject");
    stored(&app, 1).await;
    assert_eq!(texts(&sim, REPORTER).len(), 0, "not handled yet");
    stop(tasks).await;
    let (_b, _url, tasks) = webhook(&app, &sim, true).await;
    let q = anna.expect("What kind of fault").await;
    stop(tasks).await;

    // 2. Handling began and reached the conversation, then a crash before it was marked
    //    handled: after the restart the answer is not applied again.
    let (_c, _url, tasks) = webhook(&app, &sim, false).await;
    let tap = sim
        .tap_label(REPORTER, REPORTER, q.message_id, "Network")
        .expect("tap");
    stored(&app, 2).await;
    let store = &app.store;
    let now = app.clock_now();
    assert_eq!(
        store
            .telegram_claim(tap.update_id, now, now - chrono::Duration::minutes(2))
            .await
            .expect("claim"),
        Some(1)
    );
    let anna_person = Person {
        channel: "telegram".into(),
        external_id: REPORTER.to_string(),
        name: "Anna Smith".into(),
        language: Some("en".into()),
    };
    app.chat
        .handle(&anna_person, Incoming::Choice("category:network".into()))
        .await
        .expect("the conversation took the tap");
    stop(tasks).await;
    // Once its lease has run out, the next run sees it was cut short.
    app.clock.advance(chrono::Duration::minutes(3));
    let (_d, _url, tasks) = webhook(&app, &sim, true).await;
    let q = anna.expect("How far does the network").await;
    assert!(q.content.button("Just one PC").is_some());
    assert_eq!(anna.count("out of date"), 0, "{}", anna.shown());
    // The person carries on from there.
    anna.tap(&q, "Just one PC", "Which site").await;
    stop(tasks).await;
}

async fn forged_taps_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (tg, task) = polling(&app, &sim);
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let q = anna.say("/start", "What kind of fault").await;

    // Someone else sends a tap on Anna's private question.
    let forged = sim
        .forge_tap(66, REPORTER, q.message_id, "category:printer")
        .expect("forge");
    let toast = answered(&sim, forged.callback_query_id.as_deref()).await;
    assert_eq!(toast, None);
    anna.tap(&q, "Network", "How far does the network").await;
    assert_eq!(anna.count("Which printer"), 0, "{}", anna.shown());
    assert!(
        app.store
            .reporter_by_identity("telegram", "66")
            .await
            .expect("lookup")
            .is_none(),
        "the forger got nothing, not even a report of their own"
    );

    // A job card in the printer group's chat.
    let number = app.report("li.na", &printer_fault()).await;
    let group = -1_001_234_567_890;
    User::new(&sim, 77, "Mallory", "en");
    User::new(&sim, 88, "Alice", "en");
    sim.add_group(group, "Printer desk", ChatType::Supergroup, None, &[77, 88])
        .expect("group");
    let card = Parcel {
        id: 1,
        to: Address {
            channel: "telegram".into(),
            external_id: group.to_string(),
        },
        lang: Lang::En,
        event: "job_offered".into(),
        ticket: Some(number.clone()),
        replies: vec![Outgoing::Choices {
            text: format!("New job {number}"),
            options: vec![(format!("card:accept@{number}"), "Accept".into())],
        }],
    };
    tg.courier().deliver(&card).await.expect("card delivered");
    let shown = sim
        .wait_for_bot_message(group, |m| m.content.button("Accept").is_some())
        .await
        .expect("card in the group");
    // Text in the group is not for the bot; a group member who is not a linked engineer
    // taps Accept: refused, nothing changes.
    sim.inject_text(77, group, "/start").expect("inject");
    let tap = sim
        .tap_label(77, group, shown.message_id, "Accept")
        .expect("tap");
    let toast = answered(&sim, tap.callback_query_id.as_deref())
        .await
        .unwrap_or_default();
    assert!(toast.contains("cannot do that"), "{toast}");
    assert_eq!(
        ticket_json(&app, &number).await["ticket"]["assignee"],
        serde_json::Value::Null
    );

    // Alice, linked, takes the job from the group card.
    let mut alice = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice");
    alice.telegram_id = Some("88".into());
    app.store.update_engineer(&alice).await.expect("link");
    let tap = sim
        .tap_label(88, group, shown.message_id, "Accept")
        .expect("tap");
    let toast = answered(&sim, tap.callback_query_id.as_deref())
        .await
        .unwrap_or_default();
    assert!(
        toast.contains(&number),
        "the outcome shows on the tap: {toast}"
    );
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["assignee"], serde_json::json!(alice.id));
    assert_eq!(t["ticket"]["status"], "accepted");
    let group_texts = texts(&sim, group);
    assert_eq!(
        group_texts.len(),
        1,
        "nothing said in the group: {group_texts:?}"
    );
    stop([task]).await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_texts_are_split_under_the_limit() {
    let app = spawn_app(Backend::Sqlite).await;
    let sim = sim().await;
    let tg = app.telegram(config(&sim));
    // The chat exists once the user wrote to the bot.
    sim.inject_text(REPORTER, REPORTER, "hi").expect("inject");
    let line = "• BX-2026-000001 · 处理中 · 打印机与外设 · 打印机卡纸，指示灯红色闪烁 😀\n";
    let text = line.repeat(250);
    let parcel = Parcel {
        id: 9,
        to: Address {
            channel: "telegram".into(),
            external_id: REPORTER.to_string(),
        },
        lang: Lang::ZhCn,
        event: "status".into(),
        ticket: None,
        replies: vec![Outgoing::Text(text.clone())],
    };
    tg.courier().deliver(&parcel).await.expect("delivered");
    let shown = texts(&sim, REPORTER);
    assert!(shown.len() >= 3, "{}", shown.len());
    for piece in &shown {
        let units: usize = piece.chars().map(char::len_utf16).sum();
        assert!(units <= 4096, "{units}");
        assert!(piece.ends_with('😀'), "split between lines");
    }
    assert_eq!(shown.join("\n") + "\n", text, "nothing lost or repeated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_courier_reports_flood_limits_and_dead_chats() {
    let app = spawn_app(Backend::Sqlite).await;
    let clock = ManualClock::new();
    let sim = TgSim::start(
        sim_config()
            .limits(RateLimits::telegram())
            .clock(clock.clone()),
    )
    .await
    .expect("tgsim");
    let tg = app.telegram(config(&sim));
    let courier = tg.courier();
    assert_eq!(courier.channel(), "telegram");
    sim.inject_text(REPORTER, REPORTER, "hi").expect("inject");
    let parcel = |id: i64, to: i64, text: &str| Parcel {
        id,
        to: Address {
            channel: "telegram".into(),
            external_id: to.to_string(),
        },
        lang: Lang::En,
        event: "ticket_accepted".into(),
        ticket: None,
        replies: vec![Outgoing::Text(text.into())],
    };
    courier
        .deliver(&parcel(1, REPORTER, "first"))
        .await
        .expect("first");
    // A second message to the same chat within the second: Telegram says 429.
    let second = parcel(2, REPORTER, "second");
    assert_eq!(
        courier.deliver(&second).await,
        Err(DeliveryError::RateLimited(Duration::from_secs(1)))
    );
    assert_eq!(sim.stats().too_many_requests, 1);
    clock.advance(Duration::from_secs(1));
    courier.deliver(&second).await.expect("after the wait");
    assert_eq!(texts(&sim, REPORTER), vec!["first", "second"]);
    // A chat that does not exist, a user who blocked the bot, an id that is no chat id.
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        courier.deliver(&parcel(3, 4242, "lost")).await,
        Err(DeliveryError::Permanent(_))
    ));
    sim.set_blocked(REPORTER, true);
    assert!(matches!(
        courier.deliver(&parcel(4, REPORTER, "blocked")).await,
        Err(DeliveryError::Permanent(_))
    ));
    let mut bad = parcel(5, 0, "bad");
    bad.to.external_id = "web-cookie".into();
    assert!(matches!(
        courier.deliver(&bad).await,
        Err(DeliveryError::Permanent(_))
    ));
}

/// The doors' settings are sections of the configuration file (secrets stay in the
/// variables the sections name), read as `serve` and `config check` read them.
#[test]
fn the_doors_settings_come_from_the_configuration_file() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("baoxiu.toml");
    std::fs::write(
        &file,
        r#"
[telegram]
token_env = "BX_TG_TOKEN"
api_url = "http://127.0.0.1:8081"
flood_limits = false
group_chats = { printer = -1001234 }

[discord]
application_id = 42
group_channels = { network = 77 }
"#,
    )
    .expect("write");
    let (config, _) = baoxiu::config::Config::load(Some(&file)).expect("loads");
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    // Off until the variable the file names holds a token (not the default one).
    assert!(matches!(
        config.telegram.door(env(&[("TELEGRAM_BOT_TOKEN", "1:A")])),
        Ok(None)
    ));
    let c = config
        .telegram
        .door(env(&[("BX_TG_TOKEN", "123:ABC")]))
        .expect("valid")
        .expect("on");
    assert_eq!(
        c.api_url.map(|u| u.to_string()),
        Some("http://127.0.0.1:8081/".into())
    );
    assert_eq!(c.limits, None);
    assert_eq!(c.group_chats.get("printer"), Some(&-1001234));
    let d = config
        .discord
        .door(env(&[("DISCORD_BOT_TOKEN", "abc.def")]))
        .expect("valid")
        .expect("on");
    assert_eq!(
        (d.application_id, d.group_channels.get("network")),
        (42, Some(&77))
    );

    // A mistake is refused with the file, the key and the reason.
    std::fs::write(&file, "[telegram]\nflood_limits = \"fast\"\n").expect("write");
    let e = baoxiu::config::Config::load(Some(&file)).expect_err("refused");
    assert!(e.to_string().contains("flood_limits"), "{e}");
}

/// An engineer links their Telegram account as a person would: the desk issues a code,
/// they send `/link CODE` to the bot.
pub(crate) async fn linked<'a>(
    app: &TestApp,
    sim: &'a TgSim,
    id: i64,
    name: &str,
    handle: &str,
) -> User<'a> {
    let desk = Caller::Desk {
        name: "desk".into(),
    };
    let code = app.desk.issue_link_code(&desk, handle).await.expect("code");
    let mut user = User::new(sim, id, name, "zh-hans");
    user.say(&format!("/link {}", code.code), "✅").await;
    let e = app
        .store
        .engineer_by_identity("telegram", &id.to_string())
        .await
        .expect("lookup")
        .expect("linked");
    assert_eq!(e.handle, handle);
    user
}

/// The outbox dispatcher with the Telegram courier (and no other door).
pub(crate) fn telegram_dispatcher(app: &TestApp, tg: &Telegram) -> Dispatcher {
    app.dispatcher(vec![tg.courier()])
}

async fn an_offer_goes_out_through_the_outbox_and_the_reporter_hears_who_is_coming(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (tg, task) = polling(&app, &sim);
    let mut alice = linked(&app, &sim, 88, "Alice", "alice").await;
    let mut bob = linked(&app, &sim, 89, "Bob", "bob").await;
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, _) = walk_report(&sim, &mut anna).await;
    let dispatcher = telegram_dispatcher(&app, &tg);

    // One round: the offer reaches both on-duty printer engineers as a job card.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    let alices_card = alice.expect(&number).await;
    let alices_card = if alices_card.content.button("✋ 接单").is_some() {
        alices_card
    } else {
        alice.expect(&number).await
    };
    assert!(
        alices_card.content.button("✋ 接单").is_some(),
        "{}",
        alice.shown()
    );
    let bobs_card = sim
        .wait_for_bot_message(bob.id, |m| m.content.button("✋ 接单").is_some())
        .await
        .expect("bob's card");
    assert!(bob.count(&number) >= 1);
    // Nothing new for the reporter yet: the offer is not news to her.
    assert_eq!(anna.count("alice"), 0);

    // Alice takes the job with one tap on the card.
    alice.tap(&alices_card, "✋ 接单", &number).await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["status"], "accepted");

    // The next round tells the reporter who is coming, and Bob that it is taken.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    // (In the reporter's saved language, else Chinese: match on the name and number.)
    let told = anna.expect(&number).await;
    let text = told.content.text.clone().unwrap_or_default();
    assert!(text.contains("alice") && text.contains(&number), "{text}");
    let taken = sim
        .wait_for_bot_message(bob.id, |m| {
            m.content
                .text
                .as_deref()
                .is_some_and(|t| t.contains("已由 alice 接单") && t.contains(&number))
        })
        .await
        .unwrap_or_else(|e| panic!("bob told: {e}\n{}", bob.shown()));
    assert!(taken.content.buttons().is_empty());
    // Bob's old card is stale: his tap is refused with who has it, and nothing changes.
    bob.last = taken.message_id;
    bob.tap(&bobs_card, "✋ 接单", "alice").await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(
        t["ticket"]["assignee"],
        serde_json::json!(alice_id(&app).await)
    );
    // Everything was delivered exactly once: nothing is left, nothing went out twice.
    assert_eq!(dispatcher.run_once().await.expect("round").handled(), 0);
    assert_eq!(anna.count("alice"), 1, "{}", anna.shown());
    stop([task]).await;
}

async fn alice_id(app: &TestApp) -> i64 {
    app.desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice")
        .id
        .0
}

/// Fifty Telegram reporters, ten pieces of news each, all due at once: 500 notifications
/// against tgsim's real limits (30/s overall, 1/s per chat) in virtual time — the
/// dispatcher runs once per virtual second, tgsim's clock moves with the desk's. Our own
/// limiter is off, so tgsim refuses what does not fit and the dispatcher must honour each
/// 429.
async fn a_429_storm_over_500_notifications_loses_nothing_and_repeats_nothing(backend: Backend) {
    use baoxiu::domain::intake::Note;
    use baoxiu::domain::ticket::{Action, WorkMode};
    const USERS: i64 = 50;
    const FIRST: i64 = 7_000;
    let app = spawn_app(backend).await;
    let sim_clock = ManualClock::new();
    let sim = TgSim::start(
        sim_config()
            .limits(RateLimits::telegram())
            .clock(sim_clock.clone()),
    )
    .await
    .expect("tgsim");
    let tg = app.telegram(config(&sim));
    let desk = Caller::Desk {
        name: "desk".into(),
    };
    let alice = Caller::Engineer(
        app.desk
            .engineer_by_handle("alice")
            .await
            .expect("load")
            .expect("alice"),
    );
    // Ten pieces of news per reporter: received, accepted, on the way, arrived and six
    // progress notes.
    let mut markers = vec![
        "✅".to_owned(),
        "👷".to_owned(),
        "🚶".to_owned(),
        "📍".to_owned(),
    ];
    markers.extend((1..=6).map(|k| format!("note {k}/6")));
    for i in 0..USERS {
        let user = FIRST + i;
        sim.inject_text(user, user, "/start").expect("inject");
        let r = app
            .desk
            .reporter_for_identity("telegram", &user.to_string(), &format!("Reporter {i}"))
            .await
            .expect("reporter");
        let form = serde_json::from_value(printer_fault()).expect("form");
        let t = app.desk.report(&desk, r.id, form).await.expect("report");
        let number = t.number.as_str();
        let mut actions = vec![
            Action::Accept,
            Action::StartWork(WorkMode::OnSite),
            Action::Arrive,
        ];
        actions.extend(
            (1..=6).map(|k| Action::Progress(Note::parse(&format!("note {k}/6")).expect("note"))),
        );
        for a in actions {
            app.desk.act(&alice, number, a).await.expect("act");
        }
    }
    let news = "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter'";
    assert_eq!(app.scalar(news).await, USERS * 10);

    let dispatcher = telegram_dispatcher(&app, &tg);
    let mut rounds = 0;
    let mut retried = 0;
    while app
        .scalar(
            "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter' AND status = 'pending'",
        )
        .await
        > 0
    {
        rounds += 1;
        assert!(
            rounds <= 100,
            "still pending after {rounds} virtual seconds"
        );
        // Two rounds a second: a message held back by a 429 must not be overtaken by the
        // next one to the same chat.
        for _ in 0..2 {
            retried += dispatcher.run_once().await.expect("round").retried;
        }
        app.clock.advance(chrono::Duration::seconds(1));
        sim_clock.advance(Duration::from_secs(1));
    }

    // All delivered, once each, in order, to the right people.
    let stats = sim.stats();
    assert_eq!(stats.messages_sent, (USERS * 10) as u64, "{stats:?}");
    let mut times = Vec::new();
    for i in 0..USERS {
        let shown = sim.bot_messages(FIRST + i).expect("chat");
        let texts: Vec<&str> = shown
            .iter()
            .map(|m| m.content.text.as_deref().unwrap_or_default())
            .collect();
        assert_eq!(texts.len(), markers.len(), "{texts:#?}");
        for (text, marker) in texts.iter().zip(&markers) {
            assert!(
                text.contains(marker.as_str()),
                "{marker} expected: {texts:#?}"
            );
        }
        // Tgsim's limits held in every chat: one message per second at most.
        for w in shown.windows(2) {
            assert!(w[1].sent_at_ms >= w[0].sent_at_ms + 1000, "{w:?}");
        }
        times.extend(shown.iter().map(|m| m.sent_at_ms));
    }
    // …and overall: no 31 messages within one second.
    times.sort_unstable();
    for w in times.windows(31) {
        assert!(w[30] >= w[0] + 1000, "31 messages within a second: {w:?}");
    }
    // It was a storm: tgsim refused many sends, and every refusal was honoured — nothing
    // came back before its retry_after, and none counted as a failed attempt.
    assert!(stats.too_many_requests >= 100, "{stats:?}");
    assert_eq!(stats.retry_after_ignored, 0, "{stats:?}");
    assert!(
        u64::from(retried) >= stats.too_many_requests,
        "{retried} rescheduled"
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter' AND status = 'sent'
               AND channel = 'telegram' AND attempts = 1"
        )
        .await,
        USERS * 10
    );
    // The ceiling shapes the time it took: 500 messages at 30 per second.
    assert!((17..=40).contains(&rounds), "{rounds} rounds");
}

async fn offers_go_to_the_groups_chat_as_one_card_that_shows_who_took_the_job(backend: Backend) {
    const GROUP: i64 = -1_001_500;
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let mut c = config(&sim);
    c.group_chats = std::collections::BTreeMap::from([("printer".to_owned(), GROUP)]);
    let tg = app.telegram(c);
    let task = tokio::spawn(tg.clone().run());
    let alice = linked(&app, &sim, 88, "Alice", "alice").await;
    let bob = linked(&app, &sim, 89, "Bob", "bob").await;
    let carol = linked(&app, &sim, 90, "Carol", "carol").await;
    sim.add_group(GROUP, "打印机组", ChatType::Supergroup, None, &[88, 89, 90])
        .expect("group");
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, _) = walk_report(&sim, &mut anna).await;
    let dispatcher = telegram_dispatcher(&app, &tg);

    // Both offers (to Alice and to Bob) are delivered by one card in the group.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    let cards = sim.bot_messages(GROUP).expect("group");
    assert_eq!(cards.len(), 1, "one card per ticket: {cards:#?}");
    let card = &cards[0];
    let buttons = card.content.buttons();
    assert_eq!(buttons.len(), 1, "only Accept on a group card: {buttons:?}");
    assert_eq!(buttons[0].text, "✋ 接单");
    let accept = buttons[0].callback_data.clone().expect("callback data");
    assert!(
        card.content
            .text
            .as_deref()
            .is_some_and(|t| t.contains(&number))
    );
    assert_eq!(
        alice.count(&number) + bob.count(&number),
        0,
        "nothing privately"
    );
    assert_eq!(dispatcher.run_once().await.expect("round").handled(), 0);

    // Bob taps first: the job is his, and the card shows it to everyone, without buttons.
    let tap = sim
        .tap_label(89, GROUP, card.message_id, "✋ 接单")
        .expect("tap");
    let toast = answered(&sim, tap.callback_query_id.as_deref())
        .await
        .unwrap_or_default();
    assert!(toast.contains(&number), "{toast}");
    let shown = sim
        .wait_for_bot_message(GROUP, |m| {
            m.message_id == card.message_id && m.content.buttons().is_empty()
        })
        .await
        .expect("card edited");
    let text = shown.content.text.clone().unwrap_or_default();
    assert!(
        text.contains("已由 bob 接单") && text.contains(&number),
        "{text}"
    );
    let bob_id = app
        .desk
        .engineer_by_handle("bob")
        .await
        .expect("load")
        .expect("bob")
        .id;
    assert_eq!(
        ticket_json(&app, &number).await["ticket"]["assignee"],
        serde_json::json!(bob_id)
    );
    // Alice's late tap (replayed, the button is gone) changes nothing.
    let late = sim
        .forge_tap(88, GROUP, card.message_id, &accept)
        .expect("tap");
    let toast = answered(&sim, late.callback_query_id.as_deref())
        .await
        .unwrap_or_default();
    assert!(toast.contains("bob"), "{toast}");

    // The next round tells the reporter; Alice's "taken" notice is the card already
    // showing it: not sent privately, and the card is not edited again.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    let told = anna.expect(&number).await;
    assert!(
        told.content
            .text
            .as_deref()
            .is_some_and(|t| t.contains("bob"))
    );
    assert_eq!(alice.count("已由 bob 接单"), 0, "{}", alice.shown());
    let card_now = &sim.bot_messages(GROUP).expect("group")[0];
    assert_eq!(card_now.edits.len(), 1, "{card_now:#?}");

    // A second job, taken outside the group chat (the REST API): the "taken" notice to
    // Bob edits its card.
    let second = app.report("li.na", &printer_fault()).await;
    assert_eq!(dispatcher.run_once().await.expect("round").sent, 2);
    let cards = sim.bot_messages(GROUP).expect("group");
    assert_eq!(cards.len(), 2);
    let second_card = cards[1].clone();
    assert!(second_card.content.button("✋ 接单").is_some());
    app.act(
        &crate::helpers::token("alice"),
        &second,
        "accept",
        serde_json::json!({}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(dispatcher.run_once().await.expect("round").sent, 1);
    let shown = sim
        .wait_for_bot_message(GROUP, |m| {
            m.message_id == second_card.message_id && m.content.buttons().is_empty()
        })
        .await
        .expect("second card edited");
    let text = shown.content.text.clone().unwrap_or_default();
    assert!(
        text.contains("已由 alice 接单") && text.contains(&second),
        "{text}"
    );
    assert_eq!(bob.count(&second), 0, "{}", bob.shown());
    assert_eq!(sim.bot_messages(GROUP).expect("group").len(), 2);

    // The manager hands the second job back to the whole group: a new round, so a new
    // card with Accept, while the old one keeps showing who had it.
    app.act(
        crate::helpers::MANAGER,
        &second,
        "reassign",
        serde_json::json!({"group": "printer"}),
        StatusCode::OK,
    )
    .await;
    dispatcher.run_once().await.expect("round");
    let cards = sim.bot_messages(GROUP).expect("group");
    assert_eq!(cards.len(), 3, "a new card for the new offer: {cards:#?}");
    let third = &cards[2];
    assert!(third.content.button("✋ 接单").is_some(), "{third:#?}");
    assert!(
        third
            .content
            .text
            .as_deref()
            .is_some_and(|t| t.contains(&second))
    );
    assert_eq!(cards[1].content.buttons().len(), 0);
    assert_eq!(cards[1].edits.len(), 1, "the old card is left as it was");
    // …and a tap on it takes the job again, edited on the new card.
    sim.tap_label(89, GROUP, third.message_id, "✋ 接单")
        .expect("tap");
    let shown = sim
        .wait_for_bot_message(GROUP, |m| {
            m.message_id == third.message_id && m.content.buttons().is_empty()
        })
        .await
        .expect("new card edited");
    assert!(
        shown
            .content
            .text
            .as_deref()
            .is_some_and(|t| t.contains("已由 bob 接单")),
        "{shown:#?}"
    );

    // A job nobody took is escalated to the expert tier: the experts get a card of their
    // own, and the first-line card loses its Accept, pointing to it.
    let fourth = app.report("li.na", &printer_fault()).await;
    assert_eq!(dispatcher.run_once().await.expect("round").sent, 2);
    let first_line = sim.bot_messages(GROUP).expect("group")[3].clone();
    assert!(first_line.content.button("✋ 接单").is_some());
    app.act(
        crate::helpers::MANAGER,
        &fourth,
        "escalate",
        serde_json::json!({"note": "需要专家"}),
        StatusCode::OK,
    )
    .await;
    dispatcher.run_once().await.expect("round");
    let cards = sim.bot_messages(GROUP).expect("group");
    assert_eq!(cards.len(), 5, "a card for the experts: {cards:#?}");
    let closed = cards[3].content.text.clone().unwrap_or_default();
    assert!(
        cards[3].content.buttons().is_empty() && closed.contains("已重新派出"),
        "{:#?}",
        cards[3]
    );
    let experts = &cards[4];
    assert!(experts.content.button("✋ 接单").is_some(), "{experts:#?}");
    assert_eq!(carol.count(&fourth), 0, "not privately: {}", carol.shown());
    sim.tap_label(90, GROUP, experts.message_id, "✋ 接单")
        .expect("tap");
    sim.wait_for_bot_message(GROUP, |m| {
        m.message_id == experts.message_id
            && m.content
                .text
                .as_deref()
                .is_some_and(|t| t.contains("已由 carol 接单"))
    })
    .await
    .expect("expert card edited");

    // The reporter cancels a job nobody took yet: its card says so and loses its Accept,
    // instead of each engineer being told privately.
    let fifth = app.report("li.na", &printer_fault()).await;
    assert_eq!(dispatcher.run_once().await.expect("round").sent, 2);
    let open = sim.bot_messages(GROUP).expect("group")[5].clone();
    assert!(open.content.button("✋ 接单").is_some());
    app.act(
        &crate::helpers::token("li.na"),
        &fifth,
        "cancel",
        serde_json::json!({"note": "自己好了"}),
        StatusCode::OK,
    )
    .await;
    dispatcher.run_once().await.expect("round");
    let closed = sim
        .wait_for_bot_message(GROUP, |m| {
            m.message_id == open.message_id && m.content.buttons().is_empty()
        })
        .await
        .expect("cancelled card edited");
    let text = closed.content.text.clone().unwrap_or_default();
    assert!(text.contains(&fifth) && text.contains("已取消"), "{text}");
    assert_eq!(sim.bot_messages(GROUP).expect("group").len(), 6);
    assert_eq!(
        alice.count(&fifth) + bob.count(&fifth),
        0,
        "nothing privately"
    );
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
