//! Group commit for SQLite. SQLite has one writer, and a transaction's BEGIN and COMMIT
//! cost as much as the statements between them; so concurrent writes queue here and a
//! single task runs whatever has queued in one `BEGIN IMMEDIATE … COMMIT`. Nobody is
//! answered before the commit that holds their write has succeeded, so durability is
//! unchanged. If any write in a batch fails, the whole batch is rolled back and its writes
//! are run again one transaction each, so a failure only ever affects its own write.

use std::any::Any;

use futures_util::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// How many writes one transaction may hold (bounds the latency of the first in line).
const MAX_BATCH: usize = 128;

type Output = Box<dyn Any + Send>;
/// A write: may run more than once (its first run may be rolled back with its batch).
type Work = Box<
    dyn for<'c> Fn(&'c mut SqliteConnection) -> BoxFuture<'c, Result<Output, StoreError>>
        + Send
        + Sync,
>;

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
    /// Starts the writer task on the single-connection write pool.
    pub(super) fn start(pool: SqlitePool) -> GroupCommit {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, queue));
        GroupCommit { jobs }
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
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |c| {
            let done = work(c);
            Box::pin(async move { done.await.map(|t| Box::new(t) as Output) })
        });
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

/// Runs the jobs in one transaction; all or nothing.
async fn transaction(pool: &SqlitePool, jobs: &[Job]) -> Result<Vec<Output>, StoreError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut outputs = Vec::with_capacity(jobs.len());
    for job in jobs {
        match (job.work)(&mut conn).await {
            Ok(o) => outputs.push(o),
            Err(e) => {
                sqlx::query("ROLLBACK").execute(&mut *conn).await?;
                return Err(e);
            }
        }
    }
    if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(StoreError::WriteFailed(e.to_string()));
    }
    Ok(outputs)
}
