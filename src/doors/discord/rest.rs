//! The door's REST calls whose failure would lose something a person is waiting for — an
//! interaction's first answer, its follow-ups, a reply, a job card — sent with retries.
//!
//! serenity builds them (routes, headers, the proxy) but they are sent here: serenity's
//! errors keep neither a failed response's headers nor, for a 429, its body (Discord's
//! rate-limit body has no `code`, which serenity's error type requires, so all it reports
//! is "missing field `code`"). Here a 5xx, a 429 or a network failure is tried again a
//! few times ([`Patience`]), waiting what Discord asked (`retry_after` in the body, else
//! the `Retry-After` header) or else a doubling backoff, never past the caller's deadline
//! (an interaction token lives 15 minutes); any other 4xx is final at once.

use std::time::Duration;

use serde::Serialize;
use serenity::http::{LightMethod, Request, Route};
use tokio::time::Instant;

use super::Inner;
use crate::outbox::DeliveryError;

/// How long one request may take before it counts as a network failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between tries when Discord did not say how long.
const LONGEST_BACKOFF: Duration = Duration::from_secs(8);
/// How long a 429 without any `retry_after` is waited out.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How the door paces its dealings with Discord: [`Patience::default`] in service; tests
/// shorten the waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// An interaction whose step is not done by then is acknowledged first (a deferral)
    /// and its replies follow up: Discord waits 3 s for a first answer. Zero defers every
    /// interaction.
    pub answer_within: Duration,
    /// Tries of one call that failed with a 5xx, a 429 or a network error.
    pub attempts: u32,
    /// The wait before the second try when Discord did not say how long; doubled for each
    /// try after (up to 8 s).
    pub first_backoff: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            answer_within: Duration::from_secs(2),
            attempts: 5,
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum Failure {
    /// 429: wait this long (if Discord said), then try again.
    #[error("rate limited (retry after {0:?})")]
    Limited(Option<Duration>),
    /// A 5xx or no answer at all: worth trying again after a while.
    #[error("{0}")]
    Unavailable(String),
    /// Any other status: trying again cannot help.
    #[error("{1}")]
    Refused(u16, String),
}

impl From<Failure> for DeliveryError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Limited(after) => {
                DeliveryError::RateLimited(after.unwrap_or(DEFAULT_RETRY_AFTER))
            }
            Failure::Unavailable(why) => DeliveryError::Temporary(why),
            // A wrong token is a configuration mistake: keep the messages.
            Failure::Refused(401, why) => DeliveryError::Temporary(why),
            Failure::Refused(_, why) => DeliveryError::Permanent(why),
        }
    }
}

impl Inner {
    /// One call, tried once: the response body (JSON, `Null` for none).
    pub(super) async fn call(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: &impl Serialize,
    ) -> Result<serde_json::Value, Failure> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Failure::Refused(0, format!("request not encoded: {e}")))?;
        let request = Request::new(route, method)
            .body(Some(bytes))
            .build(&self.rest, self.http.token(), self.http.proxy.as_deref())
            .map_err(|e| Failure::Refused(0, format!("request not built: {e}")))?;
        let response = request
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| Failure::Unavailable(format!("no answer from Discord: {e}")))?;
        let status = response.status().as_u16();
        let after_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Unavailable(format!("answer cut off: {e}")))?;
        match status {
            200..=299 => Ok(serde_json::from_slice(&body).unwrap_or_default()),
            429 => Err(Failure::Limited(retry_after(
                after_header.as_deref(),
                &body,
            ))),
            500..=599 => Err(Failure::Unavailable(described(status, &body))),
            _ => Err(Failure::Refused(status, described(status, &body))),
        }
    }

    /// A call tried again after a 5xx, a 429 or a network failure, up to
    /// [`Patience::attempts`] tries, as long as the next try can start before `until`.
    pub(super) async fn call_patiently(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: &impl Serialize,
        until: Instant,
    ) -> Result<serde_json::Value, Failure> {
        let mut backoff = self.patience.first_backoff;
        let mut tries = 1;
        loop {
            let failure = match self.call(route, method, body).await {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            let wait = match &failure {
                Failure::Limited(after) => after.unwrap_or(backoff),
                Failure::Unavailable(_) => backoff,
                Failure::Refused(..) => return Err(failure),
            };
            if tries >= self.patience.attempts || Instant::now() + wait >= until {
                return Err(failure);
            }
            tracing::debug!(?failure, ?wait, tries, "discord: trying again");
            tokio::time::sleep(wait).await;
            tries += 1;
            backoff = (backoff * 2).min(LONGEST_BACKOFF);
        }
    }
}

/// How long a 429 asks to wait: `retry_after` (seconds, fractional) from Discord's JSON
/// body, else the `Retry-After` header (seconds).
pub(super) fn retry_after(header: Option<&str>, body: &[u8]) -> Option<Duration> {
    let seconds = |s: f64| (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(1e6)));
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64))
        .and_then(seconds);
    from_body.or_else(|| header.and_then(|h| h.trim().parse().ok()).and_then(seconds))
}

/// A failed answer in a sentence: the status and Discord's message, if it sent one.
fn described(status: u16, body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str().map(str::to_owned)));
    match message {
        Some(m) => format!("Discord answered {status}: {m}"),
        None => format!("Discord answered {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_comes_from_the_body_else_the_header() {
        let documented =
            br#"{"message":"You are being rate limited.","retry_after":0.05,"global":false}"#;
        assert_eq!(
            retry_after(Some("1"), documented),
            Some(Duration::from_millis(50))
        );
        assert_eq!(retry_after(Some("2"), b""), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(Some(" 0.5 "), b"<html>"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(None, br#"{"message":"x"}"#), None);
        for bad in ["-1", "soon", "NaN", "inf"] {
            assert_eq!(retry_after(Some(bad), b"{}"), None, "{bad}");
        }
        assert_eq!(
            retry_after(None, br#"{"retry_after":-3}"#),
            None,
            "a negative wait is no answer"
        );
    }

    #[test]
    fn only_a_refusal_is_final_for_the_outbox() {
        let d = |f| DeliveryError::from(f);
        assert!(matches!(
            d(Failure::Limited(Some(Duration::from_millis(50)))),
            DeliveryError::RateLimited(w) if w == Duration::from_millis(50)
        ));
        assert!(matches!(
            d(Failure::Unavailable("502".into())),
            DeliveryError::Temporary(_)
        ));
        assert!(matches!(
            d(Failure::Refused(401, "token".into())),
            DeliveryError::Temporary(_)
        ));
        assert!(matches!(
            d(Failure::Refused(404, "gone".into())),
            DeliveryError::Permanent(_)
        ));
    }
}
