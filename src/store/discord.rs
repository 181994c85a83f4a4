//! The Discord door's table: gateway events by id, so that an event dispatched twice
//! (Discord replays after a RESUME) is handled once.

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, Store, StoreError};

macro_rules! discord_sql {
    ($store:ty) => {
        impl $store {
            async fn discord_receive(
                &self,
                event_id: &str,
                kind: &str,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "INSERT INTO discord_events (event_id, kind, received_at) VALUES ($1, $2, $3)
                     ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(event_id)
                .bind(kind)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn discord_handled(
                &self,
                event_id: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query("UPDATE discord_events SET handled_at = $2 WHERE event_id = $1")
                    .bind(event_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn discord_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                let done = sqlx::query("DELETE FROM discord_events WHERE received_at < $1")
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }
        }
    };
}

discord_sql!(SqliteStore);
discord_sql!(PgStore);

impl Store {
    /// Records a received Discord event (a message or interaction id); false if it was
    /// seen before (then it must not be handled again).
    pub async fn discord_receive(
        &self,
        event_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_receive(event_id, kind, now).await,
            Store::Postgres(s) => s.discord_receive(event_id, kind, now).await,
        }
    }

    /// Marks a received Discord event handled.
    pub async fn discord_handled(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_handled(event_id, now).await,
            Store::Postgres(s) => s.discord_handled(event_id, now).await,
        }
    }

    /// Forgets events received before `before` (Discord never replays them that late).
    pub async fn discord_prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.discord_prune(before).await,
            Store::Postgres(s) => s.discord_prune(before).await,
        }
    }
}
