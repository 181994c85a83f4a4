//! The Discord door end to end: real serenity over real HTTP and websockets against
//! discordsim, the local Discord stand-in, over a real database.

use std::collections::BTreeMap;
use std::time::Duration;

use baoxiu::domain::ticket::Caller;
use baoxiu::doors::discord::{self, Discord, DiscordConfig};
use discordsim::{DiscordSim, Fault, Limits, ManualClock, SimConfig, SimHandle, SimMessage};
use secrecy::SecretString;
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, printer_fault, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_reporter_walks_the_report_in_dms_with_buttons_and_a_modal,
    a_forged_click_changes_nothing,
    a_dropped_gateway_resumes_and_nothing_is_lost_or_applied_twice,
    a_429_burst_through_the_courier_loses_nothing_and_repeats_nothing,
    offers_go_to_the_groups_channel_and_the_first_click_takes_the_job,
    the_interactions_endpoint_refuses_bad_signatures_and_shares_the_gateways_path,
    the_interactions_endpoint_refuses_stale_timestamps_and_answers_replays_once,
    failed_and_rate_limited_answers_are_sent_again_and_arrive_once,
    a_refused_follow_up_is_not_tried_again,
    interactions_without_optional_fields_are_handled,
    a_message_whose_answer_was_lost_is_not_created_twice,
);

const TOKEN: &str = "discord-test-token.abc";
const APP: u64 = 900_000_000_000_000_001;
pub(crate) const ANNA: u64 = 4_242;
const MALLORY: u64 = 6_666;

pub(crate) async fn sim(config: SimConfig) -> DiscordSim {
    DiscordSim::start(config.wait_timeout(Duration::from_secs(20)))
        .await
        .expect("discordsim starts")
}

pub(crate) fn quiet() -> SimConfig {
    SimConfig::new(TOKEN, APP).limits(Limits::off())
}

fn config(sim: &DiscordSim) -> DiscordConfig {
    DiscordConfig {
        token: SecretString::from(TOKEN),
        application_id: APP,
        api_url: Some(sim.url()),
        group_channels: BTreeMap::new(),
        public_key: None,
        // Retries after a failure without a retry_after come at once.
        patience: discord::Patience {
            first_backoff: Duration::from_millis(1),
            ..discord::Patience::default()
        },
    }
}

pub(crate) fn door(app: &TestApp, sim: &DiscordSim) -> Discord {
    app.discord(config(sim))
}

/// The door connected to the stand-in's gateway.
async fn running(app: &TestApp, sim: &DiscordSim) -> (Discord, JoinHandle<()>) {
    let dc = door(app, sim);
    let task = tokio::spawn(dc.clone().run());
    sim.wait_connected().await.expect("gateway connects");
    (dc, task)
}

/// A Discord user in their DM with the bot.
pub(crate) struct User<'a> {
    sim: &'a DiscordSim,
    id: u64,
    /// The last bot message seen.
    last: u64,
    interactions: Vec<u64>,
}

impl<'a> User<'a> {
    pub(crate) fn new(sim: &'a DiscordSim, id: u64, name: &str) -> User<'a> {
        sim.add_user(id, name, "en-US");
        User {
            sim,
            id,
            last: 0,
            interactions: Vec::new(),
        }
    }

    async fn expect(&mut self, needle: &str) -> SimMessage {
        let m = self
            .sim
            .wait_for_bot_message(self.id, self.last, |m| m.content.contains(needle))
            .await
            .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}\n{}", self.shown()));
        self.last = m.id;
        m
    }

    async fn say(&mut self, text: &str, then: &str) -> SimMessage {
        self.sim.send_dm(self.id, text).expect("dm");
        self.expect(then).await
    }

    pub(crate) async fn click(&mut self, on: &SimMessage, label: &str, then: &str) -> SimMessage {
        let id = self
            .sim
            .click(self.id, on.id, label)
            .unwrap_or_else(|e| panic!("click {label:?}: {e}\n{}", self.shown()));
        self.interactions.push(id);
        self.expect(then).await
    }

    pub(crate) async fn slash(&mut self, name: &str, then: &str) -> SimMessage {
        let id = self.sim.slash(self.id, name, &[]).expect("slash");
        self.interactions.push(id);
        self.expect(then).await
    }

    pub(crate) fn shown(&self) -> String {
        self.sim
            .bot_messages(self.id)
            .iter()
            .map(|m| m.content.clone())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    pub(crate) fn count(&self, needle: &str) -> usize {
        self.sim
            .bot_messages(self.id)
            .iter()
            .filter(|m| m.content.contains(needle))
            .count()
    }
}

/// The description Anna types: markdown a hostile reporter could try.
const TYPED: &str = "Paper jammed in tray 2 [click](http://evil) **now** @everyone <@1>";
/// It as Discord is to show it, escaped.
const TYPED_SHOWN: &str =
    r"Paper jammed in tray 2 \[click\]\(http://evil) \*\*now\*\* \@everyone \<\@1\>";

/// Anna reports a paper jam in DMs, through a select menu, buttons, the location modal
/// and typed answers; the ticket number.
async fn walk_report(sim: &DiscordSim, anna: &mut User<'_>) -> String {
    let q = anna.slash("report", "What kind of fault").await;
    // Many categories: a select menu; a few answers (When did it start?): buttons.
    let category = q
        .button("Printer & peripherals")
        .expect("a category option");
    assert!(category.menu.is_some(), "{q:?}");
    anna.click(&q, "Printer & peripherals", "Which printer")
        .await;
    let q = anna
        .say("HP LaserJet M404", "What is the printer doing")
        .await;
    // The location form comes as a button on the site question: one message for the step.
    let form = anna.click(&q, "Paper jam", "Which site").await;
    assert!(
        form.button("📝 Where is the fault?").is_some(),
        "the form's button on the question: {form:?}"
    );
    // Its button opens a modal, answered in one go.
    let open = sim.click(anna.id, form.id, "bx:form").expect("form button");
    sim.wait_answered(open).await.expect("modal shown");
    let modal = sim.modal(anna.id).expect("a modal");
    assert_eq!(
        modal
            .fields
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>(),
        ["site", "building", "room"]
    );
    let values: BTreeMap<String, String> = [
        ("site", "Head office"),
        ("building", "Tower B"),
        ("room", "12F-1203"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    anna.interactions
        .push(sim.submit_modal(anna.id, &values).expect("submit"));
    anna.expect("asset tag").await;
    anna.say("prn-12f-01", "describe the fault").await;
    let q = anna.say(TYPED, "When did it start").await;
    assert!(q.button("Just now").is_some_and(|b| b.menu.is_none()));
    let q = anna.click(&q, "Just now", "How many people").await;
    let q = anna.click(&q, "Several people", "How badly").await;
    anna.click(&q, "Work has stopped", "Which department").await;
    anna.say("Finance", "reach you").await;
    let summary = anna.say("+86 21 5555 0100", "check your report").await;
    // What Anna typed is shown as she typed it: no link hiding its target, no bold, no
    // mention.
    assert!(summary.content.contains(TYPED_SHOWN), "{summary:?}");
    let receipt = anna
        .click(&summary, "✅ Submit", "recorded as ticket")
        .await;
    ticket_number(&receipt.content).expect("a ticket number")
}

fn ticket_number(text: &str) -> Option<String> {
    let start = text.find("BX-")?;
    text.get(start..start + 14).map(str::to_owned)
}

async fn a_reporter_walks_the_report_in_dms_with_buttons_and_a_modal(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let (_dc, task) = running(&app, &sim).await;
    sim.wait_for(|s| (s.commands().len() == 7).then_some(()))
        .await
        .expect("slash commands registered");
    let mut anna = User::new(&sim, ANNA, "Anna");
    let number = walk_report(&sim, &mut anna).await;
    // `/complain` is a slash command too: a complaint record from the Discord door.
    let i = sim
        .slash(
            ANNA,
            "complain",
            &[("what", &format!("{number} COMPLAINT-DISCORD"))],
        )
        .expect("slash");
    anna.interactions.push(i);
    anna.expect("📣").await;
    let filed = app
        .desk
        .complaints(
            &Caller::Desk {
                name: "test".into(),
            },
            None,
            1,
            10,
        )
        .await
        .expect("complaints");
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].channel, "discord");
    assert_eq!(filed[0].ticket.as_deref(), Some(number.as_str()));

    let desk = Caller::Desk {
        name: "test".into(),
    };
    let d = app.desk.ticket(&desk, &number).await.expect("ticket");
    let t = serde_json::to_value(&d).expect("json")["ticket"].clone();
    assert_eq!(t["intake"]["category"], "printer");
    assert_eq!(t["intake"]["location"]["site"], "Head office");
    assert_eq!(t["intake"]["location"]["room"], "12F-1203");
    assert_eq!(t["intake"]["department"], "Finance");
    // Every interaction was answered once, within Discord's 3 seconds.
    for id in &anna.interactions {
        let i = sim.interaction(*id).expect("recorded");
        assert!(i.callback.is_some(), "{i:?}");
        assert!(
            i.answered_after.is_some_and(|d| d < Duration::from_secs(3)),
            "{i:?}"
        );
        assert_eq!(i.refused_callbacks, 0, "{i:?}");
    }
    // Nothing the bot sent could ping anyone.
    for m in sim.bot_messages(ANNA) {
        let parse = m.allowed_mentions.as_ref().map(|a| a["parse"].clone());
        assert_eq!(parse, Some(serde_json::json!([])), "{m:?}");
    }
    task.abort();
}

async fn a_forged_click_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let (_dc, task) = running(&app, &sim).await;
    let mut anna = User::new(&sim, ANNA, "Anna");
    sim.add_user(MALLORY, "Mallory", "en-US");
    let q = anna.slash("report", "What kind of fault").await;
    // Mallory clicks a button on Anna's DM message, and forges another custom_id.
    let forged = sim.click(MALLORY, q.id, "Network").expect("click");
    sim.wait_answered(forged).await.expect("acknowledged");
    let forged = sim
        .forge_click(MALLORY, q.id, "job:accept@BX-2026-000001")
        .expect("click");
    sim.wait_answered(forged).await.expect("acknowledged");
    // Anna's conversation is where it was; Mallory was told nothing.
    anna.click(&q, "Printer & peripherals", "Which printer")
        .await;
    assert_eq!(
        anna.count("How far does the network"),
        0,
        "{}",
        anna.shown()
    );
    assert!(sim.bot_messages(MALLORY).is_empty());
    task.abort();
}

async fn a_dropped_gateway_resumes_and_nothing_is_lost_or_applied_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let (_dc, task) = running(&app, &sim).await;
    let mut anna = User::new(&sim, ANNA, "Anna");
    let q = anna.slash("report", "What kind of fault").await;
    // The connection drops; Anna clicks meanwhile; on RESUME Discord also re-sends the
    // two events before it, which the bot had already handled.
    sim.drop_gateway(2);
    let q = anna.click(&q, "Network", "How far does the network").await;
    assert!(sim.stats().resumes >= 1, "{:?}", sim.stats());
    anna.click(&q, "Whole floor / many PCs", "Which site").await;
    assert_eq!(anna.count("What kind of fault"), 1, "{}", anna.shown());
    assert_eq!(
        anna.count("How far does the network"),
        1,
        "{}",
        anna.shown()
    );
    assert_eq!(anna.count("Which site"), 1, "{}", anna.shown());
    assert_eq!(app.count("discord_events").await, 3);
    task.abort();
}

async fn a_429_burst_through_the_courier_loses_nothing_and_repeats_nothing(backend: Backend) {
    use baoxiu::domain::ticket::{Action, WorkMode};
    const USERS: u64 = 10;
    const FIRST: u64 = 7_000;
    let app = spawn_app(backend).await;
    let clock = ManualClock::new();
    let sim = sim(SimConfig::new(TOKEN, APP)
        .limits(Limits::discord())
        .clock(clock.clone()))
    .await;
    // Only the courier: no gateway needed to deliver notifications.
    let dc = door(&app, &sim);
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
    for i in 0..USERS {
        let user = FIRST + i;
        sim.add_user(user, &format!("Reporter {i}"), "en-US");
        let r = app
            .desk
            .reporter_for_identity("discord", &user.to_string(), &format!("Reporter {i}"))
            .await
            .expect("reporter");
        let form = serde_json::from_value(printer_fault()).expect("form");
        let t = app.desk.report(&desk, r.id, form).await.expect("report");
        for a in [
            Action::Accept,
            Action::StartWork(WorkMode::OnSite),
            Action::Arrive,
        ] {
            app.desk
                .act(&alice, t.number.as_str(), a)
                .await
                .expect("act");
        }
    }
    // The reporters' news, in a status.
    let store = &app.store;
    let news = |status: &'static str| async move {
        let all = store
            .outbox_by_status(status, 10_000)
            .await
            .expect("outbox");
        all.into_iter()
            .filter(|m| matches!(m.to, baoxiu::desk::Recipient::Reporter(_)))
            .collect::<Vec<_>>()
    };
    let total = news("pending").await.len();
    assert_eq!(total as u64, USERS * 4);
    sim.burst_429(15, Duration::from_secs(1));
    let dispatcher = app.dispatcher(vec![dc.courier()]);
    let mut rounds = 0;
    while !news("pending").await.is_empty() {
        rounds += 1;
        assert!(rounds <= 60, "still pending after {rounds} virtual seconds");
        dispatcher.run_once().await.expect("round");
        app.clock.advance(chrono::Duration::seconds(1));
        clock.advance(Duration::from_secs(1));
    }
    let stats = sim.stats();
    assert!(stats.too_many_requests >= 15, "{stats:?}");
    assert_eq!(stats.messages_created, USERS * 4, "{stats:?}");
    let markers = ["✅", "👷", "🚶", "📍"];
    for i in 0..USERS {
        let shown = sim.bot_messages(FIRST + i);
        assert_eq!(shown.len(), markers.len(), "{shown:#?}");
        for (m, marker) in shown.iter().zip(markers) {
            assert!(m.content.contains(marker), "{marker} expected: {shown:#?}");
        }
    }
    let sent = news("sent").await;
    assert_eq!(sent.len(), total);
    assert!(
        sent.iter()
            .all(|m| m.channel.as_deref() == Some("discord") && m.attempts == 1),
        "every 429 was a wait, not a failed attempt: {sent:?}"
    );
}

async fn interactions_without_optional_fields_are_handled(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let (endpoint, _dc) = Endpoint::start(&app, config(&sim)).await;
    User::new(&sim, ANNA, "Anna");
    let ts = timestamp(&app, 0);
    // An interaction as Discord sends it to an application without monetization: no
    // `entitlements`.
    let (_, mut payload) = sim.http_slash(ANNA, "status", &[]).expect("interaction");
    payload.as_object_mut().map(|o| o.remove("entitlements"));
    let r = endpoint.signed(&payload.to_string(), &ts).await;
    assert_eq!(r.status(), 200);
    let answer = r.json::<serde_json::Value>().await.expect("json");
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .is_some_and(|s| s.contains("no open tickets")),
        "{answer}"
    );
    // Nor the other fields Discord documents as optional (or added lately).
    let (_, mut payload) = sim.http_slash(ANNA, "status", &[]).expect("interaction");
    for field in [
        "entitlements",
        "attachment_size_limit",
        "locale",
        "channel_id",
        "context",
    ] {
        payload.as_object_mut().map(|o| o.remove(field));
    }
    let r = endpoint.signed(&payload.to_string(), &ts).await;
    assert_eq!(r.status(), 200);
    let answer = r.json::<serde_json::Value>().await.expect("json");
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(app.count("discord_events").await, 2);
}

async fn failed_and_rate_limited_answers_are_sent_again_and_arrive_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let mut c = config(&sim);
    // Every interaction is deferred: its replies all go out as follow-ups.
    c.patience.answer_within = Duration::ZERO;
    let dc = app.discord(c);
    let task = tokio::spawn(dc.run());
    sim.wait_connected().await.expect("gateway connects");
    let mut anna = User::new(&sim, ANNA, "Anna");

    // The deferral fails once with a 500, then the first follow-up.
    sim.fail_next("interaction_callback", Fault::server_error());
    sim.fail_next("followup", Fault::server_error());
    let q = anna.slash("report", "What kind of fault").await;
    // The next follow-up is rate limited with Discord's documented body (no `code`).
    sim.fail_next("followup", Fault::rate_limited(Duration::from_millis(50)));
    anna.click(&q, "Printer & peripherals", "Which printer")
        .await;
    // A reply to a typed message fails once too, then is rate limited.
    sim.fail_next("create_message", Fault::server_error());
    sim.fail_next(
        "create_message",
        Fault::rate_limited(Duration::from_millis(10)),
    );
    anna.say("HP LaserJet M404", "What is the printer doing")
        .await;

    let stats = sim.stats();
    assert_eq!(stats.faults_injected, 5, "{stats:?}");
    assert_eq!(stats.requests.get("followup"), Some(&4), "{stats:?}");
    for question in [
        "What kind of fault",
        "Which printer",
        "What is the printer doing",
    ] {
        assert_eq!(anna.count(question), 1, "{question}: {}", anna.shown());
    }
    assert_eq!(sim.bot_messages(ANNA).len(), 3, "{}", anna.shown());
    for id in &anna.interactions {
        let i = sim.interaction(*id).expect("recorded");
        assert!(i.callback.is_some() && i.refused_callbacks == 0, "{i:?}");
    }
    task.abort();
}

async fn a_message_whose_answer_was_lost_is_not_created_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let dc = door(&app, &sim);
    let task = tokio::spawn(dc.clone().run());
    sim.wait_connected().await.expect("gateway connects");
    let mut anna = User::new(&sim, ANNA, "Anna");
    let q = anna.slash("report", "What kind of fault").await;
    anna.click(&q, "Printer & peripherals", "Which printer")
        .await;
    // Discord creates the reply, but its answer is lost: the door tries again, and the
    // nonce it sends makes that the same message.
    sim.fail_next("create_message", Fault::server_error().after_effect());
    anna.say("HP LaserJet M404", "What is the printer doing")
        .await;
    sim.wait_for(|s| (s.stats().requests.get("create_message") == Some(&2)).then_some(()))
        .await
        .expect("tried again");
    // An outbox notice too: the dispatcher tries again in a later round, same nonce.
    let desk = Caller::Desk {
        name: "desk".into(),
    };
    let r = app
        .desk
        .reporter_for_identity("discord", &ANNA.to_string(), "Anna")
        .await
        .expect("reporter");
    let form = serde_json::from_value(printer_fault()).expect("form");
    let t = app.desk.report(&desk, r.id, form).await.expect("report");
    sim.fail_next("create_message", Fault::server_error().after_effect());
    let dispatcher = app.dispatcher(vec![dc.courier()]);
    for _ in 0..30 {
        dispatcher.run_once().await.expect("round");
        if anna.count(t.number.as_str()) > 0
            && sim.stats().requests.get("create_message") >= Some(&4)
        {
            break;
        }
        app.clock.advance(chrono::Duration::minutes(1));
    }
    tokio::task::yield_now().await;
    assert_eq!(sim.stats().faults_injected, 2);
    assert_eq!(
        anna.count("What is the printer doing"),
        1,
        "{}",
        anna.shown()
    );
    assert_eq!(anna.count(t.number.as_str()), 1, "{}", anna.shown());
    task.abort();
}

async fn a_refused_follow_up_is_not_tried_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let mut c = config(&sim);
    c.patience.answer_within = Duration::ZERO;
    let dc = app.discord(c);
    let task = tokio::spawn(dc.run());
    sim.wait_connected().await.expect("gateway connects");
    let mut anna = User::new(&sim, ANNA, "Anna");
    let refused = Fault {
        status: 400,
        body: serde_json::json!({"code": 50035, "message": "Invalid Form Body"}),
        retry_after_header: None,
        applied: false,
    };
    sim.fail_next("followup", refused);
    let id = sim.slash(ANNA, "report", &[]).expect("slash");
    sim.wait_answered(id).await.expect("deferred");
    sim.wait_for(|s| (s.stats().faults_injected == 1).then_some(()))
        .await
        .expect("the follow-up was tried");
    // The conversation goes on: the next command is answered.
    anna.slash("status", "no open tickets").await;
    assert_eq!(
        sim.stats().requests.get("followup"),
        Some(&2),
        "{:?}",
        sim.stats()
    );
    task.abort();
}

async fn ticket_json(app: &TestApp, number: &str) -> serde_json::Value {
    let desk = Caller::Desk {
        name: "test".into(),
    };
    let d = app.desk.ticket(&desk, number).await.expect("ticket");
    serde_json::to_value(&d).expect("json")
}

async fn engineer_id(app: &TestApp, handle: &str) -> serde_json::Value {
    let e = app.desk.engineer_by_handle(handle).await.expect("load");
    serde_json::json!(e.expect("engineer").id)
}

/// A Discord user linked to engineer `handle` with `/link CODE` in their DM.
async fn linked<'a>(
    app: &TestApp,
    sim: &'a DiscordSim,
    id: u64,
    name: &str,
    handle: &str,
) -> User<'a> {
    let desk = Caller::Desk {
        name: "desk".into(),
    };
    let code = app.desk.issue_link_code(&desk, handle).await.expect("code");
    let mut user = User::new(sim, id, name);
    let i = sim
        .slash(id, "link", &[("code", &code.code)])
        .expect("slash");
    user.interactions.push(i);
    user.expect("✅").await;
    user
}

/// The bot's messages in a channel that everyone there sees.
fn public(sim: &SimHandle, channel: u64) -> Vec<SimMessage> {
    sim.transcript(channel)
        .into_iter()
        .filter(|m| m.from_bot && m.ephemeral_to.is_none())
        .collect()
}

/// The reply only `user` sees to interaction `id` in a channel, once it is filled in.
async fn ephemeral_reply(sim: &DiscordSim, user: u64, channel: u64, id: u64) -> SimMessage {
    sim.wait_for(|s| {
        s.seen_by(user, channel)
            .into_iter()
            .find(|m| m.interaction == Some(id) && m.ephemeral_to == Some(user) && !m.thinking)
    })
    .await
    .unwrap_or_else(|e| panic!("no ephemeral reply to {id} for {user}: {e}"))
}

async fn offers_go_to_the_groups_channel_and_the_first_click_takes_the_job(backend: Backend) {
    const GUILD: u64 = 1_400_000_000_000_000_001;
    const PRINTER_DESK: u64 = 1_400_000_000_000_000_100;
    const ALICE: u64 = 5_001;
    const BOB: u64 = 5_002;
    const DAVE: u64 = 5_004;
    const ACCEPT: &str = "✋ 接单";
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    sim.add_guild_channel(
        GUILD,
        PRINTER_DESK,
        &[
            (ALICE, "Alice", "zh-CN"),
            (BOB, "Bob", "zh-CN"),
            (DAVE, "Dave", "zh-CN"),
            (MALLORY, "Mallory", "en-US"),
        ],
    );
    let mut c = config(&sim);
    c.group_channels = BTreeMap::from([("printer".to_owned(), PRINTER_DESK)]);
    let dc = app.discord(c);
    let task = tokio::spawn(dc.clone().run());
    sim.wait_connected().await.expect("gateway connects");
    let alice = linked(&app, &sim, ALICE, "Alice", "alice").await;
    let bob = linked(&app, &sim, BOB, "Bob", "bob").await;
    linked(&app, &sim, DAVE, "Dave", "dave").await;
    let mut anna = User::new(&sim, ANNA, "Anna");
    let number = walk_report(&sim, &mut anna).await;
    let dispatcher = app.dispatcher(vec![dc.courier()]);

    // Both offers (to Alice and to Bob) are delivered by one card in the channel.
    let round = dispatcher.run_once().await.expect("round");
    assert_eq!(round.sent, 2, "{round:?}");
    let cards = public(&sim, PRINTER_DESK);
    assert_eq!(cards.len(), 1, "one card per ticket: {cards:#?}");
    let card = cards[0].clone();
    assert!(card.content.contains(&number), "{card:?}");
    assert!(card.content.contains(TYPED_SHOWN), "escaped: {card:?}");
    let buttons: Vec<_> = card.buttons.iter().flatten().collect();
    assert_eq!(buttons.len(), 1, "only Accept on a group card: {buttons:?}");
    assert_eq!(buttons[0].label, ACCEPT);
    assert_eq!(
        alice.count(&number) + bob.count(&number),
        0,
        "nothing privately"
    );

    // Mallory (not an engineer) and Dave (network, not printer) are told politely, and
    // only they see it; nothing changes.
    let m = sim.click(MALLORY, card.id, ACCEPT).expect("click");
    let told = ephemeral_reply(&sim, MALLORY, PRINTER_DESK, m).await;
    assert!(told.content.contains("linked engineers"), "{told:?}");
    let d = sim.click(DAVE, card.id, ACCEPT).expect("click");
    let told = ephemeral_reply(&sim, DAVE, PRINTER_DESK, d).await;
    assert!(told.content.contains("不能"), "{told:?}");
    assert!(
        sim.seen_by(BOB, PRINTER_DESK).len() == 1,
        "the others saw nothing"
    );
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["assignee"], serde_json::Value::Null, "{t}");
    assert_eq!(t["ticket"]["status"], "offered", "{t}");

    // Bob and Alice click at once: one takes the job, the other is told who has it.
    let b = sim.click(BOB, card.id, ACCEPT).expect("click");
    let a = sim.click(ALICE, card.id, ACCEPT).expect("click");
    let to_bob = ephemeral_reply(&sim, BOB, PRINTER_DESK, b).await;
    let to_alice = ephemeral_reply(&sim, ALICE, PRINTER_DESK, a).await;
    let t = ticket_json(&app, &number).await;
    let assignee = t["ticket"]["assignee"].clone();
    let (winner, loser_told) = if assignee == engineer_id(&app, "bob").await {
        ("bob", &to_alice)
    } else {
        assert_eq!(assignee, engineer_id(&app, "alice").await, "{t}");
        ("alice", &to_bob)
    };
    assert!(
        loser_told.content.contains("已被") && loser_told.content.contains(winner),
        "{loser_told:?}"
    );
    // The card shows who took it, to everyone, without buttons; edited once.
    let shown = sim
        .wait_for(|s| {
            public(s, PRINTER_DESK)
                .into_iter()
                .find(|m| m.id == card.id && m.buttons.is_empty())
        })
        .await
        .expect("card edited");
    assert!(
        shown.content.contains(&format!("已由 {winner} 接单")) && shown.content.contains(&number),
        "{shown:?}"
    );
    assert_eq!(shown.edits, 1, "{shown:?}");
    assert_eq!(public(&sim, PRINTER_DESK).len(), 1, "still one card");

    // The next round tells the reporter who is coming; the other engineer's "taken"
    // notice is the card already showing it: not sent privately, not edited again.
    dispatcher.run_once().await.expect("round");
    let heard = anna.expect(&number).await;
    assert!(heard.content.contains(winner), "{heard:?}");
    assert_eq!(alice.count("已由") + bob.count("已由"), 0);
    let card_now = sim
        .transcript(PRINTER_DESK)
        .into_iter()
        .find(|m| m.id == card.id)
        .expect("card");
    assert_eq!(card_now.edits, 1, "{card_now:?}");
    // Every click was answered once, within Discord's 3 seconds.
    for id in [m, d, a, b] {
        let i = sim.interaction(id).expect("recorded");
        assert!(
            i.answered_after.is_some_and(|d| d < Duration::from_secs(3)),
            "{i:?}"
        );
        assert_eq!(i.refused_callbacks, 0, "{i:?}");
    }
    task.abort();
}

/// The door's HTTP interactions endpoint on a port of its own, signed for with
/// Discord's (the test's) key.
struct Endpoint {
    url: String,
    key: ed25519_dalek::SigningKey,
    client: reqwest::Client,
    server: JoinHandle<()>,
}

impl Endpoint {
    /// The door with a fresh public key, serving its interactions endpoint.
    async fn start(app: &TestApp, mut c: DiscordConfig) -> (Endpoint, Discord) {
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        c.public_key = Some(key.verifying_key());
        let dc = app.discord(c);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}{}",
            listener.local_addr().expect("addr"),
            discord::INTERACTIONS_PATH
        );
        let router = dc.interactions_router();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let endpoint = Endpoint {
            url,
            key,
            client: reqwest::Client::new(),
            server,
        };
        (endpoint, dc)
    }

    /// Discord's signature of `ts` and `body` (hex).
    fn sign(&self, ts: &str, body: &str) -> String {
        use ed25519_dalek::Signer;
        let signature = self.key.sign(format!("{ts}{body}").as_bytes()).to_bytes();
        signature.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// POSTs `body` with these headers.
    async fn post(&self, body: &str, ts: Option<&str>, sig: Option<String>) -> reqwest::Response {
        let mut r = self.client.post(&self.url).body(body.to_owned());
        if let Some(ts) = ts {
            r = r.header("X-Signature-Timestamp", ts);
        }
        if let Some(sig) = sig {
            r = r.header("X-Signature-Ed25519", sig);
        }
        r.send().await.expect("post")
    }

    /// POSTs `body` signed with timestamp `ts`, as Discord does.
    async fn signed(&self, body: &str, ts: &str) -> reqwest::Response {
        self.post(body, Some(ts), Some(self.sign(ts, body))).await
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The desk clock's now as Discord signs it (Unix seconds), moved by `offset` seconds.
fn timestamp(app: &TestApp, offset: i64) -> String {
    (app.clock_now().timestamp() + offset).to_string()
}

async fn the_interactions_endpoint_refuses_bad_signatures_and_shares_the_gateways_path(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let (endpoint, _dc) = Endpoint::start(&app, config(&sim)).await;
    let ts = timestamp(&app, 0);
    let ts = ts.as_str();

    // Discord's PING is answered with a PONG.
    let ping = r#"{"type":1,"id":"1","application_id":"1","token":"t","version":1}"#;
    let r = endpoint.signed(ping, ts).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json"),
        serde_json::json!({"type": 1})
    );

    // A slash command: tampered, re-timed, unsigned or half-signed copies are refused
    // with 401 and nothing is recorded.
    let mut anna = User::new(&sim, ANNA, "Anna");
    let (id, payload) = sim.http_slash(ANNA, "status", &[]).expect("interaction");
    let body = payload.to_string();
    let good = endpoint.sign(ts, &body);
    let tampered = body.replace("status", "cancel");
    let retimed = timestamp(&app, 1);
    for (b, ts, sig) in [
        (tampered.as_str(), Some(ts), Some(good.clone())),
        (&body, Some(retimed.as_str()), Some(good.clone())),
        (&body, None, Some(good.clone())),
        (&body, Some(ts), None),
        (&body, Some(ts), Some("00".repeat(64))),
    ] {
        let r = endpoint.post(b, ts, sig).await;
        assert_eq!(r.status(), 401);
    }
    assert!(sim.bot_messages(ANNA).is_empty());
    assert_eq!(app.count("discord_events").await, 0);

    // Signed: recorded, handled as over the gateway, and answered in the HTTP response
    // itself (the reply is quick: no deferral and follow-up needed).
    let r = endpoint.signed(&body, ts).await;
    assert_eq!(r.status(), 200);
    let answer = r.json::<serde_json::Value>().await.expect("json");
    assert_eq!(answer["type"], 4, "{answer}");
    let said = answer["data"]["content"].as_str().unwrap_or_default();
    assert!(said.contains("no open tickets"), "{answer}");
    assert_eq!(
        answer["data"]["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
    anna.interactions.push(id);
    assert_eq!(app.count("discord_events").await, 1);
    // The same interaction again: deferred, and not handled twice.
    let r = endpoint.signed(&body, ts).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["type"],
        5
    );
    assert_eq!(app.count("discord_events").await, 1);
    assert!(sim.bot_messages(ANNA).is_empty(), "nothing posted besides");
}

async fn the_interactions_endpoint_refuses_stale_timestamps_and_answers_replays_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let (endpoint, _dc) = Endpoint::start(&app, config(&sim)).await;
    User::new(&sim, ANNA, "Anna");
    let (_, payload) = sim.http_slash(ANNA, "status", &[]).expect("interaction");
    let body = payload.to_string();

    // Correctly signed, but three days old, six minutes ahead, or not a time: refused
    // before anything is read, and nothing is recorded.
    for ts in [
        timestamp(&app, -3 * 86_400),
        timestamp(&app, -301),
        timestamp(&app, 360),
        "yesterday".to_owned(),
    ] {
        let r = endpoint.signed(&body, &ts).await;
        assert_eq!(r.status(), 401, "{ts}");
    }
    assert_eq!(app.count("discord_events").await, 0);

    // Four minutes old, or a minute ahead (a skewed clock): accepted. A replay inside
    // the window is answered (a deferral) but not handled twice.
    let signed_at = timestamp(&app, -240);
    let r = endpoint.signed(&body, &signed_at).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["type"],
        4
    );
    assert_eq!(app.count("discord_events").await, 1);
    let (_, ahead) = sim.http_slash(ANNA, "status", &[]).expect("interaction");
    let r = endpoint
        .signed(&ahead.to_string(), &timestamp(&app, 60))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.count("discord_events").await, 2);
    app.clock.advance(chrono::Duration::seconds(50));
    let r = endpoint.signed(&body, &signed_at).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.expect("json")["type"],
        5
    );
    assert_eq!(app.count("discord_events").await, 2);

    // Once the window has passed, the same signed request is refused outright, however
    // long its id is remembered.
    app.clock.advance(chrono::Duration::seconds(11));
    let r = endpoint.signed(&body, &signed_at).await;
    assert_eq!(r.status(), 401);
    assert_eq!(app.count("discord_events").await, 2);
    assert!(sim.bot_messages(ANNA).is_empty(), "answered only over HTTP");
}
