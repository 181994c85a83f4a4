//! Several instances on one database (the PostgreSQL deployment; the leases and claims
//! work the same on SQLite, so most of these run on both): Telegram polling and the
//! Discord gateway are each held by one instance at a time and taken over when it stops
//! or dies, background work is done once whichever instance gets to it, and a web
//! conversation goes on, and is shown, on whichever instance the balancer picks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baoxiu::clock::Clock;
use baoxiu::conversation::{Person, Unsettled};
use baoxiu::flow::Incoming;
use baoxiu::outbox::{Courier, Delivery, Parcel};
use reqwest::StatusCode;
use serde_json::json;

use crate::chat::{Browser, PRINTER_AFTER_DESCRIPTION, PRINTER_UP_TO_DESCRIPTION};
use crate::discord;
use crate::helpers::{Backend, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;
use crate::telegram::{User, polling, sim, walk_report};

on_both_backends!(
    telegram_polling_is_done_by_one_instance_at_a_time,
    deliveries_and_surveys_happen_once_across_instances,
    one_persons_two_messages_decided_at_once_on_two_instances_both_count,
    a_double_tap_on_submit_across_two_instances_files_one_ticket,
    a_draft_restored_on_two_instances_at_once_is_not_lost,
    an_update_another_instance_is_sending_is_not_sent_again,
    a_first_contact_on_two_instances_at_once_makes_one_reporter,
    the_discord_gateway_is_held_by_one_instance_at_a_time,
);

/// Anna on the web chat, in English, as `id`.
fn web_anna(id: &str) -> Person {
    Person {
        channel: "web".into(),
        external_id: id.into(),
        name: "Anna".into(),
        language: Some("en".into()),
    }
}

/// How many instances hold the lease `name`, and whether `app` is one of them.
async fn lease_holders(app: &TestApp, name: &str) -> (i64, bool) {
    let all = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM leases WHERE name = '{name}'"
        ))
        .await;
    let mine = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM leases WHERE name = '{name}' AND holder = '{}'",
            app.public
        ))
        .await;
    (all, mine == 1)
}

/// Two instances poll the same bot: one holds the lease and receives, so every update
/// is handled once and each reporter hears each question once (without the lease, the
/// two take batches from each other and answer the same steps twice); when the holder
/// dies, the other takes over once the lease's term has run out.
async fn telegram_polling_is_done_by_one_instance_at_a_time(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let sim = sim().await;
    let (_door_a, task_a) = polling(&a, &sim);
    let (_door_b, task_b) = polling(&b, &sim);
    let mut users: Vec<User<'_>> = (0..3)
        .map(|i| User::new(&sim, 100 + i, "Anna", "en"))
        .collect();
    let walks = users.iter_mut().map(|u| walk_report(&sim, u));
    let numbers: Vec<(String, String)> = futures_util::future::join_all(walks).await;
    assert_eq!(numbers.len(), 3);
    assert_eq!(a.count("tickets").await, 3);
    for u in &users {
        for question in ["Which site", "How many people", "recorded as ticket"] {
            assert_eq!(u.count(question), 1, "{question}: {}", u.shown());
        }
    }
    let (holders, a_holds) = lease_holders(&a, "telegram polling").await;
    assert_eq!(holders, 1);

    // The holder dies (no goodbye): its lease runs out on the shared clock's time and
    // the other instance takes over at its next try.
    let (survivor, dead) = if a_holds { (&b, task_a) } else { (&a, task_b) };
    dead.abort();
    let _ = dead.await;
    for app in [&a, &b] {
        app.clock.advance(chrono::Duration::seconds(11));
    }
    tokio::time::timeout(Duration::from_secs(20), async {
        while !lease_holders(survivor, "telegram polling").await.1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the survivor takes the lease over");
    let mut late = User::new(&sim, 200, "Bo", "en");
    walk_report(&sim, &mut late).await;
    assert_eq!(a.count("tickets").await, 4);
    assert_eq!(late.count("Which site"), 1, "{}", late.shown());
}

/// Two instances run the Discord door: one holds the gateway lease and its session (a
/// second session would get every event too); when it stops, it leaves the session
/// before it gives the lease up, and the other connects and carries the conversation
/// on, each question shown once. Without leaving, the stopped instance's session went on
/// and the two pushed each other off the gateway.
async fn the_discord_gateway_is_held_by_one_instance_at_a_time(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let sim = discord::sim(discord::quiet()).await;
    let run = |app: &TestApp| {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let door = discord::door(app, &sim);
        let task = tokio::spawn(door.run_until(async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
        }));
        (stop, task)
    };
    let (stop_a, task_a) = run(&a);
    let (stop_b, task_b) = run(&b);
    sim.wait_connected().await.expect("one instance connects");
    let mut anna = discord::User::new(&sim, discord::ANNA, "Anna");
    let q = anna.slash("report", "What kind of fault").await;
    let (holders, a_holds) = lease_holders(&a, "discord gateway").await;
    assert_eq!(holders, 1);

    let (survivor, stop, task, other) = if a_holds {
        (&b, stop_a, task_a, (stop_b, task_b))
    } else {
        (&a, stop_b, task_b, (stop_a, task_a))
    };
    let _ = stop.send(true);
    task.await.expect("the holder stops");
    tokio::time::timeout(Duration::from_secs(20), async {
        while !lease_holders(survivor, "discord gateway").await.1 || sim.stats().identifies < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the other instance takes the gateway over");
    sim.wait_connected().await.expect("and is connected");
    let q = anna.click(&q, "Network", "How far does the network").await;
    anna.click(&q, "Whole floor / many PCs", "Which site").await;
    for question in [
        "What kind of fault",
        "How far does the network",
        "Which site",
    ] {
        assert_eq!(anna.count(question), 1, "{question}: {}", anna.shown());
    }
    let stats = sim.stats();
    assert_eq!(
        stats.identifies, 2,
        "a session each, one after the other: {stats:?}"
    );
    assert_eq!(stats.displaced, 0, "never two sessions at once: {stats:?}");
    let _ = other.0.send(true);
    other.1.await.expect("the other stops");
}

/// A web door that records what it is given.
#[derive(Default)]
struct Recording(Mutex<Vec<i64>>);

impl Courier for Recording {
    fn channel(&self) -> &'static str {
        "web"
    }
    fn deliver<'a>(&'a self, p: &'a Parcel) -> Delivery<'a> {
        self.0.lock().unwrap().push(p.id);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Both instances' dispatchers and schedulers work at once: each outbox message is
/// delivered once and each survey sent once. (The SLA clocks' claim is proven with ten
/// thousand escalations in `outbox`, Telegram photos by their claim in `photos`.)
async fn deliveries_and_surveys_happen_once_across_instances(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let alice = token("alice");
    let mut numbers = Vec::new();
    for _ in 0..12 {
        let number = a.report("li.na", &printer_fault()).await;
        a.act(&alice, &number, "accept", json!({}), StatusCode::OK)
            .await;
        a.act(
            &alice,
            &number,
            "resolve",
            json!({"cause": "搓纸轮磨损", "solution": "更换搓纸轮"}),
            StatusCode::OK,
        )
        .await;
        a.act(
            &token("li.na"),
            &number,
            "confirm",
            json!({}),
            StatusCode::OK,
        )
        .await;
        numbers.push(number);
    }
    let pending = "SELECT COUNT(*) FROM outbox WHERE status = 'pending'";
    let before = a.scalar(pending).await;
    assert!(before > 12, "{before} messages to deliver");
    let (to_a, to_b) = (
        Arc::new(Recording::default()),
        Arc::new(Recording::default()),
    );
    let (da, db) = (
        a.dispatcher(vec![to_a.clone()]),
        b.dispatcher(vec![to_b.clone()]),
    );
    // Rounds at once until the queue is empty.
    loop {
        let (ra, rb) = tokio::join!(da.run_once(), db.run_once());
        if ra.expect("round a").handled() + rb.expect("round b").handled() == 0 {
            break;
        }
    }
    let mut delivered: Vec<i64> = to_a.0.lock().unwrap().clone();
    delivered.extend(to_b.0.lock().unwrap().iter());
    let unique: std::collections::BTreeSet<i64> = delivered.iter().copied().collect();
    assert_eq!(delivered.len(), unique.len(), "a message delivered twice");
    assert_eq!(a.scalar(pending).await, 0);

    // Every survey falls due; both instances' schedulers look at once.
    let t = a
        .store
        .ticket_by_number(&numbers[0])
        .await
        .expect("load")
        .expect("ticket");
    let survey = a.store.survey(t.id).await.expect("load").expect("survey");
    for app in [&a, &b] {
        app.clock.set(survey.send_at + chrono::Duration::hours(1));
    }
    let (sa, sb) = tokio::join!(a.desk.send_due_surveys(), b.desk.send_due_surveys());
    assert_eq!(sa.expect("a") + sb.expect("b"), 12);
    assert_eq!(
        a.scalar("SELECT COUNT(*) FROM outbox WHERE event = 'survey_request'")
            .await,
        12
    );
    assert_eq!(
        a.scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'survey_sent'")
            .await,
        12
    );
}

/// A web reporter's browser talks to one instance, then the balancer sends the next
/// request to the other: the conversation goes on there, and the tab still connected to
/// the first instance shows what the second one said (PostgreSQL's LISTEN/NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_conversation_goes_on_and_is_shown_on_either_instance() {
    let Some(backend) = Backend::postgres("instances::a_web_conversation_goes_on") else {
        return;
    };
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let (on_a, _) = Browser::hello(&a, "Anna Smith", "en").await;
    let last = crate::web::last_entry(&a, &on_a.cookie).await;
    let mut tab = a
        .client
        .get(format!("{}/chat/events?after={last}", a.public))
        .header("cookie", &on_a.cookie)
        .send()
        .await
        .expect("events");
    assert_eq!(tab.status(), StatusCode::OK);
    // The same browser's next request lands on the other instance.
    let on_b = Browser {
        app: &b,
        cookie: on_a.cookie.clone(),
    };
    let reply = on_b.say("printer").await;
    assert!(
        reply.contains("Which printer"),
        "the report goes on: {reply}"
    );
    let mut shown = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !shown.contains("Which printer") {
            let chunk = tab.chunk().await.expect("read").expect("a chunk");
            shown.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the tab on the first instance shows it: {shown:?}"));
}

/// The database restarts (every connection of the service is cut, as a restart or a
/// failover cuts them) while reports are being filed: each report is either saved whole
/// or refused with a polite 503 that says to try again, nothing is half-written, and the
/// service works again at once without being restarted itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_mid_load_loses_nothing_and_fails_politely() {
    let Some(backend) = Backend::postgres("instances::a_database_restart_mid_load") else {
        return;
    };
    let Backend::Postgres(admin) = backend.clone() else {
        return;
    };
    let app = Arc::new(spawn_app(backend).await);
    let database = app
        .database_url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let filing: Vec<_> = (0..40)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let r = app
                    .post(&token("li.na"), "/api/tickets", &printer_fault())
                    .await;
                let status = r.status();
                (status, r.text().await.unwrap_or_default())
            })
        })
        .collect();
    // Once some are in, every connection to the database is terminated.
    tokio::time::timeout(Duration::from_secs(20), async {
        while app.count("tickets").await < 5 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("reports are being filed");
    let mut cutter = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("admin");
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&database)
    .fetch_all(&mut cutter)
    .await
    .expect("terminate");
    assert!(!cut.is_empty(), "the service had connections to cut");
    let mut saved = 0;
    for task in filing {
        let (status, body) = task.await.expect("request");
        match status {
            StatusCode::CREATED => saved += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(body.contains("try again"), "a polite refusal: {body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(
        app.count("tickets").await,
        saved,
        "only the saved ones exist"
    );
    for orphan in [
        "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.ticket_id = t.id)",
        "SELECT COUNT(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM sla_clocks c WHERE c.ticket_id = t.id)",
        "SELECT COUNT(*) FROM audit_events a WHERE NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = a.ticket_id)",
    ] {
        assert_eq!(app.scalar(orphan).await, 0, "{orphan}");
    }
    // Working again, as it is.
    app.report("li.na", &printer_fault()).await;
    assert_eq!(app.count("tickets").await, saved + 1);
}

/// Two quick messages from one person land on two instances (webhooks, or web requests,
/// behind a balancer): each instance decides its message on the same conversation. The
/// later save must not overwrite the earlier one; it is refused and decided again on what
/// is there now, so both answers are kept.
async fn one_persons_two_messages_decided_at_once_on_two_instances_both_count(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let anna = web_anna("two-at-once");
    let say = |app: &TestApp, text: &str| {
        let (chat, anna, text) = (app.chat.clone(), anna.clone(), text.to_owned());
        async move {
            chat.handle(&anna, Incoming::Text(text))
                .await
                .expect("handled")
        }
    };
    a.chat
        .handle(&anna, Incoming::Command("start".into(), String::new()))
        .await
        .expect("start");
    for answer in ["printer", "HP LaserJet M404", "1"] {
        say(&a, answer).await;
    }
    // "Which site?": A decides "Head office" while B decides and saves "Tower B".
    let first = a
        .chat
        .step(&anna, Incoming::Text("Head office".into()))
        .await
        .expect("decided");
    say(&b, "Tower B").await;
    let refused = first.save(None).await.expect_err("decided on an old state");
    assert!(refused.is_conflict(), "{refused}");
    // The door decides it again (as `handle` does): now it answers the next question.
    say(&a, "Head office").await;
    let state = a
        .scalar(
            "SELECT COUNT(*) FROM conversations WHERE external_id = 'two-at-once'
             AND state LIKE '%Tower B%' AND state LIKE '%Head office%'",
        )
        .await;
    assert_eq!(state, 1, "both answers are in the conversation");
}

/// A person's first two messages land on two instances at once: each finds nobody behind
/// the identity and makes the reporter. The one that comes second gets the reporter the
/// first made: one reporter, one identity, speaking the door's language.
async fn a_first_contact_on_two_instances_at_once_makes_one_reporter(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let identities = "SELECT COUNT(*) FROM reporter_identities WHERE external_id = 'first-contact'";
    // None left over from the instance that came second.
    let annas = "SELECT COUNT(*) FROM reporters WHERE name = 'Anna'";
    let first = a
        .desk
        .new_reporter("telegram", "first-contact", "Anna", Some("en"))
        .await
        .expect("made");
    let second = b
        .desk
        .new_reporter("telegram", "first-contact", "Anna", Some("en"))
        .await
        .expect("the one the first made");
    assert_eq!(second.id, first.id);
    assert_eq!(first.language.as_deref(), Some("en"));
    assert_eq!(a.scalar(identities).await, 1);
    assert_eq!(a.scalar(annas).await, 1);
    // Through the chat, as a door sees it: made once, in the door's language.
    let anna = web_anna("first-contact");
    let start = || Incoming::Command("start".into(), String::new());
    let (on_a, on_b) = tokio::join!(a.chat.handle(&anna, start()), b.chat.handle(&anna, start()));
    on_a.expect("answered on a");
    on_b.expect("answered on b");
    assert_eq!(a.scalar(identities).await, 2);
    assert_eq!(a.scalar(annas).await, 2);
    let r = a
        .desk
        .reporter_by_identity("web", "first-contact")
        .await
        .expect("read")
        .expect("made");
    assert_eq!(r.language.as_deref(), Some("en"));
}

/// "Submit" tapped twice, each tap landing on another instance: both decide to file the
/// report from the same summary; only the first filing ends the conversation, the other
/// is refused and, decided again, finds the report already filed.
async fn a_double_tap_on_submit_across_two_instances_files_one_ticket(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let anna = web_anna("double-tap");
    a.chat
        .handle(&anna, Incoming::Command("start".into(), String::new()))
        .await
        .expect("start");
    for answer in PRINTER_UP_TO_DESCRIPTION
        .iter()
        .chain(&["Paper jam"])
        .chain(&PRINTER_AFTER_DESCRIPTION)
    {
        a.chat
            .handle(&anna, Incoming::Text((*answer).into()))
            .await
            .expect("answered");
    }
    let submit = || Incoming::Choice("summary:submit".into());
    let first = a.chat.step(&anna, submit()).await.expect("decided");
    b.chat.handle(&anna, submit()).await.expect("filed");
    let refused = first.save(None).await.expect_err("filed already");
    assert!(refused.is_conflict(), "{refused}");
    a.chat.handle(&anna, submit()).await.expect("decided again");
    assert_eq!(a.count("tickets").await, 1);
    // The refused submit gave back the number it took: the next report has the next one.
    let next = b.report("li.na", &printer_fault()).await;
    assert!(next.ends_with("-000002"), "{next}");
}

/// A reporter whose unfinished report was kept as a draft sends `/report` twice, each
/// landing on another instance: both restore the draft. The draft is taken only with the
/// save that wins, so the report goes on from the draft whichever wins (a draft taken
/// when read was gone for the other instance, which started a blank report and won).
async fn a_draft_restored_on_two_instances_at_once_is_not_lost(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let anna = web_anna("draft-race");
    let report = || Incoming::Command("report".into(), String::new());
    a.chat.handle(&anna, report()).await.expect("start");
    for answer in ["printer", "HP LaserJet M404"] {
        a.chat
            .handle(&anna, Incoming::Text(answer.into()))
            .await
            .expect("answered");
    }
    a.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(a.chat.expire_idle().await.expect("sweep").len(), 1);
    assert_eq!(a.count("conversation_drafts").await, 1);
    let first = a.chat.step(&anna, report()).await.expect("decided");
    b.chat.handle(&anna, report()).await.expect("restored");
    let refused = first.save(None).await.expect_err("restored already");
    assert!(refused.is_conflict(), "{refused}");
    let restored = a
        .scalar(
            "SELECT COUNT(*) FROM conversations WHERE external_id = 'draft-race'
             AND state LIKE '%HP LaserJet M404%'",
        )
        .await;
    assert_eq!(restored, 1, "the draft's answers are in the conversation");
    assert_eq!(a.count("conversation_drafts").await, 0, "taken once");
}

/// With the webhook on several instances, each rescans the table for updates left
/// unfinished. One another instance has handled and is still sending (its sent mark is
/// written in batches, after the sends) is theirs: taking it would send its replies
/// twice. Only once its handling is stale (the other instance died) is it taken over.
async fn an_update_another_instance_is_sending_is_not_sent_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = &app.store;
    let now = app.clock.now();
    let stale_before = |at: chrono::DateTime<chrono::Utc>| at - chrono::Duration::minutes(2);
    let body = json!({"update_id": 77}).to_string();
    // Received and claimed on another instance, handled there, replies on their way.
    let new = store
        .telegram_receive(&[(77, body)], now, true)
        .await
        .expect("receive");
    assert_eq!(new, [true]);
    store
        .telegram_handled(77, "[]", now)
        .await
        .expect("handled");
    let pending = |at| async move {
        store
            .telegram_pending(100, stale_before(at))
            .await
            .expect("pending")
            .iter()
            .map(|p| p.0)
            .collect::<Vec<i64>>()
    };
    assert!(
        pending(now).await.is_empty(),
        "another instance is sending it"
    );
    // That instance died before marking it sent: taken over once stale.
    let later = now + chrono::Duration::minutes(3);
    assert_eq!(pending(later).await, [77]);
    // Sent and marked: finished.
    store.telegram_sent(&[77], later).await.expect("sent");
    assert!(pending(later).await.is_empty());
}
