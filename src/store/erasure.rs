//! Erasing a reporter's personal data (PIPL), in one transaction: their name, phone,
//! department and language, their chat identities and everything kept under them
//! (conversations and drafts, web sessions and chat history, Telegram update bodies),
//! web invitations, messages addressed to them, the name and phone copied into their
//! tickets, the notes they wrote in audit trails, survey comments and complaints, and the photos they
//! sent. Tickets stay as anonymous records (category, site, times, SLA, ratings), so the
//! contract's statistics keep counting them; the erasure itself is recorded with who and
//! when, never what.

use chrono::{DateTime, Utc};

use super::{Actor, PgStore, SqliteStore, Store, StoreError};
use crate::domain::ReporterId;

/// Statements run once per chat identity of the reporter: `$1` channel, `$2` external id.
const PER_IDENTITY: [&str; 4] = [
    "DELETE FROM conversations WHERE channel = $1 AND external_id = $2",
    "DELETE FROM conversation_drafts WHERE channel = $1 AND external_id = $2",
    "DELETE FROM web_sessions WHERE $1 = 'web' AND external_id = $2",
    "DELETE FROM web_messages WHERE $1 = 'web' AND external_id = $2",
];

/// Telegram updates from the person (their words, name and username are in the body):
/// emptied, not deleted, so the polling offset and the inbox's bookkeeping stay. `$1` is
/// the JSON prefix of the sender (`"from":{"id":42,`); the LIKE works on both backends
/// and on bodies that are not valid JSON.
const TELEGRAM_BODIES: &str = "UPDATE telegram_updates SET body = '{}', replies = NULL
     WHERE body LIKE $1";

/// Statements run once: `$1` the reporter id.
const PER_REPORTER: [&str; 9] = [
    "DELETE FROM web_invites WHERE reporter_id = $1",
    "DELETE FROM outbox WHERE recipient_kind = 'reporter' AND recipient_id = $1",
    "UPDATE tickets SET reporter_name = '', phone = '' WHERE reporter_id = $1",
    "DELETE FROM attachments WHERE ticket_id IN (SELECT id FROM tickets WHERE reporter_id = $1)",
    "UPDATE surveys SET comment = NULL WHERE reporter_id = $1",
    "UPDATE complaints SET text = '', department = NULL WHERE reporter_id = $1",
    "DELETE FROM reporter_identities WHERE reporter_id = $1",
    "UPDATE reporters SET name = '', department = NULL, phone = NULL, vip = FALSE,
       language = NULL WHERE id = $1",
    "UPDATE tickets SET photos = '[]' WHERE reporter_id = $1",
];

macro_rules! erasure {
    ($store:ty) => {
        impl $store {
            pub(super) async fn erase_reporter(
                &self,
                id: ReporterId,
                by: &Actor,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM reporters WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Ok(false);
                }
                let identities: Vec<(String, String)> = sqlx::query_as(
                    "SELECT channel, external_id FROM reporter_identities WHERE reporter_id = $1",
                )
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
                for (channel, external_id) in &identities {
                    for sql in PER_IDENTITY {
                        sqlx::query(sql)
                            .bind(channel)
                            .bind(external_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    if channel == "telegram" && external_id.parse::<i64>().is_ok() {
                        sqlx::query(TELEGRAM_BODIES)
                            .bind(format!("%\"from\":{{\"id\":{external_id},%"))
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                // What they wrote in their tickets' trails (comments, reasons to reopen).
                sqlx::query(
                    "UPDATE audit_events SET actor_name = '', note = NULL
                     WHERE actor_kind = 'reporter' AND actor_id = $1",
                )
                .bind(id.0.to_string())
                .execute(&mut *tx)
                .await?;
                for sql in PER_REPORTER {
                    sqlx::query(sql).bind(id.0).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "INSERT INTO reporter_erasures (reporter_id, erased_at, actor_kind, actor_id, actor_name)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id.0)
                .bind(now)
                .bind(by.kind)
                .bind(by.id.as_deref())
                .bind(&by.name)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

erasure!(SqliteStore);
erasure!(PgStore);

impl Store {
    /// Erases reporter `id`'s personal data and records who did it, in one transaction;
    /// false if there is no such reporter.
    pub async fn erase_reporter(
        &self,
        id: ReporterId,
        by: &Actor,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.erase_reporter(id, by, now).await,
            Store::Postgres(s) => s.erase_reporter(id, by, now).await,
        }
    }
}
