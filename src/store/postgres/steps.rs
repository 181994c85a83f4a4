//! The group commit of chat steps on PostgreSQL, as SQLite's writer has one: every step
//! saves its person's conversation and its door's record of the update. Steps that
//! arrive while earlier ones are being written wait in a queue and go together, as one
//! statement (its parts are one atomic write), so under load a commit carries many
//! people's steps, and alone a step is written at once. A failed statement fails every
//! step in it (none of them is written; each is retried by its door as any failed step).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::store::{StepRecord, StoreError};

/// Steps written per statement, at most.
const MAX_BATCH: usize = 256;
/// Statements in flight at once (each holds a connection).
const WRITERS: usize = 4;

/// Saves (state) or ends (no state) each step's conversation and marks its record, for
/// every row of the arrays at once.
const WRITE_STEPS: &str = "WITH v AS (
       SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                            $5::int8[], $6::text[], $7::text[])
         AS v(channel, external_id, state, at, update_id, replies, event_id)
     ), saved AS (
       INSERT INTO conversations (channel, external_id, state, updated_at)
       SELECT channel, external_id, state, at FROM v WHERE state IS NOT NULL
       ON CONFLICT (channel, external_id)
       DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
     ), ended AS (
       DELETE FROM conversations c USING v
       WHERE v.state IS NULL AND c.channel = v.channel AND c.external_id = v.external_id
     ), discord AS (
       UPDATE discord_events e SET handled_at = v.at FROM v WHERE e.event_id = v.event_id
     )
     UPDATE telegram_updates u SET handled_at = v.at, replies = v.replies
     FROM v WHERE u.update_id = v.update_id";

/// One step to write.
pub(super) struct Step {
    pub channel: String,
    pub external_id: String,
    pub state: Option<String>,
    pub now: DateTime<Utc>,
    pub record: StepRecord,
}

impl Step {
    fn person(&self) -> (String, String) {
        (self.channel.clone(), self.external_id.clone())
    }
}

struct Queued {
    step: Step,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The queue of steps to write (cheap to clone).
#[derive(Clone)]
pub(super) struct StepWriter {
    queue: mpsc::UnboundedSender<Queued>,
}

impl std::fmt::Debug for StepWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepWriter")
    }
}

impl StepWriter {
    /// Starts the writer over `pool`; it ends when the last handle is dropped.
    pub(super) fn start(pool: PgPool) -> StepWriter {
        let (queue, mut queued) = mpsc::unbounded_channel::<Queued>();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(WRITERS));
            // A step of someone already in the batch waits for the next one (a statement
            // may not write one row twice).
            let mut carried: Option<Queued> = None;
            loop {
                let first = match carried.take() {
                    Some(q) => q,
                    None => match queued.recv().await {
                        Some(q) => q,
                        None => return,
                    },
                };
                // Everything that queued up while the writers were busy goes together.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let mut people = HashSet::from([first.step.person()]);
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    let Ok(next) = queued.try_recv() else { break };
                    if !people.insert(next.step.person()) {
                        carried = Some(next);
                        break;
                    }
                    batch.push(next);
                }
                let pool = pool.clone();
                tokio::spawn(async move {
                    let (steps, waiting): (Vec<Step>, Vec<_>) =
                        batch.into_iter().map(|q| (q.step, q.done)).unzip();
                    let written = write(&pool, &steps).await.map_err(StoreError::Database);
                    drop(slot);
                    for done in waiting {
                        let _ = done.send(match &written {
                            Ok(()) => Ok(()),
                            Err(e) if e.is_unavailable() => {
                                Err(StoreError::Unavailable(e.to_string()))
                            }
                            Err(e) => Err(StoreError::WriteFailed(e.to_string())),
                        });
                    }
                });
            }
        });
        StepWriter { queue }
    }

    /// Writes one step (with whatever steps go with it); returns once it is committed.
    pub(super) async fn write(&self, step: Step) -> Result<(), StoreError> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Queued { step, done })
            .map_err(|_| StoreError::WriteFailed("the database is closed".into()))?;
        written
            .await
            .map_err(|_| StoreError::WriteFailed("the database is closed".into()))?
    }
}

async fn write(pool: &PgPool, steps: &[Step]) -> Result<(), sqlx::Error> {
    let n = steps.len();
    let (mut channels, mut ids, mut states, mut times) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut updates, mut replies, mut events) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for s in steps {
        channels.push(s.channel.as_str());
        ids.push(s.external_id.as_str());
        states.push(s.state.as_deref());
        times.push(s.now);
        match &s.record {
            StepRecord::TelegramHandled {
                update_id,
                replies: r,
            } => {
                updates.push(Some(*update_id));
                replies.push(Some(r.as_str()));
                events.push(None);
            }
            StepRecord::DiscordHandled { event_id } => {
                updates.push(None);
                replies.push(None);
                events.push(Some(event_id.as_str()));
            }
        }
    }
    sqlx::query(WRITE_STEPS)
        .bind(channels)
        .bind(ids)
        .bind(states)
        .bind(times)
        .bind(updates)
        .bind(replies)
        .bind(events)
        .execute(pool)
        .await
        .map(drop)
}
