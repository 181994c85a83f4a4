//! The Telegram door end to end: real teloxide over real HTTP against tgsim, the local
//! Bot API stand-in, over a real database.

mod cards;
mod inbox;
mod intake;
mod linking;
mod managers;
mod notices;
mod settings;

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

async fn alice_id(app: &TestApp) -> i64 {
    app.desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice")
        .id
        .0
}
