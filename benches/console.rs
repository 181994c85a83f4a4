//! The desk console's queue page with many open tickets: server time (request to the
//! last byte, over localhost) of `GET /desk` for a manager (every ticket) and an
//! engineer (their group's), unfiltered, searched and filtered, and of the live
//! refresh's `GET /desk/queue/rows`. Target (issue 21): p99 ≤ 50 ms at 10,000 open
//! tickets. A fifth of them are past their response time (breached). Each case also
//! prints the lines shown and the page's size in bytes (a page holds
//! `console.queue_limit` lines, 100 by default, with a link to the next).
//!
//! Run: `cargo bench --bench console` (SQLite; `LOAD_BACKEND=postgres` with
//! `TEST_POSTGRES_URL` for PostgreSQL). `CONSOLE_TICKETS` (default 10000) and
//! `CONSOLE_REQUESTS` (per case, default 200) change the size; `cargo test --bench
//! console` is a quick debug smoke run (300 tickets, 5 requests a case).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/database.rs"]
mod database;

use std::sync::Arc;
use std::time::{Duration, Instant};

use baoxiu::app::Application;
use baoxiu::clock::ManualClock;
use baoxiu::config::Config;
use baoxiu::desk::{NewEngineer, ReportForm};
use baoxiu::domain::routing::Tier;
use baoxiu::domain::ticket::Caller;
use chrono::{TimeZone, Utc};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn form(i: usize) -> ReportForm {
    let categories = ["printer", "desktop", "network", "application"];
    ReportForm {
        department: Some("财务部".into()),
        phone: Some("13800138000".into()),
        site: ["总部", "分部", "仓库"][i % 3].into(),
        room: Some(format!("{}", 300 + i % 50)),
        asset_tag: Some(format!("PC-{:04}", i % 2000)),
        category: categories[i % categories.len()].into(),
        description: format!("故障 #{i}：无法开机，指示灯闪烁"),
        ..ReportForm::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at]
}

/// Signs in over HTTP; the session cookie.
async fn sign_in(client: &reqwest::Client, base: &str, handle: &str, password: &str) -> String {
    let page = client
        .get(format!("{base}/desk"))
        .send()
        .await
        .expect("sign-in page");
    let pre = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("baoxiu_desk_pre="))
        .and_then(|c| c.split(';').next())
        .expect("pre cookie")
        .to_owned();
    let token = pre
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    let r = client
        .post(format!("{base}/desk/sign-in"))
        .header("cookie", &pre)
        .form(&[
            ("csrf", token.as_str()),
            ("handle", handle),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign in");
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("baoxiu_desk="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned()
}

/// Reports tickets `range` from eight reporters side by side.
async fn seed(desk: &baoxiu::desk::Desk, range: std::ops::Range<usize>) {
    let workers = 8;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let desk = desk.clone();
        let range = range.clone();
        tasks.push(tokio::spawn(async move {
            let r = desk
                .reporter_for_identity("bench", &format!("r{w}"), "李娜")
                .await
                .expect("reporter");
            for i in range.skip(w).step_by(workers) {
                desk.report(&Caller::Reporter(r.id), r.id, form(i))
                    .await
                    .expect("report");
            }
        }));
    }
    for t in tasks {
        t.await.expect("seeding");
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs it once, briefly (so it cannot rot); `cargo bench` in full.
    let quick = !std::env::args().any(|a| a == "--bench");
    let tickets = env("CONSOLE_TICKETS", if quick { 300 } else { 10_000 });
    let requests = env("CONSOLE_REQUESTS", if quick { 5 } else { 200 });
    let db = database::Database::new().await;
    let mut config = Config::default();
    config.database.url = db.url();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    let start = Utc
        .with_ymd_and_hms(2026, 11, 23, 1, 0, 0)
        .single()
        .expect("time");
    let clock = ManualClock::new(start);
    let app = Application::build(&config, "bench", Vec::new(), Arc::new(clock.clone()))
        .await
        .expect("builds")
        .without_background_work();
    let base = format!("http://{}", app.local_addr().expect("bound"));
    let desk = app.desk().clone();
    tokio::spawn(app.run_until(std::future::pending()));

    let cli = Caller::Desk {
        name: "bench".into(),
    };
    for (handle, group, tier) in [
        ("mia", "desktop", Tier::Manager),
        ("alice", "printer", Tier::FirstLine),
        ("dave", "network", Tier::FirstLine),
    ] {
        desk.add_engineer(
            &cli,
            NewEngineer {
                handle: handle.into(),
                name: handle.into(),
                group: group.into(),
                tier,
                on_duty: true,
            },
        )
        .await
        .expect("engineer");
        desk.set_console_password(&cli, handle, "bench password 123")
            .await
            .expect("password");
    }
    let seeding = Instant::now();
    // A fifth reported first, then three hours pass (their 2-hour response clocks run
    // out: breached), then the rest.
    seed(&desk, 0..tickets / 5).await;
    clock.advance(chrono::Duration::hours(3));
    seed(&desk, tickets / 5..tickets).await;
    println!(
        "console queue: {tickets} open tickets seeded in {:.1} s ({})",
        seeding.elapsed().as_secs_f64(),
        if database::postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let manager = sign_in(&client, &base, "mia", "bench password 123").await;
    let engineer = sign_in(&client, &base, "alice", "bench password 123").await;
    // The last page: the store passes over every line before it.
    let last_page = format!("/desk?page={}", tickets.div_ceil(100).max(1));
    let cases = [
        ("manager: /desk", &manager, "/desk"),
        ("manager: /desk?breached=1", &manager, "/desk?breached=1"),
        (
            "manager: /desk?breached=1&page=2",
            &manager,
            "/desk?breached=1&page=2",
        ),
        ("manager: /desk?page=<last>", &manager, last_page.as_str()),
        ("manager: /desk?q=PC-0042", &manager, "/desk?q=PC-0042"),
        (
            "manager: /desk?priority=P3&group=printer",
            &manager,
            "/desk?priority=P3&group=printer",
        ),
        ("manager: /desk/queue/rows", &manager, "/desk/queue/rows"),
        ("engineer: /desk", &engineer, "/desk"),
    ];
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>9} {:>9}",
        "case", "p50 ms", "p99 ms", "max ms", "rows", "bytes"
    );
    let mut worst_p99 = Duration::ZERO;
    for (name, cookie, path) in cases {
        let mut times = Vec::with_capacity(requests);
        let mut rows = 0;
        let mut bytes = 0;
        for _ in 0..requests {
            let t0 = Instant::now();
            let r = client
                .get(format!("{base}{path}"))
                .header("cookie", cookie.as_str())
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
            let body = r.text().await.expect("body");
            times.push(t0.elapsed());
            rows = body.matches("data-ticket=\"").count();
            // The page's weight as sent (no compression layer on the console).
            bytes = body.len();
        }
        times.sort();
        let p99 = percentile(&times, 0.99);
        worst_p99 = worst_p99.max(p99);
        println!(
            "{:<44} {:>8.1} {:>8.1} {:>8.1} {:>9} {:>9}",
            name,
            percentile(&times, 0.5).as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
            rows,
            bytes
        );
    }
    println!(
        "worst p99: {:.1} ms (target ≤ 50 ms at 10,000 open tickets)",
        worst_p99.as_secs_f64() * 1000.0
    );
    desk.close().await;
    db.drop_database().await;
}
