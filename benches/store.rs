//! Ticket-report throughput: `Desk::report` end to end (reporter and engineer reads, then
//! ticket + audit event + outbox messages in one transaction) on SQLite WAL with
//! synchronous NORMAL and FULL, and on PostgreSQL when `TEST_POSTGRES_URL` is set; at 1 and
//! 16 concurrent reporters. Each configuration runs three times on a fresh database;
//! the medians are printed. Run: `cargo bench --bench store`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baoxiu::clock::SystemClock;
use baoxiu::config::Config;
use baoxiu::desk::{Desk, ReportForm};
use baoxiu::domain::ReporterId;
use baoxiu::domain::routing::Tier;
use baoxiu::domain::ticket::Caller;
use baoxiu::store::{NewEngineer, SqliteSync, Store, StoreOptions};

#[allow(dead_code, reason = "this bench makes its database by name alone")]
#[path = "support/database.rs"]
mod database;

const REPORTS_PER_RUN: usize = 4_000;
const RUNS: usize = 3;

struct Run {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn form(i: usize) -> ReportForm {
    ReportForm {
        department: Some("财务部".into()),
        phone: Some("13800138000".into()),
        site: "总部".into(),
        room: Some(format!("{}", 300 + i % 50)),
        category: "printer".into(),
        description: format!("打印机卡纸 #{i}"),
        ..ReportForm::default()
    }
}

async fn fresh(url: &str, sync: SqliteSync) -> Desk {
    let store = Store::connect(
        url,
        &StoreOptions {
            sqlite_sync: sync,
            ..StoreOptions::default()
        },
    )
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    let config = Config::default();
    let policy = config.policy("defaults").expect("policy");
    store
        .sync_groups(policy.routing.groups())
        .await
        .expect("groups");
    let desk = Desk::new(store, Arc::new(SystemClock), policy);
    let seed = Caller::Desk {
        name: "bench".into(),
    };
    for h in ["alice", "bob"] {
        desk.add_engineer(
            &seed,
            NewEngineer {
                handle: h.into(),
                name: h.into(),
                group: "printer".into(),
                tier: Tier::FirstLine,
                on_duty: true,
            },
        )
        .await
        .expect("engineer");
    }
    desk
}

async fn run(desk: &Desk, workers: usize) -> Run {
    let mut reporters = Vec::new();
    for w in 0..workers {
        let r = desk
            .reporter_for_identity("bench", &format!("r{w}-{}", rand::random::<u32>()), "李娜")
            .await
            .expect("reporter");
        reporters.push(r.id);
    }
    let per_worker = REPORTS_PER_RUN / workers;
    let started = Instant::now();
    let tasks: Vec<_> = reporters
        .into_iter()
        .map(|id: ReporterId| {
            let desk = desk.clone();
            tokio::spawn(async move {
                let caller = Caller::Reporter(id);
                let mut lat = Vec::with_capacity(per_worker);
                for i in 0..per_worker {
                    let t = Instant::now();
                    desk.report(&caller, id, form(i)).await.expect("report");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    lat.sort();
    Run {
        per_sec: lat.len() as f64 / elapsed.as_secs_f64(),
        p50: lat[lat.len() / 2],
        p99: lat[lat.len() * 99 / 100],
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: f64) -> String {
    format!("{:.2} ms", d * 1e3)
}

async fn bench(name: &str, workers: usize, make: impl AsyncFn() -> Desk) -> f64 {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let desk = make().await;
        // Warm-up: connection pools, statement caches, page cache.
        run(&desk, workers).await;
        runs.push(run(&desk, workers).await);
        desk.close().await;
    }
    let rate = median(runs.iter().map(|r| r.per_sec).collect());
    let p50 = median(runs.iter().map(|r| r.p50.as_secs_f64()).collect());
    let p99 = median(runs.iter().map(|r| r.p99.as_secs_f64()).collect());
    println!(
        "{name:<22} {workers:>2} reporters  {rate:>8.0} reports/s  p50 {:>9}  p99 {:>9}   (runs: {})",
        ms(p50),
        ms(p99),
        runs.iter()
            .map(|r| format!("{:.0}", r.per_sec))
            .collect::<Vec<_>>()
            .join(", ")
    );
    rate
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run one quick
    // smoke pass then, so the bench cannot rot.
    if !std::env::args().any(|a| a == "--bench") {
        let dir = tempfile::tempdir().expect("dir");
        let desk = fresh(
            &format!("sqlite://{}", dir.path().join("b.db").display()),
            SqliteSync::Normal,
        )
        .await;
        let caller = Caller::Desk {
            name: "smoke".into(),
        };
        let r = desk
            .reporter_for_identity("bench", "smoke", "李娜")
            .await
            .expect("reporter");
        desk.report(&caller, r.id, form(0)).await.expect("report");
        return;
    }
    println!("Desk::report, {REPORTS_PER_RUN} reports per run, median of {RUNS} runs\n");
    {
        // Where a report's time goes: its two reads alone, on a warm database.
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let desk = fresh(&url, SqliteSync::Normal).await;
        // The store itself, as the desk reads it.
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("connect");
        let r = desk
            .reporter_for_identity("bench", "reads", "李娜")
            .await
            .expect("reporter");
        run(&desk, 1).await;
        let t = Instant::now();
        for _ in 0..2000 {
            store.reporter(r.id).await.expect("read");
        }
        let reporter = t.elapsed() / 2000;
        let t = Instant::now();
        for _ in 0..2000 {
            store.roster().await.expect("read");
        }
        let roster = t.elapsed() / 2000;
        println!("sqlite reads: reporter {reporter:?}, roster {roster:?} (each, sequential)\n");
    }
    let mut results = Vec::new();
    for (name, sync) in [
        ("sqlite WAL NORMAL", SqliteSync::Normal),
        ("sqlite WAL FULL", SqliteSync::Full),
    ] {
        for workers in [1, 16] {
            let rate = bench(name, workers, async || {
                let dir = tempfile::tempdir().expect("dir").keep();
                fresh(
                    &format!("sqlite://{}", dir.join("bench.db").display()),
                    sync,
                )
                .await
            })
            .await;
            results.push((name, workers, rate));
        }
    }
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            for workers in [1, 16] {
                let rate = bench("postgres", workers, async || {
                    let url = database::fresh_postgres(&admin, "baoxiu_bench").await;
                    fresh(&url, SqliteSync::Normal).await
                })
                .await;
                results.push(("postgres", workers, rate));
            }
        }
        _ => println!("postgres: SKIPPED (set TEST_POSTGRES_URL)"),
    }
    let base = results[0].2;
    println!("\nratios to sqlite WAL NORMAL with 1 reporter:");
    for (name, workers, rate) in &results {
        println!("  {name:<22} {workers:>2}: {:.2}", rate / base);
    }
    println!("\ntarget: >= 3000 reports/s on sqlite WAL NORMAL, p99 <= 10 ms");
}
