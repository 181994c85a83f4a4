//! The database a bench runs on: a SQLite file in a temporary directory, or with
//! `LOAD_BACKEND=postgres` a fresh database on the server `TEST_POSTGRES_URL` names.

use sqlx::Connection;

/// Where a run keeps its data: a SQLite file in a temporary directory, or a fresh
/// PostgreSQL database dropped afterwards.
pub enum Database {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

impl Database {
    pub async fn new() -> Database {
        if postgres() {
            let admin = std::env::var("TEST_POSTGRES_URL")
                .expect("LOAD_BACKEND=postgres needs TEST_POSTGRES_URL");
            let name = format!("baoxiu_load_{}", rand::random::<u32>());
            run(&admin, format!("CREATE DATABASE {name}"))
                .await
                .expect("create database");
            Database::Postgres { admin, name }
        } else {
            Database::Sqlite(tempfile::tempdir().expect("temp dir"))
        }
    }

    pub fn url(&self) -> String {
        match self {
            Database::Sqlite(dir) => format!("sqlite://{}", dir.path().join("load.db").display()),
            Database::Postgres { admin, name } => {
                let server = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                format!("{server}/{name}")
            }
        }
    }

    /// Brings PostgreSQL's statistics up to date, as autovacuum does within a minute of
    /// a database in use. Until then the planner takes every table for ten pages and
    /// caches plans (a sequential scan of the tickets for every report, say) that the
    /// statistics would replace; a bench of seconds on a new database measures only that.
    #[allow(dead_code, reason = "not every bench that includes this file settles")]
    pub async fn settle(&self) {
        if let Database::Postgres { .. } = self {
            run(&self.url(), "VACUUM ANALYZE".into())
                .await
                .expect("vacuum analyze");
        }
    }

    pub async fn drop_database(self) {
        if let Database::Postgres { admin, name } = self {
            // Best effort: the run's figures are printed already.
            let _ = run(
                &admin,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}

/// Database `name` on the server `admin` names, dropped if it is there and created
/// afresh: its URL.
#[allow(
    dead_code,
    reason = "only the benches with a database of their own call this"
)]
pub async fn fresh_postgres(admin: &str, name: &str) -> String {
    run(
        admin,
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await
    .expect("drop the bench's database");
    run(admin, format!("CREATE DATABASE {name}"))
        .await
        .expect("create the bench's database");
    let server = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{server}/{name}")
}

/// Runs one statement of the bench's own making on its own connection to `url`.
async fn run(url: &str, sql: String) -> Result<(), sqlx::Error> {
    let mut c = sqlx::PgConnection::connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut c)
        .await?;
    Ok(())
}

/// Whether `LOAD_BACKEND=postgres` is set.
pub fn postgres() -> bool {
    std::env::var("LOAD_BACKEND").is_ok_and(|b| b == "postgres")
}
