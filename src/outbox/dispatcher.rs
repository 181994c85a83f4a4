//! Delivers the outbox: claims due messages from the desk (oldest first, one per recipient
//! at a time so each person's messages arrive in order), renders each for its recipient
//! and hands it to the courier of their door, then tells the desk how it went; the desk
//! decides when to try again and when a message is dead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::{Courier, DeliveryError, Render};
use crate::desk::{Desk, DeskError, Failed, OutboxMessage};

/// Messages claimed per round.
const BATCH: i64 = 64;
/// Deliveries in flight at once (rate limits are the couriers' business).
const CONCURRENCY: usize = 32;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Delivered.
    pub sent: u32,
    /// Failed or rate-limited, to be tried again.
    pub retried: u32,
    /// Given up (dead letters).
    pub dead: u32,
    /// Nobody to deliver to (no reachable chat).
    pub unroutable: u32,
}

impl Round {
    /// Messages handled in the round.
    pub fn handled(&self) -> u32 {
        self.sent + self.retried + self.dead + self.unroutable
    }
}

/// Delivery counters per door and outcome, since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct Counters(Mutex<BTreeMap<(String, &'static str), u64>>);

impl Counters {
    fn add(&self, channel: &str, outcome: &'static str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry((channel.to_owned(), outcome)).or_default() += 1;
        }
    }

    /// (door, outcome, count), sorted.
    pub fn snapshot(&self) -> Vec<(String, &'static str, u64)> {
        self.0.lock().map_or_else(
            |_| Vec::new(),
            |m| m.iter().map(|((c, o), n)| (c.clone(), *o, *n)).collect(),
        )
    }
}

/// The dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    desk: Desk,
    render: Arc<dyn Render>,
    couriers: Arc<HashMap<&'static str, Arc<dyn Courier>>>,
    counters: Arc<Counters>,
    /// Messages claimed and not yet settled (to give back if a round is cut short).
    claimed: Arc<Mutex<HashSet<i64>>>,
    /// Held while a claim is on its way (see [`Dispatcher::release_claims`]).
    claiming: Arc<tokio::sync::Mutex<()>>,
}

/// How one attempt went.
enum Outcome {
    Sent(String),
    RateLimited(std::time::Duration),
    Failed {
        channel: String,
        error: String,
        permanent: bool,
    },
    Unroutable,
}

impl Dispatcher {
    /// A dispatcher for the desk's outbox, rendering through `render`, delivering through
    /// the couriers (one per door).
    pub fn new(desk: Desk, render: Arc<dyn Render>, couriers: Vec<Arc<dyn Courier>>) -> Dispatcher {
        Dispatcher {
            desk,
            render,
            couriers: Arc::new(couriers.into_iter().map(|c| (c.channel(), c)).collect()),
            counters: Arc::default(),
            claimed: Arc::default(),
            claiming: Arc::default(),
        }
    }

    /// Adds a courier for another door.
    pub fn with_courier(mut self, courier: Arc<dyn Courier>) -> Dispatcher {
        Arc::make_mut(&mut self.couriers).insert(courier.channel(), courier);
        self
    }

    /// Delivery counters.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// One round: claims what is due now and tries each message once.
    pub async fn run_once(&self) -> Result<Round, DeskError> {
        use futures_util::StreamExt;
        // The claim and its note here run to the end in a task of their own, even if
        // the round is cut short meanwhile, and a stop waits for them: a claim the
        // database committed is always known here, to give back.
        let claiming = self.claiming.clone().lock_owned().await;
        let (desk, held) = (self.desk.clone(), self.claimed.clone());
        let claim = tokio::spawn(async move {
            let _claiming = claiming;
            let claimed = desk.claim_deliveries(BATCH).await?;
            if let Ok(mut held) = held.lock() {
                held.extend(claimed.iter().map(|m| m.id));
            }
            Ok::<_, DeskError>(claimed)
        });
        let claimed = match claim.await {
            Ok(claimed) => claimed?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down.
            Err(_) => return Ok(Round::default()),
        };
        // Each outcome is recorded as soon as its attempt ends, not when the round's last
        // one does: a crash between a send and its record means the message goes out
        // again, so that window is kept to one write (the kill -9 soak counts these).
        let settled: Vec<Result<Round, DeskError>> = futures_util::stream::iter(claimed)
            .map(|m| async move {
                let id = m.id;
                let outcome = self.attempt(&m).await;
                let mut one = Round::default();
                self.settle(m, outcome, &mut one).await?;
                if let Ok(mut held) = self.claimed.lock() {
                    held.remove(&id);
                }
                Ok(one)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut round = Round::default();
        for one in settled {
            let one = one?;
            round.sent += one.sent;
            round.retried += one.retried;
            round.dead += one.dead;
            round.unroutable += one.unroutable;
        }
        Ok(round)
    }

    /// Gives back the messages this dispatcher claimed and whose outcome it never
    /// recorded (its round was cut short by a stop): due again at once, for any instance.
    pub async fn release_claims(&self) -> Result<u64, DeskError> {
        // A claim still on its way finishes first, so its messages are given back too.
        let _claiming = self.claiming.lock().await;
        let ids: Vec<i64> = self
            .claimed
            .lock()
            .map(|mut held| held.drain().collect())
            .unwrap_or_default();
        if ids.is_empty() {
            return Ok(0);
        }
        self.desk.release_deliveries(&ids).await
    }

    /// Records how one attempt went.
    async fn settle(
        &self,
        m: OutboxMessage,
        outcome: Outcome,
        round: &mut Round,
    ) -> Result<(), DeskError> {
        match outcome {
            Outcome::Sent(channel) => {
                self.desk.delivered(m.id, &channel).await?;
                self.counters.add(&channel, "sent");
                round.sent += 1;
            }
            Outcome::RateLimited(wait) => {
                self.desk.delivery_postponed(&m, wait).await?;
                round.retried += 1;
            }
            Outcome::Failed {
                channel,
                error,
                permanent,
            } => {
                if !permanent {
                    self.counters.add(&channel, "failed");
                }
                match self.desk.delivery_failed(&m, &error, permanent).await? {
                    Failed::Retry => round.retried += 1,
                    Failed::Dead => {
                        self.counters.add(&channel, "dead");
                        round.dead += 1;
                    }
                }
            }
            Outcome::Unroutable => {
                self.desk.undeliverable(&m).await?;
                round.unroutable += 1;
            }
        }
        Ok(())
    }

    /// Tries one message.
    async fn attempt(&self, m: &OutboxMessage) -> Outcome {
        let failed = |channel: &str, error: String, permanent| Outcome::Failed {
            channel: channel.to_owned(),
            error,
            permanent,
        };
        let parcel = match self.render.render(m).await {
            Ok(Some(p)) => p,
            Ok(None) => return Outcome::Unroutable,
            Err(e) => return failed("none", e.to_string(), false),
        };
        let channel = parcel.to.channel.as_str();
        let Some(courier) = self.couriers.get(channel) else {
            return failed(
                channel,
                format!("{channel} is not enabled on this server"),
                false,
            );
        };
        match courier.deliver(&parcel).await {
            Ok(()) => Outcome::Sent(channel.to_owned()),
            Err(DeliveryError::RateLimited(wait)) => Outcome::RateLimited(wait),
            Err(DeliveryError::Temporary(e)) => failed(channel, e, false),
            Err(DeliveryError::Permanent(e)) => failed(channel, e, true),
        }
    }

    /// Delivers until `shutdown`: a round whenever the desk queues messages, and at least
    /// every second for retries that fall due. A round under way when `shutdown` comes is
    /// finished (every message it claimed settled), then no other begins.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        use futures_util::FutureExt;
        let signal = self.desk.outbox_signal();
        tokio::pin!(shutdown);
        loop {
            let busy = match self.run_once().await {
                Ok(round) => round.handled() > 0,
                Err(e) => {
                    tracing::error!(error = %e, "outbox round failed");
                    false
                }
            };
            if busy {
                if shutdown.as_mut().now_or_never().is_some() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = signal.notified() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}
