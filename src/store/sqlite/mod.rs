//! The SQLite backend, the embedded default: one file in WAL mode, one writer connection
//! (SQLite has a single writer anyway; queueing in the pool beats spinning on
//! SQLITE_BUSY) behind a group commit (`writer.rs`: concurrent writes share one
//! transaction), a pool of readers, WAL checkpoints aside (`checkpoint.rs`), and direct
//! SQLite calls on the per-message chat path (`direct.rs`: sqlx's per-statement thread
//! hand-offs cost more than the statements; measured, they make the Telegram door about
//! a third slower at 200 reporters). What the direct calls cover they alone do on SQLite:
//! a chat step's conversation save and door record, a Telegram update's receipt, handled
//! mark and sent mark, the filing of a ticket, and the per-message reads.

mod chat;
mod checkpoint;
mod direct;
mod intake;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use chrono::{DateTime, Utc};

use super::{Reporter, SqliteSync, StoreError, Ticket, TicketWrite, rows, sql};

pub(super) use direct::time as sqlite_time;

/// The SQLite backend (see the module's notes).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    batch: writer::GroupCommit,
    /// Read connections of our own, for the per-message path.
    readers: Arc<direct::Readers>,
    /// WAL checkpoints, off the writer's path.
    _checkpoints: Arc<checkpoint::Checkpointer>,
}

impl SqliteStore {
    /// Opens `sqlite://FILE` (created if missing), in WAL mode with `sync` durability.
    pub(in crate::store) async fn connect(
        url: &str,
        sync: SqliteSync,
    ) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                SqliteSync::Normal => SqliteSynchronous::Normal,
                SqliteSync::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // A connection to a local file does not go stale: no ping (a round trip to the
        // connection's thread) before each use.
        // The writer never checkpoints inside a commit: `checkpoint.rs` does, aside.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        let file = options.get_filename();
        // An in-memory database would lose every ticket when the process ends (and has
        // no file for the direct readers): a file is required.
        if !file.is_file() {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        }
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.clone().read_only(true).create_if_missing(false))
            .await?;
        Ok(SqliteStore {
            batch: writer::GroupCommit::start(write.clone())?,
            readers: Arc::new(direct::Readers::new(file)),
            _checkpoints: Arc::new(checkpoint::Checkpointer::start(file)?),
            write,
            read,
        })
    }

    /// Applies pending migrations.
    pub(in crate::store) async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite").run(&self.write).await?;
        Ok(())
    }

    /// The versions of this build's migrations the database has not applied (an error
    /// if it has no migrations table at all).
    pub(in crate::store) async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.read)
                .await?;
        Ok(sqlx::migrate!("migrations/sqlite")
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|(a,)| a == v))
            .collect())
    }

    /// Closes the pools (waits for connections to be returned).
    pub(in crate::store) async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    pub(in crate::store) async fn begin(
        &self,
    ) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, sqlx::Error> {
        // IMMEDIATE takes the write lock up front, so a transaction that reads and then
        // writes never fails half-way with SQLITE_BUSY.
        self.write.begin_with("BEGIN IMMEDIATE").await
    }

    pub(in crate::store) fn reader(&self) -> &SqlitePool {
        &self.read
    }

    pub(in crate::store) async fn insert_ticket(
        &self,
        series: &str,
        year: i32,
        remember: bool,
        write: TicketWrite,
    ) -> Result<Ticket, StoreError> {
        // Direct calls: a ticket's eight or so statements through sqlx would be as many
        // hand-offs to its thread, with the writer (and the chat steps batched with the
        // ticket) waiting on each.
        let series = series.to_owned();
        self.batch
            .run_direct(move |db| direct::insert_ticket(db, &series, year, remember, &write))
            .await
    }

    pub(in crate::store) async fn create_reporter(
        &self,
        channel: &str,
        external_id: &str,
        name: &str,
        language: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reporter, StoreError> {
        let mut tx = self.begin().await?;
        // Look again under the write lock: a concurrent first contact may have made it.
        let found: Option<rows::ReporterRow> = sqlx::query_as(sql::REPORTER_BY_IDENTITY)
            .bind(channel)
            .bind(external_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(r) = found {
            return Ok(r.into());
        }
        let row: rows::ReporterRow = sqlx::query_as(sql::insert_reporter!())
            .bind(name)
            .bind(language)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO reporter_identities (channel, external_id, reporter_id)
             VALUES ($1, $2, $3)",
        )
        .bind(channel)
        .bind(external_id)
        .bind(row.id())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.into())
    }

    pub(in crate::store) async fn update_ticket(
        &self,
        write: TicketWrite,
    ) -> Result<Ticket, StoreError> {
        let write = Arc::new(write);
        self.batch
            .run(move |c| {
                let write = write.clone();
                Box::pin(async move { Self::update_ticket_in(c, &write).await })
            })
            .await
    }
}
