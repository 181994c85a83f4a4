//! The desk console's queue pages and reports: a bounded queue whose pages reach every
//! ticket, the reports page's charts and downloads (CSV in the page's language, .xlsx),
//! and sign-ins as audit events for managers.

use baoxiu::desk::console::{Queue, QueueFilter};
use baoxiu::domain::ticket::Caller;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::console::{Page, Visitor, passwords};
use crate::helpers::{
    Backend, MANAGER, TestApp, printer_fault, printer_outage, spawn_app, spawn_app_with, tick,
    token,
};
use crate::on_both_backends;

on_both_backends!(
    the_queue_is_paged_and_its_pages_reach_every_ticket,
    the_queue_follows_the_clocks_as_they_start_pause_resume_and_stop,
    managers_see_charts_and_download_in_their_language,
    sign_ins_are_audit_events_for_managers,
    the_retention_job_forgets_old_sessions_links_and_attempts,
    sign_ins_behind_a_trusted_proxy_record_the_forwarded_address,
    the_sign_in_audit_keeps_no_strangers_handle,
    sign_in_events_go_after_their_retention_period,
    handles_are_never_renamed_nor_given_again,
);

/// The tickets on a queue page, in order.
fn numbers(body: &str) -> Vec<String> {
    body.split("data-ticket=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap_or(0)].to_owned())
        .collect()
}

/// The "next page" link of a queue page, if any (unescaped).
fn next_page(body: &str) -> Option<String> {
    let at = body.find("id=\"next-page\"")?;
    let start = body[..at].rfind("href=\"")? + "href=\"".len();
    let end = start + body[start..].find('"')?;
    Some(body[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

/// Follows the queue's "next page" links from `first`: the numbers of every page.
async fn every_page(v: &mut Visitor<'_>, first: &str, size: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(p) = path {
        let page = v.get(&p).await;
        assert_eq!(page.status, StatusCode::OK, "{p}: {}", page.body);
        let lines = numbers(&page.body);
        assert!(lines.len() <= size, "{p}: {} lines", lines.len());
        path = next_page(&page.body);
        pages.push(lines);
        assert!(pages.len() <= 50, "the pages never end");
    }
    pages
}

/// The queue's order as the tickets' clocks say it must be: tickets with a running clock
/// (open and not paused) by their earliest deadline, then the rest oldest first; each
/// ticket read through the API, not through the queue's own reads.
async fn order_by_clocks(app: &TestApp, numbers: &[String]) -> Vec<String> {
    let mut running = Vec::new();
    let mut idle = Vec::new();
    for n in numbers {
        let d = app.detail(n).await;
        if matches!(d["ticket"]["status"].as_str(), Some("closed" | "cancelled")) {
            continue;
        }
        let due = d["clocks"]
            .as_array()
            .expect("clocks")
            .iter()
            .filter(|c| c["open"] == true && !c["since"].is_null())
            .filter_map(|c| serde_json::from_value::<DateTime<Utc>>(c["due_at"].clone()).ok())
            .min();
        let id = d["ticket"]["id"].as_i64().expect("id");
        match due {
            Some(due) => running.push((due, id, n.clone())),
            None => idle.push((id, n.clone())),
        }
    }
    running.sort();
    idle.sort();
    running
        .into_iter()
        .map(|(_, _, n)| n)
        .chain(idle.into_iter().map(|(_, n)| n))
        .collect()
}

async fn the_queue_follows_the_clocks_as_they_start_pause_resume_and_stop(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut all = Vec::new();
    for i in 0..6 {
        let body = if i % 2 == 0 {
            printer_fault()
        } else {
            printer_outage()
        };
        all.push(app.report("li.na", &body).await);
        app.clock.advance(chrono::Duration::minutes(3));
    }
    let manager = Caller::Desk {
        name: "test".into(),
    };
    let queue = |app: &TestApp| {
        let desk = app.desk.clone();
        let manager = manager.clone();
        async move {
            let page = desk
                .queue(&manager, &QueueFilter::default(), 0, 100)
                .await
                .expect("queue");
            numbers_of(&page)
        }
    };
    let check = async |app: &TestApp, stage: &str| {
        let expected = order_by_clocks(app, &all).await;
        assert_eq!(queue(app).await, expected, "{stage}");
        expected
    };
    let first = check(&app, "reported").await;
    assert_eq!(first.len(), 6);
    let mut alice = Visitor::sign_in(&app, "alice").await;
    // Accepted: the response clock stops, the resolution clock now leads.
    let r = alice.act(&all[1], "accept", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    check(&app, "accepted").await;
    // Pending: their clocks pause, they go after every ticket with a running clock.
    for n in [&all[0], &all[4]] {
        for (action, fields) in [
            ("accept", vec![]),
            ("start_on_site", vec![]),
            ("arrive", vec![]),
            ("pend", vec![("reason", "vendor"), ("note", "等备件")]),
        ] {
            let r = alice.act(n, action, &fields).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.body);
        }
    }
    let pended = check(&app, "pended").await;
    assert_eq!(pended[4..], [all[0].clone(), all[4].clone()], "{pended:?}");
    // Past the P1s' response time: the SLA scheduler records the breaches.
    app.clock.advance(chrono::Duration::minutes(30));
    tick(&app).await;
    check(&app, "breached").await;
    // Resumed an hour later: its deadlines move, and it comes back among the running,
    // before the one still pending.
    app.clock.advance(chrono::Duration::hours(1));
    let r = alice.act(&all[4], "resume", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let resumed = check(&app, "resumed").await;
    assert_eq!(resumed.last(), Some(&all[0]), "{resumed:?}");
    // Cancelled: out of the queue.
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let r = mia.act(&all[3], "cancel", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let last = check(&app, "cancelled").await;
    assert!(!last.contains(&all[3]));
}

/// The ticket numbers of a page of the desk's queue, in its order.
fn numbers_of(page: &Queue) -> Vec<String> {
    page.items
        .iter()
        .map(|i| i.ticket.number.as_str().to_owned())
        .collect()
}

async fn the_queue_is_paged_and_its_pages_reach_every_ticket(backend: Backend) {
    const SIZE: usize = 3;
    let app = spawn_app_with(backend, |c| c.console.queue_limit = 3).await;
    passwords(&app).await;
    // Eleven tickets: P3 faults and P1 outages, some past their response time, one
    // pending (its clocks paused), some cancelled (out of the queue).
    let mut all = Vec::new();
    for i in 0..11 {
        let body = if i % 3 == 0 {
            printer_outage()
        } else {
            printer_fault()
        };
        let mut body = body;
        body["asset_tag"] = json!(format!("PC-{:04}", 100 + i));
        all.push(
            app.report(if i % 2 == 0 { "li.na" } else { "wang.fang" }, &body)
                .await,
        );
        app.clock.advance(chrono::Duration::minutes(4));
    }
    let mut alice = Visitor::sign_in(&app, "alice").await;
    for (action, fields) in [
        ("accept", vec![]),
        ("start_on_site", vec![]),
        ("arrive", vec![]),
        ("pend", vec![("reason", "vendor"), ("note", "等备件")]),
    ] {
        let r = alice.act(&all[1], action, &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{action}: {}", r.body);
    }
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let r = mia.act(&all[4], "cancel", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let open: Vec<String> = all.iter().filter(|n| *n != &all[4]).cloned().collect();

    // The desk's own order, in one read.
    let manager = Caller::Desk {
        name: "test".into(),
    };
    let whole = app
        .desk
        .queue(&manager, &QueueFilter::default(), 0, 1000)
        .await
        .expect("queue");
    let order = numbers_of(&whole);
    assert_eq!(whole.total, 10);
    assert_eq!(order.len(), 10);

    let pages = every_page(&mut mia, "/desk", SIZE).await;
    assert_eq!(pages.len(), 4, "{pages:?}");
    let walked: Vec<String> = pages.concat();
    assert_eq!(
        walked, order,
        "the pages follow the queue's order, none twice"
    );
    let mut sorted = walked.clone();
    sorted.sort();
    let mut expected = open.clone();
    expected.sort();
    assert_eq!(sorted, expected, "every open ticket, on some page");
    // The count says where the page stands.
    let second = mia.get("/desk?page=2").await;
    assert!(second.has("第 4–6 张"), "{}", second.body);
    assert!(second.has("id=\"previous-page\""));
    // Past the end: an empty page, no link further.
    let beyond = mia.get("/desk?page=9").await;
    assert!(numbers(&beyond.body).is_empty());
    assert!(next_page(&beyond.body).is_none());
    assert!(beyond.has("共 10 张，本页没有"), "{}", beyond.body);
    // Nonsense reads as the first page.
    let odd = mia.get("/desk?page=-2").await;
    assert_eq!(numbers(&odd.body), pages[0]);

    // The breached filter pages the same way, and keeps its filter in the links.
    app.clock.advance(chrono::Duration::minutes(15));
    let breached = app
        .desk
        .queue(
            &manager,
            &QueueFilter {
                breached: true,
                ..QueueFilter::default()
            },
            0,
            1000,
        )
        .await
        .expect("breached");
    assert!(
        breached.total > i64::try_from(SIZE).unwrap_or(0),
        "{}",
        breached.total
    );
    let pages = every_page(&mut mia, "/desk?breached=1", SIZE).await;
    let walked: Vec<String> = pages.concat();
    let expected = numbers_of(&breached);
    assert_eq!(walked, expected);
    assert_eq!(walked.len(), usize::try_from(breached.total).unwrap_or(0));
    // The live refresh's lines are paged too.
    let rows = mia.get("/desk/queue/rows?page=2").await;
    assert_eq!(numbers(&rows.body), order[SIZE..2 * SIZE].to_vec());
}

/// A download of the reports page, as the signed-in visitor.
async fn download(app: &TestApp, v: &Visitor<'_>, path: &str) -> (StatusCode, String, Vec<u8>) {
    let r = app
        .client
        .get(format!("{}{path}", app.public))
        .header("cookie", v.cookie_header())
        .send()
        .await
        .expect("download");
    let status = r.status();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, r.bytes().await.expect("body").to_vec())
}

/// One file of a zip archive, as text.
fn unzip(bytes: &[u8], name: &str) -> String {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut file = archive.by_name(name).expect(name);
    let mut text = String::new();
    file.read_to_string(&mut text).expect("utf-8");
    text
}

/// The XML of cell `at` (`B4`) of a sheet.
fn cell<'a>(sheet: &'a str, at: &str) -> &'a str {
    let start = sheet
        .find(&format!("<c r=\"{at}\""))
        .unwrap_or_else(|| panic!("{at}: {sheet}"));
    let rest = &sheet[start..];
    let end = rest
        .find("</c>")
        .map_or_else(|| rest.find("/>").unwrap_or(0) + 2, |e| e + 4);
    &rest[..end]
}

async fn managers_see_charts_and_download_in_their_language(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    app.report("li.na", &printer_fault()).await;
    app.clock.advance(chrono::Duration::days(1));
    let mut tricky = printer_outage();
    tricky["department"] = json!("=HYPERLINK(\"x\")");
    app.report("wang.fang", &tricky).await;
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let query = "from=2026-11-01&to=2026-11-30&by=priority";
    let page = mia.get(&format!("/desk/reports?{query}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for id in ["chart-volume", "chart-rating", "chart-response"] {
        assert!(
            page.has(&format!("<figure id=\"{id}\"><svg")),
            "{id}: {}",
            page.body
        );
    }
    // The volume chart has a point per day of November with its line drawn; no survey
    // yet, so the rating chart has no line at all.
    let volume = &page.body[page.body.find("chart-volume").expect("volume")..];
    let volume = &volume[..volume.find("</svg>").expect("end")];
    assert!(volume.contains("<polyline"), "{volume}");
    assert!(volume.contains(">11-01</text>"), "{volume}");
    let rating = &page.body[page.body.find("chart-rating").expect("rating")..];
    let rating = &rating[..rating.find("</svg>").expect("end")];
    assert!(!rating.contains("<polyline") && !rating.contains("<circle"));
    assert!(page.has("/desk/reports.xlsx?"));

    // The CSV in Chinese on a Chinese page: BOM, Chinese headers, still formula-safe.
    let (status, _, csv) = download(&app, &mia, &format!("/desk/reports.csv?{query}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with(&[0xEF, 0xBB, 0xBF]), "BOM");
    let text = String::from_utf8(csv[3..].to_vec()).expect("utf-8");
    assert!(text.starts_with("分组,报修数,"), "{text}");
    assert!(text.contains("\r\n合计,2,"), "{text}");
    // The workbook: a zip with the sheet, the same header and figures as numbers.
    let (status, kind, book) = download(&app, &mia, &format!("/desk/reports.xlsx?{query}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.contains("spreadsheetml"), "{kind}");
    assert!(book.starts_with(b"PK"), "a zip");
    let sheet = unzip(&book, "xl/worksheets/sheet1.xml");
    let strings = unzip(&book, "xl/sharedStrings.xml");
    assert!(
        strings.contains("<t>分组</t>") && strings.contains("<t>合计</t>"),
        "{strings}"
    );
    // Rows: the header, P1, P3, the total; B is the tickets.
    let total = cell(&sheet, "B4");
    assert!(
        total.contains("<v>2</v>") && !total.contains("t=\"s\""),
        "a number: {total}"
    );
    assert!(cell(&sheet, "A4").contains("t=\"s\""), "a name is text");
    assert!(!sheet.contains("<f>"), "no formulas");
    let others = mia
        .get("/desk/reports.xlsx?from=2026-11-30&to=2026-11-01")
        .await;
    assert_eq!(others.status, StatusCode::UNPROCESSABLE_ENTITY);

    // In English, the headers are the scripts' names.
    let csrf = mia.token().await;
    let r = mia
        .post("/desk/language", &[("csrf", &csrf), ("lang", "en")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (_, _, csv) = download(&app, &mia, &format!("/desk/reports.csv?{query}")).await;
    let text = String::from_utf8(csv[3..].to_vec()).expect("utf-8");
    assert!(text.starts_with("group,tickets,"), "{text}");
    assert!(text.contains("\r\ntotal,2,"));
    let (_, _, book) = download(&app, &mia, &format!("/desk/reports.xlsx?{query}")).await;
    assert!(unzip(&book, "xl/sharedStrings.xml").contains("<t>group</t>"));
    // Engineers below manager: not found.
    let alice = Visitor::sign_in(&app, "alice").await;
    let (status, _, _) = download(&app, &alice, &format!("/desk/reports.xlsx?{query}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The sign-in audit as `GET /api/audit/sign-ins` gives it, oldest first.
async fn audit(app: &TestApp) -> Vec<serde_json::Value> {
    let r = app.get(MANAGER, "/api/audit/sign-ins?days=1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut events: Vec<serde_json::Value> = r.json().await.expect("json");
    events.reverse();
    events
}

fn summary(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["handle"].as_str().unwrap_or("?"),
                e["event"].as_str().unwrap_or("?"),
                e["method"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

async fn sign_ins_are_audit_events_for_managers(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let before = audit(&app).await.len();
    assert!(before >= 1, "setting the cast's passwords is recorded");
    let mut guest = Visitor::new(&app);
    let wrong = guest.try_sign_in("alice", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let mut alice = Visitor::sign_in(&app, "alice").await;
    let csrf = alice.token().await;
    let out = alice.post("/desk/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    // A stranger's handle, five times: failures, then the lockout.
    for _ in 0..5 {
        guest.try_sign_in("nobody", "guess guess guess").await;
    }
    let events = audit(&app).await;
    let new = summary(&events[before..]);
    let mut expected = vec![
        "alice failed password".to_owned(),
        "alice signed_in password".to_owned(),
        "alice signed_out -".to_owned(),
    ];
    // A handle nobody has: its first character and length only.
    expected.extend(std::iter::repeat_n("n…(6) failed password".to_owned(), 5));
    expected.push("n…(6) locked_out password".to_owned());
    assert_eq!(new, expected);
    let signed_in = &events[before + 1];
    assert!(signed_in["engineer_id"].is_i64(), "{signed_in}");
    assert_eq!(signed_in["address"], "127.0.0.1", "{signed_in}");
    assert!(
        events[before + 3]["engineer_id"].is_null(),
        "nobody is no one"
    );
    assert!(summary(&events).contains(&"alice password_set -".to_owned()));
    // A set-password link: the password set by link, and the sign-in it opens.
    let desk = Caller::Desk {
        name: "test".into(),
    };
    let (link, _) = app
        .desk
        .console_password_link(
            &desk,
            "bob",
            &baoxiu::desk::console::ConsoleRules::default(),
        )
        .await
        .expect("link");
    let path = link[link.find("/desk/password/").expect("path")..].to_owned();
    let mut bob = Visitor::new(&app);
    let form = bob.get(&path).await;
    let csrf = form.csrf();
    let set = bob
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("password", "a new password 1"),
                ("again", "a new password 1"),
            ],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let events = audit(&app).await;
    let last: Vec<String> = summary(&events).into_iter().rev().take(2).collect();
    assert_eq!(last, vec!["bob signed_in link", "bob password_set link"]);

    // Managers only: on the reports page and over REST.
    let r = app.get(&token("alice"), "/api/audit/sign-ins").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let page = mia.get("/desk/reports").await;
    assert!(page.has("data-sign-in=\"n…(6)\""), "{}", page.body);
    assert!(page.has("已锁定"));
}

async fn the_retention_job_forgets_old_sessions_links_and_attempts(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let desk = Caller::Desk {
        name: "test".into(),
    };
    let rules = baoxiu::desk::console::ConsoleRules::default();
    let alice = Visitor::sign_in(&app, "alice").await;
    let (_old_link, _) = app
        .desk
        .console_password_link(&desk, "bob", &rules)
        .await
        .expect("link");
    let mut guest = Visitor::new(&app);
    guest.try_sign_in("nobody", "guess guess guess").await;
    // Nothing is old yet: nothing goes.
    let kept = app.desk.apply_retention().await.expect("retention");
    assert_eq!(
        kept.console.sessions + kept.console.links + kept.console.attempts,
        0,
        "{kept:?}"
    );

    // Two days on: the session (12 h) and the link (15 min) have expired, the failure is
    // old. A fresh lockout and a fresh link stay.
    app.clock.advance(chrono::Duration::days(2));
    let (fresh, _) = app
        .desk
        .console_password_link(&desk, "carol", &rules)
        .await
        .expect("link");
    for _ in 0..5 {
        guest.try_sign_in("stranger", "guess guess guess").await;
    }
    let swept = app.desk.apply_retention().await.expect("retention");
    assert_eq!(swept.console.sessions, 1, "{swept:?}");
    assert_eq!(swept.console.links, 1, "{swept:?}");
    assert_eq!(swept.console.attempts, 1, "{swept:?}");
    // The old session no longer opens the queue; a new one does; the fresh link works.
    let mut alice = alice;
    let gone = alice.get("/desk").await;
    assert!(gone.has("name=\"handle\""), "signed out: {}", gone.body);
    let mut mia = Visitor::sign_in(&app, "mia").await;
    assert_eq!(mia.get("/desk").await.status, StatusCode::OK);
    let code = &fresh[fresh.find("/desk/password/").expect("path")..];
    assert_eq!(guest.get(code).await.status, StatusCode::OK);
    let locked = guest.try_sign_in("stranger", "guess guess guess").await;
    assert!(locked.status.is_client_error());
    assert!(
        app.desk
            .console_sign_in("stranger", "x", &rules, None)
            .await
            .expect("desk")
            .is_err()
    );
    // The audit stays.
    assert!(!audit(&app).await.is_empty());
}

/// A sign-in through the form with an `X-Forwarded-For` header, as a proxy (or a forger)
/// would send it.
async fn sign_in_forwarded(v: &mut Visitor<'_>, handle: &str, password: &str, xff: &str) -> Page {
    let form = v.get("/desk").await;
    let csrf = form.csrf();
    v.post_with(
        "/desk/sign-in",
        &[("csrf", &csrf), ("handle", handle), ("password", password)],
        &[("x-forwarded-for", xff)],
    )
    .await
}

async fn sign_ins_behind_a_trusted_proxy_record_the_forwarded_address(backend: Backend) {
    // Not trusted (the default): a forged header changes nothing.
    let direct = spawn_app(backend.clone()).await;
    passwords(&direct).await;
    let mut v = Visitor::new(&direct);
    let r = sign_in_forwarded(&mut v, "alice", crate::console::PASSWORD, "203.0.113.7").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let events = audit(&direct).await;
    let last = events.last().expect("an event");
    assert_eq!(last["event"], "signed_in", "{last}");
    assert_eq!(last["address"], "127.0.0.1", "{last}");

    // Trusted: the last entry (the one the proxy added) is the client.
    let proxied = spawn_app_with(backend, |c| c.console.trust_forwarded_for = true).await;
    passwords(&proxied).await;
    let mut v = Visitor::new(&proxied);
    let r = sign_in_forwarded(&mut v, "alice", "not the password", "10.0.0.1, 203.0.113.8").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sign_in_forwarded(&mut v, "alice", crate::console::PASSWORD, "203.0.113.7").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let events = audit(&proxied).await;
    let got: Vec<(String, String)> = events
        .iter()
        .rev()
        .take(2)
        .map(|e| {
            (
                e["event"].as_str().unwrap_or("?").to_owned(),
                e["address"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("signed_in".to_owned(), "203.0.113.7".to_owned()),
            ("failed".to_owned(), "203.0.113.8".to_owned()),
        ]
    );
    // Without the header, the connection's own address.
    let mut v = Visitor::new(&proxied);
    v.try_sign_in("bob", crate::console::PASSWORD).await;
    let events = audit(&proxied).await;
    assert_eq!(events.last().expect("an event")["address"], "127.0.0.1");
}

async fn the_sign_in_audit_keeps_no_strangers_handle(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let desk = Caller::Desk {
        name: "test".into(),
    };
    let bob = app
        .desk
        .engineer_by_handle("bob")
        .await
        .expect("load")
        .expect("bob")
        .id;
    app.desk
        .deactivate_engineer(&desk, bob)
        .await
        .expect("deactivated");
    let before = audit(&app).await.len();
    let mut guest = Visitor::new(&app);
    // A password typed into the handle field; a known handle; one who left.
    for (handle, password) in [
        ("Hunter2-Secret!", "hunter2-secret!"),
        ("alice", "not the password"),
        ("bob", crate::console::PASSWORD),
    ] {
        let r = guest.try_sign_in(handle, password).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{handle}");
    }
    let events = audit(&app).await;
    assert_eq!(
        summary(&events[before..]),
        [
            "h…(15) failed password",
            "alice failed password",
            "bob failed password",
        ]
    );
    assert!(events[before]["engineer_id"].is_null());
    assert!(events[before + 1]["engineer_id"].is_i64());
    assert_eq!(
        events[before + 2]["engineer_id"],
        bob.0,
        "one who left is still them"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sign_in_events WHERE handle LIKE '%unter2%'")
            .await,
        0
    );
    // Nor does the lockout's count of failures.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM console_sign_in_attempts WHERE handle LIKE '%unter2%'")
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM console_sign_in_attempts WHERE handle = 'h…(15)'")
            .await,
        1
    );
}

async fn sign_in_events_go_after_their_retention_period(backend: Backend) {
    let app = spawn_app(backend).await;
    // More than a batch (500) of events from long ago, before today's.
    let old: Vec<String> = (0..520)
        .map(|i| format!("('2025-06-01T00:00:00+00:00', 'x…({i})', 'failed', 'password')"))
        .collect();
    app.sql(&[&format!(
        "INSERT INTO sign_in_events (at, handle, event, method) VALUES {}",
        old.join(", ")
    )])
    .await;
    passwords(&app).await;
    Visitor::sign_in(&app, "alice").await;
    let today = app.count("sign_in_events").await - 520;
    assert!(today >= 6, "five passwords set and a sign-in: {today}");

    let swept = app.desk.apply_retention().await.expect("retention");
    assert_eq!(swept.sign_in_events, 520, "{swept:?}");
    assert_eq!(app.count("sign_in_events").await, today);

    // A year less a day on: today's stay, and a new sign-in joins them.
    app.clock.advance(chrono::Duration::days(364));
    Visitor::sign_in(&app, "bob").await;
    let swept = app.desk.apply_retention().await.expect("retention");
    assert_eq!(swept.sign_in_events, 0, "{swept:?}");
    assert_eq!(app.count("sign_in_events").await, today + 1);

    // Past the year (365 days by default): they go; the newer one stays.
    app.clock.advance(chrono::Duration::days(2));
    let swept = app.desk.apply_retention().await.expect("retention");
    assert_eq!(swept.sign_in_events, u64::try_from(today).expect("count"));
    assert_eq!(app.count("sign_in_events").await, 1);
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM sign_in_events WHERE handle = 'bob' AND event = 'signed_in'"
        )
        .await,
        1
    );

    // A shorter period is read from `[retention] sign_in_events`.
    let short = spawn_app_with(Backend::Sqlite, |c| {
        c.retention.sign_in_events = baoxiu::domain::sla::Span(chrono::Duration::days(30));
    })
    .await;
    passwords(&short).await;
    let recorded = short.count("sign_in_events").await;
    assert!(recorded > 0);
    short.clock.advance(chrono::Duration::days(29));
    let swept = short.desk.apply_retention().await.expect("retention");
    assert_eq!(swept.sign_in_events, 0, "{swept:?}");
    short.clock.advance(chrono::Duration::days(2));
    let swept = short.desk.apply_retention().await.expect("retention");
    assert_eq!(
        swept.sign_in_events,
        u64::try_from(recorded).expect("count")
    );
}

async fn handles_are_never_renamed_nor_given_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let bob = app
        .desk
        .engineer_by_handle("bob")
        .await
        .expect("load")
        .expect("bob")
        .id;
    // No way to rename: the REST API refuses the field, the handle stays.
    let r = app
        .patch(
            MANAGER,
            &format!("/api/engineers/{}", bob.0),
            &json!({"handle": "robert"}),
        )
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(
        app.desk
            .engineer_by_handle("robert")
            .await
            .expect("load")
            .is_none()
    );
    // Bob leaves; his handle is not given to a newcomer, through the API or the desk.
    let r = app
        .client
        .delete(format!("{}/api/engineers/{}", app.base, bob.0))
        .bearer_auth(MANAGER)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let again = json!({"handle": "bob", "name": "Bob Two", "group": "printer"});
    let r = app.post(MANAGER, "/api/engineers", &again).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM engineers WHERE handle = 'bob'")
            .await,
        1
    );
}
