//! The PostgreSQL backend, for a desk that outgrows one machine: several instances on
//! one database, a transaction per write on a pool of connections.

mod batch;
mod chat;
mod steps;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{
    StoreError, StoreOptions, Ticket, TicketNumber, TicketWrite, numbered, params, rows, sql,
};

/// The PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The chat path's grouped reads and writes.
    steps: steps::Steps,
}

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
        let steps = steps::Steps::start(&pool);
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
        // The number is taken in a statement of its own: inside the transaction, the
        // counter's row stayed locked until the commit, so every report waited for the
        // one before it to finish all its writes. A report that then fails gives its
        // number back unless a later one was taken meanwhile (then it is skipped).
        let counter = format!("{series}-{year}");
        let (seq,): (i64,) = sqlx::query_as(sql::NEXT_NUMBER)
            .bind(&counter)
            .fetch_one(&self.pool)
            .await?;
        let number = TicketNumber::new(series, year, seq);
        let written = self.insert_numbered(&number, remember, &write).await;
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

    /// Writes a new ticket numbered `number` with everything that goes with it, in one
    /// transaction.
    async fn insert_numbered(
        &self,
        number: &TicketNumber,
        remember: bool,
        write: &TicketWrite,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.pool.begin().await?;
        let t = &write.ticket;
        let i = &t.intake;
        let row = params::bind(sqlx::query(sql::INSERT_TICKET), &params::ticket(number, t)?)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
        let stored: Ticket = <rows::TicketRow as sqlx::FromRow<_>>::from_row(&row)?.try_into()?;
        if remember {
            sqlx::query(sql::REMEMBER_REPORTER)
                .bind(t.reporter.0)
                .bind(i.department.as_str())
                .bind(i.phone.as_str())
                .bind(t.created_at)
                .execute(&mut *tx)
                .await?;
        }
        // The desk wrote the notices before the ticket had its number.
        let outbox = numbered(&write.outbox, number);
        Self::write_side_effects(&mut tx, stored.id, &write.audit, &outbox).await?;
        Self::write_clocks(&mut tx, stored.id, &write.clocks).await?;
        if let Some((channel, external_id, expect)) = &write.end_conversation {
            let key = (channel.as_str(), external_id.as_str());
            Self::save_conversation_in(&mut tx, key, None, t.created_at, *expect).await?;
            // Photos are references on the door they came through: its door fetches
            // them later (see store/attachments.rs).
            for (n, file_ref) in (1..).zip(&i.photos) {
                sqlx::query(sql::ADD_ATTACHMENT)
                    .bind(stored.id.0)
                    .bind(n)
                    .bind(channel)
                    .bind(file_ref)
                    .bind(t.created_at)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(record) = &write.record {
            Self::step_record_in(&mut tx, &record.numbered(number), t.created_at).await?;
        }
        tx.commit().await?;
        Ok(stored)
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
