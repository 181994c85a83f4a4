//! The desk console's queue pages and reports: a bounded queue whose pages reach every
//! ticket, the reports page's charts and downloads (CSV in the page's language, .xlsx),
//! and sign-ins as audit events for managers.

use baoxiu::desk::console::QueueFilter;
use baoxiu::domain::ticket::Caller;
use reqwest::StatusCode;
use serde_json::json;

use crate::console::{Visitor, passwords};
use crate::helpers::{Backend, printer_fault, printer_outage, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(the_queue_is_paged_and_its_pages_reach_every_ticket,);

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
        all.push(app.report(if i % 2 == 0 { "li.na" } else { "wang.fang" }, &body).await);
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
    let open: Vec<String> = all
        .iter()
        .filter(|n| *n != &all[4])
        .cloned()
        .collect();

    // The desk's own order, in one read.
    let manager = Caller::Desk {
        name: "test".into(),
    };
    let whole = app
        .desk
        .queue(&manager, &QueueFilter::default(), 0, 1000)
        .await
        .expect("queue");
    let order: Vec<String> = whole
        .items
        .iter()
        .map(|i| i.ticket.number.as_str().to_owned())
        .collect();
    assert_eq!(whole.total, 10);
    assert_eq!(order.len(), 10);

    let pages = every_page(&mut mia, "/desk", SIZE).await;
    assert_eq!(pages.len(), 4, "{pages:?}");
    let walked: Vec<String> = pages.concat();
    assert_eq!(walked, order, "the pages follow the queue's order, none twice");
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
    assert!(breached.total > i64::try_from(SIZE).unwrap_or(0), "{}", breached.total);
    let pages = every_page(&mut mia, "/desk?breached=1", SIZE).await;
    let walked: Vec<String> = pages.concat();
    let expected: Vec<String> = breached
        .items
        .iter()
        .map(|i| i.ticket.number.as_str().to_owned())
        .collect();
    assert_eq!(walked, expected);
    assert_eq!(walked.len(), usize::try_from(breached.total).unwrap_or(0));
    // The live refresh's lines are paged too.
    let rows = mia.get("/desk/queue/rows?page=2").await;
    assert_eq!(numbers(&rows.body), order[SIZE..2 * SIZE].to_vec());
}
