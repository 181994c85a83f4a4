//! The desk console over plain HTTP: sign-in (passwords, lockout, one-time links),
//! cookies, form tokens, the queue's order and filters, and the role rules of every
//! action — the same desk calls and refusals as the REST API.

use std::collections::BTreeMap;

use baoxiu::domain::ticket::Caller;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, printer_fault, printer_outage, spawn_app, spawn_app_with, token,
};
use crate::on_both_backends;

on_both_backends!(
    signing_in_opens_the_queue_and_signing_out_ends_it,
    repeated_failures_lock_the_handle,
    forms_without_their_token_change_nothing,
    every_action_follows_the_role_rules,
    the_queue_puts_the_most_urgent_first_and_filters,
    one_time_links_sign_in_and_set_passwords,
    the_language_is_remembered_per_person,
    the_live_view_says_when_a_ticket_changed,
    managers_administer_engineers_and_dead_letters,
    managers_read_the_reports_and_download_them,
);

/// A password every engineer of the cast gets.
pub const PASSWORD: &str = "correct horse battery";

/// A browser without JavaScript: keeps the console's cookies, follows no redirect.
pub struct Visitor<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// The `Set-Cookie` headers of the last answer.
    pub set_cookies: Vec<String>,
}

/// An answer: status, body, where it redirects.
pub struct Page {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
}

impl Page {
    /// The value of the first `name="csrf"` field.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a token");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("quoted")].to_owned()
    }

    pub fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Visitor<'a> {
        Visitor {
            app,
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, r: reqwest::Response) -> Page {
        self.set_cookies = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &self.set_cookies {
            if let Some((k, v)) = c.split(';').next().and_then(|kv| kv.split_once('=')) {
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        Page {
            status: r.status(),
            location: r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: r.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.app.public))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("get");
        self.keep(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[]).await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut r = self
            .client
            .post(format!("{}{path}", self.app.public))
            .header("cookie", self.cookie_header())
            .form(form);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().await.expect("post");
        self.keep(r).await
    }

    /// Signs in with a password: the answer to the form.
    pub async fn try_sign_in(&mut self, handle: &str, password: &str) -> Page {
        let form = self.get("/desk").await;
        let csrf = form.csrf();
        self.post(
            "/desk/sign-in",
            &[("csrf", &csrf), ("handle", handle), ("password", password)],
        )
        .await
    }

    /// Signs in, expecting it to work.
    pub async fn sign_in(app: &'a TestApp, handle: &str) -> Visitor<'a> {
        let mut v = Visitor::new(app);
        let r = v.try_sign_in(handle, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        v
    }

    /// The session's form token (from the queue page).
    pub async fn token(&mut self) -> String {
        let queue = self.get("/desk").await;
        assert_eq!(queue.status, StatusCode::OK, "{}", queue.body);
        queue.csrf()
    }

    /// Posts a console action on a ticket with the session's token.
    pub async fn act(&mut self, number: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.token().await;
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(&format!("/desk/tickets/{number}/{action}"), &form)
            .await
    }
}

/// Gives every engineer of the cast the console password.
pub async fn passwords(app: &TestApp) {
    let desk = Caller::Desk {
        name: "test".into(),
    };
    for (handle, _, _) in crate::helpers::ENGINEERS {
        app.desk
            .set_console_password(&desk, handle, PASSWORD)
            .await
            .expect("password set");
    }
}

async fn status_of(app: &TestApp, number: &str) -> String {
    app.detail(number).await["ticket"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn signing_in_opens_the_queue_and_signing_out_ends_it(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let number = app.report("li.na", &printer_fault()).await;
    let mut v = Visitor::new(&app);
    let wrong = v.try_sign_in("alice", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.has("用户名或密码不正确"), "{}", wrong.body);
    // An unknown handle is answered exactly like a wrong password.
    let unknown = v.try_sign_in("nobody", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.has("用户名或密码不正确"));

    let ok = v.try_sign_in("alice", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location.as_deref(), Some("/desk"));
    let session = v
        .set_cookies
        .iter()
        .find(|c| c.starts_with("baoxiu_desk="))
        .expect("a session cookie")
        .clone();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/desk"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains("Secure"), "plain http: {session}");
    // Only the token's hash is stored.
    let token = session
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("value");
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM console_sessions WHERE token_hash = '{token}'"
        ))
        .await,
        0
    );
    assert_eq!(app.count("console_sessions").await, 1);

    let queue = v.get("/desk").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.has(&number), "{}", queue.body);
    assert!(queue.has("alice"));
    let raw = app
        .client
        .get(format!("{}/desk", app.public))
        .header("cookie", format!("baoxiu_desk={token}"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        raw.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(
        raw.headers()
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok()),
        Some("DENY")
    );

    let csrf = queue.csrf();
    let out = v.post("/desk/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.has("您已退出登录"));
    assert_eq!(app.count("console_sessions").await, 0);
    // The old token opens nothing any more.
    let after = app
        .client
        .get(format!("{}/desk/tickets/{number}", app.public))
        .header("cookie", format!("baoxiu_desk={token}"))
        .send()
        .await
        .expect("get");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);

    // Behind https the cookie is Secure.
    let secure = spawn_app_with(Backend::Sqlite, |c| c.console.secure_cookies = true).await;
    passwords(&secure).await;
    let mut s = Visitor::new(&secure);
    s.try_sign_in("alice", PASSWORD).await;
    assert!(
        s.set_cookies
            .iter()
            .any(|c| c.starts_with("baoxiu_desk=") && c.contains("; Secure")),
        "{:?}",
        s.set_cookies
    );
}

async fn repeated_failures_lock_the_handle(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut v = Visitor::new(&app);
    for _ in 0..4 {
        let r = v.try_sign_in("alice", "wrong password!").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let fifth = v.try_sign_in("alice", "wrong password!").await;
    assert_eq!(fifth.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(fifth.has("暂时锁定"), "{}", fifth.body);
    // Locked: even the right password is refused, and no session is made.
    let right = v.try_sign_in("alice", PASSWORD).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("console_sessions").await, 0);
    // Another handle is not held up.
    Visitor::sign_in(&app, "bob").await;
    // Unknown handles lock the same way (nothing tells them apart).
    for _ in 0..5 {
        v.try_sign_in("ghost", "anything at all").await;
    }
    assert_eq!(
        v.try_sign_in("ghost", "anything at all").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Counted by their shape (first character and length), as the audit records them:
    // a stranger's handle of the same shape shares the lock, a known one does not.
    assert_eq!(
        v.try_sign_in("gnome", "anything at all").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The lock ends.
    app.clock.advance(chrono::Duration::minutes(16));
    let later = v.try_sign_in("alice", PASSWORD).await;
    assert_eq!(later.status, StatusCode::SEE_OTHER, "{}", later.body);
}

async fn forms_without_their_token_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let number = app.report("li.na", &printer_fault()).await;
    let mut v = Visitor::sign_in(&app, "alice").await;
    let path = format!("/desk/tickets/{number}/accept");
    let none = v.post(&path, &[]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert!(none.has("表单已失效"), "{}", none.body);
    let forged = v.post(&path, &[("csrf", &"0".repeat(64))]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, &number).await, "offered");
    // Another session's token is not this one's.
    let mut bob = Visitor::sign_in(&app, "bob").await;
    let bobs = bob.token().await;
    assert_eq!(
        v.post(&path, &[("csrf", &bobs)]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(status_of(&app, &number).await, "offered");
    // Signing in needs the page's own token too.
    let mut fresh = Visitor::new(&app);
    let r = fresh
        .post(
            "/desk/sign-in",
            &[("handle", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // With the token it works.
    let ok = v.act(&number, "accept", &[]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(status_of(&app, &number).await, "accepted");
}

/// Every console action, by who may and who may not: the same rules and refusals as
/// chat and REST, written by the same desk calls (audit trail and messages).
async fn every_action_follows_the_role_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let number = app.report("li.na", &printer_fault()).await;
    let mut alice = Visitor::sign_in(&app, "alice").await;
    let mut bob = Visitor::sign_in(&app, "bob").await;
    let mut dave = Visitor::sign_in(&app, "dave").await;
    let mut mia = Visitor::sign_in(&app, "mia").await;

    // Another group's engineer: not found, for the page and for every action.
    let page = dave.get(&format!("/desk/tickets/{number}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.has("没有这个工单"));
    assert!(!page.has("打印机卡纸"), "nothing of the ticket shows");
    for action in [
        "accept",
        "start_on_site",
        "arrive",
        "progress",
        "comment",
        "pend",
        "resume",
        "resolve",
        "reassign",
        "escalate",
        "cancel",
    ] {
        let r = dave
            .act(
                &number,
                action,
                &[
                    ("note", "x"),
                    ("cause", "x"),
                    ("solution", "x"),
                    ("group", "network"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "dave {action}");
    }
    let queue = dave.get("/desk").await;
    assert!(!queue.has(&number), "dave's queue hides it");

    // The page offers what the person may do.
    let offered = alice.get(&format!("/desk/tickets/{number}")).await;
    assert!(offered.has("id=\"do-accept\""));
    assert!(!offered.has("id=\"do-resolve\""));
    assert!(offered.has("李娜") && offered.has("138 0013 8000") || offered.has("13800138000"));

    assert_eq!(
        alice.act(&number, "accept", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    // Second accept: already taken, in the chat's words.
    let late = bob.act(&number, "accept", &[]).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(late.has("已被 alice 接单"), "{}", late.body);
    // Bob is of the group: sees it, but may not work alice's job.
    let bobs = bob.get(&format!("/desk/tickets/{number}")).await;
    assert_eq!(bobs.status, StatusCode::OK);
    assert!(!bobs.has("id=\"do-resolve\""));
    for action in ["start_on_site", "progress", "resolve", "pend"] {
        let r = bob
            .act(
                &number,
                action,
                &[("note", "x"), ("cause", "x"), ("solution", "x")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "bob {action}: {}", r.body);
        assert!(r.has("您不能对这个工单做这个操作"), "{}", r.body);
    }
    // The REST API refuses the same with the same status.
    app.act(
        &token("bob"),
        &number,
        "progress",
        json!({"note": "x"}),
        StatusCode::FORBIDDEN,
    )
    .await;

    // Alice works it through the console.
    for (action, fields) in [
        ("start_on_site", vec![]),
        ("arrive", vec![]),
        ("progress", vec![("note", "换了硒鼓")]),
        ("pend", vec![("reason", "vendor"), ("note", "等备件")]),
        ("resume", vec![]),
        ("comment", vec![("note", "备件已到")]),
    ] {
        let r = alice.act(&number, action, &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.body);
        assert_eq!(
            r.location.as_deref(),
            Some(format!("/desk/tickets/{number}?done={action}").as_str())
        );
    }
    // Bad input: a clear refusal, nothing changes.
    let before = app.detail(&number).await["audit"]
        .as_array()
        .map_or(0, Vec::len);
    let empty = alice
        .act(&number, "resolve", &[("cause", "  "), ("solution", "x")])
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.has("cause"), "{}", empty.body);
    assert_eq!(
        app.detail(&number).await["audit"]
            .as_array()
            .map_or(0, Vec::len),
        before
    );
    let unknown = alice.act(&number, "teleport", &[]).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Not now: arrival was recorded already.
    let again = alice.act(&number, "arrive", &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    let done = alice
        .act(
            &number,
            "resolve",
            &[("cause", "硒鼓老化"), ("solution", "更换硒鼓")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app, &number).await, "resolved");
    // Written by the desk like any action: trail with the engineer, the reporter told.
    let detail = app.detail(&number).await;
    let audit = detail["audit"].as_array().expect("trail");
    let verbs: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).collect();
    for verb in [
        "accept", "start", "arrive", "progress", "pend", "resume", "comment", "resolve",
    ] {
        assert!(verbs.contains(&verb), "{verbs:?}");
    }
    let resolve = audit
        .iter()
        .find(|e| e["action"] == "resolve")
        .expect("resolve");
    assert_eq!(resolve["actor"]["name"], "alice");
    assert_eq!(resolve["actor"]["kind"], "engineer");
    let told: Vec<String> = app
        .outbox_of(&number)
        .await
        .into_iter()
        .map(|m| m.event)
        .collect();
    assert!(told.contains(&"ticket_resolved".to_owned()), "{told:?}");

    // Managers: reassign, escalate and cancel; first line may not cancel or reassign.
    let other = app.report("wang.fang", &printer_fault()).await;
    let page = alice.get(&format!("/desk/tickets/{other}")).await;
    assert!(!page.has("id=\"do-cancel\""));
    assert!(!page.has("id=\"do-reassign\""));
    let r = alice.act(&other, "reassign", &[("group", "network")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = alice.act(&other, "cancel", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let managers = mia.get(&format!("/desk/tickets/{other}")).await;
    assert!(managers.has("id=\"do-reassign\"") && managers.has("id=\"do-cancel\""));
    let r = mia
        .act(
            &other,
            "reassign",
            &[("group", "network"), ("engineer", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    // Now it is the network group's: dave sees it, alice no longer does.
    assert_eq!(
        dave.get(&format!("/desk/tickets/{other}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        alice.get(&format!("/desk/tickets/{other}")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = mia
        .act(&other, "reassign", &[("engineer", "nobody.here")])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = mia.act(&other, "cancel", &[("note", "重复报修")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(status_of(&app, &other).await, "cancelled");
    let r = mia.act(&other, "cancel", &[]).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a cancelled ticket: {}",
        r.body
    );

    let third = app.report("li.na", &printer_fault()).await;
    alice.act(&third, "accept", &[]).await;
    let r = alice.act(&third, "escalate", &[("note", "需要专家")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let t = app.detail(&third).await;
    assert_eq!(t["ticket"]["tier"], "expert");
}

async fn the_queue_puts_the_most_urgent_first_and_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let normal = app.report("li.na", &printer_fault()).await;
    app.clock.advance(chrono::Duration::minutes(5));
    let outage = app.report("wang.fang", &printer_outage()).await;
    let mut other = printer_fault();
    other["asset_tag"] = json!("PC-0999");
    other["category"] = json!("network");
    other["description"] = json!("网络断了");
    let network = app.report("li.na", &other).await;
    let mut mia = Visitor::sign_in(&app, "mia").await;

    let queue = mia.get("/desk").await;
    let at = |n: &str| queue.body.find(&format!("data-ticket=\"{n}\"")).expect(n);
    // P1 (10 minutes to respond) before the P3s, though reported later.
    assert!(at(&outage) < at(&normal), "{}", queue.body);

    // Past its response time the P1 is breached: red, on top.
    app.clock.advance(chrono::Duration::minutes(11));
    let queue = mia.get("/desk").await;
    let first = queue.body.find("data-ticket=\"").expect("a line");
    assert!(
        queue.body[first..]
            .starts_with(&format!("data-ticket=\"{outage}\" data-shade=\"breached\"")),
        "{}",
        &queue.body[first..first + 80]
    );
    assert!(queue.has("已超时"));

    let only = |page: &Page, n: &str| {
        page.body.matches("data-ticket=\"").count() == 1
            && page.has(&format!("data-ticket=\"{n}\""))
    };
    let breached = mia.get("/desk?breached=1").await;
    assert!(only(&breached, &outage), "{}", breached.body);
    let p1 = mia.get("/desk?priority=p1").await;
    assert!(only(&p1, &outage));
    let by_asset = mia.get("/desk?q=pc-0999").await;
    assert!(only(&by_asset, &network), "{}", by_asset.body);
    let by_words = mia.get("/desk?q=%E7%BD%91%E7%BB%9C%E6%96%AD").await;
    assert!(only(&by_words, &network));
    let by_number = mia.get(&format!("/desk?q={normal}")).await;
    assert!(only(&by_number, &normal));
    let by_group = mia.get("/desk?group=network").await;
    assert!(only(&by_group, &network));
    // LIKE's wildcards are taken literally.
    let wild = mia.get("/desk?q=%25").await;
    assert_eq!(wild.body.matches("data-ticket=\"").count(), 0);
    // Due within the hour: the P3s' response clocks (2 h) are not.
    let soon = mia.get("/desk?due_soon=1").await;
    assert_eq!(
        soon.body.matches("data-ticket=\"").count(),
        0,
        "{}",
        soon.body
    );
    app.clock.advance(chrono::Duration::minutes(70));
    let soon = mia.get("/desk?due_soon=1").await;
    assert!(
        soon.has(&format!("data-ticket=\"{normal}\"")),
        "{}",
        soon.body
    );
    // Accepted and assigned: the assignee filter.
    let mut alice = Visitor::sign_in(&app, "alice").await;
    alice.act(&normal, "accept", &[]).await;
    let alice_id = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice")
        .id;
    let mine = mia.get(&format!("/desk?assignee={}", alice_id.0)).await;
    assert!(only(&mine, &normal), "{}", mine.body);
    // An engineer sees their group's only.
    let mut dave = Visitor::sign_in(&app, "dave").await;
    let daves = dave.get("/desk").await;
    assert!(only(&daves, &network), "{}", daves.body);
    // The live refresh's lines follow the same rules.
    let rows = dave.get("/desk/queue/rows").await;
    assert!(only(&rows, &network));
    // Closed and cancelled tickets leave the queue.
    let mut mia2 = Visitor::sign_in(&app, "mia").await;
    mia2.act(&network, "cancel", &[]).await;
    let daves = dave.get("/desk").await;
    assert_eq!(daves.body.matches("data-ticket=\"").count(), 0);
}

async fn one_time_links_sign_in_and_set_passwords(backend: Backend) {
    let app = spawn_app(backend).await;
    let desk = Caller::Desk {
        name: "test".into(),
    };
    let rules = baoxiu::desk::console::ConsoleRules::default();
    // A set-password link (a manager's, or `baoxiu engineers set-password --link`).
    let (link, _) = app
        .desk
        .console_password_link(&desk, "alice", &rules)
        .await
        .expect("link");
    let path = link[link.find("/desk/").expect("path")..].to_owned();
    let mut v = Visitor::new(&app);
    let form = v.get(&path).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.has("alice"));
    let csrf = form.csrf();
    let mismatch = v
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("password", PASSWORD),
                ("again", "something else"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    let csrf = mismatch.csrf();
    let short = v
        .post(
            &path,
            &[("csrf", &csrf), ("password", "short"), ("again", "short")],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.has("10 到 128"));
    let csrf = short.csrf();
    let set = v
        .post(
            &path,
            &[("csrf", &csrf), ("password", PASSWORD), ("again", PASSWORD)],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    assert_eq!(v.get("/desk").await.status, StatusCode::OK);
    // Used once.
    assert_eq!(v.get(&path).await.status, StatusCode::NOT_FOUND);
    Visitor::sign_in(&app, "alice").await;
    // Only managers issue them.
    let alice = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice");
    assert!(
        app.desk
            .console_password_link(&Caller::Engineer(alice), "bob", &rules)
            .await
            .is_err()
    );

    // A sign-in link goes to the engineer's linked chat, through the outbox.
    app.link("bob", |e| e.telegram_id = Some("4242".into()))
        .await;
    let mut b = Visitor::new(&app);
    let page = b.get("/desk").await;
    let csrf = page.csrf();
    let sent = b
        .post("/desk/sign-in-link", &[("csrf", &csrf), ("handle", "bob")])
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.has("登录链接已发送"));
    // Nobody learns whether a handle exists or has a chat: the same answer.
    let csrf = sent.csrf();
    let ghost = b
        .post(
            "/desk/sign-in-link",
            &[("csrf", &csrf), ("handle", "ghost")],
        )
        .await;
    assert!(ghost.has("登录链接已发送"));
    let messages = app
        .desk
        .deliveries(&desk, "pending", 50)
        .await
        .expect("outbox");
    let links: Vec<&Value> = messages
        .iter()
        .filter(|m| m.event == "console_sign_in_link")
        .map(|m| &m.payload)
        .collect();
    assert_eq!(links.len(), 1, "one link, to bob");
    let link = links[0]["link"].as_str().expect("link").to_owned();
    let path = link[link.find("/desk/").expect("path")..].to_owned();
    // Opening it shows a button (a chat's link preview does not sign anyone in).
    let mut phone = Visitor::new(&app);
    let button = phone.get(&path).await;
    assert_eq!(button.status, StatusCode::OK);
    assert_eq!(app.count("console_sessions").await, 2);
    let csrf = button.csrf();
    let used = phone.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER);
    let queue = phone.get("/desk").await;
    assert!(queue.has("bob (bob)"), "{}", queue.body);
    // Once only.
    let mut again = Visitor::new(&app);
    let csrf = again.get(&path).await.csrf();
    assert_eq!(
        again.post(&path, &[("csrf", &csrf)]).await.status,
        StatusCode::NOT_FOUND
    );
    // And an expired one opens nothing.
    let page = b.get("/desk").await;
    let csrf = page.csrf();
    b.post("/desk/sign-in-link", &[("csrf", &csrf), ("handle", "bob")])
        .await;
    app.clock.advance(chrono::Duration::minutes(16));
    let messages = app
        .desk
        .deliveries(&desk, "pending", 50)
        .await
        .expect("outbox");
    let link = messages
        .iter()
        .find(|m| m.event == "console_sign_in_link")
        .and_then(|m| m.payload["link"].as_str())
        .expect("second link")
        .to_owned();
    let path = link[link.find("/desk/").expect("path")..].to_owned();
    let mut late = Visitor::new(&app);
    let csrf = late.get(&path).await.csrf();
    assert_eq!(
        late.post(&path, &[("csrf", &csrf)]).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn the_language_is_remembered_per_person(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut guest = Visitor::new(&app);
    let en = guest.get("/desk?lang=en").await;
    assert!(en.has("Engineer sign-in"), "{}", en.body);
    assert!(guest.get("/desk").await.has("Engineer sign-in"));

    let mut v = Visitor::sign_in(&app, "alice").await;
    let queue = v.get("/desk").await;
    assert!(queue.has("未关闭工单"), "Chinese by default");
    let csrf = queue.csrf();
    let r = v
        .post("/desk/language", &[("csrf", &csrf), ("lang", "en")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(v.get("/desk").await.has("Open tickets"));
    // Remembered for the person, not the browser: another session is in English too.
    let mut elsewhere = Visitor::sign_in(&app, "alice").await;
    assert!(elsewhere.get("/desk").await.has("Open tickets"));
    // And a form token is needed to change it.
    let r = v.post("/desk/language", &[("lang", "zh-CN")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(v.get("/desk").await.has("Open tickets"));
}

async fn the_live_view_says_when_a_ticket_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let number = app.report("li.na", &printer_fault()).await;
    // Not signed in: no stream.
    let anon = app
        .client
        .get(format!("{}/desk/events", app.public))
        .send()
        .await
        .expect("events");
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let v = Visitor::sign_in(&app, "alice").await;
    let mut stream = app
        .client
        .get(format!("{}/desk/events", app.public))
        .header("cookie", v.cookie_header())
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"))
    );
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;
    // The watcher looks every second: the event comes within a few.
    let mut seen = String::new();
    let waited = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        while !seen.contains("event: changed") {
            match stream.chunk().await {
                Ok(Some(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                _ => break,
            }
        }
    })
    .await;
    assert!(waited.is_ok() && seen.contains("event: changed"), "{seen}");
}

fn cli(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_baoxiu"))
        .args(args)
        .current_dir(dir)
        .env_remove("BAOXIU_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run baoxiu");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("output")
}

/// The first manager is made from the command line, as the README's first screen says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_manager_comes_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let out = cli(
        dir.path(),
        &[
            "engineers",
            "add",
            "zhang.wei",
            "--manager",
            "--name",
            "张伟",
        ],
        "",
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("manager"), "{said}");
    let again = cli(
        dir.path(),
        &["engineers", "add", "zhang.wei", "--manager"],
        "",
    );
    assert!(!again.status.success(), "a handle is taken once");
    assert!(String::from_utf8_lossy(&again.stderr).contains("handle"));

    let short = cli(
        dir.path(),
        &["engineers", "set-password", "zhang.wei"],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("10 to 128"));
    let nobody = cli(dir.path(), &["engineers", "set-password", "nobody"], "x\n");
    assert!(!nobody.status.success());
    let set = cli(
        dir.path(),
        &["engineers", "set-password", "zhang.wei"],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let link = cli(
        dir.path(),
        &["engineers", "set-password", "zhang.wei", "--link"],
        "",
    );
    assert!(link.status.success());
    assert!(String::from_utf8_lossy(&link.stdout).contains("/desk/password/"));

    // The password signs the manager in.
    let mut config = baoxiu::config::Config::default();
    config.database.url = format!("sqlite://{}", dir.path().join("baoxiu.db").display());
    let core = baoxiu::app::Core::assemble(
        &config,
        "test",
        std::sync::Arc::new(baoxiu::clock::SystemClock),
    )
    .await
    .expect("core");
    let rules = baoxiu::desk::console::ConsoleRules::default();
    let signed = core
        .desk
        .console_sign_in("zhang.wei", PASSWORD, &rules, None)
        .await
        .expect("desk");
    assert!(signed.is_ok());
    let session = signed.expect("session");
    let me = core
        .desk
        .console_session(&session.token)
        .await
        .expect("desk")
        .expect("valid");
    assert!(Caller::Engineer(me.engineer).is_manager());
    core.close().await;
}

async fn managers_administer_engineers_and_dead_letters(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut alice = Visitor::sign_in(&app, "alice").await;
    assert_eq!(alice.get("/desk/admin").await.status, StatusCode::NOT_FOUND);
    let csrf = alice.token().await;
    let r = alice
        .post("/desk/admin/outbox/retry-all", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "engineers do not administer"
    );

    let mut mia = Visitor::sign_in(&app, "mia").await;
    let page = mia.get("/desk/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("data-engineer=\"dave\""));
    let csrf = page.csrf();
    // Add an engineer; a bad handle is refused with the reason.
    let bad = mia
        .post(
            "/desk/admin/engineers",
            &[
                ("csrf", &csrf),
                ("handle", "Bad Handle"),
                ("name", "王五"),
                ("group", "network"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("lowercase"), "{}", bad.body);
    let added = mia
        .post(
            "/desk/admin/engineers",
            &[
                ("csrf", &csrf),
                ("handle", "wang.wu"),
                ("name", "王五"),
                ("group", "network"),
                ("tier", "expert"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let wang = app
        .desk
        .engineer_by_handle("wang.wu")
        .await
        .expect("load")
        .expect("added");
    assert_eq!(wang.tier.as_str(), "expert");
    // Off duty, then a link code and a password link, each shown once.
    let bob = app
        .desk
        .engineer_by_handle("bob")
        .await
        .expect("load")
        .expect("bob");
    let path = format!("/desk/admin/engineers/{}/duty", bob.id.0);
    assert_eq!(
        mia.post(&path, &[("on", "false")]).await.status,
        StatusCode::FORBIDDEN,
        "no token, no change"
    );
    let r = mia.post(&path, &[("csrf", &csrf), ("on", "false")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let bob = app
        .desk
        .engineer_by_handle("bob")
        .await
        .expect("load")
        .expect("bob");
    assert!(!bob.on_duty);
    let code = mia
        .post(
            &format!("/desk/admin/engineers/{}/link-code", bob.id.0),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(code.status, StatusCode::OK);
    assert!(code.has("id=\"secret\""), "{}", code.body);
    let link = mia
        .post(
            &format!("/desk/admin/engineers/{}/password-link", bob.id.0),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(link.has("/desk/password/"), "{}", link.body);

    // Dead letters: listed, and queued again.
    let number = app.report("li.na", &printer_fault()).await;
    let first = app.outbox_of(&number).await[0].id;
    app.sql(&[&format!(
        "UPDATE outbox SET status = 'dead', attempts = 8, last_error = 'gone' WHERE id = {first}"
    )])
    .await;
    let page = mia.get("/desk/admin").await;
    assert!(
        page.has(&format!("data-message=\"{first}\"")),
        "{}",
        page.body
    );
    let r = mia
        .post(
            &format!("/desk/admin/outbox/{first}/retry"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE id = {first} AND status = 'pending'"
        ))
        .await,
        1
    );
    let again = mia
        .post(
            &format!("/desk/admin/outbox/{first}/retry"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "not dead any more");
}

async fn managers_read_the_reports_and_download_them(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    app.report("li.na", &printer_fault()).await;
    app.report("wang.fang", &printer_outage()).await;
    let mut alice = Visitor::sign_in(&app, "alice").await;
    assert_eq!(
        alice.get("/desk/reports").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        alice.get("/desk/reports.csv?period=month").await.status,
        StatusCode::NOT_FOUND
    );
    let mut mia = Visitor::sign_in(&app, "mia").await;
    // The clock stands on 2026-11-23: the tickets are in these dates.
    let page = mia
        .get("/desk/reports?from=2026-11-01&to=2026-11-30&by=priority")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.has("<dd id=\"tickets\">2</dd>"), "{}", page.body);
    assert!(page.has("data-key=\"P1\"") && page.has("data-key=\"P3\""));
    assert!(page.has("<svg"), "SLA bars");
    // The last complete month (October) has none.
    let october = mia.get("/desk/reports?period=month").await;
    assert!(october.has("<dd id=\"tickets\">0</dd>"), "{}", october.body);
    // Bad input: a clear sentence, no report.
    let bad = mia.get("/desk/reports?from=2026-11-30&to=2026-11-01").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(!bad.has("id=\"report\""));
    let bad = mia.get("/desk/reports?from=yesterday&to=2026-11-01").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.has("YYYY-MM-DD"));
    // The CSV: UTF-8 with a BOM, as a download.
    let csv = app
        .client
        .get(format!(
            "{}/desk/reports.csv?from=2026-11-01&to=2026-11-30&by=priority",
            app.public
        ))
        .header("cookie", mia.cookie_header())
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("attachment"))
    );
    let bytes = csv.bytes().await.expect("body");
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "BOM");
    assert!(String::from_utf8_lossy(&bytes).contains("P1"));
}
