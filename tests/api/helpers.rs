//! `spawn_app()`: a real server on port 0 over a fresh database (a temporary SQLite file,
//! or a new PostgreSQL database when `TEST_POSTGRES_URL` is set), a manual clock, and
//! API tokens for a cast of engineers and reporters.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use baoxiu::app::Application;
use baoxiu::clock::ManualClock;
use baoxiu::config::{ApiToken, Config, TokenConfig, TokenRole};
use baoxiu::desk::Desk;
use baoxiu::desk::NewEngineer;
use baoxiu::domain::routing::{Engineer, Tier};
use baoxiu::domain::ticket::Caller;
use baoxiu::doors::discord::{Discord, DiscordConfig};
use baoxiu::doors::telegram::{Telegram, TelegramConfig};
use baoxiu::lease::Lease;
use baoxiu::outbox::Courier;
use baoxiu::outbox::dispatcher::Dispatcher;
use chrono::{TimeZone, Utc};
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::Connection;

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL from `TEST_POSTGRES_URL`, or `None` (and a clear note) when unset.
    pub fn postgres(test: &str) -> Option<Backend> {
        match std::env::var("TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                // Written past the test harness's capture so the skip is always visible.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test} on PostgreSQL: TEST_POSTGRES_URL is not set"
                );
                None
            }
        }
    }
}

/// Runs each named `async fn name(Backend)` as two tests: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(b) = $crate::helpers::Backend::postgres(concat!(module_path!(), "::", stringify!($name))) {
                        super::$name(b).await
                    }
                }
            }
        )*
    };
}

pub const MANAGER: &str = "manager-token-0123456789";

/// Token for a cast member (engineers by handle, reporters by key).
pub fn token(who: &str) -> String {
    format!("token-for-{who}-0123456789")
}

/// The engineers every test starts with: (handle, group, tier).
pub const ENGINEERS: [(&str, &str, Tier); 5] = [
    ("alice", "printer", Tier::FirstLine),
    ("bob", "printer", Tier::FirstLine),
    ("carol", "printer", Tier::Expert),
    ("dave", "network", Tier::FirstLine),
    ("mia", "desktop", Tier::Manager),
];

/// Reporters with API tokens.
pub const REPORTERS: [&str; 2] = ["li.na", "wang.fang"];

pub struct TestApp {
    /// The REST API's base URL (its own listener's, when `admin_listen` is set).
    pub base: String,
    /// The web chat's base URL.
    pub public: String,
    pub client: reqwest::Client,
    pub desk: Desk,
    pub chat: baoxiu::conversation::Chat,
    pub web: baoxiu::doors::web::Web,
    /// The database, for inspecting what the service wrote.
    pub store: baoxiu::store::Store,
    pub clock: ManualClock,
    pub database_url: String,
    /// The PostgreSQL server URL this test's database was created from.
    admin_url: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    /// Drops a passing test's PostgreSQL database (a failing test's is kept to inspect).
    fn drop(&mut self) {
        let (Some(admin), false) = (self.admin_url.clone(), std::thread::panicking()) else {
            return;
        };
        let name = self
            .database_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .ok()
            })
        })
        .join();
    }
}

fn unique() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs}_{}", rand::random::<u32>())
}

/// Creates a fresh PostgreSQL database for one test, dropping those left by runs over an
/// hour old (a failed test leaves its database behind for inspection).
pub async fn fresh_postgres(admin_url: &str) -> String {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to TEST_POSTGRES_URL");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let old: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'baoxiu_t_%'")
            .fetch_all(&mut admin)
            .await
            .expect("list test databases");
    for (name,) in old {
        let stamp: Option<u64> = name.split('_').nth(2).and_then(|s| s.parse().ok());
        if stamp.is_some_and(|s| s + 3600 < now) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
        }
    }
    let name = format!("baoxiu_t_{}", unique());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    with_database(admin_url, &name)
}

/// The same server URL with another database name (query parameters kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = base[scheme_end..]
        .find('/')
        .map_or(base, |i| &base[..scheme_end + i]);
    match query {
        Some(q) => format!("{server}/{db}?{q}"),
        None => format!("{server}/{db}"),
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// [`spawn_app`] with a changed configuration.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match &backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("baoxiu.db").display()),
        Backend::Postgres(admin) => fresh_postgres(admin).await,
    };
    start(backend, dir, database_url, tweak).await
}

impl TestApp {
    /// A second service on the same database, as after a restart (this one keeps running,
    /// as another instance would).
    pub async fn restart(&self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = match &self.admin_url {
            Some(admin) => Backend::Postgres(admin.clone()),
            None => Backend::Sqlite,
        };
        let mut again = start(backend, dir, self.database_url.clone(), |_| {}).await;
        again.clock.set(baoxiu::clock::Clock::now(&self.clock));
        // Only the original drops the database.
        again.admin_url = None;
        again
    }
}

async fn start(
    backend: Backend,
    dir: tempfile::TempDir,
    database_url: String,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config::default();
    tweak(&mut config);
    config.database.url = database_url.clone();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    let mut tokens = vec![api_token("desk", TokenRole::Manager, None, MANAGER.into())];
    for (handle, _, _) in ENGINEERS {
        tokens.push(api_token(
            handle,
            TokenRole::Engineer,
            Some(handle),
            token(handle),
        ));
    }
    for key in REPORTERS {
        tokens.push(api_token(key, TokenRole::Reporter, Some(key), token(key)));
    }
    // Monday 2026-11-23 09:00 in Shanghai.
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0)
            .single()
            .expect("valid time"),
    );
    let app = Application::build(&config, "test", tokens, Arc::new(clock.clone()))
        .await
        .expect("application builds")
        .without_background_work();
    let addr = app.admin_addr().expect("bound");
    let public = app.local_addr().expect("bound");
    let desk = app.desk().clone();
    let chat = app.chat().clone();
    let web = app.web().clone();
    let store = app.store().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let manager = Caller::Desk {
        name: "seed".into(),
    };
    for (handle, group, tier) in ENGINEERS {
        if desk
            .engineer_by_handle(handle)
            .await
            .expect("lookup")
            .is_some()
        {
            continue; // a restarted app on the same database
        }
        desk.add_engineer(
            &manager,
            NewEngineer {
                handle: handle.into(),
                name: handle.into(),
                group: group.into(),
                tier,
                on_duty: true,
            },
        )
        .await
        .expect("seed engineer");
    }
    TestApp {
        base: format!("http://{addr}"),
        public: format!("http://{public}"),
        client: reqwest::Client::new(),
        desk,
        chat,
        web,
        store,
        clock,
        database_url,
        admin_url: match backend {
            Backend::Postgres(admin) => Some(admin),
            Backend::Sqlite => None,
        },
        _dir: dir,
    }
}

fn api_token(name: &str, role: TokenRole, subject: Option<&str>, value: String) -> ApiToken {
    ApiToken {
        config: TokenConfig {
            name: name.into(),
            role,
            subject: subject.map(Into::into),
            env: "UNUSED".into(),
        },
        secret: SecretString::from(value),
    }
}

/// A typical printer fault.
pub fn printer_fault() -> Value {
    json!({
        "reporter_name": "李娜",
        "department": "财务部",
        "phone": "138 0013 8000",
        "site": "总部",
        "building": "A座",
        "room": "301",
        "asset_tag": "prn-3f-02",
        "ip": "10.1.3.20",
        "category": "printer",
        "description": "打印机卡纸，指示灯红色闪烁",
        "people_affected": 1,
        "urgency": "high"
    })
}

/// A P1 outage: the whole floor's printers, everyone affected, urgent.
pub fn printer_outage() -> Value {
    json!({
        "department": "财务部",
        "phone": "13800138000",
        "site": "总部",
        "category": "printer",
        "description": "整层打印机全部离线",
        "people_affected": 40,
        "impact": "everyone",
        "urgency": "high"
    })
}

impl TestApp {
    /// A printer fault reported from the web chat identity `web_id`; its ticket number.
    pub async fn web_report(&self, web_id: &str, name: &str) -> String {
        let r = self
            .desk
            .reporter_for_identity("web", web_id, name)
            .await
            .expect("reporter");
        let form: baoxiu::desk::ReportForm = serde_json::from_value(printer_fault()).expect("form");
        let t = self
            .desk
            .report(&Caller::Reporter(r.id), r.id, form)
            .await
            .expect("report");
        t.number.as_str().to_owned()
    }
}

/// Runs `$body` with `$c` bound to a fresh connection to the test's database, whichever
/// backend it is (the two connection types share no trait the queries could use).
macro_rules! on_database {
    ($app:expr, $c:ident, $body:block) => {
        if $app.database_url.starts_with("sqlite") {
            let mut $c = sqlx::SqliteConnection::connect(&$app.database_url)
                .await
                .expect("connect");
            $body
        } else {
            let mut $c = sqlx::PgConnection::connect(&$app.database_url)
                .await
                .expect("connect");
            $body
        }
    };
}

impl TestApp {
    async fn request(
        &self,
        method: reqwest::Method,
        who: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut r = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(who);
        if let Some(body) = body {
            r = r.json(body);
        }
        r.send().await.expect("request")
    }

    pub async fn get(&self, who: &str, path: &str) -> Response {
        self.request(reqwest::Method::GET, who, path, None).await
    }

    pub async fn post(&self, who: &str, path: &str, body: &Value) -> Response {
        self.request(reqwest::Method::POST, who, path, Some(body))
            .await
    }

    pub async fn patch(&self, who: &str, path: &str, body: &Value) -> Response {
        self.request(reqwest::Method::PATCH, who, path, Some(body))
            .await
    }

    /// Reports `body` as reporter `key`; returns the ticket number.
    pub async fn report(&self, key: &str, body: &Value) -> String {
        let r = self.post(&token(key), "/api/tickets", body).await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "report failed: {}",
            r.text().await.unwrap_or_default()
        );
        let t: Value = r.json().await.expect("json");
        t["number"].as_str().expect("number").to_owned()
    }

    /// Performs `action` on a ticket as `who` (a token), expecting `status`; returns the body.
    pub async fn act(
        &self,
        who: &str,
        number: &str,
        action: &str,
        body: Value,
        status: StatusCode,
    ) -> Value {
        let r = self
            .post(who, &format!("/api/tickets/{number}/{action}"), &body)
            .await;
        let got = r.status();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(got, status, "{action} on {number}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The ticket with its audit trail, as the manager sees it.
    pub async fn detail(&self, number: &str) -> Value {
        let r = self.get(MANAGER, &format!("/api/tickets/{number}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("json")
    }

    /// Runs raw SQL against the test database (for fault injection and inspection only).
    pub async fn sql(&self, statements: &[&str]) {
        on_database!(self, c, {
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                    .execute(&mut c)
                    .await
                    .expect("sql");
            }
        })
    }

    /// Counts rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {table}")).await
    }

    /// One integer from a query.
    pub async fn scalar(&self, q: &str) -> i64 {
        let q = q.to_owned();
        on_database!(self, c, {
            sqlx::query_scalar(sqlx::AssertSqlSafe(q))
                .fetch_one(&mut c)
                .await
                .expect("count")
        })
    }
}

impl TestApp {
    /// The messages the desk wrote about ticket `number`, oldest first.
    pub async fn outbox_of(&self, number: &str) -> Vec<baoxiu::store::OutboxMessage> {
        let t = self
            .store
            .ticket_by_number(number)
            .await
            .expect("load")
            .expect("the ticket exists");
        self.store.outbox_for_ticket(t.id).await.expect("outbox")
    }
}

impl TestApp {
    /// A Telegram door over this service's conversations and ports (not running yet).
    pub fn telegram(&self, config: TelegramConfig) -> Telegram {
        let ports = self.desk.ports();
        let lease = self.lease("telegram polling");
        Telegram::new(
            self.chat.clone(),
            ports.telegram,
            ports.photos,
            lease,
            config,
        )
        .expect("the door starts")
    }

    /// A Discord door over this service's conversations and ports (not running yet).
    pub fn discord(&self, config: DiscordConfig) -> Discord {
        let lease = self.lease("discord gateway");
        Discord::new(self.chat.clone(), self.desk.ports().discord, lease, config)
    }

    /// This service's lease on `name`, as its doors hold it (a short term: a waiting
    /// instance tries every 300 ms of real time; the term runs out on the test's clock).
    pub fn lease(&self, name: &'static str) -> Lease {
        Lease::new(
            self.desk.ports().leases,
            name,
            &self.public,
            std::time::Duration::from_millis(900),
        )
    }

    /// An outbox dispatcher of this service's desk, delivering through `couriers`.
    pub fn dispatcher(&self, couriers: Vec<Arc<dyn Courier>>) -> Dispatcher {
        Dispatcher::new(self.desk.clone(), Arc::new(self.chat.clone()), couriers)
    }

    /// Links an engineer's chat identity directly in the database (what `/link CODE`
    /// does, for tests about something else): `link` sets it on the engineer.
    pub async fn link(&self, handle: &str, link: impl FnOnce(&mut Engineer)) {
        let mut e = self
            .desk
            .engineer_by_handle(handle)
            .await
            .expect("load")
            .expect("an engineer of the cast");
        link(&mut e);
        let event = baoxiu::store::NewRegisterEvent {
            register: "engineers",
            subject: e.handle.clone(),
            at: self.clock_now(),
            actor: baoxiu::store::Actor {
                kind: "system",
                id: None,
                name: "test".into(),
            },
            action: "changed",
            note: Some("chat linked by the test".into()),
        };
        self.store
            .change_engineer(&e, None, &event)
            .await
            .expect("link");
    }

    /// The manual clock's current time.
    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use baoxiu::clock::Clock;
        self.clock.now()
    }
}

/// Runs the SLA scheduler once, as its loop would now.
pub async fn tick(app: &TestApp) -> baoxiu::sla::Tick {
    baoxiu::sla::Scheduler::new(app.desk.clone())
        .tick()
        .await
        .expect("tick")
}
