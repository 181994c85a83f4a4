//! The Discord door end to end: real serenity over real HTTP and websockets against
//! discordsim, the local Discord stand-in, over a real database.

use std::collections::BTreeMap;
use std::time::Duration;

use baoxiu::chat::discord::{self, Discord, DiscordConfig};
use baoxiu::discordsim::{DiscordSim, Limits, ManualClock, SimConfig, SimMessage};
use baoxiu::domain::ticket::Caller;
use baoxiu::outbox::dispatcher::{DispatchConfig, Dispatcher};
use secrecy::SecretString;
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, printer_fault, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_reporter_walks_the_report_in_dms_with_buttons_and_a_modal,
    a_forged_click_changes_nothing,
    a_dropped_gateway_resumes_and_nothing_is_lost_or_applied_twice,
    a_429_burst_through_the_courier_loses_nothing_and_repeats_nothing,
);

const TOKEN: &str = "discord-test-token.abc";
const APP: u64 = 900_000_000_000_000_001;
const ANNA: u64 = 4_242;
const MALLORY: u64 = 6_666;

async fn sim(config: SimConfig) -> DiscordSim {
    DiscordSim::start(config.wait_timeout(Duration::from_secs(20)))
        .await
        .expect("discordsim starts")
}

fn quiet() -> SimConfig {
    SimConfig::new(TOKEN, APP).limits(Limits::off())
}

fn door(app: &TestApp, sim: &DiscordSim) -> Discord {
    discord::start(
        app.chat.clone(),
        DiscordConfig {
            token: SecretString::from(TOKEN),
            application_id: APP,
            api_url: Some(sim.url()),
        },
    )
    .expect("adapter starts")
}

/// The door connected to the stand-in's gateway.
async fn running(app: &TestApp, sim: &DiscordSim) -> (Discord, JoinHandle<()>) {
    let dc = door(app, sim);
    let task = tokio::spawn(dc.clone().run());
    sim.wait_connected().await.expect("gateway connects");
    (dc, task)
}

/// A Discord user in their DM with the bot.
struct User<'a> {
    sim: &'a DiscordSim,
    id: u64,
    /// The last bot message seen.
    last: u64,
    interactions: Vec<u64>,
}

impl<'a> User<'a> {
    fn new(sim: &'a DiscordSim, id: u64, name: &str) -> User<'a> {
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

    async fn click(&mut self, on: &SimMessage, label: &str, then: &str) -> SimMessage {
        let id = self
            .sim
            .click(self.id, on.id, label)
            .unwrap_or_else(|e| panic!("click {label:?}: {e}\n{}", self.shown()));
        self.interactions.push(id);
        self.expect(then).await
    }

    async fn slash(&mut self, name: &str, then: &str) -> SimMessage {
        let id = self.sim.slash(self.id, name, &[]).expect("slash");
        self.interactions.push(id);
        self.expect(then).await
    }

    fn shown(&self) -> String {
        self.sim
            .bot_messages(self.id)
            .iter()
            .map(|m| m.content.clone())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    fn count(&self, needle: &str) -> usize {
        self.sim
            .bot_messages(self.id)
            .iter()
            .filter(|m| m.content.contains(needle))
            .count()
    }
}

fn ticket_number(text: &str) -> Option<String> {
    let start = text.find("BX-")?;
    text.get(start..start + 14).map(str::to_owned)
}

async fn a_reporter_walks_the_report_in_dms_with_buttons_and_a_modal(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim(quiet()).await;
    let (_dc, task) = running(&app, &sim).await;
    sim.wait_for(|s| (s.commands().len() == 6).then_some(()))
        .await
        .expect("slash commands registered");
    let mut anna = User::new(&sim, ANNA, "Anna");
    let q = anna.slash("report", "What kind of fault").await;
    anna.click(&q, "Printer & peripherals", "Which printer")
        .await;
    let q = anna
        .say("HP LaserJet M404", "What is the printer doing")
        .await;
    let form = anna.click(&q, "Paper jam", "Where is the fault").await;
    // The location form: its button opens a modal, answered in one go.
    let open = sim.click(ANNA, form.id, "bx:form").expect("form button");
    sim.wait_answered(open).await.expect("modal shown");
    let modal = sim.modal(ANNA).expect("a modal");
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
        .push(sim.submit_modal(ANNA, &values).expect("submit"));
    anna.expect("asset tag").await;
    anna.say("prn-12f-01", "describe the fault").await;
    let q = anna
        .say("Paper jammed in tray 2 @everyone <@1>", "When did it start")
        .await;
    let q = anna.click(&q, "Just now", "How many people").await;
    let q = anna.click(&q, "Several people", "How badly").await;
    anna.click(&q, "Work has stopped", "Which department").await;
    anna.say("Finance", "reach you").await;
    let summary = anna.say("+86 21 5555 0100", "check your report").await;
    assert!(summary.content.contains("@everyone"), "shown as typed");
    let receipt = anna
        .click(&summary, "✅ Submit", "recorded as ticket")
        .await;
    let number = ticket_number(&receipt.content).expect("a ticket number");

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
    let news = "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter'";
    let total = app.scalar(news).await;
    assert_eq!(total, (USERS * 4) as i64);
    sim.burst_429(15, Duration::from_secs(1));
    let dispatcher = Dispatcher::new(
        app.chat.clone(),
        vec![dc.courier()],
        DispatchConfig::default(),
    );
    let pending =
        "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter' AND status = 'pending'";
    let mut rounds = 0;
    while app.scalar(pending).await > 0 {
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
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM outbox WHERE recipient_kind = 'reporter' AND status = 'sent'
               AND channel = 'discord' AND attempts = 1"
        )
        .await,
        total,
        "every 429 was a wait, not a failed attempt"
    );
}
