//! The desk console's tables (migration 0022): console accounts (password hash, chosen
//! language), sessions the server issues, one-time links, failed sign-ins per handle —
//! and the console's reads over tickets: the queue (open tickets, most urgent clock
//! first, filtered and searched in SQL) and an asset's last faults.

use chrono::{DateTime, Utc};

use super::{NewOutboxMessage, PgStore, Scope, SqliteStore, Store, StoreError, rows};
use crate::domain::clocks::SlaClock;
use crate::domain::ticket::{Status, Ticket};
use crate::domain::{EngineerId, TicketId};

/// A console session as stored: who, and the form token their forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSessionRecord {
    /// The engineer signed in.
    pub engineer: EngineerId,
    /// The session's form (CSRF) token.
    pub csrf: String,
    /// The language the engineer chose for the console, if any.
    pub language: Option<String>,
}

/// Failed sign-ins recorded for a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInAttempts {
    /// Failures since the last success or lockout.
    pub failures: i32,
    /// Locked until then, if locked.
    pub locked_until: Option<DateTime<Utc>>,
}

/// A sign-in audit event to record (`sign_in_events`, migration 0026).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignInEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// The engineer, if the handle is someone's.
    pub engineer: Option<EngineerId>,
    /// The engineer's handle; for a handle nobody has, only its first character and
    /// length (see `desk::console::masked_handle`).
    pub handle: String,
    /// `signed_in`, `failed`, `locked_out`, `signed_out` or `password_set`.
    pub event: &'static str,
    /// `password` or `link`, where it applies.
    pub method: Option<&'static str>,
    /// The client's address, if known.
    pub address: Option<String>,
}

/// A sign-in audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignInEvent {
    /// Its number, in the order recorded.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The engineer, if the handle is someone's.
    pub engineer_id: Option<i64>,
    /// The engineer's handle; for a handle nobody has, its first character and length
    /// (`p…(12)`).
    pub handle: String,
    /// `signed_in`, `failed`, `locked_out`, `signed_out` or `password_set`.
    pub event: String,
    /// `password` or `link`, where it applies.
    pub method: Option<String>,
    /// The client's address, if known.
    pub address: Option<String>,
}

/// What a one-time console link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Signs the engineer in (sent to their linked chat).
    SignIn,
    /// Lets the engineer set their password.
    SetPassword,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::SignIn => "sign_in",
            LinkPurpose::SetPassword => "set_password",
        }
    }
}

/// The queue's filters; `None` (or false) means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// Status (an open one).
    pub status: Option<Status>,
    /// Priority (`P1` …).
    pub priority: Option<String>,
    /// Group id.
    pub group: Option<String>,
    /// Assignee.
    pub assignee: Option<EngineerId>,
    /// Site, exactly.
    pub site: Option<String>,
    /// Only tickets with a clock past its deadline.
    pub breached: bool,
    /// Only tickets with a running clock falling due after `now` and by then.
    pub due_by: Option<DateTime<Utc>>,
    /// Words found in the number, the reporter's name, the asset tag or the description.
    pub search: Option<String>,
}

/// Open tickets with their clocks, most urgent first.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuePage {
    /// Tickets with their SLA clocks.
    pub items: Vec<(Ticket, Vec<SlaClock>)>,
    /// Tickets matching in all (the page shows at most its limit).
    pub total: i64,
}

/// The queue's filters on a ticket `t`: `$1` now, `$2` status, `$3` priority, `$4`
/// group, `$5` assignee, `$6` site, `$7` breached only, `$8` due by, `$9` search pattern,
/// `$10`–`$12` the scope (reporter, group, engineer). Open tickets only.
const QUEUE_WHERE: &str = " t.status NOT IN ('closed', 'cancelled')
       AND ($2 IS NULL OR t.status = $2)
       AND ($3 IS NULL OR t.priority = $3)
       AND ($4 IS NULL OR t.group_id = $4)
       AND ($5 IS NULL OR t.assignee_id = $5)
       AND ($6 IS NULL OR t.site = $6)
       AND ($7 = FALSE OR t.id IN (SELECT b.ticket_id FROM sla_clocks b
             WHERE b.open AND b.since IS NOT NULL AND b.due_at <= $1
             UNION SELECT b.ticket_id FROM sla_clocks b WHERE b.open AND b.status = 'breached'))
       AND ($8 IS NULL OR EXISTS (SELECT 1 FROM sla_clocks d WHERE d.ticket_id = t.id AND d.open
             AND d.since IS NOT NULL AND d.due_at > $1 AND d.due_at <= $8))
       AND ($9 IS NULL OR LOWER(t.number) LIKE $9 ESCAPE '\\' OR LOWER(t.reporter_name) LIKE $9 ESCAPE '\\'
            OR LOWER(COALESCE(t.asset_tag, '')) LIKE $9 ESCAPE '\\' OR LOWER(t.description) LIKE $9 ESCAPE '\\')
       AND ($10 IS NULL OR t.reporter_id = $10)
       AND ($11 IS NULL OR t.group_id = $11 OR t.assignee_id = $12 OR t.offered_to = $12)";

/// A LIKE pattern finding `words` anywhere, lowercased, with `%`, `_` and `\` taken
/// literally.
pub(super) fn like_pattern(words: &str) -> String {
    let mut p = String::from("%");
    for c in words.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// What the retention job removed from the console's tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConsoleSwept {
    /// Expired sessions.
    pub sessions: u64,
    /// Expired or used one-time links.
    pub links: u64,
    /// Old failed sign-ins of handles not locked.
    pub attempts: u64,
}

/// Records a sign-in event in the transaction (`$tx`) of what it records.
macro_rules! sign_in_event {
    ($tx:expr, $e:expr) => {{
        let e: &NewSignInEvent = $e;
        sqlx::query(
            "INSERT INTO sign_in_events (at, engineer_id, handle, event, method, address)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(e.at)
        .bind(e.engineer.map(|id| id.0))
        .bind(e.handle.as_str())
        .bind(e.event)
        .bind(e.method)
        .bind(e.address.as_deref())
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Records a sign-in event of a known engineer (`$engineer`), under their handle.
macro_rules! engineer_event {
    ($tx:expr, $engineer:expr, $at:expr, $event:expr, $method:expr, $address:expr) => {{
        let method: Option<&str> = $method;
        let address: Option<&str> = $address;
        sqlx::query(
            "INSERT INTO sign_in_events (at, engineer_id, handle, event, method, address)
             SELECT $1, e.id, e.handle, $3, $4, $5 FROM engineers e WHERE e.id = $2",
        )
        .bind($at)
        .bind($engineer.0)
        .bind($event)
        .bind(method)
        .bind(address)
        .execute(&mut *$tx)
        .await?;
    }};
}

macro_rules! console_sql {
    ($store:ty) => {
        impl $store {
            pub(super) async fn console_password(
                &self,
                engineer: EngineerId,
            ) -> Result<Option<String>, StoreError> {
                let found: Option<(Option<String>,)> = sqlx::query_as(
                    "SELECT password_hash FROM console_accounts WHERE engineer_id = $1",
                )
                .bind(engineer.0)
                .fetch_optional(self.reader())
                .await?;
                Ok(found.and_then(|(h,)| h))
            }

            pub(super) async fn console_set_password(
                &self,
                engineer: EngineerId,
                hash: &str,
                now: DateTime<Utc>,
                link: Option<&str>,
                address: Option<&str>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                if let Some(code_hash) = link {
                    let used = sqlx::query(
                        "UPDATE console_links SET used_at = $3 WHERE code_hash = $1
                           AND engineer_id = $2 AND purpose = 'set_password'
                           AND used_at IS NULL AND expires_at > $3",
                    )
                    .bind(code_hash)
                    .bind(engineer.0)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if used == 0 {
                        return Ok(false);
                    }
                }
                sqlx::query(
                    "INSERT INTO console_accounts (engineer_id, password_hash, password_set_at)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (engineer_id) DO UPDATE SET password_hash = excluded.password_hash,
                       password_set_at = excluded.password_set_at",
                )
                .bind(engineer.0)
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // A new password signs the engineer out everywhere.
                sqlx::query("DELETE FROM console_sessions WHERE engineer_id = $1")
                    .bind(engineer.0)
                    .execute(&mut *tx)
                    .await?;
                let method = link.map(|_| "link");
                engineer_event!(tx, engineer, now, "password_set", method, address);
                tx.commit().await?;
                Ok(true)
            }

            pub(super) async fn console_set_language(
                &self,
                engineer: EngineerId,
                language: &str,
            ) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query(
                        "INSERT INTO console_accounts (engineer_id, language) VALUES ($1, $2)
                         ON CONFLICT (engineer_id) DO UPDATE SET language = excluded.language",
                    )
                    .bind(engineer.0)
                    .bind(language),
                )
                .await
                .map(drop)
            }

            pub(super) async fn console_session_create(
                &self,
                token_hash: &str,
                engineer: EngineerId,
                csrf: &str,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
                event: &NewSignInEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                // Expired sessions go as new ones come: the table stays small.
                sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO console_sessions (token_hash, engineer_id, csrf, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(engineer.0)
                .bind(csrf)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                sign_in_event!(tx, event);
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn console_session(
                &self,
                token_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<ConsoleSessionRecord>, StoreError> {
                let found: Option<(i64, String, Option<String>)> = sqlx::query_as(
                    "SELECT s.engineer_id, s.csrf, a.language FROM console_sessions s
                     LEFT JOIN console_accounts a ON a.engineer_id = s.engineer_id
                     WHERE s.token_hash = $1 AND s.expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(self.reader())
                .await?;
                Ok(found.map(|(id, csrf, language)| ConsoleSessionRecord {
                    engineer: EngineerId(id),
                    csrf,
                    language,
                }))
            }

            pub(super) async fn console_session_end(
                &self,
                token_hash: &str,
                now: DateTime<Utc>,
                address: Option<&str>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let ended: Option<(i64,)> = sqlx::query_as(
                    "DELETE FROM console_sessions WHERE token_hash = $1 RETURNING engineer_id",
                )
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((engineer,)) = ended {
                    engineer_event!(tx, EngineerId(engineer), now, "signed_out", None, address);
                }
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn console_attempts(
                &self,
                handle: &str,
            ) -> Result<Option<SignInAttempts>, StoreError> {
                let found: Option<(i32, Option<DateTime<Utc>>)> = sqlx::query_as(
                    "SELECT failures, locked_until FROM console_sign_in_attempts WHERE handle = $1",
                )
                .bind(handle)
                .fetch_optional(self.reader())
                .await?;
                Ok(found.map(|(failures, locked_until)| SignInAttempts { failures, locked_until }))
            }

            pub(super) async fn console_failure(
                &self,
                handle: &str,
                now: DateTime<Utc>,
                max_failures: i32,
                locked_until: DateTime<Utc>,
                event: &NewSignInEvent,
            ) -> Result<Option<DateTime<Utc>>, StoreError> {
                let mut tx = self.begin().await?;
                sign_in_event!(tx, event);
                let (failures,): (i32,) = sqlx::query_as(
                    "INSERT INTO console_sign_in_attempts (handle, failures, last_failure_at)
                     VALUES ($1, 1, $2)
                     ON CONFLICT (handle) DO UPDATE SET
                       failures = console_sign_in_attempts.failures + 1,
                       last_failure_at = excluded.last_failure_at
                     RETURNING failures",
                )
                .bind(handle)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let locked = if failures >= max_failures {
                    // Locked: the count starts again when the lock ends.
                    sqlx::query(
                        "UPDATE console_sign_in_attempts SET failures = 0, locked_until = $2
                         WHERE handle = $1",
                    )
                    .bind(handle)
                    .bind(locked_until)
                    .execute(&mut *tx)
                    .await?;
                    let locked = NewSignInEvent {
                        event: "locked_out",
                        ..event.clone()
                    };
                    sign_in_event!(tx, &locked);
                    Some(locked_until)
                } else {
                    None
                };
                tx.commit().await?;
                Ok(locked)
            }

            pub(super) async fn handle_holder(
                &self,
                handle: &str,
            ) -> Result<Option<EngineerId>, StoreError> {
                let found: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM engineers WHERE handle = $1")
                        .bind(handle)
                        .fetch_optional(self.reader())
                        .await?;
                Ok(found.map(|(id,)| EngineerId(id)))
            }

            pub(super) async fn console_success(&self, handle: &str) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query("DELETE FROM console_sign_in_attempts WHERE handle = $1").bind(handle),
                )
                .await
                .map(drop)
            }

            pub(super) async fn console_link_create(
                &self,
                code_hash: &str,
                engineer: EngineerId,
                purpose: LinkPurpose,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
                message: Option<&NewOutboxMessage>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO console_links (code_hash, engineer_id, purpose, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(code_hash)
                .bind(engineer.0)
                .bind(purpose.as_str())
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                if let Some(message) = message {
                    let (kind, id) = message.to.parts();
                    sqlx::query(
                        "INSERT INTO outbox (recipient_kind, recipient_id, event, payload, status,
                           attempts, next_attempt_at, created_at)
                         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
                    )
                    .bind(kind)
                    .bind(id)
                    .bind(&message.event)
                    .bind(message.payload.to_string())
                    .bind(message.not_before.unwrap_or(now))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn console_link_redeem(
                &self,
                code_hash: &str,
                purpose: LinkPurpose,
                now: DateTime<Utc>,
            ) -> Result<Option<EngineerId>, StoreError> {
                let mut tx = self.begin().await?;
                let found: Option<(i64,)> = sqlx::query_as(
                    "UPDATE console_links SET used_at = $3 WHERE code_hash = $1 AND purpose = $2
                       AND used_at IS NULL AND expires_at > $3
                     RETURNING engineer_id",
                )
                .bind(code_hash)
                .bind(purpose.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(found.map(|(id,)| EngineerId(id)))
            }

            pub(super) async fn console_link_valid(
                &self,
                code_hash: &str,
                purpose: LinkPurpose,
                now: DateTime<Utc>,
            ) -> Result<Option<EngineerId>, StoreError> {
                let found: Option<(i64,)> = sqlx::query_as(
                    "SELECT engineer_id FROM console_links WHERE code_hash = $1 AND purpose = $2
                       AND used_at IS NULL AND expires_at > $3",
                )
                .bind(code_hash)
                .bind(purpose.as_str())
                .bind(now)
                .fetch_optional(self.reader())
                .await?;
                Ok(found.map(|(id,)| EngineerId(id)))
            }

            pub(super) async fn sign_in_events(
                &self,
                since: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<SignInEvent>, StoreError> {
                let rows: Vec<(i64, DateTime<Utc>, Option<i64>, String, String, Option<String>, Option<String>)> =
                    sqlx::query_as(
                        "SELECT id, at, engineer_id, handle, event, method, address FROM sign_in_events
                         WHERE at >= $1 ORDER BY at DESC, id DESC LIMIT $2",
                    )
                    .bind(since)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, at, engineer_id, handle, event, method, address)| SignInEvent {
                        id,
                        at,
                        engineer_id,
                        handle,
                        event,
                        method,
                        address,
                    })
                    .collect())
            }

            pub(super) async fn console_sweep(
                &self,
                now: DateTime<Utc>,
                attempts_before: DateTime<Utc>,
            ) -> Result<ConsoleSwept, StoreError> {
                let mut tx = self.begin().await?;
                let sessions = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                // Used links are done with as well as expired ones; an unused, unexpired
                // one still works.
                let links = sqlx::query(
                    "DELETE FROM console_links WHERE expires_at <= $1 OR used_at IS NOT NULL",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // A handle's failures are forgotten once old, unless it is still locked.
                let attempts = sqlx::query(
                    "DELETE FROM console_sign_in_attempts WHERE last_failure_at < $1
                       AND (locked_until IS NULL OR locked_until <= $2)",
                )
                .bind(attempts_before)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(ConsoleSwept { sessions, links, attempts })
            }

            pub(super) async fn console_queue(
                &self,
                scope: &Scope,
                filter: &QueueFilter,
                now: DateTime<Utc>,
                offset: i64,
                limit: i64,
            ) -> Result<QueuePage, StoreError> {
                let (reporter, group, engineer) = match scope {
                    Scope::All => (None, None, None),
                    Scope::Reporter(r) => (Some(r.0), None, None),
                    Scope::Engineer { group, id } => (None, Some(group.as_str()), Some(id.0)),
                };
                let search = filter
                    .search
                    .as_deref()
                    .filter(|s| !s.trim().is_empty())
                    .map(like_pattern);
                macro_rules! bind_filters {
                    ($q:expr) => {
                        $q.bind(now)
                            .bind(filter.status.map(|s| s.as_str()))
                            .bind(filter.priority.as_deref())
                            .bind(filter.group.as_deref())
                            .bind(filter.assignee.map(|e| e.0))
                            .bind(filter.site.as_deref())
                            .bind(filter.breached)
                            .bind(filter.due_by)
                            .bind(search.as_deref())
                            .bind(reporter)
                            .bind(group)
                            .bind(engineer)
                    };
                }
                let count_sql = format!("SELECT COUNT(*) FROM tickets t WHERE{QUEUE_WHERE}");
                let (total,): (i64,) = bind_filters!(sqlx::query_as(sqlx::AssertSqlSafe(count_sql)))
                    .fetch_one(self.reader())
                    .await?;
                // Open tickets with a running clock come first, by their most urgent
                // deadline (`next_due_at`, migration 0029), then those with none (paused, or
                // no clock), oldest first. Each part's own condition goes first, so rows of
                // the other part are passed over before the search's LIKEs are tried.
                macro_rules! part {
                    ($part:literal, $order:literal, $offset:expr, $limit:expr) => {{
                        let sql = format!("SELECT t.* FROM tickets t WHERE {} AND{QUEUE_WHERE} ORDER BY {} LIMIT $13 OFFSET $14", $part, $order);
                        let rows: Vec<rows::TicketRow> = bind_filters!(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
                            .bind($limit)
                            .bind($offset)
                            .fetch_all(self.reader())
                            .await?;
                        rows.into_iter().map(Ticket::try_from).collect::<Result<Vec<_>, _>>()?
                    }};
                }
                let mut tickets = part!("t.next_due_at IS NOT NULL", "t.next_due_at, t.id", offset, limit);
                let room = limit - i64::try_from(tickets.len()).unwrap_or(limit);
                if room > 0 {
                    // The running part ended on this page or before it; the idle part
                    // starts where it ended.
                    let running = if tickets.is_empty() {
                        let sql = format!("SELECT COUNT(*) FROM tickets t WHERE t.next_due_at IS NOT NULL AND{QUEUE_WHERE}");
                        let (n,): (i64,) = bind_filters!(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
                            .fetch_one(self.reader())
                            .await?;
                        n
                    } else {
                        offset + limit - room
                    };
                    tickets.extend(part!("t.next_due_at IS NULL", "t.id", (offset - running).max(0), room));
                }
                let mut clocks = self.clocks_of(&tickets.iter().map(|t| t.id).collect::<Vec<_>>()).await?;
                let items = tickets
                    .into_iter()
                    .map(|t| {
                        let c = clocks.remove(&t.id.0).unwrap_or_default();
                        (t, c)
                    })
                    .collect();
                Ok(QueuePage { items, total })
            }

            /// The clocks of several tickets, by ticket id.
            async fn clocks_of(
                &self,
                ids: &[TicketId],
            ) -> Result<std::collections::HashMap<i64, Vec<SlaClock>>, StoreError> {
                let mut out: std::collections::HashMap<i64, Vec<SlaClock>> = std::collections::HashMap::new();
                if ids.is_empty() {
                    return Ok(out);
                }
                // Only numbered placeholders are built into the text.
                let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "SELECT * FROM sla_clocks WHERE ticket_id IN ({}) ORDER BY ticket_id, kind",
                    marks.join(", ")
                );
                let mut q = sqlx::query_as::<_, rows::ClockRowWithTicket>(sqlx::AssertSqlSafe(sql));
                for id in ids {
                    q = q.bind(id.0);
                }
                for row in q.fetch_all(self.reader()).await? {
                    let (ticket, clock) = row.split();
                    out.entry(ticket).or_default().push(clock.try_into()?);
                }
                Ok(out)
            }

            pub(super) async fn console_asset_history(
                &self,
                scope: &Scope,
                asset_tag: &str,
                except: TicketId,
                limit: i64,
            ) -> Result<Vec<Ticket>, StoreError> {
                let (reporter, group, engineer) = match scope {
                    Scope::All => (None, None, None),
                    Scope::Reporter(r) => (Some(r.0), None, None),
                    Scope::Engineer { group, id } => (None, Some(group.as_str()), Some(id.0)),
                };
                let rows: Vec<rows::TicketRow> = sqlx::query_as(
                    "SELECT * FROM tickets WHERE asset_tag = $1 AND id <> $2
                       AND ($3 IS NULL OR reporter_id = $3)
                       AND ($4 IS NULL OR group_id = $4 OR assignee_id = $5 OR offered_to = $5)
                     ORDER BY id DESC LIMIT $6",
                )
                .bind(asset_tag)
                .bind(except.0)
                .bind(reporter)
                .bind(group)
                .bind(engineer)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            pub(super) async fn console_stamp(&self) -> Result<i64, StoreError> {
                let (id,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM audit_events")
                    .fetch_one(self.reader())
                    .await?;
                Ok(id)
            }
        }
    };
}

console_sql!(SqliteStore);
console_sql!(PgStore);

/// Calls the same method on whichever backend this is.
macro_rules! either {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// An engineer's console password hash (argon2id PHC string), if set.
    pub async fn console_password(
        &self,
        engineer: EngineerId,
    ) -> Result<Option<String>, StoreError> {
        either!(self.console_password(engineer))
    }

    /// Sets an engineer's console password hash and ends their sessions, in one
    /// transaction; with `link` (a set-password link's hash) only if that link is theirs,
    /// unused and unexpired (using it) — false, nothing written, otherwise.
    pub async fn console_set_password(
        &self,
        engineer: EngineerId,
        hash: &str,
        now: DateTime<Utc>,
        link: Option<&str>,
        address: Option<&str>,
    ) -> Result<bool, StoreError> {
        either!(self.console_set_password(engineer, hash, now, link, address))
    }

    /// Remembers the console language an engineer chose.
    pub async fn console_set_language(
        &self,
        engineer: EngineerId,
        language: &str,
    ) -> Result<(), StoreError> {
        either!(self.console_set_language(engineer, language))
    }

    /// Records a console session (the hash of its token) with its form token and the
    /// sign-in's audit `event`; expired sessions are dropped in the same transaction.
    pub async fn console_session_create(
        &self,
        token_hash: &str,
        engineer: EngineerId,
        csrf: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        event: &NewSignInEvent,
    ) -> Result<(), StoreError> {
        either!(self.console_session_create(token_hash, engineer, csrf, now, expires_at, event))
    }

    /// An unexpired console session.
    pub async fn console_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSessionRecord>, StoreError> {
        either!(self.console_session(token_hash, now))
    }

    /// Ends a console session.
    /// (Recording `signed_out` for its engineer, if the session was there.)
    pub async fn console_session_end(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        either!(self.console_session_end(token_hash, now, address))
    }

    /// The sign-in audit events since `since`, newest first, at most `limit`.
    pub async fn sign_in_events(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<SignInEvent>, StoreError> {
        either!(self.sign_in_events(since, limit))
    }

    /// Deletes expired sessions, expired or used one-time links and failed sign-ins
    /// older than `attempts_before` of handles not locked at `now`, in one transaction.
    pub async fn console_sweep(
        &self,
        now: DateTime<Utc>,
        attempts_before: DateTime<Utc>,
    ) -> Result<ConsoleSwept, StoreError> {
        either!(self.console_sweep(now, attempts_before))
    }

    /// Failed sign-ins recorded for a handle.
    pub async fn console_attempts(
        &self,
        handle: &str,
    ) -> Result<Option<SignInAttempts>, StoreError> {
        either!(self.console_attempts(handle))
    }

    /// Counts a failed sign-in for a handle; at `max_failures` the handle is locked until
    /// `locked_until` (returned) and the count starts again.
    pub async fn console_failure(
        &self,
        handle: &str,
        now: DateTime<Utc>,
        max_failures: i32,
        locked_until: DateTime<Utc>,
        event: &NewSignInEvent,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        either!(self.console_failure(handle, now, max_failures, locked_until, event))
    }

    /// The engineer whose handle this is, deactivated ones included (a handle is never
    /// given to anyone else).
    pub async fn handle_holder(&self, handle: &str) -> Result<Option<EngineerId>, StoreError> {
        either!(self.handle_holder(handle))
    }

    /// Forgets a handle's failed sign-ins (it signed in).
    pub async fn console_success(&self, handle: &str) -> Result<(), StoreError> {
        either!(self.console_success(handle))
    }

    /// Records a one-time console link (the hash of its code), with the message that
    /// sends it, in one transaction.
    pub async fn console_link_create(
        &self,
        code_hash: &str,
        engineer: EngineerId,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        message: Option<&NewOutboxMessage>,
    ) -> Result<(), StoreError> {
        either!(self.console_link_create(code_hash, engineer, purpose, now, expires_at, message))
    }

    /// Uses a one-time link: its engineer if it was unused and unexpired, else `None`.
    pub async fn console_link_redeem(
        &self,
        code_hash: &str,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<EngineerId>, StoreError> {
        either!(self.console_link_redeem(code_hash, purpose, now))
    }

    /// A one-time link's engineer if it is unused and unexpired (without using it).
    pub async fn console_link_valid(
        &self,
        code_hash: &str,
        purpose: LinkPurpose,
        now: DateTime<Utc>,
    ) -> Result<Option<EngineerId>, StoreError> {
        either!(self.console_link_valid(code_hash, purpose, now))
    }

    /// Up to `limit` open tickets the scope may see, most urgent running clock first,
    /// with their clocks and the number matching in all.
    pub async fn console_queue(
        &self,
        scope: &Scope,
        filter: &QueueFilter,
        now: DateTime<Utc>,
        offset: i64,
        limit: i64,
    ) -> Result<QueuePage, StoreError> {
        either!(self.console_queue(scope, filter, now, offset, limit))
    }

    /// The newest `limit` other tickets of an asset the scope may see.
    pub async fn console_asset_history(
        &self,
        scope: &Scope,
        asset_tag: &str,
        except: TicketId,
        limit: i64,
    ) -> Result<Vec<Ticket>, StoreError> {
        either!(self.console_asset_history(scope, asset_tag, except, limit))
    }

    /// A number that grows with every ticket change (the newest audit event's id): the
    /// console's live view looks at it to know when to refresh.
    pub async fn console_stamp(&self) -> Result<i64, StoreError> {
        either!(self.console_stamp())
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn search_words_are_taken_literally() {
        assert_eq!(like_pattern(" Printer "), "%printer%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("打印机"), "%打印机%");
    }
}
