//! The Discord door's table: gateway events by id, so that an event dispatched twice
//! (Discord replays after a RESUME) is handled once.

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StoreError};

/// An event handled: `$1` its id, `$2` the time.
pub(super) const HANDLED: &str = "UPDATE discord_events SET handled_at = $2 WHERE event_id = $1";

macro_rules! discord_sql {
    ($store:ty) => {
        impl $store {
            pub(super) async fn discord_receive(
                &self,
                event_id: &str,
                kind: &str,
                now: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                let inserted = self
                    .write_one(
                        sqlx::query(
                            "INSERT INTO discord_events (event_id, kind, received_at)
                             VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING",
                        )
                        .bind(event_id)
                        .bind(kind)
                        .bind(now),
                    )
                    .await?;
                Ok(inserted == 1)
            }

            pub(super) async fn discord_handled(
                &self,
                event_id: &str,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                self.write_one(sqlx::query(HANDLED).bind(event_id).bind(now))
                    .await
                    .map(drop)
            }

            pub(super) async fn discord_prune(
                &self,
                before: DateTime<Utc>,
            ) -> Result<u64, StoreError> {
                self.write_one(
                    sqlx::query("DELETE FROM discord_events WHERE received_at < $1").bind(before),
                )
                .await
            }
        }
    };
}

discord_sql!(SqliteStore);
discord_sql!(PgStore);
