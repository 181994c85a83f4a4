//! The conversation doors: the web chat over HTTP, the chat service as any door drives
//! it, and the terminal chat.

use baoxiu::conversation::Person;
use baoxiu::flow::{Incoming, Outgoing};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    web_tabs_receive_later_messages_live,
    the_whole_loop_in_the_web_chat
);

on_both_backends!(
    web_chat_reports_a_fault_in_english,
    a_restart_resumes_at_the_same_question,
    idle_conversations_are_discarded_politely,
    engineers_work_jobs_in_chat,
    commands_work_at_every_step,
    link_codes_cannot_be_guessed_without_limit,
);

/// Typed answers to the fault report in English, up to the description: a category by
/// name, a printer model, a symptom by number, the place and the asset tag.
pub(crate) const PRINTER_UP_TO_DESCRIPTION: [&str; 7] = [
    "printer",
    "HP LaserJet M404",
    "1",
    "Head office",
    "Tower B",
    "12F-1203",
    "prn-12f-01",
];

/// After the description: when it started, how many affected, urgency, department, phone.
pub(crate) const PRINTER_AFTER_DESCRIPTION: [&str; 5] =
    ["2", "3", "1", "Finance", "+86 21 5555 0100"];

/// A browser: the cookie the server set is sent back.
pub(crate) struct Browser<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) cookie: String,
}

impl<'a> Browser<'a> {
    pub(crate) async fn hello(app: &'a TestApp, name: &str, lang: &str) -> (Browser<'a>, Value) {
        let r = app
            .client
            .post(format!("{}/chat/hello", app.public))
            .json(&json!({ "name": name, "lang": lang }))
            .send()
            .await
            .expect("hello");
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        assert!(cookie.contains("baoxiu_web="), "{cookie}");
        let body = r.json().await.expect("json");
        (Browser { app, cookie }, body)
    }

    pub(crate) async fn send(&self, body: Value) -> Value {
        let r = self
            .app
            .client
            .post(format!("{}/chat/send", self.app.public))
            .header("cookie", &self.cookie)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("json")
    }

    pub(crate) async fn say(&self, text: &str) -> String {
        texts(&self.send(json!({ "text": text })).await)
    }

    /// Reports a printer fault in English from the first question; the ticket's number.
    pub(crate) async fn file_a_printer_fault(&self) -> String {
        for answer in PRINTER_UP_TO_DESCRIPTION
            .iter()
            .chain(&["Paper jam"])
            .chain(&PRINTER_AFTER_DESCRIPTION)
        {
            self.say(answer).await;
        }
        let receipt = texts(&self.send(json!({ "choice": "summary:submit" })).await);
        ticket_number(&receipt).expect("a ticket number")
    }
}

/// Every text the desk said in a batch of history entries (plain texts and the questions
/// of choices), joined.
pub(crate) fn texts(v: &Value) -> String {
    v["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["from_bot"] == true)
        .flat_map(|e| e["replies"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| {
            r["Text"]
                .as_str()
                .or(r["Choices"]["text"].as_str())
                .map(str::to_owned)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ticket_number(text: &str) -> Option<String> {
    let start = text.find("BX-")?;
    Some(text[start..start + 14].to_owned())
}

async fn web_chat_reports_a_fault_in_english(backend: Backend) {
    let app = spawn_app(backend).await;
    let (me, first) = Browser::hello(&app, "Anna Smith", "en").await;
    assert!(texts(&first).contains("What kind of fault"), "{first}");
    for answer in PRINTER_UP_TO_DESCRIPTION {
        me.say(answer).await;
    }
    let asked = me.say("Paper jam <script>alert(1)</script>").await;
    assert!(asked.to_lowercase().contains("when"), "{asked}");
    for answer in PRINTER_AFTER_DESCRIPTION {
        me.say(answer).await;
    }
    let receipt = texts(&me.send(json!({ "choice": "summary:submit" })).await);
    let number = ticket_number(&receipt).expect("a ticket number in the receipt");
    assert!(receipt.contains("What happens next"), "{receipt}");

    let d = app.detail(&number).await;
    let t = &d["ticket"];
    assert_eq!(t["intake"]["category"], "printer");
    assert_eq!(t["intake"]["reporter_name"], "Anna Smith");
    assert_eq!(t["intake"]["location"]["site"], "Head office");
    assert_eq!(t["intake"]["device"]["asset_tag"], "PRN-12F-01");
    assert_eq!(t["intake"]["phone"], "+862155550100");
    assert!(
        t["intake"]["description"]
            .as_str()
            .unwrap_or_default()
            .contains("<script>"),
        "stored as typed, escaped only when shown"
    );
    assert_eq!(t["status"], "offered");

    // The department and phone are not asked again; /status lists the ticket.
    let status = texts(&me.send(json!({ "command": "status" })).await);
    assert!(status.contains(&number), "{status}");
    me.say("/report").await;
    let mut last = String::new();
    for answer in [
        "network",
        "1",
        "Head office",
        "Skip",
        "Skip",
        "Skip",
        "the whole floor is offline",
        "1",
        "3",
        "1",
    ] {
        last = me.say(answer).await;
    }
    assert!(
        last.contains("Finance") && last.contains("+862155550100"),
        "department and phone remembered, straight to the summary: {last}"
    );
    // Bad requests to the chat API are refused clearly.
    let r = app
        .client
        .post(format!("{}/chat/send", app.public))
        .json(&json!({ "text": "hi" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .post(format!("{}/chat/send", app.public))
        .header("cookie", &me.cookie)
        .json(&json!({ "text": "a", "choice": "b" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The page itself never renders user text as HTML.
    let page = app
        .client
        .get(&app.public)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(page.contains("textContent") && !page.contains("innerHTML"));
}

fn person(id: &str) -> Person {
    Person {
        channel: "test".into(),
        external_id: id.into(),
        name: "王芳".into(),
        language: Some("zh-CN".into()),
    }
}

fn plain(replies: &[Outgoing]) -> String {
    baoxiu::doors::terminal::render(replies)
}

async fn a_restart_resumes_at_the_same_question(backend: Backend) {
    let app = spawn_app(backend).await;
    let me = person("restart");
    app.chat.resume(&me).await.expect("start");
    for answer in ["打印机", "HP M404", "缺粉", "总部"] {
        app.chat
            .handle(&me, Incoming::Text(answer.into()))
            .await
            .expect("answer");
    }
    let before = plain(&app.chat.resume(&me).await.expect("resume"));
    let again = app.restart().await;
    let after = plain(&again.chat.resume(&me).await.expect("resume after restart"));
    assert_eq!(before, after, "the same question after a restart");
    assert!(after.contains("楼"), "at the building question: {after}");
    for answer in [
        "A座",
        "301",
        "跳过",
        "墨粉用完了",
        "1",
        "1",
        "1",
        "财务部",
        "13800138000",
    ] {
        again
            .chat
            .handle(&me, Incoming::Text(answer.into()))
            .await
            .expect("answer");
    }
    let receipt = plain(
        &again
            .chat
            .handle(&me, Incoming::Choice("summary:submit".into()))
            .await
            .expect("submit"),
    );
    let number = ticket_number(&receipt).expect("number");
    let d = app.detail(&number).await;
    assert_eq!(
        d["ticket"]["intake"]["location"]["building"], "A座",
        "answers kept across the restart"
    );
    // Submitting again (a resent tap after a lost reply) files nothing more.
    let resent = plain(
        &again
            .chat
            .handle(&me, Incoming::Choice("summary:submit".into()))
            .await
            .expect("resend"),
    );
    assert!(ticket_number(&resent).is_none(), "{resent}");
    assert_eq!(app.count("tickets").await, 1);
}

async fn idle_conversations_are_discarded_politely(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (person("idle-a"), person("idle-b"));
    for p in [&a, &b] {
        app.chat.resume(p).await.expect("start");
        app.chat
            .handle(p, Incoming::Text("网络".into()))
            .await
            .expect("answer");
    }
    app.clock.advance(Duration::minutes(29));
    assert!(
        app.chat.expire_idle().await.expect("sweep").is_empty(),
        "not idle yet"
    );
    app.chat
        .handle(&b, Incoming::Text("1".into()))
        .await
        .expect("b stays active");
    app.clock.advance(Duration::minutes(2));
    let told = app.chat.expire_idle().await.expect("sweep");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].0.external_id, "idle-a");
    assert!(told[0].1.contains("丢弃"), "{}", told[0].1);
    // A returns: the draft is restored at the question A had reached.
    let back = plain(
        &app.chat
            .handle(&a, Incoming::Text("你好".into()))
            .await
            .expect("back"),
    );
    assert!(
        back.contains("恢复") && !back.contains("故障类别"),
        "{back}"
    );
    // B went idle too but was not swept yet: restored on their next message as well.
    app.clock.advance(Duration::minutes(31));
    let late = plain(
        &app.chat
            .handle(&b, Incoming::Text("2".into()))
            .await
            .expect("late"),
    );
    assert!(late.contains("恢复"), "{late}");
    assert_eq!(
        app.count("conversation_drafts").await,
        1,
        "B's draft was taken back; A's restored report went idle again meanwhile"
    );
    // A draft older than a day is gone: a fresh report starts.
    app.clock.advance(Duration::minutes(31));
    app.chat.expire_idle().await.expect("sweep");
    app.clock.advance(Duration::hours(25));
    app.chat.expire_idle().await.expect("sweep");
    assert_eq!(app.count("conversation_drafts").await, 0);
    let fresh = plain(
        &app.chat
            .handle(&a, Incoming::Text("你好".into()))
            .await
            .expect("fresh"),
    );
    assert!(
        fresh.contains("故障类别") && !fresh.contains("恢复"),
        "{fresh}"
    );
}

async fn engineers_work_jobs_in_chat(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &crate::helpers::printer_fault()).await;
    // Alice links her web identity (done by a manager here) and taps Accept on the card.
    app.link("alice", |e| e.web_id = Some("alice-browser".into()))
        .await;
    let her = Person {
        channel: "web".into(),
        external_id: "alice-browser".into(),
        name: "Alice".into(),
        language: Some("en".into()),
    };
    let jobs = plain(
        &app.chat
            .handle(&her, Incoming::Text("/jobs".into()))
            .await
            .expect("jobs"),
    );
    assert!(jobs.contains(&number), "{jobs}");
    let card = plain(
        &app.chat
            .handle(&her, Incoming::Text(format!("/job {number}")))
            .await
            .expect("card"),
    );
    assert!(card.contains(&number), "{card}");
    let accept = format!("card:accept@{number}");
    app.chat
        .handle(&her, Incoming::Choice(accept.clone()))
        .await
        .expect("accept");
    assert_eq!(app.detail(&number).await["ticket"]["assignee"], 1);
    // Bob taps the same (stale) card: he is told who has it; nothing changes.
    app.link("bob", |e| e.web_id = Some("bob-browser".into()))
        .await;
    let him = Person {
        external_id: "bob-browser".into(),
        name: "Bob".into(),
        ..her.clone()
    };
    let refused = plain(
        &app.chat
            .handle(&him, Incoming::Choice(accept))
            .await
            .expect("tap"),
    );
    assert!(refused.contains("alice has already accepted"), "{refused}");
    // Dave (network) cannot open a printer job at all.
    let r = app.get(MANAGER, &format!("/api/tickets/{number}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let d = app.detail(&number).await;
    assert_eq!(d["audit"].as_array().map(Vec::len), Some(2));
}

/// A slash command typed mid-conversation is that command, on every door: `/status` in
/// the web chat while a question is open answers it and keeps the question; `/report`
/// starts over; an engineer with a job card's buttons open opens another job with
/// `/job NUMBER`. A path typed as an answer stays an answer.
async fn commands_work_at_every_step(backend: Backend) {
    let app = spawn_app(backend).await;
    let (me, _) = Browser::hello(&app, "Anna Smith", "en").await;
    me.say("printer").await;
    let status = me.say("/status").await;
    assert!(status.contains("You have no open tickets."), "{status}");
    // The open question (the printer model) is still the one answered next.
    let next = me.say("HP LaserJet M404").await;
    assert!(!next.contains("not one of"), "{next}");
    let again = me.say("/report").await;
    assert!(again.contains("What kind of fault"), "{again}");
    // A slash that is not a command is text: here, the answer to the category question.
    let typed = me.say("/var is full").await;
    assert!(!typed.contains("Unknown command"), "{typed}");

    let first = app.report("li.na", &crate::helpers::printer_fault()).await;
    let second = app.report("li.na", &crate::helpers::printer_fault()).await;
    app.link("alice", |e| e.web_id = Some("alice-browser".into()))
        .await;
    let her = Person {
        channel: "web".into(),
        external_id: "alice-browser".into(),
        name: "Alice".into(),
        language: Some("en".into()),
    };
    let card = app
        .chat
        .handle(&her, Incoming::Text(format!("/job {first}")))
        .await
        .expect("card");
    assert!(
        card.iter().any(|o| matches!(o, Outgoing::Choices { .. })),
        "the card's buttons are open: {card:?}"
    );
    let other = app
        .chat
        .handle(&her, Incoming::Text(format!("/job {second}")))
        .await
        .expect("other card");
    let other = plain(&other);
    // (The first may show below it among the device's recent faults.)
    assert!(
        other.contains(&format!("Ticket {second}")) && !other.contains(&format!("Ticket {first}")),
        "{other}"
    );
}

async fn web_tabs_receive_later_messages_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let (me, _) = Browser::hello(&app, "Anna Smith", "en").await;
    let number = me.file_a_printer_fault().await;
    let mut events = app
        .client
        .get(format!("{}/chat/events", app.public))
        .header("cookie", &me.cookie)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), StatusCode::OK);
    // What was kept arrives first (the receipt), then what comes later, live.
    event_with(&mut events, &number).await;
    let alice = crate::helpers::token("alice");
    app.act(&alice, &number, "accept", json!({}), StatusCode::OK)
        .await;
    app.dispatcher(vec![app.web.courier()])
        .run_once()
        .await
        .expect("round");
    let text = event_with(&mut events, "has accepted ticket").await;
    assert!(text.contains("event: entry"), "{text}");
    // Without the cookie there is no stream.
    let r = app
        .client
        .get(format!("{}/chat/events", app.public))
        .send()
        .await
        .expect("events");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Reads the event stream until an event contains `needle`; returns everything read.
async fn event_with(events: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), events.chunk())
            .await
            .unwrap_or_else(|_| panic!("no event with {needle:?}; saw {seen}"))
            .expect("read")
            .expect("a chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// A button's id from a pushed event (its JSON data).
fn button_id(event: &str, prefix: &str) -> String {
    let start = event
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in {event}"));
    event[start..].split('"').next().expect("an id").to_owned()
}

/// Report → accept → resolve → "fixed" → the survey the next working morning → a rating
/// → the report counts it: all through the web chat door, the dispatcher and the desk.
async fn the_whole_loop_in_the_web_chat(backend: Backend) {
    let app = spawn_app(backend).await;
    let (me, _) = Browser::hello(&app, "Anna Smith", "en").await;
    let description = ["Paper jam"];
    for answer in PRINTER_UP_TO_DESCRIPTION
        .iter()
        .chain(&description)
        .chain(&PRINTER_AFTER_DESCRIPTION)
    {
        me.say(answer).await;
    }
    let receipt = texts(&me.send(json!({ "choice": "summary:submit" })).await);
    let number = ticket_number(&receipt).expect("a ticket number");
    let mut events = app
        .client
        .get(format!("{}/chat/events", app.public))
        .header("cookie", &me.cookie)
        .send()
        .await
        .expect("events");
    let dispatcher = app.dispatcher(vec![app.web.courier()]);
    // Delivers until no message to a reporter is pending; one that found no tab yet (the
    // stream may still be subscribing) waits for its retry, so bring the clock forward.
    let deliver = || async {
        for _ in 0..20 {
            dispatcher.run_once().await.expect("round");
            let pending = app.store.outbox_by_status("pending", 1000).await.unwrap();
            if pending
                .iter()
                .all(|m| !matches!(m.to, baoxiu::store::Recipient::Reporter(_)))
            {
                return;
            }
            app.clock.advance(Duration::minutes(1));
            tokio::task::yield_now().await;
        }
        panic!("messages to the reporter stayed pending");
    };
    let alice = crate::helpers::token("alice");
    app.act(&alice, &number, "accept", json!({}), StatusCode::OK)
        .await;
    deliver().await;
    event_with(&mut events, "has accepted ticket").await;
    app.act(
        &alice,
        &number,
        "resolve",
        json!({"cause": "worn roller", "solution": "replaced the roller"}),
        StatusCode::OK,
    )
    .await;
    deliver().await;
    let asked = event_with(&mut events, "fixed?").await;
    let fixed = button_id(&asked, "confirm:yes@");
    let thanks = texts(&me.send(json!({ "choice": fixed })).await);
    assert!(thanks.contains("Thank you for confirming"), "{thanks}");

    // The survey comes the next working day at 10:00 (Tuesday, 02:00 UTC).
    app.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 24, 2, 0, 0).unwrap());
    let tick = baoxiu::sla::Scheduler::new(app.desk.clone())
        .tick()
        .await
        .unwrap();
    assert_eq!(tick.surveys, 1);
    deliver().await;
    let survey = event_with(&mut events, "How satisfied").await;
    me.send(json!({ "choice": button_id(&survey, "rating:r5@") }))
        .await;
    let done = me.say("Skip").await;
    assert!(done.contains("Thank you for your feedback"), "{done}");

    let r = app
        .get(MANAGER, "/api/reports?from=2026-11-23&to=2026-11-23")
        .await;
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["total"]["confirmed"], 1);
    assert_eq!(report["total"]["surveys_answered"], 1);
    assert_eq!(report["total"]["average_rating"], 5.0);
}

/// What the chat service answers `person` saying `text`, as one string.
async fn said(app: &TestApp, person: &Person, text: &str) -> String {
    let replies = app
        .chat
        .handle(person, Incoming::Text(text.into()))
        .await
        .expect("handled");
    replies
        .iter()
        .map(|r| match r {
            Outgoing::Text(t) => t.clone(),
            Outgoing::Choices { text, .. } => text.clone(),
            Outgoing::Form { title, .. } => title.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Five wrong `/link` codes in 15 minutes lock that chat identity out of `/link` until the
/// window has passed — a right code included, across a restart and on another instance —
/// while other identities are unaffected; a success starts the count again.
async fn link_codes_cannot_be_guessed_without_limit(backend: Backend) {
    const REFUSED: &str = "wrong, expired or already used";
    const LOCKED: &str = "Too many wrong codes";
    let app = spawn_app(backend).await;
    let desk = baoxiu::domain::ticket::Caller::Desk {
        name: "desk".into(),
    };
    let person = |id: &str| Person {
        channel: "web".into(),
        external_id: id.into(),
        name: "Guesser".into(),
        language: Some("en".into()),
    };
    let linked = async |app: &TestApp, id: &str| {
        app.desk
            .engineer_by_identity("web", id)
            .await
            .expect("lookup")
            .map(|e| e.handle)
    };
    let mallory = person("w-mallory");
    let alice = app
        .desk
        .issue_link_code(&desk, "alice")
        .await
        .expect("code");
    for n in 1..=4 {
        let reply = said(&app, &mallory, &format!("/link WRONG{n:03}")).await;
        assert!(
            reply.contains(REFUSED) && !reply.contains(LOCKED),
            "{n}: {reply}"
        );
    }
    let fifth = said(&app, &mallory, "/link WRONG005").await;
    assert!(
        fifth.contains(LOCKED),
        "the fifth wrong code locks: {fifth}"
    );
    // Locked: even the right code is refused, and nothing is linked.
    let reply = said(&app, &mallory, &format!("/link {}", alice.code)).await;
    assert!(reply.contains(LOCKED), "{reply}");
    assert_eq!(linked(&app, "w-mallory").await, None);
    // The count is in the database: another instance (or a restart) holds the lock too.
    let again = app.restart().await;
    app.clock.advance(Duration::minutes(14));
    again.clock.set(baoxiu::clock::Clock::now(&app.clock));
    let reply = said(&again, &mallory, &format!("/link {}", alice.code)).await;
    assert!(reply.contains(LOCKED), "{reply}");
    assert_eq!(linked(&app, "w-mallory").await, None);
    // Another identity is not locked out by Mallory's guesses.
    let reply = said(&app, &person("w-alice"), &format!("/link {}", alice.code)).await;
    assert!(reply.contains("Linked"), "{reply}");
    assert_eq!(linked(&app, "w-alice").await.as_deref(), Some("alice"));

    // Once the window has passed, the identity may try again, and a right code links.
    app.clock.advance(Duration::minutes(2));
    let bob = app.desk.issue_link_code(&desk, "bob").await.expect("code");
    let reply = said(&app, &mallory, &format!("/link {}", bob.code)).await;
    assert!(reply.contains("Linked"), "{reply}");
    assert_eq!(linked(&app, "w-mallory").await.as_deref(), Some("bob"));

    // A success starts the count again: four more wrong codes are not a lockout.
    let guesser = person("w-guesser");
    for n in 1..=4 {
        let reply = said(&app, &guesser, &format!("/link WRONG{n:03}")).await;
        assert!(reply.contains(REFUSED), "{n}: {reply}");
    }
    let carol = app
        .desk
        .issue_link_code(&desk, "carol")
        .await
        .expect("code");
    let reply = said(&app, &guesser, &format!("/link {}", carol.code)).await;
    assert!(reply.contains("Linked"), "{reply}");
    for n in 1..=4 {
        let reply = said(&app, &guesser, &format!("/link WRONG{n:03}")).await;
        assert!(
            reply.contains(REFUSED) && !reply.contains(LOCKED),
            "after a success, {n}: {reply}"
        );
    }
    let dave = app.desk.issue_link_code(&desk, "dave").await.expect("code");
    let reply = said(&app, &guesser, &format!("/link {}", dave.code)).await;
    assert!(reply.contains("Linked"), "{reply}");
}
