//! Telegram's flood limits as sliding windows.
//!
//! Each limit is "at most `count` messages in any window of `per`". A window log is
//! exact (no bucket rounding), so a test can say "the 2nd message within a second is
//! refused" and "the 21st within a minute is refused", and `retry_after` is the time
//! until the oldest message in the window leaves it, rounded up to whole seconds as
//! Telegram does.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// At most `count` messages in any sliding window of length `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Messages allowed in one window (the largest burst).
    pub count: u32,
    /// Window length.
    pub per: Duration,
}

impl Limit {
    /// `count` messages per `per`.
    pub const fn new(count: u32, per: Duration) -> Self {
        Self { count, per }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}ms", self.count, self.per.as_millis())
    }
}

/// A limit could not be read from text such as `20/60s`.
#[derive(Debug, thiserror::Error)]
#[error("invalid limit {0:?}: expected COUNT/DURATION such as 1/1s, 20/60s or 30/1000ms")]
pub struct LimitParseError(String);

impl FromStr for Limit {
    type Err = LimitParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || LimitParseError(s.to_owned());
        let (count, per) = s.split_once('/').ok_or_else(err)?;
        let count: u32 = count.trim().parse().map_err(|_| err())?;
        let per = parse_duration(per.trim()).ok_or_else(err)?;
        if count == 0 || per.is_zero() {
            return Err(err());
        }
        Ok(Self { count, per })
    }
}

/// Reads `500ms`, `2s`, `1m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" | "min" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

/// The three limits Telegram documents for sending messages. `None` switches one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// All chats together (Telegram: about 30 messages per second).
    pub global: Option<Limit>,
    /// One private chat (positive chat id; Telegram: about 1 message per second).
    pub private_chat: Option<Limit>,
    /// One group, supergroup or channel (negative chat id; Telegram: 20 per minute).
    pub group_chat: Option<Limit>,
}

impl RateLimits {
    /// Telegram's documented limits: 30/s overall, 1/s per private chat, 20/min per group.
    pub const fn telegram() -> Self {
        Self {
            global: Some(Limit::new(30, Duration::from_secs(1))),
            private_chat: Some(Limit::new(1, Duration::from_secs(1))),
            group_chat: Some(Limit::new(20, Duration::from_secs(60))),
        }
    }

    /// No limits at all (benchmarks, tests that are not about flood control).
    pub const fn off() -> Self {
        Self {
            global: None,
            private_chat: None,
            group_chat: None,
        }
    }

    /// Whether any limit is on.
    pub fn enabled(&self) -> bool {
        self.global.is_some() || self.private_chat.is_some() || self.group_chat.is_some()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::telegram()
    }
}

/// Timestamps of accepted messages still inside one window.
#[derive(Debug, Default)]
struct Window(VecDeque<Duration>);

impl Window {
    /// Seconds to wait before one more message fits, or `None` if it fits now.
    fn wait(&mut self, limit: &Limit, now: Duration) -> Option<u64> {
        while let Some(&oldest) = self.0.front() {
            if oldest + limit.per <= now {
                self.0.pop_front();
            } else {
                break;
            }
        }
        if self.0.len() < limit.count as usize {
            return None;
        }
        let oldest = self.0.front().copied().unwrap_or(now);
        let wait = (oldest + limit.per).saturating_sub(now);
        // Telegram's retry_after is whole seconds, at least 1.
        Some(wait.as_secs_f64().ceil().max(1.0) as u64)
    }
}

/// Applies [`RateLimits`] to messages as they are sent.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    global: Window,
    chats: HashMap<i64, Window>,
    /// Until when each chat's last 429 told the bot to wait.
    told: HashMap<i64, Duration>,
}

impl Limiter {
    /// Admits one message to `chat_id` at `now`, or says how many seconds to wait.
    /// A refused message uses up nothing, as with Telegram.
    pub(crate) fn admit(
        &mut self,
        limits: &RateLimits,
        chat_id: i64,
        now: Duration,
    ) -> Result<(), u64> {
        let chat_limit = if chat_id < 0 {
            limits.group_chat
        } else {
            limits.private_chat
        };
        let mut retry = None;
        if let Some(limit) = &chat_limit {
            let window = self.chats.entry(chat_id).or_default();
            retry = window.wait(limit, now);
        }
        if let Some(limit) = &limits.global
            && let Some(wait) = self.global.wait(limit, now)
        {
            retry = Some(retry.map_or(wait, |r: u64| r.max(wait)));
        }
        if let Some(wait) = retry {
            self.told.insert(chat_id, now + Duration::from_secs(wait));
            return Err(wait);
        }
        if chat_limit.is_some() {
            self.chats.entry(chat_id).or_default().0.push_back(now);
        }
        if limits.global.is_some() {
            self.global.0.push_back(now);
        }
        Ok(())
    }
}

impl Limiter {
    /// Whether a message to `chat_id` comes before the `retry_after` of the last 429
    /// for that chat ran out (a bot that does not honour it).
    pub(crate) fn too_early(&self, chat_id: i64, now: Duration) -> bool {
        self.told.get(&chat_id).is_some_and(|until| now < *until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_chat_allows_one_per_second() {
        let limits = RateLimits::telegram();
        let mut l = Limiter::default();
        let t = Duration::from_millis(100);
        assert_eq!(l.admit(&limits, 7, t), Ok(()));
        assert_eq!(l.admit(&limits, 7, t + Duration::from_millis(300)), Err(1));
        assert_eq!(l.admit(&limits, 8, t), Ok(()));
        assert_eq!(l.admit(&limits, 7, t + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn group_allows_twenty_per_minute() {
        let limits = RateLimits::telegram();
        let mut l = Limiter::default();
        for i in 0..20 {
            assert_eq!(l.admit(&limits, -5, Duration::from_secs(i)), Ok(()));
        }
        // The first left at t=0, so a slot frees at t=60.
        assert_eq!(l.admit(&limits, -5, Duration::from_secs(20)), Err(40));
        assert_eq!(l.admit(&limits, -5, Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn a_retry_before_retry_after_is_noticed() {
        let limits = RateLimits::telegram();
        let mut l = Limiter::default();
        let t = Duration::from_millis(100);
        assert_eq!(l.admit(&limits, 7, t), Ok(()));
        assert!(!l.too_early(7, t));
        assert_eq!(l.admit(&limits, 7, t + Duration::from_millis(10)), Err(1));
        // Told to wait a whole second from the refusal.
        assert!(l.too_early(7, t + Duration::from_millis(1000)));
        assert!(!l.too_early(8, t + Duration::from_millis(1000)));
        assert!(!l.too_early(7, t + Duration::from_millis(1010)));
    }

    #[test]
    fn global_limit_spans_chats() {
        let limits = RateLimits::telegram();
        let mut l = Limiter::default();
        for chat in 0..30 {
            assert_eq!(l.admit(&limits, chat + 1, Duration::ZERO), Ok(()));
        }
        assert_eq!(l.admit(&limits, 99, Duration::ZERO), Err(1));
    }

    #[test]
    fn parses_limits() {
        let l: Limit = "20/60s".parse().expect("valid");
        assert_eq!(l, Limit::new(20, Duration::from_secs(60)));
        assert!("0/1s".parse::<Limit>().is_err());
        assert!("5".parse::<Limit>().is_err());
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    }
}
