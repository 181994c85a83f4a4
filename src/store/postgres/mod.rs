//! The PostgreSQL backend, for a desk that outgrows one machine: several instances on
//! one database, a transaction per write on a pool of connections.

mod batch;
mod chat;
mod filing;
mod steps;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use chrono::{DateTime, Utc};

use super::{Reporter, StoreError, StoreOptions, Ticket, TicketNumber, TicketWrite, rows, sql};

/// The PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The chat path's grouped reads and writes.
    steps: steps::Steps,
}

/// `sql::NEXT_NUMBER` with a commit that does not wait for the disk
/// (`synchronous_commit` off for this statement's own transaction). Every report takes
/// its number from one row, locked until the commit: waiting there for the WAL flush, and
/// under load for a core after it, queued the reports (8.4 ms a number on average at 200
/// reporters, where the report itself took 1.3 ms). Nothing is lost by not waiting: the
/// report that uses the number commits after it and waits for its own flush, which
/// writes everything before it, the number included; a number lost in a crash before
/// that was not used by any report.
const TAKE_NUMBER: &str = "WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true))
     INSERT INTO counters (name, value) SELECT $1, 1 FROM unflushed
     ON CONFLICT (name) DO UPDATE SET value = counters.value + 1
     RETURNING value";

impl PgStore {
    /// Connects to `postgres://…`.
    pub(in crate::store) async fn connect(
        url: &str,
        options: &StoreOptions,
    ) -> Result<PgStore, StoreError> {
        let connect = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        // Each of the three groupings keeps at most a quarter of the pool at work (4 of
        // the default 16): an instance given a smaller share of the database's
        // connections, one of several, puts more calls in each statement.
        let in_flight = (options.max_connections as usize / 4).clamp(1, 4);
        let steps = steps::Steps::start(&pool, in_flight);
        Ok(PgStore { pool, steps })
    }

    /// Applies pending migrations.
    pub(in crate::store) async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The versions of this build's migrations the database has not applied (an error
    /// if it has no migrations table at all).
    pub(in crate::store) async fn pending_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?;
        Ok(sqlx::migrate!("migrations/postgres")
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .filter(|v| !applied.iter().any(|(a,)| a == v))
            .collect())
    }

    /// Closes the pool (waits for connections to be returned).
    pub(in crate::store) async fn close(&self) {
        self.pool.close().await;
    }

    pub(in crate::store) async fn insert_ticket(
        &self,
        series: &str,
        year: i32,
        remember: bool,
        write: TicketWrite,
    ) -> Result<Ticket, StoreError> {
        // The number is taken in a statement of its own, committed at once: the notices
        // and the door's replies must name it, and taken in the report's transaction the
        // counter's row stayed locked until that committed, so reports were filed one at
        // a time. A report that then fails gives its number back unless a later one was
        // taken meanwhile (then it is skipped).
        let counter = sql::counter(series, year);
        let (seq,): (i64,) = sqlx::query_as(TAKE_NUMBER)
            .bind(&counter)
            .fetch_one(&self.pool)
            .await?;
        let number = TicketNumber::new(series, year, seq);
        let written = filing::file(&self.pool, &number, remember, &write).await;
        if written.is_err() {
            let _ =
                sqlx::query("UPDATE counters SET value = value - 1 WHERE name = $1 AND value = $2")
                    .bind(&counter)
                    .bind(seq)
                    .execute(&self.pool)
                    .await;
        }
        written
    }

    pub(in crate::store) async fn create_reporter(
        &self,
        channel: &str,
        external_id: &str,
        name: &str,
        language: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reporter, StoreError> {
        // One statement: a first contact waited for six round trips in a row here (a
        // look, then a transaction: begin, a look, two inserts, commit), all of them at
        // once when a desk's staff first write to the bot. If a concurrent first contact
        // took the identity, the statement fails as a whole and theirs is read.
        const CREATE: &str = concat!(
            "WITH r AS (",
            sql::insert_reporter!(),
            "), i AS (
               INSERT INTO reporter_identities (channel, external_id, reporter_id)
               SELECT $4, $5, id FROM r
             )
             SELECT * FROM r"
        );
        let created: Result<rows::ReporterRow, _> = sqlx::query_as(CREATE)
            .bind(name)
            .bind(language)
            .bind(now)
            .bind(channel)
            .bind(external_id)
            .fetch_one(&self.pool)
            .await;
        match created.map_err(StoreError::from_write) {
            Ok(r) => Ok(r.into()),
            Err(StoreError::Duplicate(_)) => self
                .reporter_by_identity(channel, external_id)
                .await?
                .ok_or(StoreError::Conflict),
            Err(e) => Err(e),
        }
    }

    pub(in crate::store) async fn update_ticket(
        &self,
        write: TicketWrite,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.pool.begin().await?;
        // On `Conflict` the transaction is dropped, which rolls it back.
        let t = Self::update_ticket_in(&mut tx, &write).await?;
        tx.commit().await?;
        Ok(t)
    }

    pub(in crate::store) async fn begin(
        &self,
    ) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
    pub(in crate::store) fn reader(&self) -> &PgPool {
        &self.pool
    }
}
