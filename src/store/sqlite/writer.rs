//! Group commit for SQLite. SQLite has one writer, and a transaction's BEGIN and COMMIT
//! cost as much as the statements between them; so concurrent writes queue here and a
//! single task runs whatever has queued in one `BEGIN IMMEDIATE … COMMIT`. Nobody is
//! answered before the commit that holds their write has succeeded, so durability is
//! unchanged. If any write in a batch fails, the whole batch is rolled back and its writes
//! are run again one transaction each, so a failure only ever affects its own write.
//! Writes on the per-message chat path, and new tickets, run directly on the connection's
//! handle (see `direct.rs`): a batch of only those costs one hand-off to sqlx's thread in all.

use std::any::Any;

use futures_util::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::direct;
use crate::store::StoreError;

/// How many writes one transaction may hold (bounds the latency of the first in line).
const MAX_BATCH: usize = 128;

type Output = Box<dyn Any + Send>;
type SqlxWork = dyn for<'c> Fn(&'c mut SqliteConnection) -> BoxFuture<'c, Result<Output, StoreError>>
    + Send
    + Sync;
type DirectWork = dyn Fn(&rusqlite::Connection) -> Result<Output, StoreError> + Send + Sync;

/// A write: may run more than once (its first run may be rolled back with its batch).
enum Work {
    /// Statements through sqlx.
    Sqlx(Box<SqlxWork>),
    /// Statements on the connection's handle, in the writer's thread.
    Direct(Box<DirectWork>),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Output, StoreError>>,
}

/// Handle to the writer task.
#[derive(Clone)]
pub(super) struct GroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCommit")
    }
}

impl GroupCommit {
    /// Starts the writer on the single-connection write pool, on a thread of its own: a
    /// write waits for the statements before it, and each statement wakes the writer;
    /// queued behind a busy runtime's tasks, those wake-ups would add up to most of a
    /// write's time.
    pub(super) fn start(pool: SqlitePool) -> Result<GroupCommit, StoreError> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::WriteFailed(format!("cannot start the SQLite writer: {e}")))?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            // Ends when the last handle is dropped (the queue closes).
            .spawn(move || runtime.block_on(run(pool, queue)))
            .map_err(|e| StoreError::WriteFailed(format!("cannot start the SQLite writer: {e}")))?;
        Ok(GroupCommit { jobs })
    }

    /// Runs `work` in the next group transaction and returns its result once committed.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> Fn(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + Sync
            + 'static,
    {
        self.submit(Work::Sqlx(Box::new(move |c| {
            let done = work(c);
            Box::pin(async move { done.await.map(|t| Box::new(t) as Output) })
        })))
        .await
    }

    /// As [`GroupCommit::run`], for a write made of direct SQLite calls (`direct.rs`).
    pub(super) async fn run_direct<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Connection) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        self.submit(Work::Direct(Box::new(move |db| {
            work(db).map(|t| Box::new(t) as Output)
        })))
        .await
    }

    async fn submit<T: 'static>(&self, work: Work) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let not_committed = || StoreError::WriteFailed("the SQLite writer has stopped".into());
        self.jobs
            .send(Job { work, reply })
            .map_err(|_| not_committed())?;
        let output = answer.await.map_err(|_| not_committed())??;
        output
            .downcast::<T>()
            .map(|t| *t)
            .map_err(|_| StoreError::WriteFailed("a write answered with the wrong type".into()))
    }
}

async fn run(pool: SqlitePool, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match transaction(&pool, &batch).await {
            Ok(outputs) => {
                for (job, output) in batch.into_iter().zip(outputs) {
                    let _ = job.reply.send(Ok(output));
                }
            }
            Err(e) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    let _ = job.reply.send(Err(e));
                }
            }
            Err(_) => {
                // Someone's write failed: find out whose by running each alone.
                for job in batch {
                    let result = transaction(&pool, std::slice::from_ref(&job))
                        .await
                        .map(|mut outputs| outputs.remove(0));
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

/// Runs the jobs in one transaction; all or nothing. Direct writes go first, with the
/// transaction's start (and its end, when there is nothing else), in one borrowing of the
/// connection's handle.
async fn transaction(pool: &SqlitePool, jobs: &[Job]) -> Result<Vec<Output>, StoreError> {
    let mut conn = pool.acquire().await?;
    let mut outputs: Vec<Option<Output>> = jobs.iter().map(|_| None).collect();
    let through_sqlx = jobs.iter().any(|j| matches!(j.work, Work::Sqlx(_)));
    if jobs.iter().any(|j| matches!(j.work, Work::Direct(_))) {
        direct::with_handle(&mut conn, |db| {
            db.execute_batch("BEGIN IMMEDIATE")?;
            let done = jobs.iter().zip(&mut outputs).try_for_each(|(job, out)| {
                if let Work::Direct(work) = &job.work {
                    *out = Some(work(db)?);
                }
                Ok(())
            });
            let done = done.and_then(|()| match through_sqlx {
                true => Ok(()),
                false => db.execute_batch("COMMIT").map_err(StoreError::from),
            });
            if done.is_err() {
                let _ = db.execute_batch("ROLLBACK");
            }
            done
        })
        .await??;
    } else {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    }
    if through_sqlx {
        for (job, out) in jobs.iter().zip(&mut outputs) {
            if let Work::Sqlx(work) = &job.work {
                match work(&mut conn).await {
                    Ok(o) => *out = Some(o),
                    Err(e) => {
                        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
                        return Err(e);
                    }
                }
            }
        }
        if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(StoreError::WriteFailed(e.to_string()));
        }
    }
    Ok(outputs.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    async fn count(pool: &SqlitePool, x: i64) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM t WHERE x = $1")
            .bind(x)
            .fetch_one(pool)
            .await
            .expect("count")
    }

    /// A direct write and a failing sqlx write in one batch: the batch is rolled back and
    /// each is run again alone, so the direct write lands and the failure stays its own.
    #[tokio::test]
    async fn a_failure_in_a_mixed_batch_only_fails_its_own_write() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("w.db");
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("pool");
        sqlx::query("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .execute(&pool)
            .await
            .expect("table");
        let writer = GroupCommit::start(pool.clone()).expect("writer");
        // Someone else holds the write lock, so the writes below queue up together.
        let blocker = rusqlite::Connection::open(&file).expect("open");
        blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
        let insert = |x: i64| {
            writer.run_direct(move |db| Ok(db.execute("INSERT INTO t (x) VALUES (?1)", [x])?))
        };
        let failing = writer.run(|c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO missing (x) VALUES (1)")
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        });
        let (first, direct, failed, ()) = tokio::join!(insert(1), insert(2), failing, async {
            tokio::task::yield_now().await;
            blocker.execute_batch("COMMIT").expect("unlock");
        });
        assert_eq!(first.expect("first write"), 1);
        assert_eq!(direct.expect("direct write"), 1);
        assert!(failed.is_err(), "the failing write reports its failure");
        assert_eq!((count(&pool, 1).await, count(&pool, 2).await), (1, 1));
    }
}
