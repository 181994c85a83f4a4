//! Delivers the outbox: claims due messages (oldest first, one per recipient at a time so
//! each person's messages arrive in order), renders each for its recipient and hands it to
//! the courier of their door. Failures back off exponentially with jitter; after
//! `max_attempts` a message is dead and the managers are alerted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Courier, DeliveryError};
use crate::chat::Chat;
use crate::domain::routing::Tier;
use crate::domain::sla::Span;
use crate::store::{NewOutboxMessage, OutboxMessage, Recipient, StoreError};

/// Retry settings (`[outbox]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Attempts before a message is dead.
    pub max_attempts: i32,
    /// Wait after the first failure; doubles each time.
    pub backoff: Span,
    /// Longest wait between attempts.
    pub max_backoff: Span,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            backoff: Span(Duration::seconds(30)),
            max_backoff: Span(Duration::hours(1)),
        }
    }
}

/// Messages claimed per round.
const BATCH: i64 = 64;
/// How long a claimed message is ours; a crashed dispatcher's claims expire after it.
const LEASE: Duration = Duration::minutes(2);
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
    chat: Chat,
    couriers: Arc<HashMap<&'static str, Arc<dyn Courier>>>,
    config: DispatchConfig,
    counters: Arc<Counters>,
}

enum Outcome {
    Sent(String),
    Retry {
        attempts: i32,
        at: DateTime<Utc>,
        error: String,
    },
    GiveUp {
        status: &'static str,
        attempts: i32,
        error: String,
    },
}

impl Dispatcher {
    /// A dispatcher over the chat service (which renders messages) and the couriers.
    pub fn new(chat: Chat, couriers: Vec<Arc<dyn Courier>>, config: DispatchConfig) -> Dispatcher {
        Dispatcher {
            chat,
            couriers: Arc::new(couriers.into_iter().map(|c| (c.channel(), c)).collect()),
            config,
            counters: Arc::default(),
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
    pub async fn run_once(&self) -> Result<Round, StoreError> {
        use futures_util::StreamExt;
        let store = self.chat.desk().store();
        let now = self.chat.desk().now();
        let claimed = store.claim_outbox(now, now + LEASE, BATCH).await?;
        let outcomes: Vec<(OutboxMessage, Outcome)> = futures_util::stream::iter(claimed)
            .map(|m| async move {
                let outcome = self.attempt(&m).await;
                (m, outcome)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut round = Round::default();
        for (m, outcome) in outcomes {
            let now = self.chat.desk().now();
            match outcome {
                Outcome::Sent(channel) => {
                    store.outbox_sent(m.id, &channel, now).await?;
                    self.counters.add(&channel, "sent");
                    round.sent += 1;
                }
                Outcome::Retry {
                    attempts,
                    at,
                    error,
                } => {
                    store.outbox_retry_at(m.id, attempts, at, &error).await?;
                    round.retried += 1;
                }
                Outcome::GiveUp {
                    status,
                    attempts,
                    error,
                } => {
                    let alerts = if status == "dead" {
                        self.alerts(&m, &error).await?
                    } else {
                        Vec::new()
                    };
                    store
                        .outbox_give_up(m.id, status, attempts, &error, &alerts, now)
                        .await?;
                    tracing::warn!(id = m.id, event = %m.event, %status, %error, "message given up");
                    if status == "dead" {
                        round.dead += 1;
                    } else {
                        round.unroutable += 1;
                    }
                }
            }
        }
        Ok(round)
    }

    /// Tries one message.
    async fn attempt(&self, m: &OutboxMessage) -> Outcome {
        let now = self.chat.desk().now();
        let failed = |error: String, channel: &str| {
            self.counters.add(channel, "failed");
            let attempts = m.attempts + 1;
            if attempts >= self.config.max_attempts {
                self.counters.add(channel, "dead");
                Outcome::GiveUp {
                    status: "dead",
                    attempts,
                    error,
                }
            } else {
                Outcome::Retry {
                    attempts,
                    at: now + self.backoff(attempts),
                    error,
                }
            }
        };
        let parcel = match self.chat.parcel(m).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Outcome::GiveUp {
                    status: "unroutable",
                    attempts: m.attempts,
                    error: "the recipient has no chat linked".into(),
                };
            }
            Err(e) => return failed(e.to_string(), "none"),
        };
        let channel = parcel.to.channel.clone();
        let Some(courier) = self.couriers.get(channel.as_str()) else {
            return failed(format!("{channel} is not enabled on this server"), &channel);
        };
        match courier.deliver(&parcel).await {
            Ok(()) => Outcome::Sent(channel),
            // Asked to wait: not the message's fault, so not an attempt.
            Err(DeliveryError::RateLimited(wait)) => Outcome::Retry {
                attempts: m.attempts,
                at: now + Duration::from_std(wait).unwrap_or(Duration::seconds(1)),
                error: "rate limited".into(),
            },
            Err(DeliveryError::Temporary(e)) => failed(e, &channel),
            Err(DeliveryError::Permanent(e)) => {
                self.counters.add(&channel, "dead");
                Outcome::GiveUp {
                    status: "dead",
                    attempts: m.attempts + 1,
                    error: e,
                }
            }
        }
    }

    /// Exponential backoff with "equal jitter": half the delay fixed, half random, so
    /// retries after an outage do not arrive all at once.
    fn backoff(&self, attempts: i32) -> Duration {
        let base = self.config.backoff.0.num_milliseconds().max(1);
        let cap = self.config.max_backoff.0.num_milliseconds().max(base);
        let exp = u32::try_from(attempts - 1).unwrap_or(0).min(30);
        let full = base.saturating_mul(1_i64 << exp).min(cap);
        let half = full / 2;
        Duration::milliseconds(half + rand::rng().random_range(0..=half))
    }

    /// Alerts to the managers about a dead message (never about a dead alert).
    async fn alerts(
        &self,
        m: &OutboxMessage,
        error: &str,
    ) -> Result<Vec<NewOutboxMessage>, StoreError> {
        if m.event == "delivery_failed" {
            return Ok(Vec::new());
        }
        let mut payload = m.payload.clone();
        payload["failed_event"] = m.event.clone().into();
        payload["error"] = error.into();
        let engineers = self.chat.desk().store().engineers().await?;
        Ok(engineers
            .into_iter()
            .filter(|e| e.tier == Tier::Manager && m.to != Recipient::Engineer(e.id))
            .map(|e| NewOutboxMessage {
                to: Recipient::Engineer(e.id),
                event: "delivery_failed".into(),
                payload: payload.clone(),
                not_before: None,
            })
            .collect())
    }

    /// Delivers until `shutdown`: a round whenever the desk queues messages, and at least
    /// every second for retries that fall due.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let signal = self.chat.desk().outbox_signal();
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
