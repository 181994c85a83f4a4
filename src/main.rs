//! The `baoxiu` command line.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use baoxiu::app::{Application, Core};
use baoxiu::clock::SystemClock;
use baoxiu::config::{Config, LogFormat};
use baoxiu::conversation::Person;
use baoxiu::domain::report::GroupBy;
use baoxiu::domain::ticket::Caller;
use baoxiu::flow::Flows;

mod cli_registers;

/// baoxiu (报修): office staff report IT faults from chat; the desktop-support desk
/// dispatches, works and closes them within the contract's service levels.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file (default: ./baoxiu.toml if it exists, else built-in defaults).
    /// Any setting can also be given as BAOXIU_SECTION__KEY, e.g. BAOXIU_DATABASE__URL.
    #[arg(long, short, global = true, env = "BAOXIU_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: REST API and health check on http://127.0.0.1:8080 by default.
    /// Creates and migrates the database (./baoxiu.db by default) on start.
    Serve,
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate,
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The SLA calendar's public holidays.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Check the conversation files (bot-flows): every problem as file:line: reason.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
    /// The contract's statistics for a period: volume, times, SLA compliance, reopen rate,
    /// confirmations, survey response and satisfaction, complaints, repeat faults.
    Report {
        /// First day (local date, YYYY-MM-DD); with --to.
        #[arg(long, requires = "to", conflicts_with = "period")]
        from: Option<chrono::NaiveDate>,
        /// Last day, inclusive.
        #[arg(long, requires = "from")]
        to: Option<chrono::NaiveDate>,
        /// The last complete week, month, quarter, half-year or year.
        #[arg(long)]
        period: Option<String>,
        /// Break down by category, department, site, engineer, priority or channel.
        #[arg(long)]
        by: Option<String>,
        /// table (default), csv or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Inspect the notification outbox and replay dead letters.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Manage engineers and managers (who sign in to the desk console at /desk).
    Engineers {
        #[command(subcommand)]
        command: EngineersCommand,
    },
    /// Manage reporters.
    Reporter {
        #[command(subcommand)]
        command: ReporterCommand,
    },
    /// The staff directory: import the client's staff list.
    People {
        #[command(subcommand)]
        command: cli_registers::PeopleCommand,
    },
    /// The asset register: import, export, history, reports, QR stickers.
    Assets {
        #[command(subcommand)]
        command: cli_registers::AssetsCommand,
    },
    /// Chat in this terminal, with the same conversations and database as the service:
    /// report a fault as a reporter, or work jobs with --engineer.
    Chat {
        /// Act as this engineer (their handle) instead of as a reporter.
        #[arg(long)]
        engineer: Option<String>,
        /// Your name as a reporter (default: $USER).
        #[arg(long = "as", env = "USER")]
        name: Option<String>,
        /// Language: zh-CN (default) or en.
        #[arg(long, default_value = "zh-CN")]
        lang: String,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Import a year's holidays and make-up working days from FILE (an ICS calendar of
    /// all-day events — a SUMMARY with 班 or "work" marks a make-up working day — or the
    /// TOML format of the built-in list) into `[holidays] dir`, where the service reads
    /// it at start-up.
    Import {
        /// The ICS or TOML file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum EngineersCommand {
    /// Add an engineer (or, with --manager, a manager: the third line, who sees every
    /// ticket). Then give them a console password with `engineers set-password`.
    Add {
        /// Their handle (sign-in name): 2–32 lowercase letters, digits, '.', '_' or '-'.
        handle: String,
        /// Their name as people see it (default: the handle).
        #[arg(long)]
        name: Option<String>,
        /// Their group (default: the first configured group).
        #[arg(long)]
        group: Option<String>,
        /// A manager (third line) rather than a first-line engineer.
        #[arg(long, conflicts_with = "expert")]
        manager: bool,
        /// A second-line expert rather than a first-line engineer.
        #[arg(long)]
        expert: bool,
        /// Added off duty (no jobs offered until they go on duty).
        #[arg(long)]
        off_duty: bool,
    },
    /// Set an engineer's desk-console password, read from the first line of standard
    /// input (e.g. `printf '%s\n' "$PASSWORD" | baoxiu engineers set-password mia`); or,
    /// with --link, print a one-time link where they set it themselves.
    SetPassword {
        /// The engineer's handle.
        handle: String,
        /// Print a one-time link instead of reading a password.
        #[arg(long)]
        link: bool,
    },
    /// Change an engineer's record: `--wecom ID` sets their WeCom UserID (1–64
    /// letters, digits, '_', '-', '.' or '@', as in WeCom's directory), so WeCom
    /// messages from it are theirs without `/link`; `--wecom ""` clears it.
    Set {
        /// The engineer's handle.
        handle: String,
        /// Their WeCom UserID.
        #[arg(long)]
        wecom: Option<String>,
    },
}

#[derive(Subcommand)]
enum ReporterCommand {
    /// Erase a reporter's personal data (PIPL): name, phone, chat identities, web
    /// sessions, conversations, drafts and chat history, what they wrote in trails and
    /// surveys, their photos. Their tickets stay as anonymous records in the statistics;
    /// the erasure is recorded (by `cli`, and when).
    Erase {
        /// The reporter's id.
        id: i64,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List messages in a status (newest first): dead, unroutable, pending or sent.
    List {
        /// Which status.
        #[arg(long, default_value = "dead")]
        status: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Queue a dead (or unroutable) message again, or every dead message with --all-dead.
    Retry {
        /// The message id (from `outbox list`).
        #[arg(required_unless_present = "all_dead")]
        id: Option<i64>,
        /// Every dead message.
        #[arg(long, conflicts_with = "id")]
        all_dead: bool,
    },
}

#[derive(Subcommand)]
enum FlowsCommand {
    /// Load and validate every flow in DIR (default: `[chat] flows_dir` if set, else the
    /// copy built into this binary). Exit code 1 on any problem.
    Check {
        /// The directory to check.
        dir: Option<PathBuf>,
    },
    /// Write the conversation files built into this binary to DIR for editing (then set
    /// `[chat] flows_dir = "DIR"`). Existing files are never overwritten.
    Export {
        /// Where to write them (created if missing).
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check the configuration file and environment; print the effective settings.
    Check,
}

/// Logs to stderr (stdout is the commands' output), as text or JSON lines:
/// `BAOXIU_LOG_FORMAT` (`text`/`json`) over `[log] format`.
fn init_tracing(format: LogFormat) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let format = match std::env::var("BAOXIU_LOG_FORMAT") {
        Ok(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
        Ok(v) if v.eq_ignore_ascii_case("text") => LogFormat::Text,
        Ok(v) => {
            return Err(format!(
                "environment: `BAOXIU_LOG_FORMAT`: `{v}` is neither text nor json"
            ));
        }
        Err(_) => format,
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colours only for a person at a terminal, not for the journal or a file.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("baoxiu: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let (config, source) = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    init_tracing(config.log.format)?;
    match cli.command {
        Command::Calendar {
            command: CalendarCommand::Import { file },
        } => {
            let src = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let list = baoxiu::domain::holidays::HolidayList::parse(&src)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let years: Vec<String> = list.years().iter().map(i32::to_string).collect();
            let dir = &config.holidays.dir;
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let name = match years.as_slice() {
                [] => "workdays".to_owned(),
                years => years.join("-"),
            };
            let out = dir.join(format!("holidays-{name}.toml"));
            std::fs::write(&out, list.to_toml())
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!(
                "{} holidays and {} make-up working days ({}) written to {}; restart the service to use them",
                list.holidays.len(),
                list.workdays.len(),
                years.join(", "),
                out.display()
            );
            Ok(())
        }
        Command::Serve => {
            let (tokens, warnings) = config.api_tokens().map_err(|e| e.to_string())?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            let doors = config
                .doors(&source, |var| std::env::var(var).ok())
                .map_err(|e| e.to_string())?;
            let mut app = Application::build(&config, &source, tokens, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            match doors.telegram {
                Some(telegram) => {
                    app = app.with_telegram(telegram).map_err(|e| e.to_string())?;
                    tracing::info!("telegram door on");
                }
                None => tracing::info!(
                    "telegram door off: {} is not set",
                    config.telegram.token_env
                ),
            }
            match doors.discord {
                Some(discord) => {
                    app = app.with_discord(discord);
                    tracing::info!("discord door on");
                }
                None => tracing::info!("discord door off: {} is not set", config.discord.token_env),
            }
            match doors.wecom {
                Some(wecom) => {
                    app = app.with_wecom(wecom);
                    tracing::info!("wecom door on");
                }
                None => tracing::info!("wecom door off: {} is not set", config.wecom.secret_env),
            }
            let addr = app.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(config = %source, database = %config.database.shown_url(), "baoxiu listening on http://{addr}");
            // An unstaffed desk (a fresh install, nobody on duty) is said at once.
            match app.desk().staffing().await {
                Ok(staffing) => {
                    for w in staffing.warnings() {
                        tracing::warn!("unstaffed desk: {w}");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "staffing not checked"),
            }
            for w in app.desk().calendar_warnings() {
                tracing::warn!("calendar: {w}");
            }
            app.run_until(async {
                let signal = stop_signal().await;
                tracing::info!(
                    "{signal}: stopping (no new work; finishing what is under way, within {} s)",
                    HARD_STOP.as_secs()
                );
                // However the stop goes, the process ends by the deadline.
                std::thread::spawn(|| {
                    std::thread::sleep(HARD_STOP);
                    // A log line (stderr), so JSON logs stay JSON.
                    tracing::error!(
                        "did not stop within {} s: exiting with work cut short",
                        HARD_STOP.as_secs()
                    );
                    std::process::exit(2);
                });
            })
            .await
            .map_err(|e| e.to_string())?;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Migrate => {
            config.policy(&source).map_err(|e| e.to_string())?;
            Core::migrate(&config)
                .await
                .map_err(|e| format!("database: {e}"))?;
            println!("database {} is up to date", config.database.shown_url());
            Ok(())
        }
        Command::Report {
            from,
            to,
            period,
            by,
            format,
        } => {
            let by = by
                .map(|b| {
                    GroupBy::parse(&b)
                        .ok_or_else(|| format!("unknown --by `{b}`; use {}", GroupBy::NAMES))
                })
                .transpose()?;
            let core = Core::assemble(&config, &source, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            let desk = &core.desk;
            let (start, end) = desk
                .report_period(from, to, period.as_deref())
                .map_err(|e| e.to_string())?;
            let report = desk
                .report_for(&desk_cli(), start, end, by)
                .await
                .map_err(|e| e.to_string())?;
            core.close().await;
            match format.as_str() {
                "table" => print!("{}", report.to_table()),
                "csv" => print!("{}", report.to_csv()),
                "json" => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
                ),
                other => {
                    return Err(format!(
                        "unknown --format `{other}`; use table, csv or json"
                    ));
                }
            }
            Ok(())
        }
        Command::Engineers { command } => {
            let core = Core::assemble(&config, &source, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            let done = engineers(&core, &config, command).await;
            core.close().await;
            done
        }
        Command::Reporter {
            command: ReporterCommand::Erase { id },
        } => {
            let core = Core::assemble(&config, &source, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            let erased = core
                .desk
                .erase_reporter(&desk_cli(), baoxiu::domain::ReporterId(id))
                .await
                .map_err(|e| e.to_string());
            core.close().await;
            erased?;
            println!("reporter {id}: personal data erased; their tickets stay, anonymous");
            Ok(())
        }
        Command::People { command } => cli_registers::people(&config, &source, command).await,
        Command::Assets { command } => cli_registers::assets(&config, &source, command).await,
        Command::Outbox { command } => {
            let core = Core::assemble(&config, &source, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            let done = outbox(&core, command).await;
            core.close().await;
            done
        }
        Command::Flows {
            command: FlowsCommand::Export { dir },
        } => {
            let written = Flows::export(&dir).map_err(|e| format!("cannot export: {e}"))?;
            for path in &written {
                println!("{}", path.display());
            }
            println!(
                "# {} file(s) written; use them with [chat] flows_dir = \"{}\"",
                written.len(),
                dir.display()
            );
            Ok(())
        }
        Command::Flows {
            command: FlowsCommand::Check { dir },
        } => {
            let dir = dir.or_else(|| config.chat.flows_dir.clone());
            let shown = dir.as_ref().map_or_else(
                || "bot-flows (built in)".to_owned(),
                |d| d.display().to_string(),
            );
            match Flows::load(dir.as_deref()) {
                Ok(flows) => {
                    println!(
                        "{shown}: OK ({} flows: {})",
                        flows.flow_ids().len(),
                        flows.flow_ids().join(", ")
                    );
                    Ok(())
                }
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{p}");
                    }
                    Err(format!("{} problem(s) in {shown}", problems.len()))
                }
            }
        }
        Command::Chat {
            engineer,
            name,
            lang,
        } => {
            let core = Core::assemble(&config, &source, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            let person = match engineer {
                Some(handle) => {
                    if core
                        .desk
                        .engineer_by_handle(&handle)
                        .await
                        .map_err(|e| e.to_string())?
                        .is_none()
                    {
                        return Err(format!("no engineer has the handle `{handle}`"));
                    }
                    Person {
                        channel: "console-engineer".into(),
                        external_id: handle.clone(),
                        name: handle,
                        language: Some(lang),
                    }
                }
                None => {
                    let name = name.unwrap_or_else(|| "console".into());
                    Person {
                        channel: "console".into(),
                        external_id: name.clone(),
                        name,
                        language: Some(lang),
                    }
                }
            };
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            let chatted =
                baoxiu::doors::terminal::run(&core.chat, &person, stdin, tokio::io::stdout())
                    .await
                    .map_err(|e| e.to_string());
            core.close().await;
            chatted
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            config.policy(&source).map_err(|e| e.to_string())?;
            let (tokens, warnings) = config.api_tokens().map_err(|e| e.to_string())?;
            let doors = config
                .doors(&source, |var| std::env::var(var).ok())
                .map_err(|e| e.to_string())?;
            let effective = toml::to_string_pretty(&config.shown()).map_err(|e| e.to_string())?;
            println!("# configuration from {source}: OK\n{effective}");
            println!("# {} API token(s) enabled", tokens.len());
            for w in warnings {
                println!("# {w}");
            }
            let door = |on: bool, var: &str| {
                if on {
                    "on".to_owned()
                } else {
                    format!("off ({var} is not set)")
                }
            };
            println!(
                "# telegram door: {}",
                door(doors.telegram.is_some(), &config.telegram.token_env)
            );
            println!(
                "# discord door: {}",
                door(doors.discord.is_some(), &config.discord.token_env)
            );
            println!(
                "# wecom door: {}",
                door(doors.wecom.is_some(), &config.wecom.secret_env)
            );
            Ok(())
        }
    }
}

/// After SIGTERM or Ctrl-C, the process exits by then whatever is still running (exit
/// code 2); the service's own stop takes at most `baoxiu::app::STOP_WITHIN` (8 s).
const HARD_STOP: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for SIGTERM (how systemd stops a service) or SIGINT (Ctrl-C); which one.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// The desk as the command line acts on it.
fn desk_cli() -> Caller {
    Caller::Desk { name: "cli".into() }
}

async fn outbox(core: &Core, command: OutboxCommand) -> Result<(), String> {
    match command {
        OutboxCommand::List { status, limit } => {
            let messages = core
                .desk
                .deliveries(&desk_cli(), &status, limit)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{:>8}  {:<16}  {:<14}  {:<22}  {:>8}  last error",
                "id", "ticket", "to", "event", "attempts"
            );
            for m in &messages {
                let (kind, id) = m.to.parts();
                println!(
                    "{:>8}  {:<16}  {:<14}  {:<22}  {:>8}  {}",
                    m.id,
                    m.payload["ticket"].as_str().unwrap_or("-"),
                    format!("{kind} {id}"),
                    m.event,
                    m.attempts,
                    m.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} {status} message(s)", messages.len());
            Ok(())
        }
        OutboxCommand::Retry { id, all_dead } => {
            let n = core
                .desk
                .redeliver(&desk_cli(), if all_dead { None } else { id })
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 && !all_dead {
                return Err(format!(
                    "message {} is not dead or unroutable (see `baoxiu outbox list`)",
                    id.unwrap_or_default()
                ));
            }
            println!("{n} message(s) queued again");
            Ok(())
        }
    }
}

async fn engineers(core: &Core, config: &Config, command: EngineersCommand) -> Result<(), String> {
    use baoxiu::desk::NewEngineer;
    use baoxiu::domain::routing::Tier;
    match command {
        EngineersCommand::Add {
            handle,
            name,
            group,
            manager,
            expert,
            off_duty,
        } => {
            let group = match group {
                Some(g) => g,
                None => core
                    .desk
                    .groups()
                    .first()
                    .map(|g| g.id.clone())
                    .ok_or("no engineer group is configured; add [[groups]] first")?,
            };
            let tier = if manager {
                Tier::Manager
            } else if expert {
                Tier::Expert
            } else {
                Tier::FirstLine
            };
            let e = core
                .desk
                .add_engineer(
                    &desk_cli(),
                    NewEngineer {
                        name: name.unwrap_or_else(|| handle.clone()),
                        handle,
                        group,
                        tier,
                        on_duty: !off_duty,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "engineer {} `{}` added ({}, group {}); set a console password with `baoxiu engineers set-password {}`",
                e.id,
                e.handle,
                e.tier.as_str(),
                e.group,
                e.handle
            );
            Ok(())
        }
        EngineersCommand::Set { handle, wecom } => {
            let Some(wecom) = wecom else {
                return Err(
                    "nothing to change: give --wecom ID (or --wecom \"\" to clear it)".into(),
                );
            };
            let e = core
                .desk
                .set_engineer_wecom_id(&desk_cli(), &handle, Some(&wecom))
                .await
                .map_err(|e| e.to_string())?;
            match wecom.trim() {
                "" => println!("{}: WeCom UserID cleared", e.handle),
                user => println!("{}: WeCom UserID set to {user}", e.handle),
            }
            Ok(())
        }
        EngineersCommand::SetPassword { handle, link } => {
            if link {
                let (link, until) = core
                    .desk
                    .console_password_link(&desk_cli(), &handle, &config.console.rules())
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{link}");
                println!("# works once, until {until}");
                return Ok(());
            }
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!(
                    "password for {handle} (10–128 characters; it shows as you type), then Enter:"
                );
            }
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            let password = line.trim_end_matches(['\r', '\n']);
            core.desk
                .set_console_password(&desk_cli(), &handle, password)
                .await
                .map_err(|e| e.to_string())?;
            println!("{handle}: console password set; their other console sessions are signed out");
            Ok(())
        }
    }
}
