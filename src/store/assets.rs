//! The asset register: devices keyed by their normalised tag; an import is one transaction
//! (multi-row upserts) with its audit event; an asset's history is read from the tickets
//! reported with its tag. The repeat-fault flag is set once, guarded by its own column,
//! with its event and the managers' messages in the same transaction.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::people::NewRegisterEvent;
use super::rows::TicketRow;
use super::{NewOutboxMessage, PgStore, SqliteStore, Store, StoreError};
use crate::domain::TicketId;
use crate::domain::asset::{AssetRecord, AssetStatus};
use crate::domain::ticket::Ticket;

/// A device as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Asset {
    /// The record.
    #[serde(flatten)]
    pub record: AssetRecord,
    /// When repeat faults made the desk advise replacing it, if they did.
    pub replacement_advised_at: Option<DateTime<Utc>>,
    /// Added at.
    pub created_at: DateTime<Utc>,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
}

/// Which assets to list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetFilter {
    /// Site.
    pub site: Option<String>,
    /// Kind (`pc`, `printer`, …).
    pub kind: Option<String>,
    /// Status.
    pub status: Option<AssetStatus>,
    /// Department.
    pub department: Option<String>,
    /// Tags starting with this (normalised).
    pub tag_prefix: Option<String>,
    /// Only those whose warranty ends on or before this day.
    pub warranty_until_before: Option<NaiveDate>,
}

#[derive(sqlx::FromRow)]
pub(super) struct AssetRow {
    pub(super) tag: String,
    pub(super) kind: String,
    pub(super) model: Option<String>,
    pub(super) serial: Option<String>,
    pub(super) ip: Option<String>,
    pub(super) mac: Option<String>,
    pub(super) site: Option<String>,
    pub(super) building: Option<String>,
    pub(super) room: Option<String>,
    pub(super) owner: Option<String>,
    pub(super) department: Option<String>,
    pub(super) purchased_on: Option<NaiveDate>,
    pub(super) warranty_until: Option<NaiveDate>,
    pub(super) status: String,
    pub(super) notes: Option<String>,
    pub(super) replacement_advised_at: Option<DateTime<Utc>>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

impl TryFrom<AssetRow> for Asset {
    type Error = StoreError;

    fn try_from(r: AssetRow) -> Result<Asset, StoreError> {
        let status = r
            .status
            .parse()
            .map_err(|e: String| StoreError::Corrupt(format!("asset {}: {e}", r.tag)))?;
        Ok(Asset {
            record: AssetRecord {
                tag: r.tag,
                kind: r.kind,
                model: r.model,
                serial: r.serial,
                ip: r.ip,
                mac: r.mac,
                site: r.site,
                building: r.building,
                room: r.room,
                owner: r.owner,
                department: r.department,
                purchased_on: r.purchased_on,
                warranty_until: r.warranty_until,
                status,
                notes: r.notes,
            },
            replacement_advised_at: r.replacement_advised_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Rows per multi-row upsert (17 parameters each, well under both databases' limits).
const CHUNK: usize = 200;
const COLUMNS: usize = 17;

/// The upsert of `rows` assets: a new tag is inserted, a known one updated (its creation
/// time and any replacement advice kept).
fn upsert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO assets (tag, kind, model, serial, ip, mac, site, building, room, owner,
           department, purchased_on, warranty_until, status, notes, created_at, updated_at) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..COLUMNS {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * COLUMNS + c + 1));
        }
        sql.push(')');
    }
    sql.push_str(
        " ON CONFLICT (tag) DO UPDATE SET kind = excluded.kind, model = excluded.model,
           serial = excluded.serial, ip = excluded.ip, mac = excluded.mac,
           site = excluded.site, building = excluded.building, room = excluded.room,
           owner = excluded.owner, department = excluded.department,
           purchased_on = excluded.purchased_on, warranty_until = excluded.warranty_until,
           status = excluded.status, notes = excluded.notes, updated_at = excluded.updated_at",
    );
    sql
}

const FILTERED: &str = "SELECT * FROM assets
     WHERE ($1 IS NULL OR site = $1) AND ($2 IS NULL OR kind = $2)
       AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR department = $4)
       AND ($5 IS NULL OR tag LIKE $5) AND ($6 IS NULL OR warranty_until <= $6)
     ORDER BY tag";

/// An asset by its tag (`$1`).
pub(super) const ASSET_BY_TAG: &str = "SELECT * FROM assets WHERE tag = $1";

impl PgStore {
    async fn asset(&self, tag: &str) -> Result<Option<Asset>, StoreError> {
        let row: Option<AssetRow> = sqlx::query_as(ASSET_BY_TAG)
            .bind(tag)
            .fetch_optional(self.reader())
            .await?;
        row.map(TryInto::try_into).transpose()
    }
}

macro_rules! assets {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn upsert_assets(
                &self,
                records: &[AssetRecord],
                event: &NewRegisterEvent,
            ) -> Result<u64, StoreError> {
                let mut tx = self.begin().await?;
                let (before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM assets")
                    .fetch_one(&mut *tx)
                    .await?;
                for chunk in records.chunks(CHUNK) {
                    let sql = upsert_sql(chunk.len());
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for a in chunk {
                        q = q
                            .bind(&a.tag)
                            .bind(&a.kind)
                            .bind(&a.model)
                            .bind(&a.serial)
                            .bind(&a.ip)
                            .bind(&a.mac)
                            .bind(&a.site)
                            .bind(&a.building)
                            .bind(&a.room)
                            .bind(&a.owner)
                            .bind(&a.department)
                            .bind(a.purchased_on)
                            .bind(a.warranty_until)
                            .bind(a.status.as_str())
                            .bind(&a.notes)
                            .bind(event.at)
                            .bind(event.at);
                    }
                    q.execute(&mut *tx).await?;
                }
                let (after,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM assets")
                    .fetch_one(&mut *tx)
                    .await?;
                Self::register_event_in(&mut *tx, event).await?;
                tx.commit().await?;
                Ok(u64::try_from(after - before).unwrap_or(0))
            }

            async fn asset_by_ip(&self, ip: &str) -> Result<Option<Asset>, StoreError> {
                // Two devices should not share an address; if a stale list says they do,
                // the one in use and then the first tag wins.
                let row: Option<AssetRow> = sqlx::query_as(
                    "SELECT * FROM assets WHERE ip = $1
                     ORDER BY CASE WHEN status = 'in_use' THEN 0 ELSE 1 END, tag LIMIT 1",
                )
                .bind(ip)
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn assets(&self, f: &AssetFilter) -> Result<Vec<Asset>, StoreError> {
                let rows: Vec<AssetRow> = sqlx::query_as(FILTERED)
                    .bind(&f.site)
                    .bind(&f.kind)
                    .bind(f.status.map(|s| s.as_str()))
                    .bind(&f.department)
                    .bind(f.tag_prefix.as_ref().map(|p| format!("{}%", p.replace(['%', '_'], ""))))
                    .bind(f.warranty_until_before)
                    .fetch_all(self.reader())
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn asset_tickets(&self, tag: &str, limit: i64) -> Result<Vec<Ticket>, StoreError> {
                let rows: Vec<TicketRow> = sqlx::query_as(
                    "SELECT * FROM tickets WHERE asset_tag = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(tag)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn asset_faults_since(&self, tag: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM tickets WHERE asset_tag = $1 AND kind = 'fault'
                       AND created_at >= $2",
                )
                .bind(tag)
                .bind(since)
                .fetch_one(self.reader())
                .await?;
                Ok(n)
            }

            async fn advise_replacement(
                &self,
                tag: &str,
                ticket: TicketId,
                stale_before: DateTime<Utc>,
                event: &NewRegisterEvent,
                outbox: &[NewOutboxMessage],
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin().await?;
                // The guard makes the advice happen once per window, however many reports
                // (or instances) race to it.
                let done = sqlx::query(
                    "UPDATE assets SET replacement_advised_at = $2
                     WHERE tag = $1 AND (replacement_advised_at IS NULL OR replacement_advised_at < $3)",
                )
                .bind(tag)
                .bind(event.at)
                .bind(stale_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 0 {
                    return Ok(false);
                }
                Self::register_event_in(&mut *tx, event).await?;
                for m in outbox {
                    let (kind, to) = m.to.parts();
                    sqlx::query(
                        "INSERT INTO outbox (ticket_id, recipient_kind, recipient_id, event, payload,
                           status, attempts, next_attempt_at, created_at)
                         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)",
                    )
                    .bind(ticket.0)
                    .bind(kind)
                    .bind(to)
                    .bind(&m.event)
                    .bind(m.payload.to_string())
                    .bind(m.not_before.unwrap_or(event.at))
                    .bind(event.at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

assets!(SqliteStore, sqlx::Sqlite);
assets!(PgStore, sqlx::Postgres);

macro_rules! each {
    ($self:ident . $m:ident ( $($a:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$m($($a),*).await,
            Store::Postgres(s) => s.$m($($a),*).await,
        }
    };
}

impl Store {
    /// Adds or updates `records` by tag, with the audit event, in one transaction; how
    /// many were new.
    pub async fn upsert_assets(
        &self,
        records: &[AssetRecord],
        event: &NewRegisterEvent,
    ) -> Result<u64, StoreError> {
        each!(self.upsert_assets(records, event))
    }

    /// One asset by its normalised tag.
    pub async fn asset(&self, tag: &str) -> Result<Option<Asset>, StoreError> {
        each!(self.asset(tag))
    }

    /// The asset with this IP address (as `IpAddr` writes it).
    pub async fn asset_by_ip(&self, ip: &str) -> Result<Option<Asset>, StoreError> {
        each!(self.asset_by_ip(ip))
    }

    /// The assets a filter selects, by tag.
    pub async fn assets(&self, filter: &AssetFilter) -> Result<Vec<Asset>, StoreError> {
        each!(self.assets(filter))
    }

    /// The newest `limit` tickets reported with this tag, newest first.
    pub async fn asset_tickets(&self, tag: &str, limit: i64) -> Result<Vec<Ticket>, StoreError> {
        each!(self.asset_tickets(tag, limit))
    }

    /// Fault reports (not consultations) on this tag since `since`.
    pub async fn asset_faults_since(
        &self,
        tag: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        each!(self.asset_faults_since(tag, since))
    }

    /// Marks an asset for replacement advice unless it was advised at or after
    /// `stale_before`, with the event and messages, in one transaction; false (nothing
    /// written) if it already was. The messages are about `ticket`, the report that made it.
    pub async fn advise_replacement(
        &self,
        tag: &str,
        ticket: TicketId,
        stale_before: DateTime<Utc>,
        event: &NewRegisterEvent,
        outbox: &[NewOutboxMessage],
    ) -> Result<bool, StoreError> {
        each!(self.advise_replacement(tag, ticket, stale_before, event, outbox))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_upsert_numbers_every_parameter_once() {
        let sql = super::upsert_sql(2);
        assert!(sql.contains("($1, $2,"));
        assert!(sql.contains("$17)"));
        assert!(sql.contains("($18, "));
        assert!(sql.contains("$34)"));
        assert!(!sql.contains("$35"));
    }
}
