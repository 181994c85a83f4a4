//! Archived periodic reports: one frozen report per kind and period, written once
//! (a unique key, so several instances freeze a period once).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{PgStore, SqliteStore, StoreError};

/// An archived report as listed (without its figures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ArchiveEntry {
    /// Id.
    pub id: i64,
    /// `week`, `month`, `quarter`, `half-year` or `year`.
    pub kind: String,
    /// First local day, `YYYY-MM-DD`.
    pub first_day: String,
    /// Last local day, `YYYY-MM-DD`.
    pub last_day: String,
    /// When it was frozen.
    pub generated_at: DateTime<Utc>,
}

/// A report to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArchive {
    /// Kind.
    pub kind: String,
    /// First local day.
    pub first_day: String,
    /// Last local day.
    pub last_day: String,
    /// When it is frozen.
    pub generated_at: DateTime<Utc>,
    /// The snapshot, as JSON.
    pub report: String,
}

macro_rules! archive {
    ($store:ty) => {
        impl $store {
            pub(super) async fn archived(&self, kind: &str, first_day: &str) -> Result<bool, StoreError> {
                let found: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM report_archive WHERE kind = $1 AND first_day = $2",
                )
                .bind(kind)
                .bind(first_day)
                .fetch_optional(self.reader())
                .await?;
                Ok(found.is_some())
            }

            pub(super) async fn archive_report(&self, new: &NewArchive) -> Result<bool, StoreError> {
                // The unique key keeps the first snapshot when instances race.
                Ok(self
                    .write_one(
                        sqlx::query(
                            "INSERT INTO report_archive (kind, first_day, last_day, generated_at, report)
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, first_day) DO NOTHING",
                        )
                        .bind(&new.kind)
                        .bind(&new.first_day)
                        .bind(&new.last_day)
                        .bind(new.generated_at)
                        .bind(&new.report),
                    )
                    .await?
                    > 0)
            }

            pub(super) async fn archive_list(&self) -> Result<Vec<ArchiveEntry>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, kind, first_day, last_day, generated_at FROM report_archive
                     ORDER BY first_day DESC, id DESC",
                )
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn archived_report(&self, id: i64) -> Result<Option<(ArchiveEntry, String)>, StoreError> {
                let row: Option<(i64, String, String, String, DateTime<Utc>, String)> = sqlx::query_as(
                    "SELECT id, kind, first_day, last_day, generated_at, report FROM report_archive
                     WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(id, kind, first_day, last_day, generated_at, report)| {
                    (
                        ArchiveEntry {
                            id,
                            kind,
                            first_day,
                            last_day,
                            generated_at,
                        },
                        report,
                    )
                }))
            }
        }
    };
}

archive!(SqliteStore);
archive!(PgStore);
