//! Configuration: one TOML file (see `baoxiu.example.toml`) plus `BAOXIU_SECTION__KEY`
//! environment overrides, every door's settings included. Secrets (API tokens, bot
//! tokens, webhook secrets) are read only from the environment; the file names the
//! variables that hold them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::desk::{Policy, SurveyPolicy};
use crate::domain::calendar::{Calendar, CalendarConfig, CalendarKind};
use crate::domain::holidays::HolidayList;
use crate::domain::priority::PriorityMatrix;
use crate::domain::routing::{Group, Routing};
use crate::domain::sla::{EscalationPolicy, SlaPolicy, Span};
use crate::store::{SqliteSync, StoreOptions};

/// The file read when `--config` is not given (if it exists).
pub const DEFAULT_FILE: &str = "baoxiu.toml";

/// Everything configurable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// Ticket numbering and defaults.
    pub desk: DeskConfig,
    /// When SLA clocks run.
    pub calendar: CalendarConfig,
    /// Impact × urgency → priority.
    pub priority: PriorityMatrix,
    /// Targets per priority.
    pub sla: SlaPolicy,
    /// Warnings and escalation chains when clocks run out.
    pub escalation: EscalationPolicy,
    /// The managers' working hours: outside them, notifications to managers wait for the
    /// next working morning unless the ticket is P1 (quiet hours).
    pub manager_hours: CalendarConfig,
    /// The managers' on-call rota.
    pub managers: ManagersConfig,
    /// Engineer groups and the categories routed to them.
    pub groups: Vec<Group>,
    /// Bearer tokens for the REST API.
    pub api_tokens: Vec<TokenConfig>,
    /// Chat conversations.
    pub chat: ChatConfig,
    /// Delivery retries.
    pub outbox: crate::desk::RetryPolicy,
    /// Satisfaction surveys after closure.
    pub survey: SurveyConfig,
    /// Complaints.
    pub complaints: ComplaintsConfig,
    /// Public holidays for the working-hours `[calendar]`.
    pub holidays: HolidaysConfig,
    /// The Telegram door (on when its token variable is set).
    pub telegram: crate::doors::telegram::TelegramSettings,
    /// The Discord door (on when its token variable is set).
    pub discord: crate::doors::discord::DiscordSettings,
    /// The web chat.
    pub web: crate::doors::web::WebSettings,
    /// The WeCom door (on when its Secret variable is set).
    pub wecom: crate::doors::wecom::WecomSettings,
    /// Logging.
    pub log: LogConfig,
    /// How long delivered messages, chat updates and closed tickets' photos are kept.
    pub retention: RetentionConfig,
    /// Who may report: strangers the staff directory does not know (issue 20).
    pub intake: IntakeConfig,
    /// The asset register: where stickers' QR codes lead, replacement age (issue 20).
    pub assets: AssetsConfig,
    /// The desk console (`/desk`): cookies, sessions, lockout.
    pub console: crate::console::ConsoleSettings,
}

/// Who may report (`[intake]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    /// `allow` (default), `ask_contract_number` (plan 003) or `refuse`: what a chat caller
    /// who is neither in the staff directory nor already known is told.
    pub strangers: crate::domain::people::StrangerPolicy,
    /// The service contract numbers a stranger may give (`ask_contract_number`).
    pub contract_numbers: Vec<String>,
}

/// The asset register (`[assets]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssetsConfig {
    /// Where a sticker's QR code leads: `web` (the web chat at `/r/TAG`) or `telegram`
    /// (`https://t.me/<telegram_bot>?start=asset_TAG`).
    pub qr: crate::domain::asset::QrTarget,
    /// The Telegram bot's username, for `qr = "telegram"`.
    pub telegram_bot: Option<String>,
    /// Devices at least this many years old are advised for replacement in the asset report.
    pub replace_after_years: u32,
}

impl Default for AssetsConfig {
    fn default() -> Self {
        Self {
            qr: crate::domain::asset::QrTarget::Web,
            telegram_bot: None,
            replace_after_years: 6,
        }
    }
}

/// Retention (`[retention]`): applied by `baoxiu serve` a minute after start, then hourly,
/// in bounded batches.
/// Tickets and their audit trails are never deleted, nor an open ticket's photos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Delivered notifications, from delivery (default 30 days).
    pub sent_messages: Span,
    /// Finished Telegram updates and handled Discord event receipts, from receipt
    /// (default 7 days: Telegram redelivers nothing older).
    pub handled_updates: Span,
    /// Photos of closed or cancelled tickets, from the closing (default 365 days).
    pub attachments: Span,
    /// The console's sign-in audit events (sign-ins, failures, lockouts, sign-outs,
    /// passwords set), from when they happened (default 365 days).
    pub sign_in_events: Span,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let d = crate::desk::RetentionPolicy::default();
        Self {
            sent_messages: Span(d.sent_messages),
            handled_updates: Span(d.handled_updates),
            attachments: Span(d.attachments),
            sign_in_events: Span(d.sign_in_events),
        }
    }
}

/// Logging (`[log]`). Logs go to stderr; the level comes from `RUST_LOG` (default
/// `info,sqlx=warn`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default, for people) or `json` (one JSON object per line, for a log
    /// collector); `BAOXIU_LOG_FORMAT` overrides it.
    pub format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The managers (`[managers]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManagersConfig {
    /// Who is on call when, in `manager_hours`' time zone: messages that mean nobody is
    /// working a ticket (no engineer on duty, a breach with no one assigned) go to them at
    /// any hour, never held for office hours. Empty (the default): they go to every manager
    /// at once.
    pub on_call: Vec<crate::domain::on_call::Shift>,
}

/// Satisfaction surveys (`[survey]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurveyConfig {
    /// Which day: `after_resolution` (default: the calendar day after the fault was
    /// resolved, as plan 002 says) or `next_working_day` (of the `manager_hours` office
    /// calendar, after the closure).
    pub day: crate::desk::SurveyDay,
    /// Sent on that day at this local time, `HH:MM` — the contracts' next-day follow-up.
    pub send_at: String,
    /// Share of closed tickets surveyed, 0–1.
    pub sample_rate: f64,
    /// Answers are accepted this long after sending.
    pub valid_for: Span,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        Self {
            day: crate::desk::SurveyDay::default(),
            send_at: "10:00".into(),
            sample_rate: 1.0,
            valid_for: Span(chrono::Duration::days(7)),
        }
    }
}

/// Complaints (`[complaints]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComplaintsConfig {
    /// A complaint's outcome is due this long after it is filed (plan 004: a complaint is
    /// urgent, 8 hours, wall-clock); then every manager is told.
    pub respond_within: Span,
}

impl Default for ComplaintsConfig {
    fn default() -> Self {
        Self {
            respond_within: Span(chrono::Duration::hours(8)),
        }
    }
}

/// Public holidays (`[holidays]`) for a working-hours `[calendar]`: the official mainland
/// China lists built into baoxiu, plus the lists in `dir` (`baoxiu calendar import FILE`
/// writes them there), plus `[calendar] holidays` / `workdays`, which win.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HolidaysConfig {
    /// Use the official lists built into baoxiu (2026).
    pub official: bool,
    /// A directory of `*.toml` holiday lists, read at start-up when it exists.
    pub dir: PathBuf,
}

impl Default for HolidaysConfig {
    fn default() -> Self {
        Self {
            official: true,
            dir: PathBuf::from("holidays"),
        }
    }
}

impl HolidaysConfig {
    /// The holidays and make-up working days in force: the official lists (if on) and
    /// every list in `dir`; a file that cannot be read is an error naming it.
    pub fn load(&self) -> Result<HolidayList, String> {
        let mut all = if self.official {
            HolidayList::shipped()
        } else {
            HolidayList::default()
        };
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(all);
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for path in files {
            let src =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let list = HolidayList::parse(&src).map_err(|e| format!("{}: {e}", path.display()))?;
            all.merge(list);
        }
        Ok(all)
    }

    /// `calendar` with the holidays in force added (working-hours calendars only; the
    /// dates `calendar` lists itself win).
    pub fn apply(&self, calendar: &CalendarConfig) -> Result<CalendarConfig, String> {
        if calendar.kind != CalendarKind::WorkingHours {
            return Ok(calendar.clone());
        }
        let mut all = self.load()?;
        all.merge(HolidayList {
            holidays: calendar.holidays.iter().copied().collect(),
            workdays: calendar.workdays.iter().copied().collect(),
        });
        Ok(CalendarConfig {
            holidays: all.holidays.into_iter().collect(),
            workdays: all.workdays.into_iter().collect(),
            ..calendar.clone()
        })
    }
}

/// Chat settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// A directory of conversation files to use instead of the copy built into the
    /// binary (`baoxiu flows export DIR` writes that copy out for editing).
    pub flows_dir: Option<PathBuf>,
    /// An unfinished conversation idle this long is discarded (kept as a draft for 24 h).
    pub idle: Span,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            flows_dir: None,
            idle: Span(crate::conversation::DEFAULT_IDLE),
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on: the web chat and the chat doors' webhooks, and (unless
    /// `admin_listen` is set) the REST API and metrics.
    pub listen: SocketAddr,
    /// A second address for the REST API and `/metrics` only, so the public listener
    /// (put on a network for the web chat) carries nothing for the desk.
    pub admin_listen: Option<SocketAddr>,
}

/// Database settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (default `sqlite://baoxiu.db`) or `postgres://…`.
    pub url: String,
    /// SQLite commit durability: `normal` (default) or `full`.
    pub sqlite_sync: SqliteSync,
    /// PostgreSQL: connections each instance keeps at most (default 16).
    pub max_connections: u32,
    /// PostgreSQL: how long a request waits for a free connection, or for the database
    /// to come back after a restart, before it fails politely (default 10s).
    pub acquire_timeout: Span,
    /// How long an instance's hold on Telegram polling or the Discord gateway lasts
    /// without renewal: after a crash, another instance takes over within it (default
    /// 10s; renewed every third of it).
    pub lease: Span,
}

impl DatabaseConfig {
    /// What the store needs to open the database.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            sqlite_sync: self.sqlite_sync,
            max_connections: self.max_connections,
            acquire_timeout: self.acquire_timeout.0.to_std().unwrap_or_default(),
        }
    }
}

/// Desk settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeskConfig {
    /// Ticket number prefix: `BX` gives `BX-2026-000123`.
    pub ticket_prefix: String,
}

/// Roles an API token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Service desk / manager: sees and manages everything.
    Manager,
    /// Acts as the engineer whose handle is `subject`.
    Engineer,
    /// Acts as the reporter identified by `subject` (channel `api`).
    Reporter,
}

/// One API token: its role and the environment variable that holds its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Name shown in the audit trail (managers) or reporter display name.
    pub name: String,
    /// What the token may do.
    pub role: TokenRole,
    /// Engineer handle or reporter key; required for engineer and reporter tokens.
    #[serde(default)]
    pub subject: Option<String>,
    /// Environment variable holding the token (never the token itself).
    pub env: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
        }
    }
}

impl DatabaseConfig {
    /// The URL as it may be shown or logged: its password masked (`postgres://u:***@host/db`).
    pub fn shown_url(&self) -> String {
        crate::store::redact_url(&self.url)
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://baoxiu.db".into(),
            sqlite_sync: SqliteSync::Normal,
            max_connections: 16,
            acquire_timeout: Span(chrono::Duration::seconds(10)),
            lease: Span(chrono::Duration::seconds(10)),
        }
    }
}

impl Default for DeskConfig {
    fn default() -> Self {
        Self {
            ticket_prefix: "BX".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            desk: DeskConfig::default(),
            calendar: CalendarConfig::default(),
            priority: PriorityMatrix::default(),
            sla: SlaPolicy::default(),
            escalation: EscalationPolicy::default(),
            manager_hours: CalendarConfig {
                kind: CalendarKind::WorkingHours,
                ..CalendarConfig::default()
            },
            managers: ManagersConfig::default(),
            groups: Routing::default().groups().to_vec(),
            api_tokens: vec![TokenConfig {
                name: "service desk".into(),
                role: TokenRole::Manager,
                subject: None,
                env: "BAOXIU_MANAGER_TOKEN".into(),
            }],
            chat: ChatConfig::default(),
            outbox: crate::desk::RetryPolicy::default(),
            survey: SurveyConfig::default(),
            complaints: ComplaintsConfig::default(),
            holidays: HolidaysConfig::default(),
            telegram: Default::default(),
            discord: Default::default(),
            web: Default::default(),
            wecom: Default::default(),
            log: LogConfig::default(),
            retention: RetentionConfig::default(),
            intake: IntakeConfig::default(),
            assets: AssetsConfig::default(),
            console: Default::default(),
        }
    }
}

/// A configuration that cannot be used; says where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable, malformed or mistyped (figment names the key and the file).
    #[error("{0}")]
    Load(Box<figment::Error>),
    /// The given file does not exist.
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    /// A chat door's settings cannot be used.
    #[error("{0}")]
    Door(String),
    /// Parsed, but a value makes no sense.
    #[error("{file}: `{key}`: {reason}")]
    Invalid {
        /// Which file (or "defaults" / "environment").
        file: String,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// The chat doors a configuration switches on (each when its token variable is set).
#[derive(Debug, Clone)]
pub struct Doors {
    /// The Telegram door, if on.
    pub telegram: Option<crate::doors::telegram::TelegramConfig>,
    /// The Discord door, if on.
    pub discord: Option<crate::doors::discord::DiscordConfig>,
    /// The WeCom door, if on.
    pub wecom: Option<crate::doors::wecom::WecomConfig>,
}

/// A usable API token (its value hashed; compared in constant time).
#[derive(Clone)]
pub struct ApiToken {
    /// Configuration entry.
    pub config: TokenConfig,
    /// The secret value.
    pub secret: SecretString,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Loads defaults, then the file (`path`, or `baoxiu.toml` if present), then the
    /// environment (`BAOXIU_DATABASE__URL=…` overrides `[database] url`).
    pub fn load(path: Option<&Path>) -> Result<(Config, String), ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let source = match path {
            Some(p) if !p.exists() => return Err(ConfigError::Missing(p.to_owned())),
            Some(p) => {
                figment = figment.merge(Toml::file_exact(p));
                p.display().to_string()
            }
            None if Path::new(DEFAULT_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_FILE));
                DEFAULT_FILE.to_owned()
            }
            None => "defaults".to_owned(),
        };
        // Only `SECTION__KEY` variables are settings; others with the prefix are secrets.
        figment = figment.merge(
            Env::prefixed("BAOXIU_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        Ok((config, source))
    }

    /// The configuration as it may be printed (`config check`): the database URL's
    /// password masked. (Other secrets are never in it: the file names their variables.)
    pub fn shown(&self) -> Config {
        let mut shown = self.clone();
        shown.database.url = self.database.shown_url();
        shown
    }

    /// Checks the values that parse but could still be wrong, and builds the rules.
    pub fn policy(&self, source: &str) -> Result<Policy, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            file: source.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let prefix = &self.desk.ticket_prefix;
        if !(1..=8).contains(&prefix.len()) || !prefix.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(invalid(
                "desk.ticket_prefix",
                format!("`{prefix}` must be 1–8 capital letters A–Z"),
            ));
        }
        let calendar = self
            .holidays
            .apply(&self.calendar)
            .map_err(|e| invalid("holidays.dir", e))?
            .build()
            .map_err(|e| invalid("calendar", e.to_string()))?;
        let manager_hours = self
            .manager_hours
            .build()
            .map_err(|e| invalid("manager_hours", e.to_string()))?;
        let on_call = crate::domain::on_call::OnCall::build(
            &self.managers.on_call,
            &self.manager_hours.time_zone,
        )
        .map_err(|e| invalid("managers.on_call", e.to_string()))?;
        self.escalation
            .check()
            .map_err(|e| invalid("escalation", e))?;
        self.sla.check().map_err(|e| invalid("sla", e))?;
        let routing =
            Routing::new(self.groups.clone()).map_err(|e| invalid("groups", e.to_string()))?;
        let minute_of_day = self
            .survey
            .send_at
            .split_once(':')
            .and_then(|(h, m)| Some((h.trim().parse::<u16>().ok()?, m.trim().parse::<u16>().ok()?)))
            .filter(|(h, m)| *h < 24 && *m < 60)
            .map(|(h, m)| h * 60 + m)
            .ok_or_else(|| {
                invalid(
                    "survey.send_at",
                    format!("`{}` is not a time of day like 10:00", self.survey.send_at),
                )
            })?;
        if !(0.0..=1.0).contains(&self.survey.sample_rate) {
            return Err(invalid(
                "survey.sample_rate",
                format!("{} must be between 0 and 1", self.survey.sample_rate),
            ));
        }
        if self.complaints.respond_within.0 < chrono::Duration::minutes(1) {
            return Err(invalid(
                "complaints.respond_within",
                "must be at least a minute".into(),
            ));
        }
        for t in &self.api_tokens {
            if t.role != TokenRole::Manager && t.subject.is_none() {
                return Err(invalid(
                    "api_tokens",
                    format!(
                        "token `{}` is for an {:?} and needs a `subject`",
                        t.name, t.role
                    ),
                ));
            }
        }
        self.web
            .check()
            .map_err(|(key, reason)| invalid(key, reason))?;
        self.console
            .check()
            .map_err(|(key, reason)| invalid(key, reason))?;
        Ok(Policy {
            ticket_prefix: prefix.clone(),
            wall: Calendar::always(calendar.time_zone()),
            calendar,
            matrix: self.priority.clone(),
            sla: self.sla.clone(),
            escalation: self.escalation.clone(),
            manager_hours,
            on_call,
            routing,
            survey: SurveyPolicy {
                day: self.survey.day,
                minute_of_day,
                sample_rate: self.survey.sample_rate,
                valid_for: self.survey.valid_for.0,
            },
            retry: self.outbox.clone(),
            web: crate::desk::WebPolicy {
                public_url: self.web.base_url(self.server.listen),
                invite_valid_for: self.web.invite_valid_for.0,
            },
            retention: self.retention(source)?,
            complaint_response: self.complaints.respond_within.0,
            registers: self.registers(source)?,
        })
    }

    /// The registers' rules (`[intake]`, `[assets]`), checked.
    fn registers(&self, source: &str) -> Result<crate::desk::RegistersPolicy, ConfigError> {
        use crate::domain::asset::QrTarget;
        use crate::domain::people::StrangerPolicy;
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            file: source.to_owned(),
            key: key.into(),
            reason: reason.into(),
        };
        if self.intake.strangers == StrangerPolicy::AskContractNumber
            && self
                .intake
                .contract_numbers
                .iter()
                .all(|n| n.trim().is_empty())
        {
            return Err(invalid(
                "intake.contract_numbers",
                "`strangers = \"ask_contract_number\"` needs at least one contract number",
            ));
        }
        let bot = self
            .assets
            .telegram_bot
            .as_deref()
            .map(|b| b.trim_start_matches('@').to_owned());
        let bot_ok = bot.as_deref().is_some_and(|b| {
            (5..=32).contains(&b.len()) && b.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if self.assets.qr == QrTarget::Telegram && !bot_ok {
            return Err(invalid(
                "assets.telegram_bot",
                "`qr = \"telegram\"` needs the bot's username (5–32 letters, digits or _)",
            ));
        }
        if !(1..=50).contains(&self.assets.replace_after_years) {
            return Err(invalid("assets.replace_after_years", "must be 1–50 years"));
        }
        Ok(crate::desk::RegistersPolicy {
            strangers: self.intake.strangers,
            contract_numbers: self.intake.contract_numbers.clone(),
            qr: self.assets.qr,
            telegram_bot: bot,
            replace_after_years: self.assets.replace_after_years,
        })
    }

    /// The retention periods, each at least a day (a shorter one is a typo that would
    /// delete what is still in use).
    fn retention(&self, source: &str) -> Result<crate::desk::RetentionPolicy, ConfigError> {
        let r = &self.retention;
        for (key, span) in [
            ("retention.sent_messages", r.sent_messages),
            ("retention.handled_updates", r.handled_updates),
            ("retention.attachments", r.attachments),
            ("retention.sign_in_events", r.sign_in_events),
        ] {
            if span.0 < chrono::Duration::days(1) {
                return Err(ConfigError::Invalid {
                    file: source.to_owned(),
                    key: key.into(),
                    reason: "must be at least 1d".into(),
                });
            }
        }
        Ok(crate::desk::RetentionPolicy {
            sent_messages: r.sent_messages.0,
            handled_updates: r.handled_updates.0,
            attachments: r.attachments.0,
            sign_in_events: r.sign_in_events.0,
        })
    }

    /// The doors' configurations, with their secrets read through `env` (the process
    /// environment, in the service); a mistake names its setting or variable.
    pub fn doors(
        &self,
        source: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Doors, ConfigError> {
        use crate::doors::DoorError;
        let invalid = |e: DoorError| match e {
            DoorError::Config { key, reason } => ConfigError::Invalid {
                file: source.to_owned(),
                key,
                reason,
            },
            other => ConfigError::Door(other.to_string()),
        };
        Ok(Doors {
            telegram: self.telegram.door(&env).map_err(invalid)?,
            discord: self.discord.door(&env).map_err(invalid)?,
            wecom: self.wecom.door(&env).map_err(invalid)?,
        })
    }

    /// Reads token values from the environment. Tokens whose variable is unset are
    /// skipped (named in the returned warnings); a token shorter than 16 characters is an
    /// error, since it could be guessed.
    pub fn api_tokens(&self) -> Result<(Vec<ApiToken>, Vec<String>), ConfigError> {
        let mut tokens = Vec::new();
        let mut warnings = Vec::new();
        for t in &self.api_tokens {
            match std::env::var(&t.env) {
                Ok(value) if value.len() >= 16 => tokens.push(ApiToken {
                    config: t.clone(),
                    secret: SecretString::from(value),
                }),
                Ok(_) => {
                    return Err(ConfigError::Invalid {
                        file: "environment".into(),
                        key: t.env.clone(),
                        reason: "API tokens must be at least 16 characters".into(),
                    });
                }
                Err(_) => warnings.push(format!(
                    "API token `{}` is disabled: environment variable {} is not set",
                    t.name, t.env
                )),
            }
        }
        Ok((tokens, warnings))
    }
}

impl ApiToken {
    /// Constant-time comparison with a presented token.
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        // Hash both sides so the comparison does not leak the length either.
        let a = Sha256::digest(self.secret.expose_secret().as_bytes());
        let b = Sha256::digest(presented.as_bytes());
        a.ct_eq(&b).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(toml: &str) -> Result<Policy, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("baoxiu.toml");
        std::fs::write(&path, toml).expect("write config");
        let (config, source) = Config::load(Some(&path))?;
        config.policy(&source)
    }

    /// Issue 19: the official 2026 list ships and working-hours calendars use it.
    #[test]
    fn the_working_hours_clock_skips_national_day_2026_and_works_the_make_up_saturday() {
        use chrono::TimeZone;
        let empty = tempfile::tempdir().expect("temp dir");
        let config = Config {
            calendar: CalendarConfig {
                kind: CalendarKind::WorkingHours,
                ..CalendarConfig::default()
            },
            holidays: HolidaysConfig {
                dir: empty.path().join("none"),
                ..HolidaysConfig::default()
            },
            ..Config::default()
        };
        let cal = config.policy("test").expect("valid").calendar;
        let shanghai = |m, d, h, min| {
            chrono_tz::Asia::Shanghai
                .with_ymd_and_hms(2026, m, d, h, min, 0)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        // Wednesday 30 September 17:00 + 1 h: 30 minutes that day, then the first working
        // day after the holiday (Thursday 8 October) from 08:30.
        assert_eq!(
            cal.add(shanghai(9, 30, 17, 0), chrono::Duration::hours(1)),
            shanghai(10, 8, 9, 0)
        );
        // Friday 9 October 17:00 + 1 h: Saturday 10 October is a make-up working day.
        assert_eq!(
            cal.add(shanghai(10, 9, 17, 0), chrono::Duration::hours(1)),
            shanghai(10, 10, 9, 0)
        );
        assert!(!cal.lacks_holidays_in(2026));
        assert!(cal.lacks_holidays_in(2027));

        // An imported list in the directory is loaded too; [calendar] lists win.
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("cn-2027.toml"),
            "holidays = [2027-01-01]\nworkdays = []\n",
        )
        .expect("write");
        let config = Config {
            holidays: HolidaysConfig {
                dir: dir.path().to_owned(),
                official: false,
            },
            calendar: CalendarConfig {
                workdays: vec![chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()],
                holidays: vec![chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap()],
                ..config.calendar
            },
            ..config
        };
        let cal = config.policy("test").expect("valid").calendar;
        assert!(cal.lacks_holidays_in(2026), "official lists off");
        assert!(!cal.is_working(shanghai(1, 1, 10, 0) + chrono::Duration::days(365 + 3)));
        assert!(cal.lacks_holidays_in(2026));
        std::fs::write(dir.path().join("bad.toml"), "holidays = [\"soon\"]").expect("write");
        let err = config.policy("test").expect_err("a bad file is refused");
        assert!(err.to_string().contains("bad.toml"), "{err}");
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        let p = c.policy("defaults").unwrap();
        assert_eq!(p.ticket_prefix, "BX");
        assert_eq!(p.routing.groups().len(), 6);
    }

    #[test]
    fn complaints_are_answered_within_8_hours_unless_set() {
        let p = load_str("").unwrap();
        assert_eq!(p.complaint_response, chrono::Duration::hours(8));
        let p = load_str("[complaints]\nrespond_within = \"4h30m\"\n").unwrap();
        assert_eq!(p.complaint_response, chrono::Duration::minutes(270));
        let err = load_str("[complaints]\nrespond_within = \"0m\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("complaints.respond_within"), "{err}");
    }

    #[test]
    fn the_on_call_rota_is_read_by_weekday_and_hour() {
        let p = load_str(
            "[[managers.on_call]]\nhandle = \"zhou\"\n\
             hours = { mon = [\"00:00-08:30\", \"17:30-24:00\"], sat = [\"00:00-24:00\"] }\n",
        )
        .unwrap();
        // Monday 2026-11-23 22:00 in Shanghai.
        let night =
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 23, 14, 0, 0).unwrap();
        assert_eq!(p.on_call.at(night), ["zhou"]);
        assert!(p.on_call.at(night - chrono::Duration::hours(6)).is_empty());
        let err = load_str(
            "[[managers.on_call]]\nhandle = \"zhou\"\nhours = { mon = [\"22:00-06:00\"] }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("managers.on_call"), "{err}");
    }

    #[test]
    fn the_example_file_is_valid() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("baoxiu.example.toml");
        let (config, source) = Config::load(Some(&p)).unwrap();
        config.policy(&source).unwrap();
    }

    #[test]
    fn mistakes_name_the_file_and_the_key() {
        let err = load_str("[server]\nlisten = \"not an address\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.listen") && err.contains("baoxiu.toml"),
            "{err}"
        );
        let err = load_str("[sla.p1]\nresponse = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sla.p1.response") && err.contains("not a duration"),
            "{err}"
        );
        let err = load_str("[databse]\nurl = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("databse"), "{err}");
        let err = load_str("[desk]\nticket_prefix = \"bx-1\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("desk.ticket_prefix") && err.contains("baoxiu.toml"),
            "{err}"
        );
        let err = load_str(
            "[[groups]]\nid = \"a\"\nname = \"A\"\nname_en = \"A\"\ncategories = [\"x\"]\n\
             [[groups]]\nid = \"b\"\nname = \"B\"\nname_en = \"B\"\ncategories = [\"x\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("groups") && err.contains("`x`"), "{err}");
        assert!(matches!(
            Config::load(Some(Path::new("/nonexistent/baoxiu.toml"))),
            Err(ConfigError::Missing(_))
        ));
    }

    #[test]
    fn retention_periods_are_checked() {
        let p = load_str("[retention]\nsent_messages = \"90d\"\n").unwrap();
        assert_eq!(p.retention.sent_messages, chrono::Duration::days(90));
        assert_eq!(p.retention.attachments, chrono::Duration::days(365));
        assert_eq!(p.retention.sign_in_events, chrono::Duration::days(365));
        let p = load_str("[retention]\nsign_in_events = \"180d\"\n").unwrap();
        assert_eq!(p.retention.sign_in_events, chrono::Duration::days(180));
        let err = load_str("[retention]\nsign_in_events = \"2h\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("retention.sign_in_events"), "{err}");
        let err = load_str("[retention]\nattachments = \"1h\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("retention.attachments") && err.contains("baoxiu.toml"),
            "{err}"
        );
    }

    #[test]
    fn token_comparison() {
        let t = ApiToken {
            config: Config::default().api_tokens[0].clone(),
            secret: SecretString::from("0123456789abcdef".to_owned()),
        };
        assert!(t.matches("0123456789abcdef"));
        assert!(!t.matches("0123456789abcdeF"));
        assert!(!t.matches(""));
    }

    /// Issue 20: the registers' settings are checked, naming the key.
    #[test]
    fn registers_settings_are_checked() {
        let err = load_str("[intake]\nstrangers = \"ask_contract_number\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("intake.contract_numbers"), "{err}");
        let err = load_str("[assets]\nqr = \"telegram\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("assets.telegram_bot"), "{err}");
        let ok = load_str(
            "[intake]\nstrangers = \"refuse\"\n[assets]\nqr = \"telegram\"\ntelegram_bot = \"@baoxiu_bot\"\n",
        )
        .unwrap();
        assert_eq!(ok.registers.telegram_bot.as_deref(), Some("baoxiu_bot"));
        assert!(load_str("[intake]\nstrangers = \"maybe\"\n").is_err());
    }
}
