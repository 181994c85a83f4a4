//! Conversation throughput: virtual reporters walk the whole fault report through
//! `Chat::handle` in a closed loop (the next answer goes when the reply is back). Every
//! step's state is durable in SQLite (WAL, synchronous NORMAL; group commit across
//! conversations) before its reply returns; the last step files the ticket. Then memory
//! per idle conversation with 100,000 open. Run: `cargo bench --bench chat`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baoxiu::app::Core;
use baoxiu::clock::SystemClock;
use baoxiu::config::Config;
use baoxiu::conversation::{Chat, Person};
use baoxiu::flow::Incoming;

const SCRIPT: [&str; 14] = [
    "2",
    "HP M404",
    "1",
    "总部",
    "A座",
    "301",
    "PRN-3F-02",
    "卡纸，红灯闪",
    "1",
    "1",
    "1",
    "财务部",
    "13800138000",
    "1",
];

async fn core(dir: &std::path::Path) -> Core {
    let mut config = Config::default();
    config.database.url = format!("sqlite://{}", dir.join("chat.db").display());
    Core::assemble(&config, "bench", Arc::new(SystemClock))
        .await
        .expect("core")
}

fn person(i: usize) -> Person {
    Person {
        channel: "bench".into(),
        external_id: format!("u{i}"),
        name: format!("用户{i}"),
        language: Some("zh-CN".into()),
    }
}

struct Run {
    steps_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn closed_loop(chat: &Chat, users: usize, rounds: usize) -> Run {
    let started = Instant::now();
    let tasks: Vec<_> = (0..users)
        .map(|u| {
            let chat = chat.clone();
            tokio::spawn(async move {
                let me = person(u);
                let mut lat = Vec::new();
                for _ in 0..rounds {
                    let t = Instant::now();
                    chat.resume(&me).await.expect("start");
                    lat.push(t.elapsed());
                    for answer in SCRIPT {
                        let t = Instant::now();
                        chat.handle(&me, Incoming::Text(answer.into()))
                            .await
                            .expect("step");
                        lat.push(t.elapsed());
                    }
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("user"));
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    Run {
        steps_per_sec: lat.len() as f64 / secs,
        p50: lat[lat.len() / 2],
        p99: lat[lat.len() * 99 / 100],
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4)
}

#[tokio::main]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("dir");
    let core = core(dir.path()).await;
    let chat = core.chat.clone();
    if quick {
        // `cargo test --benches`: one short pass so the bench cannot rot.
        closed_loop(&chat, 2, 1).await;
        return;
    }
    println!(
        "Chat::handle, full fault report (15 steps incl. submit), SQLite WAL NORMAL, median of 3 runs\n"
    );
    for users in [1, 16, 200] {
        let rounds = match users {
            1 => 40,
            16 => 6,
            _ => 1,
        };
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(closed_loop(&chat, users, rounds).await);
        }
        runs.sort_by(|a, b| a.steps_per_sec.total_cmp(&b.steps_per_sec));
        let m = &runs[1];
        println!(
            "{users:>4} users  {:>7.0} steps/s  p50 {:>6.2} ms  p99 {:>6.2} ms   (runs: {})",
            m.steps_per_sec,
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3,
            runs.iter()
                .map(|r| format!("{:.0}", r.steps_per_sec))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("target: >= 10,000 steps/s\n");

    // Memory: 100,000 people each in the middle of a report (at the building question).
    const OPEN: usize = 100_000;
    let before = rss_kib();
    let started = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|w| {
            let chat = chat.clone();
            tokio::spawn(async move {
                for i in (w..OPEN).step_by(32) {
                    let me = person(1_000_000 + i);
                    chat.resume(&me).await.expect("start");
                    for answer in &SCRIPT[..4] {
                        chat.handle(&me, Incoming::Text((*answer).into()))
                            .await
                            .expect("step");
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("worker");
    }
    let after = rss_kib();
    let state = core
        .store()
        .conversation("bench", &format!("u{}", 1_000_000 + OPEN - 1))
        .await
        .expect("read")
        .map_or(0, |c| c.state.len());
    let db = std::fs::metadata(dir.path().join("chat.db")).map_or(0, |m| m.len())
        + std::fs::metadata(dir.path().join("chat.db-wal")).map_or(0, |m| m.len());
    println!(
        "{OPEN} open conversations created in {:.1} s: process memory {} KiB -> {} KiB ({:.0} bytes per conversation); \
         stored state {state} bytes each; database {:.1} MiB in all (tickets included)",
        started.elapsed().as_secs_f64(),
        before,
        after,
        (after.saturating_sub(before) * 1024) as f64 / OPEN as f64,
        db as f64 / 1048576.0
    );
    println!("target: <= 4 KiB per idle conversation");
}
