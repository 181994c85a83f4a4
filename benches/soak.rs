//! Kill -9 soak: `baoxiu serve` as a child process, polling the Telegram stand-in while
//! virtual reporters walk the fault report and engineers accept the jobs offered to them
//! but one in a hundred (those run out their response clock, so SLA warnings, breaches
//! and escalations happen too), killed with SIGKILL at random moments and restarted each
//! time. At the end the service drains its outbox and the run reconciles what people saw
//! in their chats with what the database holds:
//! - every report a reporter saw acknowledged exists exactly once, with exactly the
//!   answers given (a step lost or applied twice would put an answer in the wrong field);
//! - no walk made two tickets;
//! - every outbox message was delivered exactly once, or is still pending or dead with a
//!   reason;
//! - every SLA event (warning, breach, escalation) happened once per ticket and clock.
//!
//! Run: `cargo bench --bench soak` (SQLite) and `LOAD_BACKEND=postgres cargo bench --bench
//! soak` (a fresh database on `TEST_POSTGRES_URL`'s server). `SOAK_REPORTS` (default
//! 10,000), `SOAK_KILLS` (50), `SOAK_REPORTERS` (200) and `SOAK_RESPONSE` (the P3 response
//! target, default 90s) change the run; the service's log is kept in `target/soak-*.log`.
//! Under `cargo test --benches` it makes a short run (200 reports, 3 kills, a 5 s
//! response target).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/database.rs"]
mod database;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use database::Database;
use rand::Rng;
use serde_json::{Value, json};
use tgsim::{BotEvent, BotEventKind, RateLimits, SimHandle, SimUser, TgSim, TgSimConfig};
use tokio::process::{Child, Command};

const TOKEN: &str = "123:ABC";
const MANAGER_TOKEN: &str = "soak-manager-token-0123456789abcdef";
/// How long a reporter waits for the bot before looking again (a restart takes well under
/// a second; this only bounds a walk that went wrong).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_REPORTER: i64 = 5_000_000;
const FIRST_ENGINEER: i64 = 4_000_000;

/// One question of the fault report, as the zh-CN flow asks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    Category,
    Model,
    Symptom,
    NetworkScope,
    Site,
    Building,
    Room,
    Device,
    Description,
    Started,
    People,
    Urgency,
    Department,
    Phone,
    Summary,
}

/// How a reporter answers a question.
enum Answer {
    Text(String),
    Tap(&'static str),
}

impl Question {
    /// Latest first: a message that joins two texts is taken for its last question.
    const ALL: [(Question, &'static str); 15] = [
        (Question::Summary, "请核对报修信息"),
        (Question::Phone, "怎么联系您"),
        (Question::Department, "哪个部门"),
        (Question::Urgency, "对工作的影响有多大"),
        (Question::People, "有多少人受影响"),
        (Question::Started, "什么时候开始"),
        (Question::Description, "请描述一下故障"),
        (Question::Device, "资产标签"),
        (Question::Room, "哪个房间"),
        (Question::Building, "哪栋楼"),
        (Question::Site, "哪个地点"),
        (Question::NetworkScope, "断网的范围有多大"),
        (Question::Symptom, "打印机是什么问题"),
        (Question::Model, "是哪台打印机"),
        (Question::Category, "请选择故障类别"),
    ];

    fn of(text: &str) -> Option<Question> {
        Question::ALL
            .iter()
            .find(|(_, marker)| text.contains(marker))
            .map(|(q, _)| *q)
    }

    /// The flow's step id (what the service's conversation state names).
    fn of_step(step: &str) -> Option<Question> {
        Some(match step {
            "category" => Question::Category,
            "printer_model" => Question::Model,
            "printer_symptom" => Question::Symptom,
            "network_scope" => Question::NetworkScope,
            "site" => Question::Site,
            "building" => Question::Building,
            "room" => Question::Room,
            "device" => Question::Device,
            "description" => Question::Description,
            "started" => Question::Started,
            "people" => Question::People,
            "urgency" => Question::Urgency,
            "department" => Question::Department,
            "phone" => Question::Phone,
            "summary" => Question::Summary,
            _ => return None,
        })
    }

    fn answer(self, walk: &Walk) -> Answer {
        match self {
            Question::Category if walk.printer => Answer::Tap("打印机与外设"),
            Question::Category => Answer::Tap("网络"),
            Question::Model => Answer::Text(MODEL.into()),
            Question::Symptom => Answer::Tap("卡纸"),
            Question::NetworkScope => Answer::Tap("只有一台电脑"),
            Question::Site => Answer::Text(SITE.into()),
            Question::Building => Answer::Text(BUILDING.into()),
            Question::Room => Answer::Text(ROOM.into()),
            Question::Device => Answer::Text(ASSET.into()),
            Question::Description => Answer::Text(description(&walk.tag)),
            Question::Started => Answer::Tap("刚刚"),
            Question::People => Answer::Tap("只有我"),
            Question::Urgency => Answer::Tap("工作受影响"),
            Question::Department => Answer::Text(DEPARTMENT.into()),
            Question::Phone => Answer::Text(PHONE.into()),
            Question::Summary => Answer::Tap("✅ 提交"),
        }
    }
}

const MODEL: &str = "HP LaserJet M404";
const SITE: &str = "总部园区";
const BUILDING: &str = "A座";
const ROOM: &str = "3楼 301";
const ASSET: &str = "PRN-0042";
const DEPARTMENT: &str = "财务部";
const PHONE: &str = "13800138000";

fn description(walk: &str) -> String {
    format!("打印到一半卡纸 {walk}")
}

const ACK: &str = "报修已登记，工单号";

fn ticket_number(text: &str) -> Option<String> {
    let start = text.find("BX-")?;
    text.get(start..start + 14).map(str::to_owned)
}

/// What the run saw, for the reconciliation.
#[derive(Default)]
struct Seen {
    /// Walk tag → the ticket number its acknowledgement showed, and whether it was a
    /// printer's.
    acked: BTreeMap<String, (String, bool)>,
    /// The ticket numbers of those receipts.
    numbers: HashSet<String>,
    abandoned: u32,
    answered_again: u32,
    steps: u64,
}

struct Run {
    sim: SimHandle,
    /// The service's database, read to know which question is open.
    db: Db,
    target: u32,
    /// Reporters walk until the target is reached and the kills are over.
    killing: AtomicBool,
    acked: AtomicU32,
    loading: AtomicBool,
}

/// The child process and how to start it again.
struct Service {
    child: Option<Child>,
    env: Vec<(String, String)>,
    base: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl Service {
    async fn start(&mut self) -> Duration {
        let began = Instant::now();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_baoxiu"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("baoxiu serve starts");
        self.child = Some(child);
        loop {
            let up = self
                .http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return began.elapsed();
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "baoxiu serve exited with {status}; see {}",
                    self.log.display()
                );
            }
            assert!(
                began.elapsed() < Duration::from_secs(60),
                "serve never came up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(MANAGER_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("api");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.expect("json")
    }
}

/// One walk: its tag (in the description) and whether it reports a printer (routed to
/// the engineers) or a network fault (a group without engineers: its clocks run out).
struct Walk {
    tag: String,
    printer: bool,
}

/// The newest message showing `question` with an id above `after`.
fn shown(
    events: &[BotEvent],
    question: Question,
    after: i64,
) -> Option<(i64, Arc<tgsim::Content>)> {
    let mut latest: BTreeMap<i64, &BotEvent> = BTreeMap::new();
    for e in events {
        if e.kind == BotEventKind::Deleted {
            latest.remove(&e.message_id);
        } else {
            latest.insert(e.message_id, e);
        }
    }
    latest
        .iter()
        .rev()
        .take_while(|(id, _)| **id > after)
        .find_map(|(id, e)| {
            let text = e.content.text.as_deref().unwrap_or_default();
            (Question::of(text) == Some(question)).then(|| (*id, e.content.clone()))
        })
}

/// The receipt answering this walk's submit: after it, and naming a ticket this reporter
/// has not been told of before (an earlier walk's receipt can show again after a crash).
fn acknowledged(events: &[BotEvent], submitted: u64, known: &HashSet<String>) -> Option<String> {
    events
        .iter()
        .rev()
        .take_while(|e| e.seq > submitted)
        .find_map(|e| {
            let text = e.content.text.as_deref().unwrap_or_default();
            let number = text.contains(ACK).then(|| ticket_number(text)).flatten()?;
            (!known.contains(&number)).then_some(number)
        })
}

/// One walk of the fault report; the ticket number, or why it was given up.
///
/// A reporter answers what the service is asking, as a careful person would — but a chat
/// alone cannot tell them apart after a crash: the same question may show twice because
/// their answer was not taken (asked again) or because an earlier reply was sent again
/// (their answer was taken). So each answer waits until the service has handled it, and
/// the conversation's state in the database says which question is open; the reporter
/// answers that question where the chat shows it.
async fn walk(run: &Run, user: i64, walk: &Walk, seen: &mut Seen) -> Result<String, String> {
    let sim = &run.sim;
    let err = |e: tgsim::SimError| e.to_string();
    // A chat the bot has not written in yet is unknown to the stand-in.
    let start = sim.last_event_seq(user).unwrap_or(0);
    let mut update = sim
        .inject_text(user, user, "/report")
        .map_err(err)?
        .update_id;
    let mut answered: Option<(i64, Question)> = None;
    let mut submitted = None;
    loop {
        run.db.until_handled(update).await?;
        let open = run.db.open_step(user).await;
        let seq = sim.last_event_seq(user).unwrap_or(0);
        let events = sim.bot_events(user, start).map_err(err)?;
        let Some(step) = open else {
            // The conversation is over: the receipt is on its way.
            let Some(submitted) = submitted else {
                return Err("the conversation ended before the summary".into());
            };
            if let Some(number) = acknowledged(&events, submitted, &seen.numbers) {
                return Ok(number);
            }
            sim.wait_for_bot_event(user, seq, STEP_TIMEOUT)
                .await
                .map_err(|e| format!("no receipt: {e}"))?;
            continue;
        };
        let question = Question::of_step(&step).ok_or_else(|| format!("unexpected step {step}"))?;
        // Asked again (the answer was not taken): only a newer message counts.
        let after = match answered {
            Some((message, q)) if q == question => message,
            _ => 0,
        };
        let Some((message, content)) = shown(&events, question, after) else {
            sim.wait_for_bot_event(user, seq, STEP_TIMEOUT)
                .await
                .map_err(|e| format!("{question:?} never shown: {e}"))?;
            continue;
        };
        if after > 0 {
            seen.answered_again += 1;
        }
        let injected = match question.answer(walk) {
            Answer::Text(text) => sim.inject_text(user, user, &text),
            Answer::Tap(label) => {
                if content.button(label).is_none() {
                    return Err(format!("{question:?} shows no {label:?}"));
                }
                sim.tap_label(user, user, message, label)
            }
        }
        .map_err(err)?;
        update = injected.update_id;
        seen.steps += 1;
        answered = Some((message, question));
        if question == Question::Summary {
            submitted.get_or_insert(seq);
        }
    }
}

async fn reporter(run: Arc<Run>, user: i64) -> Seen {
    let mut seen = Seen::default();
    let mut n: i64 = 0;
    while run.acked.load(Ordering::Relaxed) < run.target || run.killing.load(Ordering::Relaxed) {
        n += 1;
        let tag = format!("soak-{user}-{n}");
        // One report in fifty is a printer's, for the engineers.
        let printer = (user * 7 + n) % 50 == 0;
        let w = Walk { tag, printer };
        match walk(&run, user, &w, &mut seen).await {
            Ok(number) => {
                run.acked.fetch_add(1, Ordering::Relaxed);
                seen.numbers.insert(number.clone());
                seen.acked.insert(w.tag, (number, printer));
            }
            Err(e) => {
                eprintln!("soak: {} given up: {e}", w.tag);
                seen.abandoned += 1;
                let _ = run.sim.inject_text(user, user, "/cancel");
            }
        }
    }
    seen
}

/// Accepts the jobs offered in `user`'s chat, but for those whose ticket number ends in
/// 00 (their response clock runs out), until the load is over.
async fn engineer(run: Arc<Run>, user: i64) -> u32 {
    let sim = &run.sim;
    let mut seq = sim.last_event_seq(user).expect("seq");
    let mut tapped = HashSet::new();
    while run.loading.load(Ordering::Relaxed) {
        if sim
            .wait_for_bot_event(user, seq, Duration::from_millis(500))
            .await
            .is_err()
        {
            continue;
        }
        let events = sim.bot_events(user, seq).expect("events");
        seq = events.last().map_or(seq, |e| e.seq);
        for e in events {
            let text = e.content.text.as_deref().unwrap_or_default();
            let take = ticket_number(text).is_some_and(|n| !n.ends_with("00"));
            if take && e.content.button("✋ 接单").is_some() && tapped.insert(e.message_id) {
                let _ = sim.tap_label(user, user, e.message_id, "✋ 接单");
            }
        }
    }
    u32::try_from(tapped.len()).unwrap_or(u32::MAX)
}

/// Read-only queries for the reconciliation, on either backend.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

macro_rules! fetch {
    ($db:expr, $t:ty, $sql:expr) => {
        match $db {
            Db::Sqlite(p) => sqlx::query_as::<_, $t>($sql).fetch_all(p).await,
            Db::Postgres(p) => sqlx::query_as::<_, $t>($sql).fetch_all(p).await,
        }
        .expect($sql)
    };
}

impl Db {
    async fn connect(url: &str) -> Db {
        if url.starts_with("postgres") {
            Db::Postgres(sqlx::PgPool::connect(url).await.expect("postgres"))
        } else {
            Db::Sqlite(sqlx::SqlitePool::connect(url).await.expect("sqlite"))
        }
    }

    async fn count(&self, sql: &'static str) -> i64 {
        fetch!(self, (i64,), sql).first().map_or(0, |r| r.0)
    }

    /// Waits until the service has handled update `id` (its conversation took it, or it
    /// was found cut short by a crash and the person shown where they are).
    async fn until_handled(&self, id: i64) -> Result<(), String> {
        let sql = format!(
            "SELECT COUNT(*) FROM telegram_updates WHERE update_id = {id} AND handled_at IS NOT NULL"
        );
        let began = Instant::now();
        loop {
            let n = match self {
                Db::Sqlite(p) => {
                    sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql.clone()))
                        .fetch_one(p)
                        .await
                }
                Db::Postgres(p) => {
                    sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql.clone()))
                        .fetch_one(p)
                        .await
                }
            };
            if n.is_ok_and(|n| n.0 > 0) {
                return Ok(());
            }
            if began.elapsed() > 4 * STEP_TIMEOUT {
                return Err(format!("update {id} not handled in {:?}", began.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The step `user`'s conversation waits at, if one is open.
    async fn open_step(&self, user: i64) -> Option<String> {
        let sql = format!(
            "SELECT state FROM conversations WHERE channel = 'telegram' AND external_id = '{user}'"
        );
        let state = match self {
            Db::Sqlite(p) => {
                sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql))
                    .fetch_optional(p)
                    .await
            }
            Db::Postgres(p) => {
                sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql))
                    .fetch_optional(p)
                    .await
            }
        }
        .ok()??;
        let state: Value = serde_json::from_str(&state.0).ok()?;
        if state["done"].as_bool() == Some(true) {
            return None;
        }
        state["step"].as_str().map(str::to_owned)
    }
}

type TicketRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
);
type OutboxRow = (String, String, i64, String, String, i64, Option<String>);

#[tokio::main]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let var = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (reports, kills, reporters) = if quick {
        (200, 3, 20)
    } else {
        (
            var("SOAK_REPORTS", 10_000),
            var("SOAK_KILLS", 50),
            var("SOAK_REPORTERS", 200),
        )
    };
    let response =
        std::env::var("SOAK_RESPONSE").unwrap_or_else(|_| if quick { "5s" } else { "90s" }.into());
    let backend = if database::postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };

    let database = Database::new().await;
    let sim = TgSim::start(
        TgSimConfig::new(TOKEN)
            .limits(RateLimits::off())
            .wait_timeout(STEP_TIMEOUT),
    )
    .await
    .expect("tgsim");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("soak-{}.log", backend.to_lowercase()));
    let _ = std::fs::remove_file(&log);
    let mut service = Service {
        child: None,
        env: vec![
            ("BAOXIU_DATABASE__URL".into(), database.url()),
            ("BAOXIU_SERVER__LISTEN".into(), format!("127.0.0.1:{port}")),
            ("BAOXIU_MANAGER_TOKEN".into(), MANAGER_TOKEN.into()),
            ("TELEGRAM_BOT_TOKEN".into(), TOKEN.into()),
            ("BAOXIU_TELEGRAM__API_URL".into(), sim.url()),
            ("BAOXIU_TELEGRAM__FLOOD_LIMITS".into(), "false".into()),
            ("BAOXIU_SLA__P3__RESPONSE".into(), response.clone()),
            ("RUST_LOG".into(), "warn".into()),
        ],
        base: format!("http://127.0.0.1:{port}"),
        log,
        http: reqwest::Client::new(),
    };
    let mut restarts = vec![service.start().await];

    // Engineers of the printer group, linked to their Telegram accounts: twenty first-line,
    // one expert (the escalations go to the expert). A person gets one message at a time,
    // so fewer would make a queue of job cards longer than the response target.
    let handle = sim.handle();
    let engineers: Vec<i64> = (0..21).map(|i| FIRST_ENGINEER + i).collect();
    for (i, id) in engineers.iter().enumerate() {
        let tier = if i == 20 { "expert" } else { "first_line" };
        let e = service
            .api(
                reqwest::Method::POST,
                "/api/engineers",
                json!({"handle": format!("eng{i}"), "name": format!("工程师{i}"),
                       "group": "printer", "tier": tier, "on_duty": true}),
            )
            .await;
        let code = service
            .api(
                reqwest::Method::POST,
                &format!("/api/engineers/{}/link-code", e["id"]),
                json!({}),
            )
            .await;
        let code = code["code"].as_str().expect("code").to_owned();
        let mut u = SimUser::new(*id);
        u.first_name = format!("工程师{i}");
        u.language_code = Some("zh-hans".into());
        handle.add_user(u).expect("user");
        let seq = handle.last_event_seq(*id).unwrap_or(0);
        handle
            .inject_text(*id, *id, &format!("/link {code}"))
            .expect("link");
        handle
            .wait_for_bot_event(*id, seq, STEP_TIMEOUT)
            .await
            .expect("linked");
    }
    for i in 0..i64::from(reporters) {
        let mut u = SimUser::new(FIRST_REPORTER + i);
        u.first_name = format!("报修人{i}");
        u.language_code = Some("zh-hans".into());
        handle.add_user(u).expect("user");
    }

    let run = Arc::new(Run {
        db: Db::connect(&database.url()).await,
        sim: handle.clone(),
        target: reports,
        killing: AtomicBool::new(true),
        acked: AtomicU32::new(0),
        loading: AtomicBool::new(true),
    });
    let began = Instant::now();
    let walkers: Vec<_> = (0..i64::from(reporters))
        .map(|i| tokio::spawn(reporter(run.clone(), FIRST_REPORTER + i)))
        .collect();
    let workers: Vec<_> = engineers
        .iter()
        .map(|id| tokio::spawn(engineer(run.clone(), *id)))
        .collect();

    // Kills at random moments, spread over the run: gaps drawn around the time the run
    // is expected to take at the pace of its first seconds, divided among the kills.
    let mut killed = 0;
    let mut gap = Duration::from_millis(if quick { 400 } else { 2000 });
    while killed < kills {
        let wait = rand::rng().random_range(gap / 4..gap * 7 / 4);
        tokio::time::sleep(wait).await;
        service.kill().await;
        killed += 1;
        restarts.push(service.start().await);
        if killed == 1 {
            let done = f64::from(run.acked.load(Ordering::Relaxed).max(1));
            let per_report = began.elapsed().as_secs_f64() / done;
            let expected = per_report * f64::from(reports);
            gap = Duration::from_secs_f64((expected / f64::from(kills)).clamp(0.3, 10.0));
        }
    }
    run.killing.store(false, Ordering::Relaxed);
    let mut seen = Seen::default();
    for w in walkers {
        let s = w.await.expect("reporter");
        seen.acked.extend(s.acked);
        seen.abandoned += s.abandoned;
        seen.answered_again += s.answered_again;
        seen.steps += s.steps;
    }
    let load_time = began.elapsed();

    // Let the response clocks of the last tickets run out, then the outbox drain.
    let sla_budget = baoxiu_duration(&response);
    let db = &run.db;
    let drained_by = Instant::now() + sla_budget + Duration::from_secs(300);
    tokio::time::sleep(sla_budget + Duration::from_secs(5)).await;
    while Instant::now() < drained_by {
        let open = db
            .count("SELECT COUNT(*) FROM outbox WHERE status NOT IN ('sent', 'dead')")
            .await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    run.loading.store(false, Ordering::Relaxed);
    let mut accepted = 0;
    for w in workers {
        accepted += w.await.expect("engineer");
    }
    service.kill().await;

    reconcile(db, &handle, &seen, &engineers)
        .await
        .print(&Header {
            backend,
            reports,
            reporters,
            kills: killed,
            restarts: &restarts,
            load_time,
            accepted,
            seen: &seen,
        });
    sim.shutdown().await;
    database.drop_database().await;
}

/// "20s", "1m": the soak's own durations.
fn baoxiu_duration(s: &str) -> Duration {
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n.parse().expect("a duration like 20s or 1m");
    match unit {
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => panic!("SOAK_RESPONSE: use s or m"),
    }
}

struct Header<'a> {
    backend: &'a str,
    reports: u32,
    reporters: u32,
    kills: u32,
    restarts: &'a [Duration],
    load_time: Duration,
    accepted: u32,
    seen: &'a Seen,
}

#[derive(Default)]
struct Reconciliation {
    tickets: usize,
    acked_missing: Vec<String>,
    acked_twice: usize,
    walks_with_two_tickets: Vec<String>,
    tickets_not_acked: Vec<String>,
    wrong_answers: Vec<String>,
    unfinished_updates: i64,
    outbox_by_status: BTreeMap<String, usize>,
    dead_reasons: BTreeMap<String, usize>,
    delivered_twice: Vec<String>,
    replies_twice: Vec<String>,
    sent_not_seen: Vec<String>,
    outbox_events: BTreeMap<String, usize>,
    sla_events: BTreeMap<String, usize>,
    sla_twice: Vec<String>,
}

async fn reconcile(db: &Db, sim: &SimHandle, seen: &Seen, engineers: &[i64]) -> Reconciliation {
    let mut r = Reconciliation::default();
    let tickets = fetch!(
        db,
        TicketRow,
        "SELECT number, description, site, building, room, asset_tag, device_model, \
         department, phone FROM tickets"
    );
    r.tickets = tickets.len();
    let by_number: HashMap<&str, &TicketRow> = tickets.iter().map(|t| (t.0.as_str(), t)).collect();
    let mut walks: HashMap<&str, Vec<&str>> = HashMap::new();
    for t in &tickets {
        walks.entry(t.1.as_str()).or_default().push(t.0.as_str());
    }
    r.walks_with_two_tickets = walks
        .iter()
        .filter(|(_, n)| n.len() > 1)
        .map(|(d, n)| format!("{d}: {n:?}"))
        .collect();
    let mut acked_numbers: HashMap<&str, usize> = HashMap::new();
    for (tag, (number, printer)) in &seen.acked {
        *acked_numbers.entry(number.as_str()).or_default() += 1;
        let Some(t) = by_number.get(number.as_str()) else {
            r.acked_missing.push(format!("{tag} → {number}"));
            continue;
        };
        let expected = (
            description(tag),
            SITE,
            Some(BUILDING),
            Some(ROOM),
            Some(ASSET),
            printer.then_some(MODEL),
            DEPARTMENT,
            PHONE,
        );
        // The description goes on with the answers it sums up; the walk's own text first.
        let actual = (
            t.1.lines().next().unwrap_or_default().to_owned(),
            t.2.as_str(),
            t.3.as_deref(),
            t.4.as_deref(),
            t.5.as_deref(),
            t.6.as_deref(),
            t.7.as_str(),
            t.8.as_str(),
        );
        if actual != expected {
            r.wrong_answers
                .push(format!("{number}: {actual:?} instead of {expected:?}"));
        }
    }
    r.acked_twice = acked_numbers.values().filter(|n| **n > 1).count();
    r.tickets_not_acked = tickets
        .iter()
        .filter(|t| !acked_numbers.contains_key(t.0.as_str()))
        .map(|t| format!("{} ({})", t.0, t.1))
        .collect();

    // What each chat shows against what the service meant to send: per chat and ticket,
    // the bot's messages naming that ticket, and the outbox rows marked sent plus the
    // conversation's replies naming it (kept with each handled update).
    let rows = fetch!(
        db,
        OutboxRow,
        "SELECT COALESCE(t.number, ''), o.recipient_kind, o.recipient_id, o.event, o.status, \
         CAST(o.attempts AS BIGINT), o.last_error FROM outbox o \
         LEFT JOIN tickets t ON t.id = o.ticket_id"
    );
    let reporters: HashMap<i64, i64> = fetch!(
        db,
        (i64, String),
        "SELECT reporter_id, external_id FROM reporter_identities WHERE channel = 'telegram'"
    )
    .into_iter()
    .filter_map(|(id, chat)| Some((id, chat.parse().ok()?)))
    .collect();
    let engineer_chats: HashMap<i64, i64> = fetch!(
        db,
        (i64, Option<String>),
        "SELECT id, telegram_id FROM engineers"
    )
    .into_iter()
    .filter_map(|(id, chat)| Some((id, chat?.parse().ok()?)))
    .collect();
    // Keyed by chat, ticket and whether it is a conversation reply (else an outbox message).
    let mut expected: HashMap<(i64, String, bool), usize> = HashMap::new();
    let mut reply_texts: HashMap<(i64, String), HashSet<String>> = HashMap::new();
    for (number, kind, recipient, event, status, _attempts, error) in &rows {
        *r.outbox_by_status.entry(status.clone()).or_default() += 1;
        if status == "dead" {
            *r.dead_reasons
                .entry(error.clone().unwrap_or_default())
                .or_default() += 1;
        }
        *r.outbox_events.entry(event.clone()).or_default() += 1;
        let chat = if kind == "reporter" {
            reporters.get(recipient)
        } else {
            engineer_chats.get(recipient)
        };
        if let (Some(chat), "sent", false) = (chat, status.as_str(), number.is_empty()) {
            *expected.entry((*chat, number.clone(), false)).or_default() += 1;
        }
    }
    let replies = fetch!(
        db,
        (Option<String>,),
        "SELECT replies FROM telegram_updates"
    );
    r.unfinished_updates = fetch!(
        db,
        (i64,),
        "SELECT COUNT(*) FROM telegram_updates WHERE sent_at IS NULL"
    )
    .first()
    .map_or(0, |c| c.0);
    for (json,) in replies {
        let Some(list) = json.and_then(|j| serde_json::from_str::<Vec<Value>>(&j).ok()) else {
            continue;
        };
        // A sent message has a chat and a text, and no message id (that is an edit).
        for reply in list.iter().filter_map(|v| v.as_object()?.values().next()) {
            let (Some(chat), Some(text)) = (reply["chat"].as_i64(), reply["text"].as_str()) else {
                continue;
            };
            if reply.get("message_id").is_none()
                && let Some(number) = ticket_number(text)
            {
                reply_texts
                    .entry((chat, number.clone()))
                    .or_default()
                    .insert(text.to_owned());
                *expected.entry((chat, number, true)).or_default() += 1;
            }
        }
    }
    let mut shown: HashMap<(i64, String, bool), usize> = HashMap::new();
    let chats: HashSet<i64> = reporters.values().chain(engineers).copied().collect();
    for chat in chats {
        for e in sim.bot_events(chat, 0).unwrap_or_default() {
            let text = e.content.text.as_deref().unwrap_or_default();
            if let (BotEventKind::Sent, Some(number)) = (e.kind, ticket_number(text)) {
                let reply = reply_texts
                    .get(&(chat, number.clone()))
                    .is_some_and(|t| t.contains(text));
                *shown.entry((chat, number, reply)).or_default() += 1;
            }
        }
    }
    for (key, n) in &shown {
        let meant = expected.get(key).copied().unwrap_or(0);
        if *n > meant {
            let list = if key.2 {
                &mut r.replies_twice
            } else {
                &mut r.delivered_twice
            };
            list.push(format!(
                "chat {} ticket {}: {n} shown, {meant} sent",
                key.0, key.1
            ));
        }
    }
    for (key, meant) in &expected {
        let n = shown.get(key).copied().unwrap_or(0);
        if n < *meant {
            let what = if key.2 { "reply" } else { "outbox" };
            r.sent_not_seen.push(format!(
                "chat {} ticket {} ({what}): {meant} sent, {n} shown",
                key.0, key.1
            ));
        }
    }

    // SLA events: once per ticket, clock and kind in the audit trail.
    let audit = fetch!(
        db,
        (String, String, Option<String>, i64),
        "SELECT t.number, a.action, a.note, COUNT(*) FROM audit_events a \
         JOIN tickets t ON t.id = a.ticket_id WHERE a.action LIKE 'sla_%' \
         GROUP BY t.number, a.action, a.note"
    );
    for (number, action, note, n) in audit {
        *r.sla_events.entry(action.clone()).or_default() += usize::try_from(n).unwrap_or(0);
        if n > 1 {
            r.sla_twice.push(format!(
                "{number} {action} {} ×{n}",
                note.unwrap_or_default()
            ));
        }
    }
    r
}

impl Reconciliation {
    fn print(&self, h: &Header<'_>) {
        let mut restarts: Vec<f64> = h.restarts.iter().map(Duration::as_secs_f64).collect();
        restarts.sort_by(f64::total_cmp);
        let median = restarts.get(restarts.len() / 2).copied().unwrap_or(0.0) * 1000.0;
        let max = restarts.last().copied().unwrap_or(0.0) * 1000.0;
        println!(
            "kill -9 soak ({}): {} reports asked of {} reporters; {} kills (SIGKILL), restart to \
             ready median {median:.0} ms, max {max:.0} ms; load {:.1} s, {} steps",
            h.backend,
            h.reports,
            h.reporters,
            h.kills,
            h.load_time.as_secs_f64(),
            h.seen.steps
        );
        println!(
            "  reporters: {} receipts seen, {} walks given up, {} questions answered again \
             after being asked again; engineers tapped ✋ 接单 on {} cards",
            h.seen.acked.len(),
            h.seen.abandoned,
            h.seen.answered_again,
            h.accepted
        );
        let line = |name: &str, items: &[String]| {
            println!("  {name}: {}", items.len());
            for i in items.iter().take(5) {
                println!("    {i}");
            }
        };
        println!("  tickets in the database: {}", self.tickets);
        line(
            "receipts whose ticket is missing (lost)",
            &self.acked_missing,
        );
        println!(
            "  receipts naming a ticket another receipt named: {}",
            self.acked_twice
        );
        line(
            "walks that made two tickets (duplicated)",
            &self.walks_with_two_tickets,
        );
        line(
            "tickets no reporter saw a receipt for",
            &self.tickets_not_acked,
        );
        line(
            "tickets with an answer lost or applied twice",
            &self.wrong_answers,
        );
        println!(
            "  updates received but not finished: {}",
            self.unfinished_updates
        );
        println!("  outbox: {:?}", self.outbox_by_status);
        println!("  outbox by event: {:?}", self.outbox_events);
        for (reason, n) in &self.dead_reasons {
            println!("    dead ×{n}: {reason}");
        }
        line(
            "outbox messages shown more often than sent (duplicated)",
            &self.delivered_twice,
        );
        line(
            "conversation replies shown more often than recorded (sent again after a kill \
             between sending and marking them sent)",
            &self.replies_twice,
        );
        line(
            "replies and outbox messages marked sent but not shown (lost)",
            &self.sent_not_seen,
        );
        println!("  SLA events in the audit trail: {:?}", self.sla_events);
        line("SLA events recorded twice", &self.sla_twice);
    }
}
