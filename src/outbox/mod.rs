//! The notification outbox: messages written in the same transaction as the change that
//! caused them, delivered afterwards by the [`dispatcher`] through one [`Courier`] per
//! chat platform — at least once, in order per recipient, with backoff, dead letters and
//! per-platform rate limits.

pub mod dispatcher;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

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
