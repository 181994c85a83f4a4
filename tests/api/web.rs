//! The web chat on a network: sessions only the server issues, invitations, limits,
//! `Secure` cookies, a mailbox that keeps what a closed tab missed, a reload that says
//! nothing new, and the REST API on a listener of its own.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::chat::{Browser, texts};
use crate::helpers::{Backend, MANAGER, TestApp, spawn_app, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    a_cookie_the_server_did_not_issue_is_no_one,
    invitations_open_the_chat_where_it_is_by_invitation,
    a_notice_to_a_closed_tab_waits_in_the_mailbox,
    a_reload_shows_the_history_and_says_nothing_new,
    the_api_can_have_a_listener_of_its_own,
    engineers_link_the_web_chat_with_a_code,
);

/// The session cookie a response sets, as `name=value`.
fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("baoxiu_web="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

/// The id of the newest entry in a person's history (0 with none).
pub(crate) async fn last_entry(app: &TestApp, cookie: &str) -> i64 {
    let seen: Value = history(app, cookie, 0).await.json().await.expect("json");
    seen["entries"]
        .as_array()
        .and_then(|e| e.last())
        .and_then(|e| e["id"].as_i64())
        .unwrap_or(0)
}

async fn history(app: &TestApp, cookie: &str, after: i64) -> reqwest::Response {
    app.client
        .get(format!("{}/chat/history?after={after}", app.public))
        .header("cookie", cookie)
        .send()
        .await
        .expect("history")
}

async fn a_cookie_the_server_did_not_issue_is_no_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (victim, _) = Browser::hello(&app, "Li Na", "en").await;
    victim.file_a_printer_fault().await;
    // A made-up identity, in the old cookie format and in the new one.
    for planted in [
        "baoxiu_web=0123456789abcdef0123456789abcdef".to_owned(),
        format!("baoxiu_web={}", "ab".repeat(32)),
    ] {
        let r = history(&app, &planted, 0).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{planted}");
        let r = app
            .client
            .post(format!("{}/chat/hello", app.public))
            .header("cookie", &planted)
            .json(&json!({ "name": "Mallory", "lang": "en" }))
            .send()
            .await
            .expect("hello");
        assert_eq!(r.status(), StatusCode::OK);
        let issued = session_cookie(&r).expect("a session of the server's own");
        assert_ne!(issued, planted, "the planted value is not adopted");
        // The newcomer is a new person: none of the victim's tickets.
        let me = Browser {
            app: &app,
            cookie: issued,
        };
        let status = texts(&me.send(json!({ "command": "status" })).await);
        assert!(status.contains("no open tickets"), "{status}");
    }
    // Event streams for strangers are refused at once: nothing is kept for them.
    for _ in 0..50 {
        let cookie = format!("baoxiu_web={:064x}", rand::random::<u128>());
        let r = app
            .client
            .get(format!("{}/chat/events", app.public))
            .header("cookie", cookie)
            .send()
            .await
            .expect("events");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}

async fn invitations_open_the_chat_where_it_is_by_invitation(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.web.reporters = baoxiu::doors::web::WebReporters::Invite;
    })
    .await;
    let r = app
        .client
        .post(format!("{}/chat/hello", app.public))
        .json(&json!({ "name": "Mallory", "lang": "en" }))
        .send()
        .await
        .expect("hello");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "invite_only");

    // A reporter known on Telegram is invited by the desk: the link comes back, and goes
    // to their chat through the outbox.
    let wang = app
        .desk
        .reporter_for_identity("telegram", "5550001", "王芳")
        .await
        .expect("reporter");
    let r = app
        .post(
            crate::helpers::token("alice").as_str(),
            &format!("/api/reporters/{}/web-invite", wang.id),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "engineers do not invite");
    let r = app
        .post(
            MANAGER,
            &format!("/api/reporters/{}/web-invite", wang.id),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let invite: Value = r.json().await.expect("json");
    let link = invite["link"].as_str().expect("a link").to_owned();
    let sent = app
        .store
        .outbox_by_status("pending", 10)
        .await
        .expect("outbox");
    assert!(
        sent.iter()
            .any(|m| m.event == "web_invite" && m.payload["link"] == link.as_str()),
        "{sent:?}"
    );

    // Opening it makes this browser the reporter; it works once.
    let path = link
        .split_once("/chat/invite/")
        .map(|(_, code)| format!("{}/chat/invite/{code}", app.public))
        .expect("an invitation path");
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let r = browser.get(&path).send().await.expect("open");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&r).expect("a session");
    let greeted = history(&app, &cookie, 0).await;
    assert_eq!(greeted.status(), StatusCode::OK);
    let greeted: Value = greeted.json().await.expect("json");
    assert!(!texts(&greeted).is_empty(), "{greeted}");
    let me = Browser {
        app: &app,
        cookie: cookie.clone(),
    };
    let who = app
        .desk
        .reporter_by_identity("web", &web_identity(&app, &cookie).await)
        .await
        .expect("lookup")
        .expect("bound");
    assert_eq!(who.id, wang.id, "the browser is the invited reporter");
    me.say("/status").await;
    let again = browser.get(&path).send().await.expect("open again");
    assert_eq!(
        again.headers()["location"],
        "/?invite=invalid",
        "an invitation works once"
    );
    assert!(session_cookie(&again).is_none());
}

/// The web identity behind a session cookie (the server never tells it; the database
/// knows).
async fn web_identity(app: &TestApp, cookie: &str) -> String {
    use sha2::{Digest, Sha256};
    let token = cookie.trim_start_matches("baoxiu_web=");
    let hash = format!("{:x}", Sha256::digest(token.as_bytes()));
    app.store
        .web_session(&hash, app.clock_now())
        .await
        .expect("read")
        .expect("a session")
}

async fn a_notice_to_a_closed_tab_waits_in_the_mailbox(backend: Backend) {
    let app = spawn_app(backend).await;
    let (me, _) = Browser::hello(&app, "Anna Smith", "en").await;
    let number = me.file_a_printer_fault().await;
    let last = last_entry(&app, &me.cookie).await;
    assert!(last > 0, "the report is in the history");
    // A tab listens, then closes.
    let tab = app
        .client
        .get(format!("{}/chat/events?after={last}", app.public))
        .header("cookie", &me.cookie)
        .send()
        .await
        .expect("events");
    assert_eq!(tab.status(), StatusCode::OK);
    drop(tab);
    let alice = crate::helpers::token("alice");
    app.act(&alice, &number, "accept", json!({}), StatusCode::OK)
        .await;
    let round = app
        .dispatcher(vec![app.web.courier()])
        .run_once()
        .await
        .expect("round");
    assert_eq!(round.sent, 1, "delivered: into the reporter's mailbox");
    // Coming back: what was said meanwhile is there at once, by history and by stream.
    let missed: Value = history(&app, &me.cookie, last)
        .await
        .json()
        .await
        .expect("json");
    assert!(texts(&missed).contains("has accepted ticket"), "{missed}");
    let mut back = app
        .client
        .get(format!("{}/chat/events?after={last}", app.public))
        .header("cookie", &me.cookie)
        .send()
        .await
        .expect("events");
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), back.chunk())
        .await
        .expect("the missed entry arrives")
        .expect("read")
        .expect("a chunk");
    assert!(
        String::from_utf8_lossy(&chunk).contains("has accepted ticket"),
        "{chunk:?}"
    );
}

async fn a_reload_shows_the_history_and_says_nothing_new(backend: Backend) {
    let app = spawn_app(backend).await;
    let (me, _) = Browser::hello(&app, "Anna Smith", "en").await;
    me.say("printer").await;
    let first: Value = history(&app, &me.cookie, 0)
        .await
        .json()
        .await
        .expect("json");
    let again: Value = history(&app, &me.cookie, 0)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first, again, "a reload adds nothing");
    let shown = texts(&first);
    assert!(shown.contains("What kind of fault"), "{shown}");
    assert!(
        shown.contains("Which printer"),
        "the current question: {shown}"
    );
    assert!(!shown.to_lowercase().contains("unknown command"), "{shown}");
    // What the person said is there too, in order.
    let said: Vec<&str> = first["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["said"].as_str())
        .collect();
    assert_eq!(said, ["printer"]);
}

async fn the_api_can_have_a_listener_of_its_own(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.server.admin_listen = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    assert_ne!(app.base, app.public);
    let on = |base: &str, path: &str| format!("{base}{path}");
    let api = app
        .client
        .get(on(&app.public, "/api/tickets"))
        .bearer_auth(MANAGER)
        .send()
        .await
        .expect("api");
    assert_eq!(
        api.status(),
        StatusCode::NOT_FOUND,
        "no API on the public side"
    );
    let metrics = app
        .client
        .get(on(&app.public, "/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), StatusCode::NOT_FOUND);
    let health = app
        .client
        .get(on(&app.public, "/healthz"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        app.get(MANAGER, "/api/tickets").await.status(),
        StatusCode::OK
    );
    let chat = app
        .client
        .get(on(&app.base, "/chat/history"))
        .send()
        .await
        .expect("chat");
    assert_eq!(
        chat.status(),
        StatusCode::NOT_FOUND,
        "no web chat on the desk's side"
    );
    Browser::hello(&app, "Anna Smith", "en").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_are_refused_politely() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.web.new_people_per_address_per_hour = 3
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = app
            .client
            .post(format!("{}/chat/hello", app.public))
            .json(&json!({ "name": "Anna", "lang": "en" }))
            .send()
            .await
            .expect("hello");
        statuses.push((r.status(), r.headers().get("retry-after").cloned()));
    }
    assert!(
        statuses[..3].iter().all(|(s, _)| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let (status, retry) = &statuses[3];
    assert_eq!(
        *status,
        StatusCode::TOO_MANY_REQUESTS,
        "a fourth new person in the hour"
    );
    let secs: u64 = retry
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((60..=1200).contains(&secs), "{secs}");
    // And a busy person is slowed down on their own.
    let app = spawn_app_with(Backend::Sqlite, |c| c.web.per_person_per_minute = 3).await;
    let (me, _) = Browser::hello(&app, "Anna Smith", "en").await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        let r = app
            .client
            .post(format!("{}/chat/send", app.public))
            .header("cookie", &me.cookie)
            .json(&json!({ "text": "/status" }))
            .send()
            .await
            .expect("send");
        codes.push(r.status());
    }
    assert_eq!(codes[3], StatusCode::TOO_MANY_REQUESTS, "{codes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_behind_https() {
    for (public_url, secure) in [(None, false), (Some("https://bx.example.com"), true)] {
        let app = spawn_app_with(Backend::Sqlite, |c| {
            c.web.public_url = public_url.map(str::to_owned);
        })
        .await;
        let r = app
            .client
            .post(format!("{}/chat/hello", app.public))
            .json(&json!({ "name": "Anna", "lang": "en" }))
            .send()
            .await
            .expect("hello");
        let set = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("baoxiu_web="))
            .expect("a session cookie")
            .to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        assert_eq!(set.contains("; Secure"), secure, "{set}");
    }
}

async fn engineers_link_the_web_chat_with_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &crate::helpers::printer_fault()).await;
    let alice = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice");
    let r = app
        .post(
            MANAGER,
            &format!("/api/engineers/{}/link-code", alice.id.0),
            &json!({}),
        )
        .await;
    let code: Value = r.json().await.expect("json");
    let code = code["code"].as_str().expect("a code").to_owned();
    let (me, _) = Browser::hello(&app, "Alice", "en").await;
    let linked = me.say(&format!("/link {code}")).await;
    assert!(linked.contains("you are engineer alice"), "{linked}");
    let jobs = me.say("/jobs").await;
    assert!(jobs.contains(&number), "{jobs}");
}
