//! The notification outbox: messages written in the same transaction as the change that
//! caused them, delivered afterwards by the [`dispatcher`] — rendered for their recipient
//! through a [`Render`] port (the conversation service implements it) and carried by one
//! [`Courier`] per chat platform — at least once, in order per recipient, with backoff,
//! dead letters (the desk's rules) and per-platform rate limits.

pub mod dispatcher;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::desk::OutboxMessage;
use crate::flow::{Lang, Outgoing};

/// Where a message goes: a chat door and the person's id on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// `telegram`, `discord`, `web` or `console`.
    pub channel: String,
    /// The person's (or group chat's) id on that door.
    pub external_id: String,
}

/// One outbox message, rendered for its recipient and ready to hand to a [`Courier`].
#[derive(Debug, Clone, PartialEq)]
pub struct Parcel {
    /// The outbox row id: stable across retries, so a courier may use it to drop repeats.
    pub id: i64,
    /// Where to.
    pub to: Address,
    /// The recipient's language.
    pub lang: Lang,
    /// The message key (`ticket_accepted`, `job_offered`, …).
    pub event: String,
    /// The ticket number concerned, if any.
    pub ticket: Option<String>,
    /// What to show, in order (text, and a job card's buttons for offers).
    pub replies: Vec<Outgoing>,
}

/// Why a message could not be rendered (tried again later, like a failed delivery).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// A boxed rendering future (the port is used as a trait object).
pub type Rendering<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Parcel>, RenderError>> + Send + 'a>>;

/// Turns an outbox message into what its recipient sees, on the door that reaches them:
/// `None` when no door can reach them.
pub trait Render: Send + Sync + 'static {
    /// Renders one message.
    fn render<'a>(&'a self, m: &'a OutboxMessage) -> Rendering<'a>;
}

/// Why a delivery failed, as the dispatcher must treat it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The platform asked us to wait (HTTP 429 / `retry_after`): not counted as a failure.
    #[error("rate limited; retry after {0:?}")]
    RateLimited(Duration),
    /// Worth retrying later (network, 5xx, the person's web tab closed).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Retrying cannot help (chat not found, bot blocked): the message goes dead at once.
    #[error("cannot be delivered: {0}")]
    Permanent(String),
}

/// A boxed delivery future (couriers are used as trait objects).
pub type Delivery<'a> = Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>>;

/// Delivers parcels on one chat platform. Implementations own the platform's rate limits
/// (or report 429s as [`DeliveryError::RateLimited`]) and its formatting rules.
pub trait Courier: Send + Sync + 'static {
    /// The channel this courier serves (matches [`Address::channel`]).
    fn channel(&self) -> &'static str;
    /// Sends one parcel.
    fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Delivery<'a>;
}

/// How far each parcel that a platform needs several messages for got: a retry resumes
/// at the first piece that did not go out, so the person never sees a piece twice.
#[derive(Debug, Default)]
pub struct Pieces {
    sent: std::sync::Mutex<std::collections::HashMap<i64, usize>>,
}

/// Parcels remembered at most (ones that never come back must not pile up).
const PIECES_REMEMBERED: usize = 10_000;

impl Pieces {
    /// The first piece of parcel `id` still to send (0 unless an earlier try stopped
    /// part-way).
    pub fn resume_from(&self, id: i64) -> usize {
        self.lock().get(&id).copied().unwrap_or(0)
    }

    /// Piece `piece` of parcel `id` failed with `e`: remembers where to resume (unless
    /// retrying cannot help) and hands the error back.
    pub fn failed(&self, id: i64, piece: usize, e: DeliveryError) -> DeliveryError {
        let mut sent = self.lock();
        if matches!(e, DeliveryError::Permanent(_)) {
            sent.remove(&id);
        } else {
            if sent.len() >= PIECES_REMEMBERED {
                sent.clear();
            }
            sent.insert(id, piece);
        }
        e
    }

    /// Every piece of parcel `id` went out.
    pub fn finished(&self, id: i64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, usize>> {
        // The map stays consistent whatever panicked while holding it.
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One try at pieces 1, 2, 3 of parcel 7, failing with `fail` at piece `at`, the way
    /// a courier's loop uses [`Pieces`].
    fn attempt(
        pieces: &Pieces,
        log: &mut Vec<u8>,
        at: Option<u8>,
        fail: DeliveryError,
    ) -> Result<(), DeliveryError> {
        let all = [1u8, 2, 3];
        for (i, p) in all.iter().enumerate().skip(pieces.resume_from(7)) {
            if Some(*p) == at {
                return Err(pieces.failed(7, i, fail));
            }
            log.push(*p);
        }
        pieces.finished(7);
        Ok(())
    }

    #[test]
    fn a_retry_resumes_after_the_last_piece_sent() {
        let pieces = Pieces::default();
        let mut log = Vec::new();
        let busy = DeliveryError::Temporary("503".into());
        assert!(attempt(&pieces, &mut log, Some(2), busy.clone()).is_err());
        assert!(attempt(&pieces, &mut log, Some(3), busy).is_err());
        assert_eq!(
            attempt(
                &pieces,
                &mut log,
                None,
                DeliveryError::Temporary(String::new())
            ),
            Ok(())
        );
        assert_eq!(log, [1, 2, 3]);
        // Done: the parcel is forgotten, so a new delivery of the same id starts over.
        assert!(pieces.lock().is_empty());
    }

    #[test]
    fn a_permanent_failure_forgets_the_parcel() {
        let pieces = Pieces::default();
        let mut log = Vec::new();
        let gone = DeliveryError::Permanent("chat not found".into());
        assert!(attempt(&pieces, &mut log, Some(2), gone).is_err());
        assert!(pieces.lock().is_empty());
    }
}
