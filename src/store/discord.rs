//! The Discord door's table: gateway events by id, so that an event dispatched twice
//! (Discord replays after a RESUME) is handled once. The receipt and the handled mark are
//! per backend (`sqlite/chat.rs`, `postgres/chat.rs`).

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StoreError};

/// An event received: `$1` its id, `$2` its kind, `$3` the time; inserts nothing for an
/// id seen before.
pub(super) const RECEIVE: &str = "INSERT INTO discord_events (event_id, kind, received_at)
     VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING";
/// An event handled: `$1` its id, `$2` the time.
pub(super) const HANDLED: &str = "UPDATE discord_events SET handled_at = $2 WHERE event_id = $1";

macro_rules! discord_prune {
    ($store:ty) => {
        impl $store {
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

discord_prune!(SqliteStore);
discord_prune!(PgStore);
