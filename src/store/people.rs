//! The staff directory and the registers' audit trail. An import replaces the directory in
//! one transaction with its audit event: a bad file (refused before this) or a failure
//! half-way leaves the old directory as it was.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Actor, PgStore, SqliteStore, Store, StoreError};
use crate::domain::people::Colleague;

/// One entry of the directory, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryEntry {
    /// Row id (changes with each import: the list is replaced whole).
    pub id: i64,
    /// The person.
    #[serde(flatten)]
    pub person: Colleague,
}

/// One event of the registers' trail, to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRegisterEvent {
    /// `people`, `assets` or `engineers`.
    pub register: &'static str,
    /// The asset's tag, or empty for a whole import.
    pub subject: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// Verb (`import`, `create`, `update`, `replacement_advised`, …).
    pub action: &'static str,
    /// What changed, as a sentence.
    pub note: Option<String>,
}

/// One event of the registers' trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RegisterEvent {
    /// Row id.
    pub id: i64,
    /// `people` or `assets`.
    pub register: String,
    /// The asset's tag, or empty.
    pub subject: String,
    /// When.
    pub at: DateTime<Utc>,
    /// `engineer`, `desk` or `system`.
    pub actor_kind: String,
    /// Their id.
    pub actor_id: Option<String>,
    /// Their name then.
    pub actor_name: String,
    /// Verb.
    pub action: String,
    /// What changed.
    pub note: Option<String>,
}

pub(super) type PersonRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The directory's columns, as [`PersonRow`] reads them.
macro_rules! person {
    () => {
        "SELECT id, name, department, phone, site, building, room, email FROM people"
    };
}
const PERSON: &str = person!();

pub(super) fn entry(row: PersonRow, identities: Vec<(String, String)>) -> DirectoryEntry {
    let (id, name, department, phone, site, building, room, email) = row;
    DirectoryEntry {
        id,
        person: Colleague {
            name,
            department,
            phone,
            site,
            building,
            room,
            email,
            identities,
        },
    }
}

/// A directory entry by one of its chat identities (`$1` channel, `$2` id).
pub(super) const PERSON_BY_IDENTITY: &str = concat!(
    person!(),
    " WHERE id = (SELECT person_id FROM people_identities WHERE channel = $1 AND external_id = $2)"
);

/// A directory entry's chat identities (`$1` its id).
pub(super) const IDENTITIES_OF: &str = "SELECT channel, external_id FROM people_identities
     WHERE person_id = $1 ORDER BY channel, external_id";

impl PgStore {
    async fn person_by_identity(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        let row: Option<PersonRow> = sqlx::query_as(PERSON_BY_IDENTITY)
            .bind(channel)
            .bind(external_id)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let ids: Vec<(String, String)> = sqlx::query_as(IDENTITIES_OF)
            .bind(row.0)
            .fetch_all(self.reader())
            .await?;
        Ok(Some(entry(row, ids)))
    }
}

macro_rules! people {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Writes a registers' event inside `tx`.
            pub(super) async fn register_event_in(
                tx: &mut <$db as sqlx::Database>::Connection,
                e: &NewRegisterEvent,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO register_events (register, subject, at, actor_kind, actor_id,
                       actor_name, action, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(e.register)
                .bind(&e.subject)
                .bind(e.at)
                .bind(e.actor.kind)
                .bind(&e.actor.id)
                .bind(&e.actor.name)
                .bind(e.action)
                .bind(&e.note)
                .execute(&mut *tx)
                .await?;
                Ok(())
            }

            async fn replace_people(
                &self,
                people: &[Colleague],
                event: &NewRegisterEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                sqlx::query("DELETE FROM people_identities").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM people").execute(&mut *tx).await?;
                for p in people {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO people (name, department, phone, site, building, room,
                           email, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    )
                    .bind(&p.name)
                    .bind(&p.department)
                    .bind(&p.phone)
                    .bind(&p.site)
                    .bind(&p.building)
                    .bind(&p.room)
                    .bind(&p.email)
                    .bind(event.at)
                    .fetch_one(&mut *tx)
                    .await?;
                    for (channel, external_id) in &p.identities {
                        sqlx::query(
                            "INSERT INTO people_identities (channel, external_id, person_id)
                             VALUES ($1, $2, $3)",
                        )
                        .bind(channel)
                        .bind(external_id)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                Self::register_event_in(&mut *tx, event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn people(&self) -> Result<Vec<DirectoryEntry>, StoreError> {
                let sql = format!("{PERSON} ORDER BY id");
                let rows: Vec<PersonRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(self.reader())
                    .await?;
                let ids: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT person_id, channel, external_id FROM people_identities
                     ORDER BY person_id, channel, external_id",
                )
                .fetch_all(self.reader())
                .await?;
                let mut by_person: std::collections::HashMap<i64, Vec<(String, String)>> =
                    std::collections::HashMap::new();
                for (p, c, e) in ids {
                    by_person.entry(p).or_default().push((c, e));
                }
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        let ids = by_person.remove(&r.0).unwrap_or_default();
                        entry(r, ids)
                    })
                    .collect())
            }

            async fn register_events(
                &self,
                register: &str,
                subject: &str,
                limit: i64,
            ) -> Result<Vec<RegisterEvent>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, register, subject, at, actor_kind, actor_id, actor_name, action,
                       note FROM register_events WHERE register = $1 AND subject = $2
                     ORDER BY id DESC LIMIT $3",
                )
                .bind(register)
                .bind(subject)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

people!(SqliteStore, sqlx::Sqlite);
people!(PgStore, sqlx::Postgres);

impl Store {
    /// Replaces the whole directory with `people`, with the import's audit event, in one
    /// transaction.
    pub async fn replace_people(
        &self,
        people: &[Colleague],
        event: &NewRegisterEvent,
    ) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.replace_people(people, event).await,
            Store::Postgres(s) => s.replace_people(people, event).await,
        }
    }

    /// The whole directory, in import order.
    pub async fn people(&self) -> Result<Vec<DirectoryEntry>, StoreError> {
        match self {
            Store::Sqlite(s) => s.people().await,
            Store::Postgres(s) => s.people().await,
        }
    }

    /// The directory entry a chat identity belongs to.
    pub async fn person_by_identity(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        match self {
            Store::Sqlite(s) => s.person_by_identity(channel, external_id).await,
            Store::Postgres(s) => s.person_by_identity(channel, external_id).await,
        }
    }

    /// Deactivates engineer `id` with its event, in one transaction: off duty, chats
    /// unlinked, console sessions ended; `false` if there is no such active engineer.
    pub async fn deactivate_engineer(
        &self,
        id: i64,
        event: &NewRegisterEvent,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(s) => s.deactivate_engineer(id, event).await,
            Store::Postgres(s) => s.deactivate_engineer(id, event).await,
        }
    }

    /// The newest `limit` events of a register about `subject` (an asset's tag, or empty
    /// for imports), newest first.
    pub async fn register_events(
        &self,
        register: &str,
        subject: &str,
        limit: i64,
    ) -> Result<Vec<RegisterEvent>, StoreError> {
        match self {
            Store::Sqlite(s) => s.register_events(register, subject, limit).await,
            Store::Postgres(s) => s.register_events(register, subject, limit).await,
        }
    }
}
