//! Knowledge-base search latency: `Desk::search_articles` as a reporter's `/kb` runs it
//! (candidates from SQLite's FTS5 trigram index or PostgreSQL's pg_trgm, the index of
//! one- and two-character terms, the ranking in `domain::knowledge`) over
//! 10,000 published articles, with Chinese and English queries; on SQLite, and on
//! PostgreSQL when `TEST_POSTGRES_URL` is set. Three runs on a fresh database per
//! backend; p50 and p99 medians printed per backend and query language. Target: p99 ≤
//! 20 ms. `KB_ARTICLES` and `KB_QUERIES` change the sizes (a quick look in a debug build:
//! `KB_ARTICLES=500 KB_QUERIES=50`). Run: `cargo bench --bench kb_search`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baoxiu::clock::SystemClock;
use baoxiu::config::Config;
use baoxiu::desk::Desk;
use baoxiu::domain::ReporterId;
use baoxiu::domain::knowledge::{Draft, search_text, short_terms};
use baoxiu::domain::ticket::Caller;
use baoxiu::store::{Store, StoreOptions};
use sqlx::Connection;

#[allow(dead_code, reason = "this bench makes its database by name alone")]
#[path = "support/database.rs"]
mod database;

const RUNS: usize = 3;
/// Results a `/kb` shows.
const LIMIT: usize = 5;

const CATEGORIES: [&str; 6] = [
    "desktop",
    "printer",
    "network",
    "server",
    "database",
    "application",
];
const ZH_DEVICES: [&str; 20] = [
    "打印机",
    "复印机",
    "扫描仪",
    "笔记本",
    "台式机",
    "显示器",
    "交换机",
    "路由器",
    "无线网络",
    "邮箱",
    "共享盘",
    "服务器",
    "数据库",
    "财务系统",
    "考勤系统",
    "投影仪",
    "电话",
    "键盘",
    "鼠标",
    "U盘",
];
const ZH_SYMPTOMS: [&str; 20] = [
    "卡纸",
    "脱机",
    "无法连接",
    "蓝屏",
    "开机很慢",
    "没有声音",
    "黑屏",
    "报错",
    "密码错误",
    "登录失败",
    "断网",
    "速度慢",
    "打不开",
    "死机",
    "闪退",
    "无法打印",
    "证书过期",
    "空间不足",
    "中毒",
    "乱码",
];
const EN_DEVICES: [&str; 20] = [
    "printer",
    "copier",
    "scanner",
    "laptop",
    "desktop",
    "monitor",
    "switch",
    "router",
    "wifi",
    "outlook",
    "share drive",
    "server",
    "database",
    "erp",
    "vpn",
    "projector",
    "phone",
    "keyboard",
    "mouse",
    "usb stick",
];
const EN_SYMPTOMS: [&str; 20] = [
    "paper jam",
    "offline",
    "cannot connect",
    "blue screen",
    "slow boot",
    "no sound",
    "black screen",
    "error code",
    "wrong password",
    "login failed",
    "disconnects",
    "slow",
    "will not open",
    "freezes",
    "crashes",
    "cannot print",
    "certificate expired",
    "disk full",
    "virus",
    "garbled text",
];
/// What people type: short Chinese terms (the LIKE fallback), phrases (trigrams), mixed.
const ZH_QUERIES: [&str; 10] = [
    "打印机卡纸",
    "卡纸",
    "网络",
    "蓝屏",
    "邮箱密码错误",
    "共享盘打不开",
    "无线网络断网了",
    "财务系统登录失败",
    "U盘中毒",
    "电话没有声音",
];
const EN_QUERIES: [&str; 10] = [
    "printer paper jam",
    "vpn",
    "outlook password",
    "wifi disconnects",
    "disk full",
    "blue screen",
    "erp login failed",
    "scanner offline",
    "projector no sound",
    "certificate expired",
];

/// A small deterministic generator: the same articles on every backend and run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn article(i: usize, rng: &mut Lcg) -> Draft {
    let (d, s) = (rng.next(20), rng.next(20));
    let (d2, s2) = (rng.next(20), rng.next(20));
    Draft {
        category: CATEGORIES[i % CATEGORIES.len()].into(),
        title: format!(
            "{}{}（{} {}）",
            ZH_DEVICES[d], ZH_SYMPTOMS[s], EN_DEVICES[d], EN_SYMPTOMS[s]
        ),
        symptom: format!(
            "{}楼用户反映{}{}，同时{}{}。Users on floor {} report the {} {}.",
            i % 30,
            ZH_DEVICES[d],
            ZH_SYMPTOMS[s],
            ZH_DEVICES[d2],
            ZH_SYMPTOMS[s2],
            i % 30,
            EN_DEVICES[d],
            EN_SYMPTOMS[s]
        ),
        cause: format!("{}配置被改动（案例 {i}）", ZH_DEVICES[d]),
        solution: format!(
            "重启{}，检查{}设置，必要时联系厂商。Restart the {}, check its settings, call the vendor if needed.",
            ZH_DEVICES[d], ZH_DEVICES[d2], EN_DEVICES[d]
        ),
        keywords: vec![ZH_SYMPTOMS[s].into(), EN_DEVICES[d].into()],
    }
}

/// Inserts `n` published articles directly (setup only: the desk writes one at a time).
async fn seed(url: &str, n: usize) {
    let mut rng = Lcg(20_261_206);
    let rows: Vec<Draft> = (0..n).map(|i| article(i, &mut rng)).collect();
    let now = chrono::Utc::now();
    const INSERT: &str = "INSERT INTO articles (status, category, title, symptom, cause,
        solution, keywords, search_text, short_terms, uses, version, created_at, updated_at,
        published_at)
        VALUES ('published', $1, $2, $3, $4, $5, $6, $7, SHORT, $8, 1, $9, $9, $9)";
    macro_rules! insert_all {
        ($c:expr, $short:expr) => {{
            let sql = INSERT.replace("SHORT", $short);
            let mut tx = $c.begin().await.expect("begin");
            for (i, d) in rows.iter().enumerate() {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&d.category)
                    .bind(&d.title)
                    .bind(&d.symptom)
                    .bind(&d.cause)
                    .bind(&d.solution)
                    .bind(d.keywords.join("\n"))
                    .bind(search_text(d))
                    .bind((i % 17) as i64)
                    .bind(now)
                    .bind(short_terms(&search_text(d)))
                    .execute(&mut *tx)
                    .await
                    .expect("insert");
            }
            tx.commit().await.expect("commit");
        }};
    }
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("sqlite");
        insert_all!(c, "$10");
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("postgres");
        insert_all!(c, "string_to_array($10, ' ')");
        sqlx::query("ANALYZE articles")
            .execute(&mut c)
            .await
            .expect("analyze");
    }
}

async fn desk(url: &str, articles: usize) -> Desk {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    seed(url, articles).await;
    let policy = Config::default().policy("defaults").expect("policy");
    Desk::new(store, Arc::new(SystemClock), policy)
}

/// Latencies of `n` searches cycling through `queries`.
async fn run(desk: &Desk, queries: &[&str], n: usize) -> (Duration, Duration, usize) {
    let caller = Caller::Reporter(ReporterId(1));
    let mut lat = Vec::with_capacity(n);
    let mut hits = 0;
    for i in 0..n {
        let q = queries[i % queries.len()];
        let t = Instant::now();
        let found = desk
            .search_articles(&caller, q, None, LIMIT)
            .await
            .expect("search");
        lat.push(t.elapsed());
        hits += found.len();
    }
    lat.sort();
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100], hits)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One query language's figures: name, queries, p50 and p99 per run, results found.
type Language = (
    &'static str,
    &'static [&'static str],
    Vec<Duration>,
    Vec<Duration>,
    usize,
);

async fn backend(
    name: &str,
    articles: usize,
    queries: usize,
    mut url: impl AsyncFnMut() -> String,
) {
    let mut per_lang: Vec<Language> = vec![
        ("Chinese", &ZH_QUERIES, vec![], vec![], 0),
        ("English", &EN_QUERIES, vec![], vec![], 0),
    ];
    for _ in 0..RUNS {
        let url = url().await;
        let desk = desk(&url, articles).await;
        for (_, qs, p50s, p99s, hits) in per_lang.iter_mut() {
            // Warm-up: statement caches, page cache.
            run(&desk, qs, qs.len() * 2).await;
            let (p50, p99, found) = run(&desk, qs, queries).await;
            p50s.push(p50);
            p99s.push(p99);
            *hits = found;
        }
        desk.close().await;
    }
    for (lang, _, p50s, p99s, hits) in per_lang {
        let p99 = median(p99s);
        println!(
            "{name:<10} {lang:<8} p50 {:>8.2} ms  p99 {:>8.2} ms  {}  ({} results in the last run)",
            median(p50s).as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            if p99 <= Duration::from_millis(20) {
                "≤ 20 ms"
            } else {
                "OVER 20 ms"
            },
            hits
        );
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` passes no `--bench`: one quick smoke pass, so it cannot rot.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let articles = env("KB_ARTICLES", if smoke { 200 } else { 10_000 });
    let queries = env("KB_QUERIES", if smoke { 20 } else { 1_000 });
    println!(
        "KB search ({LIMIT} results), {articles} published articles, {queries} queries per language, median of {RUNS} runs\n"
    );
    let dir = tempfile::tempdir().expect("dir");
    let mut n = 0;
    backend("sqlite", articles, queries, async || {
        n += 1;
        format!(
            "sqlite://{}",
            dir.path().join(format!("kb{n}.db")).display()
        )
    })
    .await;
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() && !smoke => {
            backend("postgres", articles, queries, async || {
                database::fresh_postgres(&admin, "baoxiu_kb_bench").await
            })
            .await;
        }
        _ => println!("postgres   (set TEST_POSTGRES_URL to measure it)"),
    }
}
