//! Persistence: the only module with SQL. One repository, two backends side by side —
//! [`sqlite`] (the embedded default: one file, WAL, a group commit, and direct SQLite calls
//! on the per-message chat path) and [`postgres`] (several instances on one database).
//!
//! The SQL text they share (both drivers accept `$1` placeholders) lives beside them,
//! instantiated per backend by the `repository!` macro in `sql.rs` and the per-table
//! macros (`cards.rs`, `delivery.rs`, …), so each backend gets fully typed sqlx code
//! without the `Any` driver (which has no chrono support). What only one backend does
//! (the group commit, the direct calls, multi-row inserts) is in its folder.

mod archive;
mod attachments;
mod cards;
mod complaints;
mod console;
mod delivery;
mod discord;
mod erasure;
mod inspections;
mod knowledge;
mod lease;
mod params;
mod postgres;
mod retention;
mod rows;
mod sql;
mod sqlite;
mod survey;
mod telegram;
mod url;
mod web;
// The registers (issue 20): the staff directory and the asset register.
mod assets;
mod people;
mod wecom;
pub use wecom::SendCounts;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub use archive::{ArchiveEntry, NewArchive};
pub use assets::{Asset, AssetFilter};
pub use attachments::{Attachment, PendingPhoto};
pub use cards::{Card, CardClaim, CardEnd};
pub use complaints::{
    Complaint, ComplaintEvent, ComplaintFactRow, NewComplaint, NewComplaintEvent,
};
pub use console::{
    ConsoleSessionRecord, ConsoleSwept, LinkPurpose, NewSignInEvent, QueueFilter, QueuePage,
    SignInAttempts, SignInEvent,
};
pub use delivery::{OutboxStats, StatusCount};
pub use inspections::{
    CheckRecord, InspectionEvent, JobClose, JobRecord, NewCheck, NewInspectionEvent, NewJob,
    NewPlan, PlanRecord,
};
pub use knowledge::{
    Article, ArticleEvent, ConversationAfter, KbFigures, NewArticle, NewArticleEvent, NewKbOffer,
};
pub use people::{DirectoryEntry, NewRegisterEvent, RegisterEvent};
pub use retention::Purge;
pub use survey::{NewSurvey, ReportRow, Survey, SurveyAnswer};
pub use telegram::{LinkLimit, PendingUpdate, Redeemed};
pub use url::redact_url;
pub use web::{WebAnnouncements, WebEntry};

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::clocks::SlaClock;
use crate::domain::knowledge::{Draft, Query};
use crate::domain::routing::{Engineer, Group, Tier};
use crate::domain::ticket::{Status, Ticket, TicketNumber};
use crate::domain::{EngineerId, ReporterId, TicketId};

/// A storage failure, as the desk needs to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row changed since it was read (optimistic concurrency): re-read and decide again.
    #[error("the record was changed by someone else")]
    Conflict,
    /// A unique value is taken.
    #[error("{0} is already in use")]
    Duplicate(String),
    /// A stored value no longer parses (hand-edited database, or a bug).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database URL is not one we support (shown with its password masked).
    #[error("unsupported database URL `{0}`: use sqlite://FILE or postgres://…")]
    UnsupportedUrl(String),
    /// The database could not be opened; the URL (password masked) and the driver's
    /// reason (any form of the password in it masked too).
    #[error("cannot open the database {url}: {reason}")]
    Connect {
        /// The URL, redacted.
        url: String,
        /// What the driver said, scrubbed of the password.
        reason: String,
    },
    /// Anything else from the driver.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Anything else from SQLite, called directly (see `direct.rs`).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The database could not be reached (nothing was written).
    #[error("the database is not answering: {0}")]
    Unavailable(String),
    /// The database refused a statement several calls shared (none of it was written).
    #[error("the database refused the statement: {0}")]
    Refused(String),
    /// A write's transaction did not commit (nothing of it was written).
    #[error("the write was not saved: {0}")]
    WriteFailed(String),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, every connection
    /// busy): nothing was written, and the same call may succeed in a moment.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database(e) => match e {
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
                // Connection exceptions (08…) and an administrator's or a crash's shutdown
                // (57P01–57P03): PostgreSQL ended the connection under the call.
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
                _ => false,
            },
            _ => false,
        }
    }

    /// Turns unique-constraint violations into `Duplicate`, naming the column.
    fn from_write(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            let msg = db.message();
            for column in ["handle", "telegram_id", "discord_id", "web_id", "number"] {
                if msg.contains(column) || db.constraint().is_some_and(|c| c.contains(column)) {
                    return StoreError::Duplicate(column.replace('_', " "));
                }
            }
            return StoreError::Duplicate("a unique value".into());
        }
        StoreError::Database(e)
    }
}

/// How SQLite should sync commits to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// WAL + NORMAL: durable against process crashes; the last commits may be lost on power loss.
    #[default]
    Normal,
    /// WAL + FULL: every commit is synced.
    Full,
}

/// How to open the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// SQLite commit durability.
    pub sqlite_sync: SqliteSync,
    /// PostgreSQL: the pool's size per instance.
    pub max_connections: u32,
    /// PostgreSQL: how long a caller waits for a connection (all busy, or the database
    /// restarting) before the call fails.
    pub acquire_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sqlite_sync: SqliteSync::Normal,
            max_connections: 16,
            acquire_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Who did something, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// `reporter`, `engineer`, `desk` or `system`.
    pub kind: &'static str,
    /// Their id, when they have one.
    pub id: Option<String>,
    /// Their name at the time.
    pub name: String,
}

/// One audit event to write.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
    /// Verb (`report`, `accept`, …).
    pub action: String,
    /// Status before (None when the ticket was created).
    pub from: Option<Status>,
    /// Status after.
    pub to: Status,
    /// Note, reason, cause and solution.
    pub note: Option<String>,
}

/// One audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// Row id (events of a ticket are ordered by it).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// Verb.
    pub action: String,
    /// Status before.
    pub from: Option<String>,
    /// Status after.
    pub to: String,
    /// Free text.
    pub note: Option<String>,
}

/// Who receives an outgoing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Recipient {
    /// A reporter, reached on the chat they last used.
    Reporter(ReporterId),
    /// An engineer, reached on their linked chat.
    Engineer(EngineerId),
}

/// One outgoing message to write.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    /// To whom.
    pub to: Recipient,
    /// Message key (`ticket_accepted`, …).
    pub event: String,
    /// What the text needs (ticket number, names, times), as JSON.
    pub payload: serde_json::Value,
    /// Held until then (quiet hours); `None` sends at once.
    pub not_before: Option<DateTime<Utc>>,
}

/// One outgoing message as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxMessage {
    /// Row id (delivery order per recipient).
    pub id: i64,
    /// The ticket concerned.
    pub ticket_id: Option<TicketId>,
    /// To whom.
    pub to: Recipient,
    /// Message key.
    pub event: String,
    /// Data for the text.
    pub payload: serde_json::Value,
    /// `pending`, `sent`, `dead` (gave up after retries) or `unroutable` (the
    /// recipient has no chat to reach them on).
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// Written at.
    pub created_at: DateTime<Utc>,
    /// Not sent before then.
    pub next_attempt_at: DateTime<Utc>,
    /// The door that carried it (once sent).
    pub channel: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// A change to an existing ticket, written atomically with its audit event and messages.
#[derive(Debug, Clone)]
pub struct TicketWrite {
    /// The ticket as it must be stored; `version` is the version it was read at.
    pub ticket: Ticket,
    /// The audit event.
    pub audit: NewAuditEvent,
    /// The messages.
    pub outbox: Vec<NewOutboxMessage>,
    /// SLA clocks to save (the ones this change started or moved).
    pub clocks: Vec<SlaClock>,
    /// The satisfaction survey a closure schedules.
    pub survey: Option<NewSurvey>,
    /// A chat conversation (channel, external id) that this write completes: deleted in
    /// the same transaction, so a resent "submit" after a crash cannot file twice.
    /// `Conflict` if it is no longer as the step read it.
    pub end_conversation: Option<(String, String, Expect)>,
    /// For a new ticket filed from a chat step: the door's record of that step.
    pub record: Option<FilingRecord>,
    /// The knowledge-base draft a resolution writes (see `store/knowledge.rs`).
    pub article: Option<NewArticle>,
}

/// A conversation as stored: its JSON state, last activity and version (each save adds
/// one, so a save decided on an older read can be refused: see [`Expect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConversation {
    /// The flow engine's state, as JSON.
    pub state: String,
    /// Last activity.
    pub at: DateTime<Utc>,
    /// Saves so far.
    pub version: i64,
}

/// What a conversation save expects to find: the conversation as its step read it.
/// Another instance (or a notice opening a flow) may have saved the same person's
/// conversation since; then the save is refused with [`StoreError::Conflict`] and the step
/// is decided again on what is there now, so no answer is lost to a later writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No conversation.
    Absent,
    /// No conversation, and the person's kept draft is the one being saved: the draft is
    /// taken in the same transaction, so a save refused (another instance started a
    /// conversation first) leaves it kept.
    Restoring,
    /// The conversation at this version.
    At(i64),
}

impl Expect {
    /// What a step that read `stored` expects.
    pub fn of(stored: Option<&StoredConversation>) -> Expect {
        stored.map_or(Expect::Absent, |c| Expect::At(c.version))
    }
}

/// A door's record of the message a conversation step answered, written in the same
/// transaction as the step's conversation state (see [`Store::save_conversation_with`])
/// or as the ticket the step filed: one commit instead of two, and the state and the
/// record can never disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepRecord {
    /// A Telegram update handled, with its replies (JSON) still to send.
    TelegramHandled {
        /// The update.
        update_id: i64,
        /// What to send back, as the door encodes it.
        replies: String,
    },
    /// A Discord event handled (its replies went out as the interaction's answer).
    DiscordHandled {
        /// The message or interaction id.
        event_id: String,
    },
    /// A WeCom callback handled (its replies go out as the passive reply or through
    /// `message/send`).
    WecomHandled {
        /// The callback's key in `wecom_inbox`.
        key: String,
    },
}

/// The door's record of the chat step that filed a ticket. The step's replies name the
/// ticket's number, which exists only once the ticket is stored: they carry `mark` in
/// its place, and the store writes the record with the number put in, in the ticket's
/// own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilingRecord {
    /// The record, with `mark` where the number goes.
    pub record: StepRecord,
    /// Stands for the number (the door's replies are plain text in JSON, so a mark of
    /// letters and digits is found there as it was written).
    pub mark: String,
}

impl FilingRecord {
    /// The record with the ticket's number in place of the mark.
    fn numbered(&self, number: &TicketNumber) -> StepRecord {
        match &self.record {
            StepRecord::TelegramHandled { update_id, replies } => StepRecord::TelegramHandled {
                update_id: *update_id,
                replies: replies.replace(&self.mark, number.as_str()),
            },
            other => other.clone(),
        }
    }
}

/// A person who reports faults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reporter {
    /// Id.
    pub id: ReporterId,
    /// Name.
    pub name: String,
    /// Remembered department.
    pub department: Option<String>,
    /// Remembered phone.
    pub phone: Option<String>,
    /// Leadership: their outage is P1.
    pub vip: bool,
    /// Preferred language (`zh-CN`, `en`).
    pub language: Option<String>,
}

/// Fields of a new engineer.
#[derive(Debug, Clone)]
pub struct NewEngineer {
    /// Unique handle.
    pub handle: String,
    /// Name.
    pub name: String,
    /// Group id.
    pub group: String,
    /// Tier.
    pub tier: Tier,
    /// On duty now.
    pub on_duty: bool,
}

/// Which tickets a caller may list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Managers and the desk.
    All,
    /// A reporter: their own.
    Reporter(ReporterId),
    /// An engineer: their group's, and any they hold or were offered.
    Engineer {
        /// Their group.
        group: String,
        /// Their id.
        id: EngineerId,
    },
}

/// Filters for listing tickets; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    /// Status.
    pub status: Option<Status>,
    /// Priority (`P1` …).
    pub priority: Option<String>,
    /// Group id.
    pub group: Option<String>,
    /// Category id.
    pub category: Option<String>,
    /// Assignee.
    pub assignee: Option<EngineerId>,
    /// Only open tickets (not closed or cancelled).
    pub open_only: bool,
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Items matching in all.
    pub total: i64,
}

/// Engineers with the number of open jobs each holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    /// All active engineers, by id.
    pub engineers: Vec<Engineer>,
    /// Open jobs per engineer.
    pub load: HashMap<EngineerId, u32>,
}

/// The repository: SQLite or PostgreSQL behind one set of methods.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite file.
    Sqlite(SqliteStore),
    /// PostgreSQL server.
    Postgres(PgStore),
}

sql::repository!(SqliteStore, sqlx::Sqlite, one_call_side_effects = true);
sql::repository!(PgStore, sqlx::Postgres, one_call_side_effects = false);

impl Store {
    /// Connects to `sqlite://FILE` (created if missing) or `postgres://…`.
    /// Whatever goes wrong names the URL with its password masked (see [`redact_url`]).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let opened = if url.starts_with("sqlite:") {
            SqliteStore::connect(url, options.sqlite_sync)
                .await
                .map(Store::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            PgStore::connect(url, options).await.map(Store::Postgres)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        opened.map_err(|e| match e {
            StoreError::UnsupportedUrl(_) => StoreError::UnsupportedUrl(redact_url(url)),
            other => StoreError::Connect {
                url: redact_url(url),
                reason: url::scrub(&other.to_string(), url),
            },
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}

/// The messages of a new ticket with its number filled in (`"ticket"` in each payload).
fn numbered(outbox: &[NewOutboxMessage], number: &TicketNumber) -> Vec<NewOutboxMessage> {
    outbox
        .iter()
        .cloned()
        .map(|mut m| {
            if let Some(payload) = m.payload.as_object_mut()
                && payload.contains_key("ticket")
            {
                payload.insert("ticket".into(), number.as_str().into());
            }
            m
        })
        .collect()
}

/// How many parameters the audit insert takes (the outbox insert's come after them).
const AUDIT_PARAMS: usize = 9;

/// The clocks upsert for `rows` clocks (`$1` the ticket, then eleven parameters per clock,
/// as `params::clocks` lists them).
fn clocks_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO sla_clocks (ticket_id, kind, status, open, budget_secs, used_secs,
           since, due_at, warned, breaches, steps, next_at, lease_until) VALUES ",
    );
    for r in 0..rows {
        let p = 2 + r * 11;
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("($1, ${p}"));
        for k in 1..11 {
            sql.push_str(&format!(", ${}", p + k));
        }
        sql.push_str(", NULL)");
    }
    sql.push_str(
        " ON CONFLICT (ticket_id, kind) DO UPDATE SET status = excluded.status,
           open = excluded.open, budget_secs = excluded.budget_secs,
           used_secs = excluded.used_secs, since = excluded.since,
           due_at = excluded.due_at, warned = excluded.warned,
           breaches = excluded.breaches, steps = excluded.steps,
           next_at = excluded.next_at, lease_until = NULL",
    );
    sql
}

/// The audit insert (`$1` ticket id, `$2` time, `$3`–`$9` the event) and, when there are
/// messages, the outbox insert for `rows` of them (`$1`, `$2`, then five parameters per
/// row from `$10`: recipient kind, recipient id, event, payload, not before).
fn side_effects_sql(rows: usize) -> (&'static str, Option<String>) {
    const AUDIT: &str = "INSERT INTO audit_events (ticket_id, at, actor_kind, actor_id, actor_name, \
         action, from_status, to_status, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    if rows == 0 {
        return (AUDIT, None);
    }
    let mut sql = String::from(
        "INSERT INTO outbox (ticket_id, recipient_kind, recipient_id, event, payload, status, \
         attempts, next_attempt_at, created_at) VALUES ",
    );
    for r in 0..rows {
        let p = 10 + r * 5;
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "($1, ${p}, ${}, ${}, ${}, 'pending', 0, ${}, $2)",
            p + 1,
            p + 2,
            p + 3,
            p + 4
        ));
    }
    (AUDIT, Some(sql))
}

macro_rules! delegate {
    ($( $(#[$m:meta])* pub async fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$m])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Store::Sqlite(s) => s.$name($($arg),*).await,
                        Store::Postgres(s) => s.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate! {
    /// Records a web session: the hash of its token, and the web identity behind it.
    pub async fn web_session_create(&self, token_hash: &str, external_id: &str, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<(), StoreError>;
    /// The web identity of an unexpired session.
    pub async fn web_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<String>, StoreError>;
    /// Ends a web session.
    pub async fn web_session_end(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Adds messages `(from_bot, body)` to a web identity's history, in one transaction;
    /// their ids.
    pub async fn web_append(&self, external_id: &str, entries: &[(bool, String)], now: DateTime<Utc>) -> Result<Vec<i64>, StoreError>;
    /// The newest `limit` messages of a web identity after id `after`, oldest first.
    pub async fn web_since(&self, external_id: &str, after: i64, limit: i64) -> Result<Vec<WebEntry>, StoreError>;
    /// Web identities whose history another instance adds to, as they are announced
    /// (`None` on SQLite: one instance).
    pub async fn web_announcements(&self) -> Result<Option<WebAnnouncements>, StoreError>;
    /// Forgets web messages from before `before`, and sessions and invitations expired by then.
    pub async fn web_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Records a one-time invitation (the hash of its code) for a reporter, with the
    /// message that sends it to them, in one transaction.
    pub async fn web_invite_create(&self, code_hash: &str, reporter: ReporterId, now: DateTime<Utc>, expires_at: DateTime<Utc>, message: &NewOutboxMessage) -> Result<(), StoreError>;
    /// Uses an invitation: if it is unused and unexpired, binds the web identity to its
    /// reporter in the same transaction; `None` (nothing changes) otherwise.
    pub async fn web_invite_redeem(&self, code_hash: &str, external_id: &str, now: DateTime<Utc>) -> Result<Option<ReporterId>, StoreError>;
    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<(), StoreError>;
    /// Closes the pools (waits for connections to be returned).
    pub async fn close(&self) -> ();
    /// The reporter behind a chat identity with their conversation in progress, if any,
    /// and whether the identity is also linked to an engineer. Runs per message: on
    /// SQLite, a direct read in the calling thread.
    pub async fn reporter_with_conversation(&self, channel: &str, external_id: &str) -> Result<Option<(Reporter, Option<StoredConversation>, bool)>, StoreError>;
    /// Takes back a draft discarded at or after `drafts_since`, if any (every report
    /// starts here and few have a draft: a read looks before the write).
    pub async fn kept_draft(&self, channel: &str, external_id: &str, drafts_since: DateTime<Utc>) -> Result<Option<String>, StoreError>;
    /// Claims up to `limit` photos of `door` due for fetching by `now` (oldest first)
    /// until `until`: another instance skips them meanwhile.
    pub async fn photos_claim(&self, door: &str, now: DateTime<Utc>, until: DateTime<Utc>, limit: i64) -> Result<Vec<PendingPhoto>, StoreError>;
    /// Stores a fetched photo's bytes.
    pub async fn photo_fetched(&self, ticket_id: i64, n: i32, content: &[u8]) -> Result<(), StoreError>;
    /// A fetch failed: tried again at `retry_at`, or (without one) given up.
    pub async fn photo_not_fetched(&self, ticket_id: i64, n: i32, retry_at: Option<DateTime<Utc>>, error: &str) -> Result<(), StoreError>;
    /// Photo `n` (from 1) of a ticket.
    pub async fn attachment(&self, ticket: TicketId, n: i32) -> Result<Option<Attachment>, StoreError>;
    /// Records a received Discord event (a message or interaction id); false if it was
    /// seen before (then it must not be handled again).
    pub async fn discord_receive(&self, event_id: &str, kind: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Marks a received Discord event handled.
    pub async fn discord_handled(&self, event_id: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Forgets events received before `before` (Discord never replays them that late).
    pub async fn discord_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Records a WeCom callback (its message or event key, kind and decrypted body);
    /// false if the key was seen before (then it must not be handled again).
    pub async fn wecom_receive(&self, key: &str, kind: &str, body: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Marks a received WeCom callback handled; false if it was marked already (by
    /// another instance's recovery, say).
    pub async fn wecom_handled(&self, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Up to `limit` WeCom callbacks received before `before` and never handled (`(key,
    /// body)`, oldest first): cut short by a crash.
    pub async fn wecom_unhandled(&self, before: DateTime<Utc>, limit: i64) -> Result<Vec<(String, String)>, StoreError>;
    /// Forgets WeCom callbacks received before `before` (and the send counts of members
    /// not sent to since).
    pub async fn wecom_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Counts `n` sends to a WeCom member now if at most `per_minute` in any minute and
    /// `per_hour` in any hour then go to them, for every instance on this database (one
    /// statement): `None` when counted, else what is in the way (nothing is counted).
    pub async fn wecom_count_sends(&self, member: &str, n: i64, now: DateTime<Utc>, per_minute: i64, per_hour: i64) -> Result<Option<SendCounts>, StoreError>;
    /// Claims the posting of `ticket`'s job card for `offer` in a group `chat` of `door`
    /// (a posting begun before `stale_before` and never finished is taken over, and so is
    /// the card of an earlier offer or of a job since taken).
    pub async fn card_claim(&self, door: &str, ticket: &str, chat: &str, offer: &str, now: DateTime<Utc>, stale_before: DateTime<Utc>) -> Result<CardClaim, StoreError>;
    /// Records the posted card's message id and text.
    pub async fn card_posted(&self, door: &str, ticket: &str, chat: &str, message_id: &str, text: &str) -> Result<(), StoreError>;
    /// Gives up a claimed posting that failed, so it can be tried again.
    pub async fn card_release(&self, door: &str, ticket: &str, chat: &str) -> Result<(), StoreError>;
    /// `ticket`'s posted card in `chat`.
    pub async fn card(&self, door: &str, ticket: &str, chat: &str) -> Result<Option<Card>, StoreError>;
    /// The card that is message `message_id` of `chat`, if it is one.
    pub async fn card_at(&self, door: &str, chat: &str, message_id: &str) -> Result<Option<Card>, StoreError>;
    /// Records how the card's offer ended (taken, or cancelled with nobody on it); false
    /// if an end was recorded already.
    pub async fn card_ended(&self, door: &str, ticket: &str, chat: &str, end: CardEnd<'_>) -> Result<bool, StoreError>;
    /// Takes the lease `name` for `holder` until `until`: a free one, our own (renewed),
    /// or one that expired before `now`; false if someone else holds it.
    pub async fn lease_take(&self, name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Gives up `holder`'s lease `name` (nothing if it is not theirs).
    pub async fn lease_give_up(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError>;
    /// The versions of this build's migrations the database has not applied.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError>;
    /// Makes the groups table match the configuration (adds and renames; never deletes,
    /// since tickets refer to old groups).
    pub async fn sync_groups(&self, groups: &[Group]) -> Result<(), StoreError>;
    /// Adds an engineer.
    pub async fn create_engineer(&self, new: &NewEngineer, now: DateTime<Utc>) -> Result<Engineer, StoreError>;
    /// Saves an engineer's changeable fields (group, tier, duty, chat links) and, with
    /// `wecom`, sets or clears their WeCom UserID (taking it from any other engineer), with
    /// the registers' event that records the change, in one transaction.
    pub async fn change_engineer(&self, e: &Engineer, wecom: Option<Option<&str>>, event: &NewRegisterEvent) -> Result<(), StoreError>;
    /// One engineer.
    pub async fn engineer(&self, id: EngineerId) -> Result<Option<Engineer>, StoreError>;
    /// One engineer by handle.
    pub async fn engineer_by_handle(&self, handle: &str) -> Result<Option<Engineer>, StoreError>;
    /// The engineer whose `telegram`, `discord` or `web` identity this is.
    pub async fn engineer_by_identity(&self, channel: &str, external_id: &str) -> Result<Option<Engineer>, StoreError>;
    /// All active engineers, by id.
    pub async fn engineers(&self) -> Result<Vec<Engineer>, StoreError>;
    /// Every engineer with their open-job count (for dispatch and naming).
    pub async fn roster(&self) -> Result<Roster, StoreError>;
    /// Makes the reporter behind a chat identity nobody has yet, speaking `language` if
    /// their door said; the one a concurrent first contact made, if that came first.
    pub async fn create_reporter(&self, channel: &str, external_id: &str, name: &str, language: Option<&str>, now: DateTime<Utc>) -> Result<Reporter, StoreError>;
    /// The reporter behind a chat identity, if known.
    pub async fn reporter_by_identity(&self, channel: &str, external_id: &str) -> Result<Option<Reporter>, StoreError>;
    /// One reporter.
    pub async fn reporter(&self, id: ReporterId) -> Result<Option<Reporter>, StoreError>;
    /// Reporters not erased whose name, phone (their own, or the number the desk knows
    /// them by) or department contains `search` (any case), VIPs first, then by name; at most `limit`.
    pub async fn reporters(&self, search: Option<&str>, limit: i64) -> Result<Vec<Reporter>, StoreError>;
    /// Saves a reporter's remembered details and VIP flag.
    pub async fn update_reporter(&self, r: &Reporter, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Creates a ticket — allocating its number from `series` — with its first audit event
    /// and messages, and (if `remember_reporter`) saves the reporter's department and
    /// phone, in one transaction.
    pub async fn insert_ticket(&self, series: &str, year: i32, remember_reporter: bool, write: TicketWrite) -> Result<Ticket, StoreError>;
    /// Saves a change if the ticket is still at the version it was read at, with its audit
    /// event and messages, in one transaction; `Conflict` if someone changed it meanwhile.
    pub async fn update_ticket(&self, write: TicketWrite) -> Result<Ticket, StoreError>;
    /// A chat identity's conversation in progress.
    pub async fn conversation(&self, channel: &str, external_id: &str) -> Result<Option<StoredConversation>, StoreError>;
    /// Saves a conversation's state durably (`None` ends it) if it is still as `expect`
    /// says, else `Conflict`; its new version (`None` once ended). On SQLite concurrent
    /// saves share one group commit.
    pub async fn save_conversation(&self, channel: &str, external_id: &str, state: Option<String>, now: DateTime<Utc>, expect: Expect) -> Result<Option<i64>, StoreError>;
    /// Moves conversations idle since before `idle_since` to drafts (returning them, to
    /// tell their users) and forgets drafts discarded before `drafts_since`.
    pub async fn expire_conversations(&self, idle_since: DateTime<Utc>, drafts_since: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<(String, String, String)>, StoreError>;
    /// A reporter's chat identities: (channel, external id).
    pub async fn reporter_identities(&self, id: ReporterId) -> Result<Vec<(String, String)>, StoreError>;
    /// One ticket by id.
    pub async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError>;
    /// One ticket by number.
    pub async fn ticket_by_number(&self, number: &str) -> Result<Option<Ticket>, StoreError>;
    /// One page of tickets the scope may see, newest first.
    pub async fn list_tickets(&self, scope: &Scope, filter: &TicketFilter, limit: i64, offset: i64) -> Result<Page<Ticket>, StoreError>;
    /// A ticket's audit trail, oldest first.
    pub async fn audit_trail(&self, ticket: TicketId) -> Result<Vec<AuditEvent>, StoreError>;
    /// A ticket's outgoing messages, oldest first.
    pub async fn outbox_for_ticket(&self, ticket: TicketId) -> Result<Vec<OutboxMessage>, StoreError>;
    /// A ticket's SLA clocks.
    pub async fn clocks(&self, ticket: TicketId) -> Result<Vec<SlaClock>, StoreError>;
    /// Leases up to `limit` tickets with a clock due by `now` until `lease_until`, earliest
    /// first, skipping those another scheduler holds (SKIP LOCKED on PostgreSQL).
    pub async fn claim_due_clocks(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> Result<Vec<TicketId>, StoreError>;
    /// The earliest time any clock falls due.
    pub async fn next_clock_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Saves clocks that moved without a ticket change (rescheduled, lease released) if
    /// the ticket is still at `version`; `Conflict` otherwise.
    pub async fn save_clocks(&self, ticket: TicketId, version: i64, clocks: &[SlaClock]) -> Result<(), StoreError>;
    /// Leases up to `limit` messages due by `now` until `lease_until`: for each recipient
    /// only the oldest pending one, so messages to one person go out in order.
    pub async fn claim_outbox(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Ends the leases on claimed messages that were not attempted (a stopping
    /// dispatcher's): they are due again at once, for any dispatcher. Returns how many.
    pub async fn outbox_release(&self, ids: &[i64]) -> Result<u64, StoreError>;
    /// Records a delivery.
    pub async fn outbox_sent(&self, id: i64, channel: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records a failed or postponed attempt and when to try again (`attempts` is the new count).
    pub async fn outbox_retry_at(&self, id: i64, attempts: i32, at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;
    /// Gives a message up as `dead` or `unroutable`, writing `alerts` in the same transaction.
    pub async fn outbox_give_up(&self, id: i64, status: &str, attempts: i32, error: &str, alerts: &[NewOutboxMessage], now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Messages in a status, newest first.
    pub async fn outbox_by_status(&self, status: &str, limit: i64) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Puts dead or unroutable messages back in the queue (one by id, or all dead ones
    /// when `id` is `None`); returns how many.
    pub async fn outbox_requeue(&self, id: Option<i64>, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Queue figures for `/metrics`.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;
    /// Tickets reported in `[from, to)` with their clocks and surveys, by id.
    pub async fn report_rows(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ReportRow>, StoreError>;
    /// Resolved tickets whose reporter did not confirm in time: the managers' follow-up
    /// list, longest waiting first.
    pub async fn follow_ups(&self) -> Result<Vec<Ticket>, StoreError>;
    /// Asset tags with at least `at_least` tickets reported in `[since, to)`.
    pub async fn repeat_faults(&self, since: DateTime<Utc>, to: DateTime<Utc>, at_least: i64) -> Result<Vec<(String, i64)>, StoreError>;
    /// A ticket's survey.
    pub async fn survey(&self, ticket: TicketId) -> Result<Option<Survey>, StoreError>;
    /// Tickets whose survey is due to be sent by `now`.
    pub async fn due_surveys(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<TicketId>, StoreError>;
    /// Marks a scheduled survey sent and queues its message with its audit event, in one
    /// transaction; `false` (nothing written) if it was not scheduled any more.
    pub async fn send_survey(&self, ticket: TicketId, now: DateTime<Utc>, audit: &NewAuditEvent, message: &NewOutboxMessage) -> Result<bool, StoreError>;
    /// Marks sent surveys past their validity as expired; returns how many.
    pub async fn expire_surveys(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Records the answer of a sent, unexpired survey by its reporter, with its audit event
    /// and messages; `Conflict` (nothing written) if it is not open to them any more.
    pub async fn answer_survey(&self, ticket: TicketId, answer: &SurveyAnswer, audit: &NewAuditEvent, outbox: &[NewOutboxMessage]) -> Result<(), StoreError>;
    /// Records a complaint with its first event and messages, in one transaction; its id.
    pub async fn insert_complaint(&self, new: &NewComplaint, event: &NewComplaintEvent, outbox: &[NewOutboxMessage]) -> Result<i64, StoreError>;
    /// One complaint.
    pub async fn complaint(&self, id: i64) -> Result<Option<Complaint>, StoreError>;
    /// A page of complaints (in a status, or all), newest first.
    pub async fn complaints(&self, status: Option<&str>, limit: i64, offset: i64) -> Result<Vec<Complaint>, StoreError>;
    /// A complaint's trail, oldest first.
    pub async fn complaint_events(&self, id: i64) -> Result<Vec<ComplaintEvent>, StoreError>;
    /// Open complaints past their response time and not escalated yet, earliest first.
    pub async fn overdue_complaints(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Complaint>, StoreError>;
    /// Marks an open complaint escalated with its event and messages, in one transaction;
    /// false (nothing written) if it was answered or escalated meanwhile.
    pub async fn escalate_complaint(&self, id: i64, event: &NewComplaintEvent, outbox: &[NewOutboxMessage]) -> Result<bool, StoreError>;
    /// Records a complaint's outcome (status from `event.from` to `event.to`) with its
    /// event and messages, in one transaction; `Conflict` if its status moved meanwhile.
    pub async fn answer_complaint(&self, id: i64, outcome: &str, event: &NewComplaintEvent, outbox: &[NewOutboxMessage]) -> Result<(), StoreError>;
    /// Whether the report of `kind` starting on local day `first_day` is archived.
    pub async fn archived(&self, kind: &str, first_day: &str) -> Result<bool, StoreError>;
    /// Archives a period's report; false (nothing written) if it was archived already.
    pub async fn archive_report(&self, new: &NewArchive) -> Result<bool, StoreError>;
    /// The archived reports, newest period first.
    pub async fn archive_list(&self) -> Result<Vec<ArchiveEntry>, StoreError>;
    /// One archived report with its JSON.
    pub async fn archived_report(&self, id: i64) -> Result<Option<(ArchiveEntry, String)>, StoreError>;
    /// The complaints filed in `[from, to)`, as reports count them.
    pub async fn complaint_facts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ComplaintFactRow>, StoreError>;
    /// Records an article (a draft) with its first event, in one transaction; its id.
    pub async fn create_article(&self, new: &NewArticle) -> Result<i64, StoreError>;
    /// One article.
    pub async fn article(&self, id: i64) -> Result<Option<Article>, StoreError>;
    /// An article's trail, oldest first.
    pub async fn article_events(&self, id: i64) -> Result<Vec<ArticleEvent>, StoreError>;
    /// A page of articles (in a status and category, or all), newest first.
    pub async fn list_articles(&self, status: Option<&str>, category: Option<&str>, limit: i64, offset: i64) -> Result<Vec<Article>, StoreError>;
    /// Saves an edit made on `version` with its event, in one transaction; `Conflict` if
    /// the article changed meanwhile or is retired.
    pub async fn update_article(&self, id: i64, version: i64, draft: &Draft, event: &NewArticleEvent) -> Result<(), StoreError>;
    /// Moves an article from `event.from` to `event.to` with its event, in one
    /// transaction; `Conflict` if its status moved meanwhile.
    pub async fn set_article_status(&self, id: i64, event: &NewArticleEvent) -> Result<(), StoreError>;
    /// The articles a search ranks (see `store/knowledge.rs`).
    pub async fn article_candidates(&self, query: &Query, drafts: bool, want: usize) -> Result<Vec<Article>, StoreError>;
    /// Records a reporter's answer to the articles offered at intake, with the use it
    /// counts and their conversation's next state, in one transaction.
    pub async fn record_kb_offer(&self, offer: &NewKbOffer, conversation: &ConversationAfter) -> Result<Option<i64>, StoreError>;
    /// The knowledge base's figures for `[from, to)`.
    pub async fn kb_figures(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<KbFigures, StoreError>;
}

delegate! {
    /// Records an inspection plan with its first trail event, in one transaction; its id.
    pub async fn insert_plan(&self, new: &NewPlan, event: &NewInspectionEvent) -> Result<i64, StoreError>;
    /// One inspection plan.
    pub async fn inspection_plan(&self, id: i64) -> Result<Option<PlanRecord>, StoreError>;
    /// Every inspection plan, oldest first.
    pub async fn inspection_plans(&self) -> Result<Vec<PlanRecord>, StoreError>;
    /// Moves a plan from status `event.from` to `event.to` with its event, in one
    /// transaction; `Conflict` if its status moved meanwhile.
    pub async fn set_plan_status(&self, id: i64, next_due_at: Option<DateTime<Utc>>, event: &NewInspectionEvent) -> Result<(), StoreError>;
    /// Active plans whose next job is due by `now`, earliest first.
    pub async fn due_inspection_plans(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<PlanRecord>, StoreError>;
    /// Opens a plan's job for a period and moves the plan on to `next_due_at`, with the
    /// job's event and offers, in one transaction; the job's id, or `None` (nothing new)
    /// if another instance did it first or the period has its job already.
    pub async fn open_inspection(&self, job: &NewJob, next_due_at: DateTime<Utc>, event: &NewInspectionEvent, outbox: &[NewOutboxMessage]) -> Result<Option<i64>, StoreError>;
    /// Inspection jobs, newest first, of a plan, a period and a group (each optional).
    pub async fn inspection_jobs(&self, plan: Option<i64>, period: Option<&str>, group: Option<&str>) -> Result<Vec<JobRecord>, StoreError>;
    /// One inspection job.
    pub async fn inspection_job(&self, id: i64) -> Result<Option<JobRecord>, StoreError>;
    /// A job's recorded checks, in order.
    pub async fn inspection_checks(&self, job: i64) -> Result<Vec<CheckRecord>, StoreError>;
    /// A job's trail, oldest first.
    pub async fn inspection_events(&self, job: i64) -> Result<Vec<InspectionEvent>, StoreError>;
    /// A plan's own trail (not its jobs'), oldest first.
    pub async fn inspection_plan_events(&self, plan: i64) -> Result<Vec<InspectionEvent>, StoreError>;
    /// Gives an offered job to `engineer` with its event and messages, in one transaction;
    /// false (nothing written) if someone took it first.
    pub async fn accept_inspection(&self, job: i64, engineer: EngineerId, event: &NewInspectionEvent, outbox: &[NewOutboxMessage]) -> Result<bool, StoreError>;
    /// Records a passed check with its event, in one transaction; `Conflict` if the job
    /// moved since it was read.
    pub async fn record_inspection_check(&self, check: &NewCheck, event: &NewInspectionEvent, outbox: &[NewOutboxMessage]) -> Result<(), StoreError>;
    /// Records a check that found a fault and files its ticket (number from `series`,
    /// audit event, messages, clocks) linked to it, in one transaction; `Conflict` if the
    /// job moved since it was read.
    pub async fn record_inspection_fault(&self, series: &str, year: i32, write: &TicketWrite, check: &NewCheck, event: &NewInspectionEvent) -> Result<Ticket, StoreError>;
    /// Closes a job with the units inspected and who signed on site, with its event and
    /// messages, in one transaction; `Conflict` if it moved since it was read.
    pub async fn finish_inspection(&self, close: &JobClose, event: &NewInspectionEvent, outbox: &[NewOutboxMessage]) -> Result<(), StoreError>;
    /// The jobs of periods starting in `[from, to)`, as reports count them.
    pub async fn inspection_report_jobs(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<JobRecord>, StoreError>;
}
