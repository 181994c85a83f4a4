//! Asset import: `Desk::import_assets` end to end (decode, check every row, upsert in one
//! transaction with its audit event) for a list shaped like plan 000's (Chinese headers,
//! PCs, printers and copiers across five cities), on SQLite and, when `TEST_POSTGRES_URL`
//! is set, PostgreSQL. Each size runs three times on a fresh database; the median is
//! printed against the target (10,000 assets ≤ 5 s). Run: `cargo bench --bench
//! assets_import` (`BENCH_ASSETS=N` changes the size; `cargo test --benches` runs it once
//! on 500 to keep it from rotting).

use std::sync::Arc;
use std::time::{Duration, Instant};

use baoxiu::clock::SystemClock;
use baoxiu::config::Config;
use baoxiu::desk::Desk;
use baoxiu::domain::ticket::Caller;
use baoxiu::store::{Store, StoreOptions};
use sqlx::Connection;

const RUNS: usize = 3;
const TARGET: Duration = Duration::from_secs(5);

fn size() -> usize {
    if let Some(n) = std::env::var("BENCH_ASSETS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        return n;
    }
    if std::env::args().any(|a| a == "--bench") {
        10_000
    } else {
        500
    }
}

/// A register of `n` devices as a client's spreadsheet has it: UTF-8 with a BOM.
fn sheet(n: usize) -> Vec<u8> {
    let cities = [
        "上海总部",
        "苏州分公司",
        "杭州分公司",
        "南京分公司",
        "合肥分公司",
    ];
    let kinds = [
        ("PC", "pc", "Lenovo M720"),
        ("PRN", "printer", "HP M404"),
        ("MFP", "mfp", "Canon iR 2625"),
        ("CP", "copier", "Ricoh MP 2014"),
    ];
    let mut out = String::from(
        "\u{feff}资产编号,类型,品牌型号,序列号,IP地址,MAC地址,地点,楼宇,房间,使用人,部门,购买日期,保修截止,状态,备注\n",
    );
    for i in 0..n {
        let (prefix, kind, model) = kinds[if i % 10 < 7 { 0 } else { 1 + i % 3 }];
        out.push_str(&format!(
            "{prefix}-{i:05},{kind},{model},SN{i:08},10.{}.{}.{},00:1A:2B:{:02X}:{:02X}:{:02X},{},{}座,{}{:02},员工{i},部门{},20{:02}-{:02}-01,20{:02}-{:02}-28,在用,\n",
            1 + i / 62_500,
            (i / 250) % 250,
            1 + i % 250,
            (i >> 16) & 0xFF,
            (i >> 8) & 0xFF,
            i & 0xFF,
            cities[i % 5],
            ["A", "B", "C"][i % 3],
            1 + i % 20,
            i % 40,
            i % 12,
            18 + i % 7,
            1 + i % 12,
            24 + i % 7,
            1 + i % 12,
        ));
    }
    out.into_bytes()
}

async fn desk(url: &str) -> Desk {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let policy = Config::default().policy("defaults").expect("policy");
    store
        .sync_groups(policy.routing.groups())
        .await
        .expect("groups");
    Desk::new(store, Arc::new(SystemClock), policy)
}

async fn once(url: &str, bytes: &[u8], n: usize) -> Duration {
    let desk = desk(url).await;
    let manager = Caller::Desk {
        name: "bench".into(),
    };
    let started = Instant::now();
    let done = desk.import_assets(&manager, bytes).await.expect("import");
    let took = started.elapsed();
    assert_eq!(done.rows, n);
    desk.close().await;
    took
}

async fn backend(name: &str, mut fresh: impl AsyncFnMut() -> (String, Option<tempfile::TempDir>)) {
    let n = size();
    let bytes = sheet(n);
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let (url, _dir) = fresh().await;
        times.push(once(&url, &bytes, n).await);
    }
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "{name:<10} {n:>6} assets ({:.1} MB): median {:>6.0} ms of {RUNS} ({:.0} assets/s; runs {:?} ms); target ≤ {} s for 10,000: {}",
        bytes.len() as f64 / 1e6,
        median.as_secs_f64() * 1e3,
        n as f64 / median.as_secs_f64(),
        times.iter().map(|t| t.as_millis()).collect::<Vec<_>>(),
        TARGET.as_secs(),
        if n < 10_000 {
            "(smaller run)"
        } else if median <= TARGET {
            "met"
        } else {
            "MISSED"
        }
    );
}

#[tokio::main]
async fn main() {
    backend("sqlite", async || {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        (url, Some(dir))
    })
    .await;
    let Ok(admin) = std::env::var("TEST_POSTGRES_URL") else {
        println!("postgres   skipped: TEST_POSTGRES_URL is not set");
        return;
    };
    let mut made = Vec::new();
    backend("postgres", async || {
        let name = format!("baoxiu_bench_{}", rand::random::<u32>());
        let mut c = sqlx::PgConnection::connect(&admin).await.expect("postgres");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut c)
            .await
            .expect("create database");
        made.push(name.clone());
        let server = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        (format!("{server}/{name}"), None)
    })
    .await;
    let mut c = sqlx::PgConnection::connect(&admin).await.expect("postgres");
    for name in made {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut c)
        .await;
    }
}
