//! SLA scheduler tick time against the number of open tickets: 10,000 and 1,000,000 open
//! tickets with a clock each, of which 100 are due. The due clocks are found through the
//! `next_at` index, so the tick should cost about the same at both sizes (target: ratio
//! ≤ 1.5). SQLite always; PostgreSQL too when `TEST_POSTGRES_URL` is set. Each size runs
//! nine ticks (each over 100 freshly due tickets); medians are printed.
//! Run: `cargo bench --bench sla`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baoxiu::clock::{Clock, ManualClock};
use baoxiu::config::Config;
use baoxiu::desk::{Desk, ReportForm};
use baoxiu::domain::ticket::Caller;
use baoxiu::sla::Scheduler;
use baoxiu::store::{Store, StoreOptions};
use chrono::{TimeZone, Utc};
use sqlx::Connection;

const DUE: i64 = 100;
const TICKS: usize = 9;

/// Columns copied from the template ticket (all but id and number).
const COLUMNS: &str = "kind, status, priority, impact, urgency, reporter_id, reporter_name, \
    department, phone, site, building, room, asset_tag, device_model, ip, category, \
    description, started_at, people_affected, vip, photos, group_id, tier, assignee_id, \
    offered_to, work_mode, arrived_at, pending_reason, cause, solution, closure, \
    reopen_count, escalation_level, response_due_at, resolution_due_at, created_at, \
    updated_at, accepted_at, resolved_at, closed_at, version";

async fn sql(url: &str, statements: &[String]) {
    macro_rules! run {
        ($c:expr) => {{
            let mut c = $c.await.expect("connect");
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                    .execute(&mut c)
                    .await
                    .expect("bench sql");
            }
        }};
    }
    if url.starts_with("sqlite") {
        run!(sqlx::SqliteConnection::connect(url))
    } else {
        run!(sqlx::PgConnection::connect(url))
    }
}

/// A desk over `url` with `open` open tickets, each with a resolution clock due in 30 days.
async fn seeded(url: &str, open: i64, clock: &ManualClock) -> Desk {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let policy = Config::default().policy("defaults").expect("policy");
    store
        .sync_groups(policy.routing.groups())
        .await
        .expect("groups");
    let desk = Desk::new(store, Arc::new(clock.clone()), policy);
    let r = desk
        .reporter_for_identity("bench", "template", "李娜")
        .await
        .expect("reporter");
    let form = ReportForm {
        department: Some("财务部".into()),
        phone: Some("13800138000".into()),
        site: "总部".into(),
        category: "printer".into(),
        description: "打印机卡纸".into(),
        ..ReportForm::default()
    };
    desk.report(&Caller::Reporter(r.id), r.id, form)
        .await
        .expect("template ticket");
    let number = if url.starts_with("sqlite") {
        "substr('0000000' || n, -7, 7)"
    } else {
        "lpad(n::text, 7, '0')"
    };
    let later = (clock.now() + chrono::Duration::days(30)).to_rfc3339();
    sql(
        url,
        &[
            format!(
                "WITH RECURSIVE g(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM g WHERE n < {open})
                 INSERT INTO tickets (number, {COLUMNS})
                 SELECT 'BX-2026-' || {number}, {COLUMNS} FROM tickets, g WHERE id = 1"
            ),
            "DELETE FROM sla_clocks".into(),
            format!(
                "INSERT INTO sla_clocks (ticket_id, kind, status, open, budget_secs, used_secs,
                   since, due_at, warned, breaches, steps, next_at, lease_until)
                 SELECT id, 'resolution', 'running', TRUE, 43200, 0, '{now}', '{later}', TRUE,
                   0, 0, '{later}', NULL FROM tickets",
                now = clock.now().to_rfc3339()
            ),
            "ANALYZE".into(),
        ],
    )
    .await;
    desk
}

/// Makes `DUE` tickets' clocks fall due now (budget used up: a breach and the experts'
/// alert each), returns the median tick time over `TICKS` ticks.
async fn ticks(url: &str, desk: &Desk, clock: &ManualClock, open: i64) -> Duration {
    let mut times = Vec::new();
    for run in 0..TICKS as i64 {
        let now = clock.now();
        let first = 1 + run * (open / TICKS as i64);
        sql(
            url,
            &[format!(
                "UPDATE sla_clocks SET used_secs = budget_secs, since = '{at}', next_at = '{at}'
                 WHERE ticket_id >= {first} AND ticket_id < {last}",
                at = now.to_rfc3339(),
                last = first + DUE
            )],
        )
        .await;
        clock.advance(chrono::Duration::seconds(1));
        let scheduler = Scheduler::new(desk.clone());
        let started = Instant::now();
        let tick = scheduler.tick().await.expect("tick");
        times.push(started.elapsed());
        assert_eq!(tick.tickets, DUE as u32, "every due ticket was handled");
        assert_eq!(tick.events, 2 * DUE as u32, "breach + experts alert each");
    }
    times.sort();
    times[times.len() / 2]
}

/// The open-ticket counts compared: `cargo test --benches` (no `--bench` argument) only
/// checks that the bench runs, on small sizes.
fn sizes() -> [i64; 2] {
    if std::env::args().any(|a| a == "--bench") {
        [10_000, 1_000_000]
    } else {
        [1_000, 10_000]
    }
}

async fn backend(name: &str, url_for: impl Fn(i64) -> (String, Option<tempfile::TempDir>)) {
    let mut medians = Vec::new();
    let [small, large] = sizes();
    for open in [small, large] {
        let (url, _dir) = url_for(open);
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap());
        let seeding = Instant::now();
        let desk = seeded(&url, open, &clock).await;
        let seeded_in = seeding.elapsed();
        let median = ticks(&url, &desk, &clock, open).await;
        println!(
            "{name:<10} open {open:>9}  due {DUE}  tick median {:>8.1} ms  ({:.1} ms per due ticket; seeded in {:.0} s)",
            median.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3 / DUE as f64,
            seeded_in.as_secs_f64()
        );
        desk.close().await;
        medians.push(median);
    }
    println!(
        "{name:<10} ratio {large} / {small} open: {:.2} (target ≤ 1.5)",
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    backend("sqlite", |_| {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        (url, Some(dir))
    })
    .await;
    let Ok(admin) = std::env::var("TEST_POSTGRES_URL") else {
        println!("postgres   SKIPPED: TEST_POSTGRES_URL is not set");
        return;
    };
    let mut names = Vec::new();
    for open in sizes() {
        let name = format!("baoxiu_bench_sla_{open}_{}", rand::random::<u32>());
        let mut c = sqlx::PgConnection::connect(&admin).await.expect("postgres");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .expect("create database");
        names.push((open, name));
    }
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_owned();
    let urls = names.clone();
    backend("postgres", move |open| {
        let name = &urls.iter().find(|(o, _)| *o == open).expect("db").1;
        (format!("{base}/{name}"), None)
    })
    .await;
    let mut c = sqlx::PgConnection::connect(&admin).await.expect("postgres");
    for (_, name) in names {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut c)
        .await;
    }
}
