//! The WeCom door's tables: callbacks by key (`wecom_inbox`), so one WeCom sends again is
//! handled once, and engineers' WeCom UserIDs (`engineers.wecom_id`). The same SQL on
//! both backends.

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StoreError};
use crate::domain::EngineerId;
use crate::domain::routing::Engineer;

/// A callback handled: `$1` its key, `$2` the time (in a step's transaction, too).
pub(super) const HANDLED: &str =
    "UPDATE wecom_inbox SET handled_at = $2 WHERE msg_key = $1 AND handled_at IS NULL";

/// Sets (or clears) an engineer's WeCom UserID in transaction `$tx`: the UserID moves to
/// this engineer (from another one, if it was linked).
macro_rules! set_wecom_id {
    ($tx:ident, $id:expr, $user_id:expr) => {
        if let Some(user) = $user_id {
            sqlx::query("UPDATE engineers SET wecom_id = NULL WHERE wecom_id = $1")
                .bind(user)
                .execute(&mut *$tx)
                .await
                .map_err(StoreError::from_write)?;
        }
        sqlx::query("UPDATE engineers SET wecom_id = $2 WHERE id = $1")
            .bind($id.0)
            .bind($user_id)
            .execute(&mut *$tx)
            .await
            .map_err(StoreError::from_write)?;
    };
}

macro_rules! wecom {
    ($store:ty) => {
        impl $store {
            pub(super) async fn wecom_receive(
                &self,
                key: &str,
                kind: &str,
                body: &str,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let n = self
                    .write_one(
                        sqlx::query(
                            "INSERT INTO wecom_inbox (msg_key, kind, body, received_at)
                             VALUES ($1, $2, $3, $4) ON CONFLICT (msg_key) DO NOTHING",
                        )
                        .bind(key)
                        .bind(kind)
                        .bind(body)
                        .bind(now),
                    )
                    .await?;
                Ok(n == 1)
            }

            pub(super) async fn wecom_handled(
                &self,
                key: &str,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let n = self
                    .write_one(sqlx::query(HANDLED).bind(key).bind(now))
                    .await?;
                Ok(n == 1)
            }

            pub(super) async fn wecom_unhandled(
                &self,
                before: DateTime<Utc>,
                limit: i64,
            ) -> Result<Vec<(String, String)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT msg_key, body FROM wecom_inbox
                     WHERE handled_at IS NULL AND received_at < $1
                     ORDER BY received_at LIMIT $2",
                )
                .bind(before)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn wecom_prune(
                &self,
                before: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                self.write_one(
                    sqlx::query("DELETE FROM wecom_inbox WHERE received_at < $1").bind(before),
                )
                .await
            }

            pub(super) async fn engineer_wecom_id(
                &self,
                id: EngineerId,
            ) -> Result<Option<String>, StoreError> {
                let row: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT wecom_id FROM engineers WHERE id = $1")
                        .bind(id.0)
                        .fetch_optional(self.reader())
                        .await?;
                Ok(row.and_then(|(w,)| w))
            }

            pub(super) async fn set_engineer_wecom_id(
                &self,
                id: EngineerId,
                user_id: Option<&str>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                set_wecom_id!(tx, id, user_id);
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn update_engineer_with_wecom_id(
                &self,
                e: &Engineer,
                user_id: Option<&str>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query(super::sql::UPDATE_ENGINEER)
                    .bind(e.id.0)
                    .bind(&e.name)
                    .bind(&e.group)
                    .bind(e.tier.as_str())
                    .bind(e.on_duty)
                    .bind(&e.telegram_id)
                    .bind(&e.discord_id)
                    .bind(&e.web_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?;
                set_wecom_id!(tx, e.id, user_id);
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

wecom!(SqliteStore);
wecom!(PgStore);
