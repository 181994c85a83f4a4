//! Leases on work only one instance may do at a time (see `crate::lease`).

use chrono::{DateTime, Utc};

use super::{PgStore, SqliteStore, StoreError};

macro_rules! lease_sql {
    ($store:ty) => {
        impl $store {
            pub(super) async fn lease_take(
                &self,
                name: &str,
                holder: &str,
                now: DateTime<Utc>,
                until: DateTime<Utc>,
            ) -> Result<bool, StoreError> {
                // One statement takes a free name, renews our own, or takes over an
                // expired one; a name someone else holds is left alone.
                let changed = self
                    .write_one(
                        sqlx::query(
                            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $4)
                             ON CONFLICT (name) DO UPDATE
                               SET holder = excluded.holder, expires_at = excluded.expires_at
                               WHERE leases.holder = excluded.holder OR leases.expires_at < $3",
                        )
                        .bind(name)
                        .bind(holder)
                        .bind(now)
                        .bind(until),
                    )
                    .await?;
                Ok(changed == 1)
            }

            pub(super) async fn lease_give_up(
                &self,
                name: &str,
                holder: &str,
            ) -> Result<(), StoreError> {
                self.write_one(
                    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                        .bind(name)
                        .bind(holder),
                )
                .await
                .map(drop)
            }
        }
    };
}

lease_sql!(SqliteStore);
lease_sql!(PgStore);
