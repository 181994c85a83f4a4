//! The command line as a newcomer meets it.

use std::process::Command;

fn baoxiu(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_baoxiu"))
        .args(args)
        .current_dir(dir)
        .env_remove("BAOXIU_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run baoxiu")
}

#[test]
fn help_explains_the_commands() {
    let dir = tempfile::tempdir().expect("dir");
    let out = baoxiu(dir.path(), &["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "migrate", "config", "BAOXIU_DATABASE__URL"] {
        assert!(text.contains(word), "{word} missing from --help:\n{text}");
    }
}

#[test]
fn migrate_creates_the_sqlite_file_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("dir");
    for _ in 0..2 {
        let out = baoxiu(dir.path(), &["migrate"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("is up to date"));
    }
    assert!(dir.path().join("baoxiu.db").exists());
}

#[test]
fn config_check_names_file_and_key_of_a_mistake() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("baoxiu.toml"),
        "[sla.p2]\nresolution = \"8 hours\"\n",
    )
    .expect("write");
    let out = baoxiu(dir.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("baoxiu.toml")
            && err.contains("sla.p2.resolution")
            && err.contains("not a duration"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("baoxiu.toml"),
        "[calendar]\nkind = \"working_hours\"\ntime_zone = \"Mars/Olympus\"\n",
    )
    .expect("write");
    let out = baoxiu(dir.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("baoxiu.toml") && err.contains("calendar") && err.contains("Mars/Olympus"),
        "{err}"
    );
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("baoxiu.toml"),
        "[desk]\nticket_prefix = \"IT\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_baoxiu"))
        .args(["config", "check"])
        .current_dir(dir.path())
        .env("BAOXIU_DESK__TICKET_PREFIX", "HD")
        .env("BAOXIU_MANAGER_TOKEN", "short")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a 5-character token is refused");
    assert!(
        err.contains("BAOXIU_MANAGER_TOKEN") && err.contains("at least 16"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_baoxiu"))
        .args(["config", "check"])
        .current_dir(dir.path())
        .env("BAOXIU_DESK__TICKET_PREFIX", "HD")
        .env("BAOXIU_MANAGER_TOKEN", "a-long-enough-secret-token")
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ticket_prefix = \"HD\""), "{text}");
    assert!(text.contains("1 API token(s) enabled"));
    assert!(
        !text.contains("a-long-enough-secret-token"),
        "secrets are never printed"
    );
}

#[test]
fn config_check_checks_the_doors_and_says_which_are_on() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("baoxiu.toml"),
        "[telegram]\nwebhook_url = \"https://bx.example/telegram/webhook\"\n",
    )
    .expect("write");
    let check = |vars: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_baoxiu"));
        c.args(["config", "check"])
            .current_dir(dir.path())
            .env_remove("BAOXIU_CONFIG")
            .env_remove("DISCORD_BOT_TOKEN")
            .env_remove("TELEGRAM_WEBHOOK_SECRET");
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().expect("run")
    };
    let out = check(&[("TELEGRAM_BOT_TOKEN", "123:ABC")]);
    assert_eq!(out.status.code(), Some(1), "a webhook needs its secret");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TELEGRAM_WEBHOOK_SECRET") && err.contains("telegram.webhook_url"),
        "{err}"
    );
    let out = check(&[
        ("TELEGRAM_BOT_TOKEN", "123:ABC"),
        ("TELEGRAM_WEBHOOK_SECRET", "s3cret_ok"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("# telegram door: on"), "{text}");
    assert!(
        text.contains("# discord door: off (DISCORD_BOT_TOKEN is not set)"),
        "{text}"
    );
    assert!(
        !text.contains("123:ABC") && !text.contains("s3cret_ok"),
        "secrets shown"
    );
}

fn copy_flows(to: &std::path::Path) {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-flows");
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("bot-flows") {
        let entry = entry.expect("entry");
        if entry.path().extension().is_some_and(|e| e == "toml") {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[test]
fn flows_check_reports_file_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    let flows = dir.path().join("flows");
    copy_flows(&flows);
    let out = baoxiu(dir.path(), &["flows", "check", "flows"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("fault_report"));

    // Break one reference: the problem names the file and the line.
    let file = flows.join("fault_report.toml");
    let text = std::fs::read_to_string(&file).expect("read");
    let (line, _) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim_start().starts_with("next = "))
        .expect("a `next =` line");
    let broken: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == line {
                "next = \"nowhere\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&file, broken.join("\n")).expect("write");
    let out = baoxiu(dir.path(), &["flows", "check", "flows"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("fault_report.toml:{}:", line + 1)) && err.contains("nowhere"),
        "{err}"
    );
    // `serve` refuses to start on the same broken flows.
    std::fs::write(
        dir.path().join("baoxiu.toml"),
        "[chat]\nflows_dir = \"flows\"\n",
    )
    .expect("write");
    let out = baoxiu(dir.path(), &["serve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));
}

/// `baoxiu chat --as 陈静` in `dir`, typing `lines`; what it printed once they ran out.
fn terminal_chat(dir: &std::path::Path, lines: &[&str]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_baoxiu"))
        .args(["chat", "--as", "陈静"])
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run baoxiu chat");
    if let Some(stdin) = child.stdin.as_mut() {
        for line in lines {
            writeln!(stdin, "{line}").expect("type");
        }
    }
    child.wait_with_output().expect("finish")
}

#[test]
fn terminal_chat_files_a_report() {
    let dir = tempfile::tempdir().expect("dir");
    let answers = [
        "1",
        "1",
        "总部",
        "跳过",
        "跳过",
        "PC-0231",
        "开机蓝屏",
        "1",
        "1",
        "1",
        "行政部",
        "13900001111",
        "1",
    ];
    let out = terminal_chat(dir.path(), &answers);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("工单号 BX-"), "{text}");
    assert!(text.contains("  1) "), "choices are numbered: {text}");
}

/// A database URL's password is never shown: not by `config check`, not by `migrate`,
/// not in the error when the database cannot be opened.
#[test]
fn the_database_password_is_never_shown() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str], url: &str| {
        Command::new(env!("CARGO_BIN_EXE_baoxiu"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("BAOXIU_CONFIG")
            .env("RUST_LOG", "info")
            .env("BAOXIU_DATABASE__URL", url)
            .env("BAOXIU_SERVER__LISTEN", "127.0.0.1:0")
            .output()
            .expect("run baoxiu")
    };
    let shown = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let out = run(
        &["config", "check"],
        "postgres://u:S3cret@db.example/baoxiu",
    );
    let text = shown(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("url = \"postgres://u:***@db.example/baoxiu\""),
        "{text}"
    );
    assert!(!text.contains("S3cret"), "{text}");
    let out = run(
        &["config", "check"],
        "postgres://db.example/baoxiu?user=u&password=S3cret",
    );
    let text = shown(&out);
    assert!(
        text.contains("password=***") && !text.contains("S3cret"),
        "{text}"
    );

    // A server that hangs up at once: `serve` and `migrate` fail, naming the database
    // without its password.
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = server.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for c in server.incoming() {
            drop(c);
        }
    });
    let url = format!("postgres://u:S3cret@127.0.0.1:{port}/baoxiu");
    for command in ["serve", "migrate"] {
        let out = run(&[command], &url);
        let text = shown(&out);
        assert_eq!(out.status.code(), Some(1), "{command}: {text}");
        assert!(
            text.contains(&format!("postgres://u:***@127.0.0.1:{port}/baoxiu")),
            "{command}: {text}"
        );
        assert!(!text.contains("S3cret"), "{command}: {text}");
    }
    let out = run(&["serve"], "mysql://u:S3cret@127.0.0.1/baoxiu");
    let text = shown(&out);
    assert!(
        text.contains("mysql://u:***@127.0.0.1/baoxiu") && !text.contains("S3cret"),
        "{text}"
    );
}

/// `serve` logs the database it runs on with the password masked (on PostgreSQL, which
/// trusts local connections here, so any password is accepted).
#[tokio::test]
async fn serve_logs_the_database_without_its_password() {
    let Some(crate::helpers::Backend::Postgres(admin)) =
        crate::helpers::Backend::postgres("cli::serve_logs_the_database_without_its_password")
    else {
        return;
    };
    let url = crate::helpers::fresh_postgres(&admin).await;
    let with_password = url.replacen("://postgres@", "://postgres:S3cret@", 1);
    assert_ne!(
        with_password, url,
        "TEST_POSTGRES_URL names the user postgres"
    );
    let dir = tempfile::tempdir().expect("dir");
    let mut served = Served::start(dir.path(), &[("BAOXIU_DATABASE__URL", &with_password)]);
    served.terminate();
    served.wait(std::time::Duration::from_secs(10));
    let text = served.log();
    let listening = text
        .lines()
        .find(|l| l.contains("listening on"))
        .unwrap_or_else(|| panic!("no startup line: {text}"));
    assert!(listening.contains("postgres:***@"), "{listening}");
    assert!(!text.contains("S3cret"), "{text}");
    use sqlx::Connection;
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut c)
        .await;
    }
}

/// `baoxiu serve` run as a deployment runs it, with its stderr collected line by line.
pub(crate) struct Served {
    pub child: std::process::Child,
    /// `http://ADDR` of the listener, from the start-up log line.
    pub base: String,
    /// Everything written to stderr so far.
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Everything written to stdout so far.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Starts `baoxiu serve` in `dir` on a free port (`127.0.0.1:0`) with `env` added,
    /// and waits (up to 30 s) for the line saying where it listens.
    pub fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Served {
        use std::io::BufRead;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baoxiu"));
        cmd.arg("serve")
            .current_dir(dir)
            .env_remove("BAOXIU_CONFIG")
            .env_remove("TELEGRAM_BOT_TOKEN")
            .env_remove("DISCORD_BOT_TOKEN")
            .env("BAOXIU_SERVER__LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run baoxiu serve");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let read = |pipe: Box<dyn std::io::Read + Send>,
                    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some(at) = line.find("listening on http://") {
                        let rest = &line[at + "listening on ".len()..];
                        let url: String = rest
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '"')
                            .collect();
                        let _ = tx.send(url);
                    }
                    lines.lock().expect("lines").push(line);
                }
            })
        };
        let reader = read(
            Box::new(child.stderr.take().expect("stderr")),
            stderr.clone(),
        );
        let out_reader = read(
            Box::new(child.stdout.take().expect("stdout")),
            stdout.clone(),
        );
        let base = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serve never said where it listens:\n{}",
                    stderr.lock().expect("lines").join("\n")
                );
            }
        };
        Served {
            child,
            base,
            stderr,
            stdout,
            readers: vec![reader, out_reader],
        }
    }

    /// Sends SIGTERM (as systemd does to stop a service).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to end (up to `limit`); its status and how long it took.
    pub fn wait(
        &mut self,
        limit: std::time::Duration,
    ) -> (std::process::ExitStatus, std::time::Duration) {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return (status, start.elapsed());
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("baoxiu did not stop within {limit:?}:\n{}", self.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The stderr lines so far, then the stdout ones, joined.
    pub fn log(&self) -> String {
        let mut all = self.stderr.lock().expect("lines").clone();
        all.extend(self.stdout.lock().expect("lines").iter().cloned());
        all.join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The binary carries its conversations: from an empty directory (no source tree, no
/// bot-flows, no configuration) it serves and answers `/healthz` on SQLite in that
/// directory, checks the built-in flows, and exports them for editing.
#[tokio::test]
async fn the_binary_runs_outside_the_source_tree() {
    let dir = tempfile::tempdir().expect("dir");
    let mut served = Served::start(dir.path(), &[]);
    let r = reqwest::get(format!("{}/healthz", served.base))
        .await
        .expect("healthz");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{}", served.log());
    assert!(
        dir.path().join("baoxiu.db").exists(),
        "SQLite in the working directory"
    );
    served.terminate();
    let (status, _) = served.wait(std::time::Duration::from_secs(10));
    assert!(status.success(), "{}", served.log());
    let log = served.log();
    assert!(
        log.contains("SIGTERM: stopping") && log.contains("stopped"),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no terminal colours in a log file: {log}"
    );

    let out = baoxiu(dir.path(), &["flows", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("built in") && text.contains("fault_report"),
        "{text}"
    );

    // Exported, the files check as a directory and serve uses them when configured.
    let out = baoxiu(dir.path(), &["flows", "export", "my-flows"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, text) in baoxiu::flow::EMBEDDED {
        let written =
            std::fs::read_to_string(dir.path().join("my-flows").join(name)).expect("exported file");
        assert_eq!(written, text, "{name}");
    }
    let out = baoxiu(dir.path(), &["flows", "check", "my-flows"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second export never overwrites edits.
    let out = baoxiu(dir.path(), &["flows", "export", "my-flows"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `BAOXIU_LOG_FORMAT=json`: every line on stderr is a JSON object, nothing goes to
/// stdout, and each request has an access line with method, path (no query), status
/// and latency, and never a secret from the query or the headers.
#[tokio::test]
async fn json_logs_on_stderr_with_an_access_line_per_request() {
    let dir = tempfile::tempdir().expect("dir");
    let mut served = Served::start(dir.path(), &[("BAOXIU_LOG_FORMAT", "json")]);
    let r = reqwest::Client::new()
        .get(format!("{}/healthz?token=query-secret-123", served.base))
        .header("cookie", "bx_session=cookie-secret-456")
        .header("X-Telegram-Bot-Api-Secret-Token", "header-secret-789")
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let r = reqwest::get(format!("{}/chat/invite/one-time-code-abc", served.base))
        .await
        .expect("invite");
    assert!(r.status().is_client_error() || r.status().is_redirection() || r.status().is_success());
    served.terminate();
    let (status, _) = served.wait(std::time::Duration::from_secs(10));
    assert!(status.success(), "{}", served.log());
    let lines = served.stderr.lock().expect("lines").clone();
    assert!(lines.len() >= 3, "{lines:?}");
    let mut access = Vec::new();
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if v["target"] == "baoxiu::access" {
            access.push(v);
        }
        for secret in [
            "query-secret-123",
            "cookie-secret-456",
            "header-secret-789",
            "one-time-code-abc",
        ] {
            assert!(!line.contains(secret), "{secret} logged: {line}");
        }
    }
    assert!(
        served.stdout.lock().expect("lines").is_empty(),
        "logs on stdout"
    );
    let health = access
        .iter()
        .find(|v| v["path"] == "/healthz")
        .unwrap_or_else(|| panic!("no access line for /healthz: {lines:?}"));
    assert_eq!(health["method"], "GET");
    assert_eq!(health["status"], 200);
    assert_eq!(health["level"], "INFO");
    assert!(health["latency_ms"].as_f64().is_some(), "{health}");
    assert!(
        access.iter().any(|v| v["path"] == "/chat/invite/{code}"),
        "{access:?}"
    );
}

/// `baoxiu reporter erase ID`: erases a reporter who chatted from the terminal; an
/// unknown id is an error naming it.
#[test]
fn reporter_erase_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    assert!(terminal_chat(dir.path(), &["/status"]).status.success());

    let out = baoxiu(dir.path(), &["reporter", "erase", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("erased"));
    let out = baoxiu(dir.path(), &["reporter", "erase", "999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reporter 999"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 19: next year's official list comes in as an ICS file (or the TOML format) and
/// lands where the service reads it at start-up; a bad file says why.
#[test]
fn calendar_import_writes_the_list_the_calendar_loads() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("cn-2027.ics"),
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20270101\r\n\
         DTEND;VALUE=DATE:20270104\r\nSUMMARY:元旦 休\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n\
         DTSTART;VALUE=DATE:20270207\r\nSUMMARY:春节 补班\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .expect("write");
    let out = baoxiu(dir.path(), &["calendar", "import", "cn-2027.ics"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("3 holidays and 1 make-up"), "{said}");
    let written = std::fs::read_to_string(dir.path().join("holidays/holidays-2027.toml"))
        .expect("written into [holidays] dir");
    assert!(
        written.contains("2027-01-03") && written.contains("workdays = [2027-02-07]"),
        "{written}"
    );
    // The service starts with it: `config check` builds the calendar from the directory.
    std::fs::write(
        dir.path().join("baoxiu.toml"),
        "[calendar]\nkind = \"working_hours\"\n",
    )
    .expect("write");
    let out = baoxiu(dir.path(), &["config", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        dir.path().join("holidays/bad.toml"),
        "holidays = [\"soon\"]",
    )
    .expect("write");
    let out = baoxiu(dir.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml"));

    let out = baoxiu(dir.path(), &["calendar", "import", "missing.ics"]);
    assert!(!out.status.success());
}
