//! The WeCom door's tables: callbacks by key (`wecom_inbox`), so one WeCom sends again is
//! handled once, each member's sends in WeCom's limit windows (`wecom_sends`, shared by
//! every instance), and engineers' WeCom UserIDs (`engineers.wecom_id`). The same SQL on
//! both backends; the writes on a callback's path run per backend (`sqlite/chat.rs`,
//! `postgres/chat.rs`): on SQLite in the group commit, on PostgreSQL as one statement.

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StoreError};

/// A callback received: `$1` its key, `$2` its kind, `$3` its decrypted body, `$4` the
/// time; inserts nothing for a key seen before.
pub(super) const RECEIVE: &str = "INSERT INTO wecom_inbox (msg_key, kind, body, received_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT (msg_key) DO NOTHING";

/// A callback handled: `$1` its key, `$2` the time (in a step's transaction, too).
pub(super) const HANDLED: &str =
    "UPDATE wecom_inbox SET handled_at = $2 WHERE msg_key = $1 AND handled_at IS NULL";

/// Counts `$2` sends to member `$1` at `$3` (Unix ms) if WeCom's limits have room: `$4`
/// and `$5` the current minute and hour window numbers, `$6` and `$7` the limits. A row
/// comes back if they were counted, none if they did not fit (nothing changes then).
///
/// A window counts the sends in it, and the previous window's too while the newest of
/// those is less than a window's length old: any minute (or hour) then holds at most the
/// limit, on the sliding window WeCom drops by. A window number or time behind the row's
/// (another instance's clock a little ahead) counts as the row's, never as a new window.
/// The upsert's row lock orders concurrent senders on every backend.
pub(super) const COUNT_SENDS: &str = "INSERT INTO wecom_sends AS s (member,
       minute_no, minute_sends, minute_last, prev_minute_sends, prev_minute_last,
       hour_no, hour_sends, hour_last, prev_hour_sends, prev_hour_last)
     VALUES ($1, $4, $2, $3, 0, 0, $5, $2, $3, 0, 0)
     ON CONFLICT (member) DO UPDATE SET
       minute_no = CASE WHEN s.minute_no > $4 THEN s.minute_no ELSE $4 END,
       minute_sends = CASE WHEN s.minute_no >= $4 THEN s.minute_sends ELSE 0 END + $2,
       minute_last = CASE WHEN s.minute_last > $3 THEN s.minute_last ELSE $3 END,
       prev_minute_sends = CASE WHEN s.minute_no >= $4 THEN s.prev_minute_sends
                            WHEN s.minute_no = $4 - 1 THEN s.minute_sends ELSE 0 END,
       prev_minute_last = CASE WHEN s.minute_no >= $4 THEN s.prev_minute_last
                           WHEN s.minute_no = $4 - 1 THEN s.minute_last ELSE 0 END,
       hour_no = CASE WHEN s.hour_no > $5 THEN s.hour_no ELSE $5 END,
       hour_sends = CASE WHEN s.hour_no >= $5 THEN s.hour_sends ELSE 0 END + $2,
       hour_last = CASE WHEN s.hour_last > $3 THEN s.hour_last ELSE $3 END,
       prev_hour_sends = CASE WHEN s.hour_no >= $5 THEN s.prev_hour_sends
                            WHEN s.hour_no = $5 - 1 THEN s.hour_sends ELSE 0 END,
       prev_hour_last = CASE WHEN s.hour_no >= $5 THEN s.prev_hour_last
                           WHEN s.hour_no = $5 - 1 THEN s.hour_last ELSE 0 END
     WHERE (CASE WHEN s.minute_no >= $4 THEN s.minute_sends ELSE 0 END
        + CASE WHEN s.minute_no >= $4 AND s.prev_minute_last > $3 - 60000 THEN s.prev_minute_sends
               WHEN s.minute_no = $4 - 1 AND s.minute_last > $3 - 60000 THEN s.minute_sends
               ELSE 0 END
        + $2 <= $6)
       AND (CASE WHEN s.hour_no >= $5 THEN s.hour_sends ELSE 0 END
        + CASE WHEN s.hour_no >= $5 AND s.prev_hour_last > $3 - 3600000 THEN s.prev_hour_sends
               WHEN s.hour_no = $5 - 1 AND s.hour_last > $3 - 3600000 THEN s.hour_sends
               ELSE 0 END
        + $2 <= $7)
     RETURNING minute_sends";

/// What stands in the way of a refused count: `$1` the member.
pub(super) const SENDS: &str = "SELECT minute_no, minute_sends, minute_last, prev_minute_sends,
            prev_minute_last, hour_no, hour_sends, hour_last, prev_hour_sends, prev_hour_last
     FROM wecom_sends WHERE member = $1";

/// The window numbers [`COUNT_SENDS`] takes for `now` (Unix ms): its minute's and hour's.
pub(super) fn windows(now: DateTime<Utc>) -> (i64, i64, i64) {
    let ms = now.timestamp_millis();
    (ms, ms.div_euclid(60_000), ms.div_euclid(3_600_000))
}

/// One member's sends in WeCom's windows as `wecom_sends` holds them (times in Unix
/// milliseconds; window numbers are Unix time over the window's length).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct SendCounts {
    /// The newest minute window sent in.
    pub minute_no: i64,
    /// Sends in it.
    pub minute_sends: i64,
    /// The newest of them.
    pub minute_last: i64,
    /// Sends in the minute window before it.
    pub prev_minute_sends: i64,
    /// The newest of those.
    pub prev_minute_last: i64,
    /// The newest hour window sent in.
    pub hour_no: i64,
    /// Sends in it.
    pub hour_sends: i64,
    /// The newest of them.
    pub hour_last: i64,
    /// Sends in the hour window before it.
    pub prev_hour_sends: i64,
    /// The newest of those.
    pub prev_hour_last: i64,
}

macro_rules! wecom {
    ($store:ty) => {
        impl $store {
            /// What stands in the way of a refused count (off the hot path: the caller
            /// waits).
            pub(super) async fn wecom_sends(&self, member: &str) -> Result<SendCounts, StoreError> {
                let row: Option<SendCounts> = sqlx::query_as(SENDS)
                    .bind(member)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.unwrap_or_default())
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
                // Members not sent to since then have nothing in any window either.
                self.write_one(
                    sqlx::query("DELETE FROM wecom_sends WHERE hour_last < $1")
                        .bind(before.timestamp_millis()),
                )
                .await?;
                self.write_one(
                    sqlx::query("DELETE FROM wecom_inbox WHERE received_at < $1").bind(before),
                )
                .await
            }
        }
    };
}

wecom!(SqliteStore);
wecom!(PgStore);
