//! Group commit for SQLite. SQLite has one writer, and a commit costs far more than the
//! statements before it; so concurrent ticket writes queue here and a single task runs
//! whatever has queued in one `BEGIN IMMEDIATE … COMMIT`, each write inside its own
//! savepoint (a write that fails is rolled back alone). Nobody is answered before the
//! commit that holds their write has succeeded, so durability is unchanged.

use futures_util::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// How many writes one transaction may hold (bounds the latency of the first in line).
const MAX_BATCH: usize = 128;

/// Delivers a job's result once its transaction's fate is known.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A queued write: runs on the open transaction and says whether it succeeded.
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Completion)> + Send>;

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
    /// Starts the writer task on the single-connection write pool.
    pub(super) fn start(pool: SqlitePool) -> GroupCommit {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, queue));
        GroupCommit { jobs }
    }

    /// Runs `work` in the next group transaction and returns its result after the commit.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |c| {
            Box::pin(async move {
                let result = work(c).await;
                let ok = result.is_ok();
                let done: Completion = Box::new(move |commit| {
                    let _ = tx.send(match commit {
                        Ok(()) => result,
                        Err(e) => Err(StoreError::WriteFailed(e)),
                    });
                });
                (ok, done)
            })
        });
        let not_committed = || StoreError::WriteFailed("the write was not committed".into());
        self.jobs.send(job).map_err(|_| not_committed())?;
        // A dropped sender means the job never ran (its batch failed first): nothing written.
        rx.await.map_err(|_| not_committed())?
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
        let done = match write_batch(&pool, batch).await {
            Ok(done) => done,
            Err((done, e)) => {
                tracing::error!(error = %e, "group commit failed");
                for d in done {
                    d(Err(e.clone()));
                }
                continue;
            }
        };
        for d in done {
            d(Ok(()));
        }
    }
}

/// Runs a batch in one transaction. On a transaction-level failure the completions of the
/// jobs that ran are returned with the error; jobs that never ran are dropped, which
/// tells their callers nothing was committed.
async fn write_batch(
    pool: &SqlitePool,
    batch: Vec<Job>,
) -> Result<Vec<Completion>, (Vec<Completion>, String)> {
    let mut done: Vec<Completion> = Vec::with_capacity(batch.len());
    let mut conn = match pool.acquire().await {
        Ok(c) => c,
        Err(e) => return Err((done, e.to_string())),
    };
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
        return Err((done, e.to_string()));
    }
    // A lone write needs no savepoint: if it fails, the whole transaction is rolled back.
    let alone = batch.len() == 1;
    for job in batch {
        let step = async {
            if alone {
                let (ok, d) = job(&mut conn).await;
                return Ok::<_, sqlx::Error>((ok, d));
            }
            sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
            let (ok, d) = job(&mut conn).await;
            if !ok {
                sqlx::query("ROLLBACK TO job").execute(&mut *conn).await?;
            }
            sqlx::query("RELEASE job").execute(&mut *conn).await?;
            Ok((true, d))
        };
        match step.await {
            Ok((true, d)) => done.push(d),
            Ok((false, d)) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                // The job's own error is what its caller must see, not a commit failure.
                d(Ok(()));
                return Ok(done);
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err((done, e.to_string()));
            }
        }
    }
    match sqlx::query("COMMIT").execute(&mut *conn).await {
        Ok(_) => Ok(done),
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err((done, e.to_string()))
        }
    }
}
