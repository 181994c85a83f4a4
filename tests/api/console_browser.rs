//! The desk console in a real browser (Debian's Chromium through chromedriver, headless):
//! sign in, the breached ticket red at the top of the queue, open it, accept, resolve;
//! the reporter confirms from their chat and the open queue updates without a reload;
//! an engineer of another group gets the not-found page; a form without its token is
//! refused. Screenshots of the queue and a ticket page go to
//! `target/console-screenshots/`.
//!
//! Runs when `chromedriver` is on PATH; with `BAOXIU_BROWSER_TESTS=required` (CI) a
//! missing one fails the test instead of skipping it. SQLite only: the browser tests
//! are about the pages, the HTTP tests cover both databases.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baoxiu::conversation::Person;
use baoxiu::flow::{Incoming, Outgoing};
use baoxiu::outbox::{Courier, Delivery, Parcel};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use crate::console::passwords;
use crate::helpers::{Backend, TestApp, printer_fault, spawn_app};

/// How long a page may take to show what the test waits for.
const PATIENCE: Duration = Duration::from_secs(15);

/// chromedriver on a free port, ended (with its browsers) when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// chromedriver from PATH, or `None` (skipped) — unless the browser tests are required.
async fn driver() -> Option<Driver> {
    let required = std::env::var("BAOXIU_BROWSER_TESTS").is_ok_and(|v| v == "required");
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("chromedriver"))
            .find(|p| p.is_file())
    });
    let Some(path) = found else {
        assert!(
            !required,
            "BAOXIU_BROWSER_TESTS=required but chromedriver is not on PATH (install chromium-driver)"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED console browser test: chromedriver is not on PATH"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    // It says when it listens.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("started successfully") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "chromedriver did not start");
    // Keep reading so its pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn browser(driver: &Driver) -> Client {
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--lang=zh-CN"],
        // Chinese first, as the desk reads it.
        "prefs": { "intl.accept_languages": "zh-CN,zh" },
    });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn sign_in(c: &Client, app: &TestApp, handle: &str) {
    c.goto(&format!("{}/desk", app.public)).await.expect("goto");
    c.find(Locator::Css("#handle"))
        .await
        .expect("handle field")
        .send_keys(handle)
        .await
        .expect("type");
    c.find(Locator::Css("#password"))
        .await
        .expect("password field")
        .send_keys(crate::console::PASSWORD)
        .await
        .expect("type");
    c.find(Locator::Css("#sign-in"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#queue"))
        .await
        .expect("the queue after sign-in");
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

/// A web door that keeps what it was given (the reporter's chat).
#[derive(Default)]
struct Inbox(Mutex<Vec<Parcel>>);

impl Courier for Inbox {
    fn channel(&self) -> &'static str {
        "web"
    }
    fn deliver<'a>(&'a self, p: &'a Parcel) -> Delivery<'a> {
        Box::pin(async move {
            self.0.lock().expect("inbox").push(p.clone());
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_works_a_breached_ticket_in_the_browser() {
    let Some(driver) = driver().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    passwords(&app).await;
    // A printer fault from a reporter's web chat, left past its 2-hour response time.
    let reporter = Person {
        channel: "web".into(),
        external_id: "web-li-na".into(),
        name: "李娜".into(),
        language: None,
    };
    let breached = app.web_report(&reporter.external_id, "李娜").await;
    app.clock.advance(chrono::Duration::minutes(125));
    let fresh = app.report("wang.fang", &printer_fault()).await;

    let c = browser(&driver).await;
    sign_in(&c, &app, "alice").await;
    // The breached ticket is first, and red.
    let first = c
        .find(Locator::Css("#queue tbody tr"))
        .await
        .expect("a line");
    assert_eq!(
        first.attr("data-ticket").await.expect("attr").as_deref(),
        Some(breached.as_str())
    );
    assert_eq!(
        first.attr("data-shade").await.expect("attr").as_deref(),
        Some("breached")
    );
    let colour = first.css_value("background-color").await.expect("css");
    assert_eq!(colour, "rgba(253, 236, 234, 1)", "red tint");
    let dir = screenshots();
    std::fs::write(
        dir.join("queue.png"),
        c.screenshot().await.expect("screenshot"),
    )
    .expect("save");

    // A form without its token changes nothing (the fresh ticket stays offered).
    c.goto(&format!("{}/desk/tickets/{fresh}", app.public))
        .await
        .expect("goto");
    c.execute(
        "const f = document.querySelector('#do-accept').form; \
         f.querySelector('[name=csrf]').remove(); f.submit();",
        vec![],
    )
    .await
    .expect("submit without token");
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#message[data-kind='csrf']"))
        .await
        .expect("refused");
    assert_eq!(app.detail(&fresh).await["ticket"]["status"], "offered");

    // Open the breached ticket from the queue, accept, resolve.
    c.goto(&format!("{}/desk", app.public)).await.expect("goto");
    click(&c, &format!("a[href='/desk/tickets/{breached}']")).await;
    click(&c, "#do-accept").await;
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#ticket[data-status='accepted']"))
        .await
        .expect("accepted");
    c.find(Locator::Css("#resolve-cause"))
        .await
        .expect("cause")
        .send_keys("搓纸轮磨损")
        .await
        .expect("type");
    c.find(Locator::Css("#resolve-solution"))
        .await
        .expect("solution")
        .send_keys("更换搓纸轮")
        .await
        .expect("type");
    click(&c, "#do-resolve").await;
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#ticket[data-status='resolved']"))
        .await
        .expect("resolved");
    std::fs::write(
        dir.join("ticket.png"),
        c.screenshot().await.expect("screenshot"),
    )
    .expect("save");

    // Back to the queue, which stays open (no reload) while the reporter confirms.
    c.goto(&format!("{}/desk", app.public)).await.expect("goto");
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#count[data-total='2']"))
        .await
        .expect("two open");
    c.execute("window.stayed = 'yes';", vec![])
        .await
        .expect("mark the page");
    let inbox = Arc::new(Inbox::default());
    let dispatcher = app.dispatcher(vec![inbox.clone()]);
    while dispatcher.run_once().await.expect("round").handled() > 0 {}
    let resolved = inbox
        .0
        .lock()
        .expect("inbox")
        .iter()
        .rev()
        .find(|p| p.event == "ticket_resolved" && p.to.external_id == reporter.external_id)
        .cloned()
        .expect("the reporter is asked to confirm");
    let fixed = resolved
        .replies
        .iter()
        .find_map(|r| match r {
            Outgoing::Choices { options, .. } => options
                .iter()
                .find(|(_, label)| label.starts_with("已修复"))
                .map(|(id, _)| id.clone()),
            _ => None,
        })
        .expect("a 'fixed' button");
    app.chat
        .handle(&reporter, Incoming::Choice(fixed))
        .await
        .expect("the reporter confirms");
    assert_eq!(app.detail(&breached).await["ticket"]["status"], "closed");
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#count[data-total='1']"))
        .await
        .expect("the queue updated by itself");
    assert!(
        c.find_all(Locator::Css(&format!("tr[data-ticket='{breached}']")))
            .await
            .expect("find")
            .is_empty()
    );
    let stayed = c
        .execute("return window.stayed;", vec![])
        .await
        .expect("read");
    assert_eq!(stayed, json!("yes"), "the page was not reloaded");

    // An engineer of another group: the not-found page.
    click(&c, "#sign-out").await;
    sign_in(&c, &app, "dave").await;
    c.goto(&format!("{}/desk/tickets/{fresh}", app.public))
        .await
        .expect("goto");
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#message[data-kind='not_found']"))
        .await
        .expect("not found for dave");
    let body = c.source().await.expect("source");
    assert!(!body.contains("打印机卡纸"), "nothing of the ticket shows");

    c.close().await.expect("browser closed");
}
