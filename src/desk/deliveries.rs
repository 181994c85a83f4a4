//! The outbox as the desk keeps it: which messages are due, and what a delivery's outcome
//! means — when to try again (exponential backoff with jitter), when to give up, and who
//! hears of a message given up (the managers). The dispatcher (`crate::outbox`) only
//! carries messages and reports back here.

use chrono::Duration;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Desk, DeskError, managers};
use crate::domain::sla::Span;
use crate::domain::ticket::Caller;
use crate::store::{NewOutboxMessage, OutboxMessage, OutboxStats, Recipient};

/// Retry settings (`[outbox]` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts before a message is dead.
    pub max_attempts: i32,
    /// Wait after the first failure; doubles each time.
    pub backoff: Span,
    /// Longest wait between attempts.
    pub max_backoff: Span,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            backoff: Span(Duration::seconds(30)),
            max_backoff: Span(Duration::hours(1)),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": half the delay fixed, half random, so
    /// retries after an outage do not arrive all at once.
    fn backoff(&self, attempts: i32) -> Duration {
        let base = self.backoff.0.num_milliseconds().max(1);
        let cap = self.max_backoff.0.num_milliseconds().max(base);
        let exp = u32::try_from(attempts - 1).unwrap_or(0).min(30);
        let full = base.saturating_mul(1_i64 << exp).min(cap);
        let half = full / 2;
        Duration::milliseconds(half + rand::rng().random_range(0..=half))
    }
}

/// How long a claimed message is ours; a crashed dispatcher's claims expire after it.
const LEASE: Duration = Duration::minutes(2);

/// What became of a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// It is tried again later.
    Retry,
    /// It was given up as dead (and the managers told).
    Dead,
}

/// The outbox statuses one can list.
pub const STATUSES: [&str; 4] = ["dead", "unroutable", "pending", "sent"];

impl Desk {
    /// Leases up to `limit` messages due now: for each recipient only the oldest pending
    /// one, so messages to one person go out in order.
    pub async fn claim_deliveries(&self, limit: i64) -> Result<Vec<OutboxMessage>, DeskError> {
        let now = self.now();
        Ok(self.store.claim_outbox(now, now + LEASE, limit).await?)
    }

    /// Gives back claimed messages whose outcome was never recorded (a dispatcher stopped
    /// mid-round), so none stays leased to a process that is gone.
    pub async fn release_deliveries(&self, ids: &[i64]) -> Result<u64, DeskError> {
        Ok(self.store.outbox_release(ids).await?)
    }

    /// A message went out through `channel`.
    pub async fn delivered(&self, id: i64, channel: &str) -> Result<(), DeskError> {
        Ok(self.store.outbox_sent(id, channel, self.now()).await?)
    }

    /// The platform asked to wait: not the message's fault, so not an attempt.
    pub async fn delivery_postponed(
        &self,
        m: &OutboxMessage,
        wait: std::time::Duration,
    ) -> Result<(), DeskError> {
        let at = self.now() + Duration::from_std(wait).unwrap_or(Duration::seconds(1));
        Ok(self
            .store
            .outbox_retry_at(m.id, m.attempts, at, "rate limited")
            .await?)
    }

    /// An attempt failed: tried again after a backoff, or (after the last attempt, or when
    /// `retrying_cannot_help`) given up as dead, with the managers alerted in the same
    /// transaction.
    pub async fn delivery_failed(
        &self,
        m: &OutboxMessage,
        error: &str,
        retrying_cannot_help: bool,
    ) -> Result<Failed, DeskError> {
        let attempts = m.attempts + 1;
        let retry = &self.policy.retry;
        if !retrying_cannot_help && attempts < retry.max_attempts {
            let at = self.now() + retry.backoff(attempts);
            self.store
                .outbox_retry_at(m.id, attempts, at, error)
                .await?;
            return Ok(Failed::Retry);
        }
        let alerts = self.dead_letter_alerts(m, error).await?;
        self.give_up(m, "dead", attempts, error, &alerts).await?;
        Ok(Failed::Dead)
    }

    /// The recipient has no chat to reach them on.
    pub async fn undeliverable(&self, m: &OutboxMessage) -> Result<(), DeskError> {
        let error = "the recipient has no chat linked";
        self.give_up(m, "unroutable", m.attempts, error, &[]).await
    }

    async fn give_up(
        &self,
        m: &OutboxMessage,
        status: &str,
        attempts: i32,
        error: &str,
        alerts: &[NewOutboxMessage],
    ) -> Result<(), DeskError> {
        let now = self.now();
        self.store
            .outbox_give_up(m.id, status, attempts, error, alerts, now)
            .await?;
        tracing::warn!(id = m.id, event = %m.event, %status, %error, "message given up");
        if !alerts.is_empty() {
            self.signal.notify_one();
        }
        Ok(())
    }

    /// Alerts to the managers about a dead message (never about a dead alert, and not to
    /// the manager it was for).
    async fn dead_letter_alerts(
        &self,
        m: &OutboxMessage,
        error: &str,
    ) -> Result<Vec<NewOutboxMessage>, DeskError> {
        if m.event == "delivery_failed" {
            return Ok(Vec::new());
        }
        let mut payload = m.payload.clone();
        payload["failed_event"] = m.event.clone().into();
        payload["error"] = error.into();
        let engineers = self.store.engineers().await?;
        Ok(managers(&engineers)
            .filter(|e| m.to != Recipient::Engineer(e.id))
            .map(|e| NewOutboxMessage {
                to: Recipient::Engineer(e.id),
                event: "delivery_failed".into(),
                payload: payload.clone(),
                not_before: None,
            })
            .collect())
    }

    /// Messages in a status (one of [`STATUSES`]), newest first. Managers only.
    pub async fn deliveries(
        &self,
        caller: &Caller,
        status: &str,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, DeskError> {
        Self::managers_only(caller, "read the outbox")?;
        if !STATUSES.contains(&status) {
            return Err(DeskError::BadValue(format!(
                "unknown status `{status}`; use one of: {}",
                STATUSES.join(", ")
            )));
        }
        Ok(self.store.outbox_by_status(status, limit).await?)
    }

    /// Puts a dead or unroutable message back in the queue (or, with `None`, every dead
    /// one); how many. Managers only.
    pub async fn redeliver(&self, caller: &Caller, id: Option<i64>) -> Result<u64, DeskError> {
        Self::managers_only(caller, "replay dead letters")?;
        let n = self.store.outbox_requeue(id, self.now()).await?;
        if n > 0 {
            self.signal.notify_one();
        }
        Ok(n)
    }

    /// Queue figures for `/metrics`.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, DeskError> {
        Ok(self.store.outbox_stats().await?)
    }

    fn managers_only(caller: &Caller, what: &str) -> Result<(), DeskError> {
        if caller.is_manager() {
            Ok(())
        } else {
            Err(DeskError::Forbidden(format!("only managers can {what}")))
        }
    }
}
