//! Reports reconcile: a known set of tickets, worked at known virtual times, gives exactly
//! the figures computed by hand — through the REST API, on both backends.

use baoxiu::desk::SurveyReply;
use baoxiu::domain::ReporterId;
use baoxiu::domain::ticket::Caller;
use baoxiu::sla::Scheduler;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, TestApp, printer_fault, spawn_app, spawn_app_with, token};
use crate::on_both_backends;

on_both_backends!(
    every_figure_reconciles,
    report_queries_are_checked_after_the_role,
    csv_opens_safely_in_a_spreadsheet,
);

async fn at(app: &TestApp, t0: chrono::DateTime<chrono::Utc>, minutes: i64) {
    app.clock.set(t0 + Duration::minutes(minutes));
}

async fn reporter_of(app: &TestApp, number: &str) -> Caller {
    let id = app.detail(number).await["ticket"]["reporter"]
        .as_i64()
        .expect("reporter id");
    Caller::Reporter(ReporterId(id))
}

async fn every_figure_reconciles(backend: Backend) {
    // C's unconfirmed fix is auto-closed, so the report shows one.
    let app = spawn_app_with(backend, |c| {
        c.sla.unconfirmed = baoxiu::domain::sla::Unconfirmed::AutoClose;
    })
    .await;
    let t0 = app.desk.now(); // Monday 2026-11-23 09:00 in Shanghai
    let li = token("li.na");
    let ok = StatusCode::OK;
    let a = app.report("li.na", &printer_fault()).await;
    let b = app.report("li.na", &printer_fault()).await;
    let mut network = printer_fault();
    network["category"] = json!("network");
    network["department"] = json!("人事部");
    network["site"] = json!("分部");
    let c = app.report("wang.fang", &network).await;
    let mut other = printer_fault();
    other["asset_tag"] = json!("PC-0001");
    let d = app.report("li.na", &other).await;

    at(&app, t0, 10).await;
    app.act(&token("dave"), &c, "accept", json!({}), ok).await;
    at(&app, t0, 30).await;
    app.act(&token("alice"), &a, "accept", json!({}), ok).await;
    app.act(&token("alice"), &a, "start", json!({"mode": "on_site"}), ok)
        .await;
    at(&app, t0, 60).await;
    app.act(
        &token("dave"),
        &c,
        "resolve",
        json!({"cause": "网线松动", "solution": "重新插好"}),
        ok,
    )
    .await;
    app.act(&li, &d, "cancel", json!({"note": "自己好了"}), ok)
        .await;
    at(&app, t0, 90).await;
    app.act(&token("alice"), &a, "arrive", json!({}), ok).await;
    at(&app, t0, 180).await;
    app.act(
        &token("alice"),
        &a,
        "resolve",
        json!({"cause": "卡纸", "solution": "清理"}),
        ok,
    )
    .await;
    app.act(&token("bob"), &b, "accept", json!({}), ok).await; // response (2 h) breached
    at(&app, t0, 185).await;
    app.act(&li, &a, "confirm", json!({}), ok).await;
    at(&app, t0, 300).await;
    app.act(
        &token("bob"),
        &b,
        "resolve",
        json!({"cause": "搓纸轮", "solution": "更换"}),
        ok,
    )
    .await;
    at(&app, t0, 360).await;
    app.act(&li, &b, "reopen", json!({"note": "还是卡纸"}), ok)
        .await;
    at(&app, t0, 420).await;
    app.act(
        &token("bob"),
        &b,
        "resolve",
        json!({"cause": "定影器", "solution": "更换定影器"}),
        ok,
    )
    .await;
    at(&app, t0, 425).await;
    app.act(&li, &b, "confirm", json!({}), ok).await;

    // Tuesday 10:00: the surveys of A and B go out; A rates 5, B complains.
    at(&app, t0, 24 * 60 + 60).await;
    let scheduler = Scheduler::new(app.desk.clone());
    assert_eq!(scheduler.tick().await.unwrap().surveys, 2);
    let reply = |rating, comment: Option<&str>, complaint| SurveyReply {
        rating,
        comment: comment.map(Into::into),
        complaint,
    };
    app.desk
        .answer_survey(
            &reporter_of(&app, &a).await,
            &a,
            reply(Some(5), None, false),
        )
        .await
        .unwrap();
    app.desk
        .answer_survey(
            &reporter_of(&app, &b).await,
            &b,
            reply(None, Some("修了三次"), true),
        )
        .await
        .unwrap();
    // C was never confirmed: auto-closed three days after its resolution (Thursday 10:00),
    // surveyed at once (the day after its resolution is past), and the survey expires
    // unanswered a week later.
    at(&app, t0, 3 * 24 * 60 + 60).await;
    assert_eq!(scheduler.tick().await.unwrap().surveys, 1);
    at(&app, t0, 11 * 24 * 60 + 60).await;
    scheduler.tick().await.unwrap();

    let r = app
        .get(
            MANAGER,
            "/api/reports?from=2026-11-23&to=2026-11-23&by=category",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    let total = &report["total"];
    assert_eq!(total["tickets"], 4);
    // Accept: C 10 min, A 30, B 180 → mean 73.3, p90 (nearest rank of 3) 180.
    assert_eq!(total["to_accept"]["count"], 3);
    assert!((total["to_accept"]["mean_minutes"].as_f64().unwrap() - 220.0 / 3.0).abs() < 1e-9);
    assert_eq!(total["to_accept"]["p90_minutes"], 180.0);
    assert_eq!(total["to_arrive"]["mean_minutes"], 60.0);
    // Resolve (last resolution): C 60, A 180, B 420 → mean 220, p90 420.
    assert_eq!(total["to_resolve"]["mean_minutes"], 220.0);
    assert_eq!(total["to_resolve"]["p90_minutes"], 420.0);
    let sla = &total["sla"];
    assert_eq!(
        (
            sla["response"]["met"].as_u64(),
            sla["response"]["breached"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(
        (
            sla["resolution"]["met"].as_u64(),
            sla["resolution"]["breached"].as_u64()
        ),
        (Some(3), Some(0))
    );
    assert_eq!(
        (
            sla["on_site"]["met"].as_u64(),
            sla["on_site"]["breached"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(sla["replacement"]["met"], 3);
    assert_eq!(
        sla["progress"]["rate"],
        Value::Null,
        "P3 has no progress cadence"
    );
    assert_eq!(
        (total["reopened"].as_u64(), total["reopen_rate"].as_f64()),
        (Some(1), Some(1.0 / 3.0))
    );
    assert_eq!(
        (total["confirmed"].as_u64(), total["auto_closed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (
            total["surveys_sent"].as_u64(),
            total["surveys_answered"].as_u64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(total["response_rate"].as_f64(), Some(2.0 / 3.0));
    // B's complaint (no rating) is an unsatisfied answer: 1 satisfied of 2, not 100 %.
    assert_eq!(
        (
            total["satisfied"].as_u64(),
            total["satisfaction_rate"].as_f64()
        ),
        (Some(1), Some(0.5))
    );
    assert_eq!(total["average_rating"], 5.0);
    assert_eq!(total["complaints"], 1);
    assert_eq!(
        report["complaint_list"],
        json!([{"number": b, "rating": null}]),
        "the complaint is listed by ticket"
    );
    assert_eq!(report["groups"]["printer"]["tickets"], 3);
    assert_eq!(report["groups"]["network"]["tickets"], 1);
    assert_eq!(report["groups"]["network"]["auto_closed"], 1);
    let repeats = report["repeat_faults"].as_array().unwrap();
    assert_eq!(repeats.len(), 1, "{repeats:?}");
    assert_eq!(repeats[0]["tickets"], 3);

    // Every breakdown puts each ticket in exactly one group, so its groups add up to the
    // total, figure by figure.
    let expected = [
        ("department", json!({"财务部": 3, "人事部": 1})),
        ("site", json!({"总部": 3, "分部": 1})),
        ("engineer", json!({"alice": 1, "bob": 1, "dave": 1, "-": 1})),
        ("priority", Value::Null),
    ];
    for (by, tickets) in expected {
        let path = format!("/api/reports?from=2026-11-23&to=2026-11-23&by={by}");
        let r: Value = app.get(MANAGER, &path).await.json().await.unwrap();
        let groups = r["groups"].as_object().unwrap();
        if let Some(tickets) = tickets.as_object() {
            let got: serde_json::Map<String, Value> = groups
                .iter()
                .map(|(k, g)| (k.clone(), g["tickets"].clone()))
                .collect();
            assert_eq!(&got, tickets, "by {by}");
        }
        let figure = |g: &Value, at: &str| g.pointer(at).and_then(Value::as_u64).unwrap();
        for at in [
            "/tickets",
            "/sla/response/met",
            "/sla/response/breached",
            "/sla/resolution/met",
            "/confirmed",
            "/auto_closed",
            "/complaints",
        ] {
            let sum: u64 = groups.values().map(|g| figure(g, at)).sum();
            assert_eq!(sum, figure(&r["total"], at), "by {by}: {at}");
        }
    }

    // The same figures as CSV; reporters may not read reports.
    let csv = app
        .get(
            MANAGER,
            "/api/reports?from=2026-11-23&to=2026-11-23&format=csv",
        )
        .await
        .text()
        .await
        .unwrap();
    let last = csv.lines().last().unwrap();
    assert!(last.starts_with("total,4,73.3,180.0,60.0,60.0,220.0,420.0,66.7,100.0,100.0,-,100.0,33.3,2,1,3,66.7,50.0,5.0,1"), "{last}");
    let r = app.get(&li, "/api/reports?period=month").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.get(MANAGER, "/api/reports?period=fortnight").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn report_queries_are_checked_after_the_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let nasty = [
        "from=2026-01-01&to=%2B262142-12-31",
        "from=2026-01-01&to=+262142-12-31",
        "from=2026-01-01&to=262142-12-31",
        "from=-262143-01-01&to=2026-01-01",
        "from=%2B262142-12-31&to=%2B262142-12-31",
        "from=2026-02-01&to=2026-01-01",
        "from=2024-01-01&to=2025-01-01",
        "from=1969-12-31&to=1970-01-01",
        "from=2026-13-01&to=2026-12-31",
        "from=2026-01-01",
        "from=2026-01-01&to=2026-01-31&period=month",
        "nonsense=1",
        "from=%FF&to=%00",
    ];
    for query in nasty {
        let path = format!("/api/reports?{query}");
        // Whatever the query, a non-manager is refused first.
        for who in [token("alice"), token("li.na")] {
            let r = app.get(&who, &path).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{who}: {query}");
        }
        // A manager is told what is wrong, as JSON; the connection survives.
        let r = app.get(MANAGER, &path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{query}"
        );
        let body: Value = r.json().await.expect("json");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{query}: {body}"
        );
    }
    let said = async |query: &str| -> String {
        let r = app.get(MANAGER, &format!("/api/reports?{query}")).await;
        let body: Value = r.json().await.expect("json");
        body["detail"].as_str().unwrap_or_default().to_owned()
    };
    assert!(
        said("from=2026-02-01&to=2026-01-01")
            .await
            .contains("after"),
        "from > to is named"
    );
    assert!(
        said("from=2024-01-01&to=2025-01-01").await.contains("366"),
        "the longest period is named"
    );
    // A whole leap year is the longest period; a day is the shortest.
    for query in [
        "from=2024-01-01&to=2024-12-31",
        "from=2026-01-01&to=2026-01-01",
    ] {
        let r = app.get(MANAGER, &format!("/api/reports?{query}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{query}");
    }
    let r = app
        .get(MANAGER, "/api/reports?period=year&format=csv")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Department names are what reporters typed: in the CSV they are quoted as RFC 4180 says
/// and can never become a spreadsheet formula; the figures stay numbers, and a UTF-8 BOM
/// lets Excel on Chinese Windows read the Chinese.
async fn csv_opens_safely_in_a_spreadsheet(backend: Backend) {
    let app = spawn_app(backend).await;
    for department in [
        "=HYPERLINK(\"http://x\",\"y\")",
        "Sales, \"East\"",
        "@SUM(A1)",
        "财务部",
    ] {
        let mut fault = printer_fault();
        fault["department"] = json!(department);
        app.report("li.na", &fault).await;
    }
    let r = app
        .get(
            MANAGER,
            "/api/reports?from=2026-11-23&to=2026-11-23&by=department&format=csv",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.expect("text");
    assert!(csv.starts_with('\u{feff}'), "a UTF-8 BOM first: {csv:?}");
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert!(lines[0].starts_with("group,tickets,"), "{csv}");
    assert_eq!(
        lines.last(),
        Some(&""),
        "each record ends with CRLF: {csv:?}"
    );
    for row in [
        "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",1,",
        "\"Sales, \"\"East\"\"\",1,",
        "'@SUM(A1),1,",
        "财务部,1,",
        "total,4,",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(row)),
            "no row starting {row}: {csv}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with('=') || l.starts_with('@')),
        "{csv}"
    );
}
