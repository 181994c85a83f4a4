//! The web chat's tables (migration 0010): sessions the server issues, one-time
//! invitations that bind a browser to a reporter, and each web identity's messages both
//! ways — the history a returning reporter sees and the mailbox notices go to.

use chrono::{DateTime, Utc};

use super::{NewOutboxMessage, PgStore, SqliteStore, StoreError};
use crate::domain::ReporterId;

/// One message of a web identity's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebEntry {
    /// Increasing: the order of the history, and where a tab got to.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// From the desk (a reply or a notice), else what the person sent.
    pub from_bot: bool,
    /// JSON: the replies, or the person's words.
    pub body: String,
}

/// The PostgreSQL channel on which an instance announces whose web history it added to
/// (the payload is the web identity), so the instance holding that person's open tab
/// shows it.
const ANNOUNCE: &str = "baoxiu_web";

/// Web identities whose history another instance added to (PostgreSQL; one instance on
/// SQLite has nobody to hear from).
pub struct WebAnnouncements(sqlx::postgres::PgListener);

impl WebAnnouncements {
    /// The next web identity announced; `None` when the connection was lost (the next
    /// call makes a new one): announcements made meanwhile were missed.
    pub async fn next(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self.0.try_recv().await?.map(|n| n.payload().to_owned()))
    }
}

impl PgStore {
    pub(super) async fn web_announcements(&self) -> Result<Option<WebAnnouncements>, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(self.reader()).await?;
        listener.listen(ANNOUNCE).await?;
        Ok(Some(WebAnnouncements(listener)))
    }
}

impl SqliteStore {
    #[allow(clippy::unused_async)]
    pub(super) async fn web_announcements(&self) -> Result<Option<WebAnnouncements>, StoreError> {
        Ok(None)
    }
}

macro_rules! web_sql {
    ($store:ty, announce = $announce:expr) => {
        impl $store {
            pub(super) async fn web_session_create(
                &self,
                token_hash: &str,
                external_id: &str,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query(
                        "INSERT INTO web_sessions (token_hash, external_id, created_at, expires_at)
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(token_hash)
                    .bind(external_id)
                    .bind(now)
                    .bind(expires_at),
                )
                .await
                .map(drop)
            }

            pub(super) async fn web_session(
                &self,
                token_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<String>, StoreError> {
                let found: Option<(String,)> = sqlx::query_as(
                    "SELECT external_id FROM web_sessions WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(self.reader())
                .await?;
                Ok(found.map(|(id,)| id))
            }

            pub(super) async fn web_session_end(&self, token_hash: &str) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1").bind(token_hash),
                )
                .await
                .map(drop)
            }

            pub(super) async fn web_append(
                &self,
                external_id: &str,
                entries: &[(bool, String)],
                now: DateTime<Utc>,
            ) -> Result<Vec<i64>, StoreError> {
                let mut tx = self.begin().await?;
                let mut ids = Vec::with_capacity(entries.len());
                for (from_bot, body) in entries {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO web_messages (external_id, at, from_bot, body)
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(external_id)
                    .bind(now)
                    .bind(from_bot)
                    .bind(body)
                    .fetch_one(&mut *tx)
                    .await?;
                    ids.push(id);
                }
                if let Some(announce) = $announce {
                    sqlx::query(announce)
                        .bind(ANNOUNCE)
                        .bind(external_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(ids)
            }

            pub(super) async fn web_since(
                &self,
                external_id: &str,
                after: i64,
                limit: i64,
            ) -> Result<Vec<WebEntry>, StoreError> {
                // The newest `limit` after `after`, oldest first.
                Ok(sqlx::query_as(
                    "SELECT * FROM (
                       SELECT id, at, from_bot, body FROM web_messages
                       WHERE external_id = $1 AND id > $2 ORDER BY id DESC LIMIT $3
                     ) newest ORDER BY id",
                )
                .bind(external_id)
                .bind(after)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn web_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                let mut gone = 0;
                for sql in [
                    "DELETE FROM web_messages WHERE at < $1",
                    "DELETE FROM web_sessions WHERE expires_at < $1",
                    "DELETE FROM web_invites WHERE expires_at < $1",
                ] {
                    gone += sqlx::query(sql)
                        .bind(before)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(gone)
            }

            pub(super) async fn web_invite_create(
                &self,
                code_hash: &str,
                reporter: ReporterId,
                now: DateTime<Utc>,
                expires_at: DateTime<Utc>,
                message: &NewOutboxMessage,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO web_invites (code_hash, reporter_id, created_at, expires_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(code_hash)
                .bind(reporter.0)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
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
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn web_invite_redeem(
                &self,
                code_hash: &str,
                external_id: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<ReporterId>, StoreError> {
                let mut tx = self.begin().await?;
                let used: Option<(i64,)> = sqlx::query_as(
                    "UPDATE web_invites SET used_at = $2
                     WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
                     RETURNING reporter_id",
                )
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((reporter,)) = used else {
                    return Ok(None);
                };
                sqlx::query(
                    "INSERT INTO reporter_identities (channel, external_id, reporter_id)
                     VALUES ('web', $1, $2)",
                )
                .bind(external_id)
                .bind(reporter)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
                tx.commit().await?;
                Ok(Some(ReporterId(reporter)))
            }
        }
    };
}

web_sql!(SqliteStore, announce = None::<&str>);
// Sent at commit, so the instance that hears it reads the new entries.
web_sql!(PgStore, announce = Some("SELECT pg_notify($1, $2)"));
