//! Archived periodic reports (issue 19): frozen at each period's end by the scheduler
//! with the injected clock, once, and never changed by later edits.

use baoxiu::sla::Scheduler;
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(crossing_a_month_end_freezes_that_month);

async fn archive(app: &TestApp) -> Vec<Value> {
    let r = app.get(MANAGER, "/api/reports/archive").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

async fn snapshot(app: &TestApp, id: &Value) -> Value {
    let r = app
        .get(MANAGER, &format!("/api/reports/archive/{id}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<Value>().await.expect("json")["snapshot"].clone()
}

fn find<'a>(entries: &'a [Value], kind: &str, first_day: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|e| e["kind"] == kind && e["first_day"] == first_day)
}

async fn crossing_a_month_end_freezes_that_month(backend: Backend) {
    let app = spawn_app(backend).await;
    let scheduler = Scheduler::new(app.desk.clone());
    // Monday 2026-11-23: the periods complete by then are frozen at the first tick.
    assert_eq!(scheduler.tick().await.unwrap().archived, 5);
    let number = app.report("li.na", &printer_fault()).await;
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;

    // Monday 30 November 23:59 in Shanghai: the week is over, November is not.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 15, 59, 0).unwrap());
    assert_eq!(scheduler.tick().await.unwrap().archived, 1, "the week");
    assert!(find(&archive(&app).await, "month", "2026-11-01").is_none());
    // Tuesday 1 December 00:00:30 in Shanghai: November is frozen, once.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 16, 0, 30).unwrap());
    assert_eq!(scheduler.tick().await.unwrap().archived, 1);
    assert_eq!(scheduler.tick().await.unwrap().archived, 0);
    let again = app.restart().await;
    assert_eq!(
        Scheduler::new(again.desk.clone())
            .tick()
            .await
            .unwrap()
            .archived,
        0,
        "another instance freezes nothing twice"
    );
    let entries = archive(&app).await;
    let november = find(&entries, "month", "2026-11-01")
        .expect("November")
        .clone();
    assert_eq!(november["last_day"], "2026-11-30");
    let frozen = snapshot(&app, &november["id"]).await;
    assert_eq!(frozen["report"]["total"]["tickets"], 1);
    assert_eq!(frozen["report"]["total"]["to_resolve"]["count"], 0);

    // Later edits change the live report, not the snapshot.
    app.act(
        &token("alice"),
        &number,
        "resolve",
        json!({"cause": "搓纸轮磨损", "solution": "更换搓纸轮"}),
        StatusCode::OK,
    )
    .await;
    let live: Value = app
        .get(MANAGER, "/api/reports?from=2026-11-01&to=2026-11-30")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(live["total"]["to_resolve"]["count"], 1);
    assert_eq!(snapshot(&app, &november["id"]).await, frozen);

    // Downloads: CSV by the report's own writer, the half-year summary as HTML.
    let csv = app
        .get(
            MANAGER,
            &format!("/api/reports/archive/{}?format=csv", november["id"]),
        )
        .await
        .text()
        .await
        .expect("csv");
    assert!(csv.contains("\r\ntotal,1,"), "{csv}");
    let half = find(&entries, "half-year", "2026-01-01").expect("first half of 2026");
    let r = app
        .get(
            MANAGER,
            &format!("/api/reports/archive/{}?format=html", half["id"]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(html.contains("<svg") && html.contains("2026-06"), "{html}");
    // Managers only.
    let r = app.get(&token("alice"), "/api/reports/archive").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
