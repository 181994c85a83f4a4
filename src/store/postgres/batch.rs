//! Grouping of the per-message calls on PostgreSQL (the chat path runs one read and one
//! write per step): calls that arrive while earlier ones are at the database wait in a
//! queue and go together as one statement over arrays, so under load one round trip and
//! one commit carry many people's steps, and a lone call goes at once. Each statement
//! is atomic: if it fails, every call in it fails and none of it is written.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::store::StoreError;

/// Calls per statement, at most.
const MAX_BATCH: usize = 256;

struct Queued<C, R> {
    call: C,
    done: oneshot::Sender<Result<R, StoreError>>,
}

/// A queue of calls `C` answered with `R` (cheap to clone).
pub(super) struct Batcher<C, R> {
    queue: mpsc::UnboundedSender<Queued<C, R>>,
}

impl<C, R> Clone for Batcher<C, R> {
    fn clone(&self) -> Self {
        Batcher {
            queue: self.queue.clone(),
        }
    }
}

impl<C, R> std::fmt::Debug for Batcher<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl<C: Send + 'static, R: Send + 'static> Batcher<C, R> {
    /// Starts the batcher: `run` answers a batch of calls over `pool`, one result per
    /// call in order, in one statement, with at most `in_flight` statements at once (each
    /// holds a connection); calls with the same `key` never share a batch (one statement
    /// may not write a row twice). It ends when the last handle is dropped.
    pub(super) fn start<P, F, Fut>(
        pool: P,
        in_flight: usize,
        key: fn(&C) -> Option<String>,
        run: F,
    ) -> Self
    where
        P: Clone + Send + 'static,
        F: Fn(P, Vec<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<R>, sqlx::Error>> + Send + 'static,
    {
        let (queue, mut queued) = mpsc::unbounded_channel::<Queued<C, R>>();
        let run = Arc::new(run);
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(in_flight.max(1)));
            let mut carried: Option<Queued<C, R>> = None;
            loop {
                let first = match carried.take() {
                    Some(q) => q,
                    None => match queued.recv().await {
                        Some(q) => q,
                        None => return,
                    },
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                // Everything that queued up while the statements in flight ran.
                let mut keys: HashSet<String> = key(&first.call).into_iter().collect();
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    let Ok(next) = queued.try_recv() else { break };
                    if let Some(k) = key(&next.call)
                        && !keys.insert(k)
                    {
                        carried = Some(next);
                        break;
                    }
                    batch.push(next);
                }
                let (pool, run) = (pool.clone(), run.clone());
                tokio::spawn(async move {
                    let (calls, waiting): (Vec<C>, Vec<_>) =
                        batch.into_iter().map(|q| (q.call, q.done)).unzip();
                    let n = calls.len();
                    let answered = run(pool, calls).await.map_err(StoreError::Database);
                    drop(slot);
                    match answered {
                        Ok(results) if results.len() == n => {
                            for (done, r) in waiting.into_iter().zip(results) {
                                let _ = done.send(Ok(r));
                            }
                        }
                        Ok(results) => {
                            let why = format!("{} answers to {n} calls", results.len());
                            for done in waiting {
                                let _ = done.send(Err(StoreError::Corrupt(why.clone())));
                            }
                        }
                        Err(e) => {
                            let unavailable = e.is_unavailable();
                            for done in waiting {
                                let _ = done.send(Err(if unavailable {
                                    StoreError::Unavailable(e.to_string())
                                } else {
                                    StoreError::Refused(e.to_string())
                                }));
                            }
                        }
                    }
                });
            }
        });
        Batcher { queue }
    }

    /// Makes one call (with whatever calls go with it); its answer once the statement
    /// has run.
    pub(super) async fn call(&self, call: C) -> Result<R, StoreError> {
        let closed = || StoreError::Unavailable("the database is closed".into());
        let (done, answered) = oneshot::channel();
        self.queue
            .send(Queued { call, done })
            .map_err(|_| closed())?;
        answered.await.map_err(|_| closed())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The batches each statement was given.
    type Seen = Arc<Mutex<Vec<Vec<u32>>>>;

    /// A batcher whose statements record their calls and wait for `gate` to open.
    fn recording(fail: bool) -> (Batcher<u32, u32>, Seen, tokio::sync::watch::Sender<bool>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (gate, opened) = tokio::sync::watch::channel(false);
        let log = seen.clone();
        let batcher = Batcher::start(
            (),
            4,
            |c: &u32| Some((c % 10).to_string()),
            move |(), calls: Vec<u32>| {
                log.lock().unwrap().push(calls.clone());
                let mut opened = opened.clone();
                async move {
                    let _ = opened.wait_for(|o| *o).await;
                    if fail {
                        return Err(sqlx::Error::Protocol("refused".into()));
                    }
                    Ok(calls.iter().map(|c| c * 2).collect())
                }
            },
        );
        (batcher, seen, gate)
    }

    #[tokio::test]
    async fn calls_that_wait_go_together_and_each_gets_its_own_answer() {
        let (batcher, seen, gate) = recording(false);
        let call = |c: u32| {
            let b = batcher.clone();
            tokio::spawn(async move { b.call(c).await })
        };
        // Four lone calls, one at a time, hold every slot...
        let mut calls = Vec::new();
        for c in 0..4u32 {
            calls.push(call(c));
            while seen.lock().unwrap().len() <= c as usize {
                tokio::task::yield_now().await;
            }
        }
        // ...so the next twelve queue up behind them.
        calls.extend((4..16u32).map(call));
        for _ in 0..32 {
            tokio::task::yield_now().await;
        }
        assert_eq!(seen.lock().unwrap().len(), 4, "nothing else in flight");
        gate.send(true).unwrap();
        for (c, call) in (0..16u32).zip(calls) {
            assert_eq!(call.await.unwrap().unwrap(), c * 2);
        }
        let batches = seen.lock().unwrap().clone();
        assert!(
            batches.len() < 16,
            "some calls shared a statement: {batches:?}"
        );
        for b in &batches {
            let keys: std::collections::HashSet<u32> = b.iter().map(|c| c % 10).collect();
            assert_eq!(keys.len(), b.len(), "one key twice in {b:?}");
        }
        let mut all: Vec<u32> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..16).collect::<Vec<_>>(), "each call once");
    }

    #[tokio::test]
    async fn a_refused_statement_fails_every_call_in_it() {
        let (batcher, _, gate) = recording(true);
        gate.send(true).unwrap();
        let (a, b) = tokio::join!(batcher.call(1), batcher.call(2));
        assert!(matches!(a, Err(StoreError::Refused(_))), "{a:?}");
        assert!(matches!(b, Err(StoreError::Refused(_))), "{b:?}");
    }
}
