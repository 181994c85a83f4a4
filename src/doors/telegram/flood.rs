//! Telegram's flood limits on our side: 30 messages a second overall, one a second per
//! chat, 20 a minute per group. Every message waits here first, so latency can never make
//! Telegram see more than the limit; a 429 that still comes back blocks its chat for the
//! time Telegram asks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teloxide::RequestError;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::doors::lock;

/// Telegram's documented flood limits: 30 messages/s overall, 1/s per chat, 20/min per
/// group.
pub const TELEGRAM_LIMITS: FloodLimits = FloodLimits {
    per_sec_overall: 30,
    per_sec_chat: 1,
    per_min_group: 20,
};

/// Messages the bot may send (sendMessage, sendPhoto; edits and callback answers are not
/// limited by Telegram the same way and are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimits {
    /// To all chats together, per second.
    pub per_sec_overall: u32,
    /// To one chat (private or group), per second.
    pub per_sec_chat: u32,
    /// To one group, supergroup or channel (negative chat id), per minute.
    pub per_min_group: u32,
}

/// Telegram's flood limits on our side. A send counts from the moment it is allowed until
/// a minute after Telegram answered it: as Telegram received it somewhere in between,
/// counting answered sends by their answer time (and unanswered ones always) can only
/// over-count, so however late a request arrives, Telegram never sees more than the
/// limit in any window. Waiting sends are woken by answers and by sends ageing out.
pub(super) struct Flood {
    limits: Option<FloodLimits>,
    state: Mutex<FloodState>,
    answered: Notify,
}

#[derive(Default)]
struct FloodState {
    global: Window,
    chats: HashMap<i64, Window>,
    /// Acquisitions since the last sweep of idle chats.
    since_sweep: u32,
}

/// One limit's recent sends.
#[derive(Default)]
struct Window {
    /// When recent sends were answered, oldest first.
    answered: VecDeque<Instant>,
    /// Sends not answered yet.
    in_flight: u32,
    /// A 429 asked us not to send to this chat before then.
    blocked_until: Option<Instant>,
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
/// Chats are forgotten once idle; this often they are swept.
const SWEEP_EVERY: u32 = 4096;

/// Whether one more send fits in a window now.
enum Fits {
    Now,
    /// When enough earlier sends will have aged out.
    At(Instant),
    /// Only unanswered sends are in the way.
    AfterAnswer,
}

impl Window {
    /// Forgets answers older than `keep`.
    fn trim(&mut self, now: Instant, keep: Duration) {
        while self.answered.front().is_some_and(|t| *t + keep <= now) {
            self.answered.pop_front();
        }
    }

    /// Whether one more send fits under `limit` sends per `per`.
    fn fits(&self, now: Instant, limit: u32, per: Duration) -> Fits {
        let limit = limit.max(1) as usize;
        let in_flight = self.in_flight as usize;
        if in_flight >= limit {
            return Fits::AfterAnswer;
        }
        let recent: Vec<&Instant> = self
            .answered
            .iter()
            .rev()
            .take_while(|t| **t + per > now)
            .collect();
        if in_flight + recent.len() < limit {
            return Fits::Now;
        }
        // `recent` is newest first: the send that must age out is the (limit − in
        // flight)th newest.
        recent
            .get(limit - in_flight - 1)
            .map_or(Fits::AfterAnswer, |t| Fits::At(**t + per))
    }

    fn idle(&self, now: Instant) -> bool {
        self.in_flight == 0
            && self.answered.is_empty()
            && self.blocked_until.is_none_or(|t| t <= now)
    }
}

/// A send that counts against the limits until it is answered (or dropped).
pub(super) struct Permit {
    flood: Option<Arc<Flood>>,
    chat: i64,
    retry_after: Option<Duration>,
}

impl Permit {
    /// Telegram answered: a 429 blocks the chat for the time it asks.
    pub(super) fn answered<T>(mut self, result: &Result<T, RequestError>) {
        if let Err(RequestError::RetryAfter(s)) = result {
            self.retry_after = Some(s.duration());
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(flood) = self.flood.take() else {
            return;
        };
        let now = Instant::now();
        {
            let mut st = lock(&flood.state);
            st.global.in_flight = st.global.in_flight.saturating_sub(1);
            st.global.answered.push_back(now);
            let w = st.chats.entry(self.chat).or_default();
            w.in_flight = w.in_flight.saturating_sub(1);
            w.answered.push_back(now);
            if let Some(wait) = self.retry_after {
                w.blocked_until = Some(now + wait);
            }
        }
        flood.answered.notify_waiters();
    }
}

impl Flood {
    pub(super) fn new(limits: Option<FloodLimits>) -> Flood {
        Flood {
            limits,
            state: Mutex::default(),
            answered: Notify::new(),
        }
    }

    /// Waits until a message to `chat` fits the limits. With `patience`, a wait for the
    /// chat itself (a group's minute, a 429) longer than that is refused with its length.
    pub(super) async fn acquire(
        self: &Arc<Self>,
        chat: i64,
        patience: Option<Duration>,
    ) -> Result<Permit, Duration> {
        let Some(limits) = self.limits else {
            return Ok(Permit {
                flood: None,
                chat,
                retry_after: None,
            });
        };
        loop {
            // Registered before looking, so an answer that comes meanwhile wakes us.
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            let wake = {
                let mut st = lock(&self.state);
                let now = Instant::now();
                let st = &mut *st;
                st.since_sweep += 1;
                if st.since_sweep >= SWEEP_EVERY {
                    st.since_sweep = 0;
                    st.chats.retain(|id, w| {
                        w.trim(now, if *id < 0 { MINUTE } else { SECOND });
                        !w.idle(now)
                    });
                }
                st.global.trim(now, SECOND);
                let w = st.chats.entry(chat).or_default();
                w.trim(now, if chat < 0 { MINUTE } else { SECOND });
                let mut checks = vec![
                    w.fits(now, limits.per_sec_chat, SECOND),
                    st.global.fits(now, limits.per_sec_overall, SECOND),
                ];
                if chat < 0 {
                    checks.push(w.fits(now, limits.per_min_group, MINUTE));
                }
                if let Some(t) = w.blocked_until.filter(|t| *t > now) {
                    checks.push(Fits::At(t));
                }
                if checks.iter().all(|f| matches!(f, Fits::Now)) {
                    w.in_flight += 1;
                    st.global.in_flight += 1;
                    return Ok(Permit {
                        flood: Some(self.clone()),
                        chat,
                        retry_after: None,
                    });
                }
                let at = checks
                    .iter()
                    .filter_map(|f| match f {
                        Fits::At(t) => Some(*t),
                        _ => None,
                    })
                    .max();
                // The global limit frees within a second; only the chat's own wait (a
                // group's minute, a 429) is worth handing back.
                let chat_wait = [
                    w.blocked_until.filter(|t| *t > now),
                    match (chat < 0).then(|| w.fits(now, limits.per_min_group, MINUTE)) {
                        Some(Fits::At(t)) => Some(t),
                        _ => None,
                    },
                ]
                .into_iter()
                .flatten()
                .max();
                if let (Some(max), Some(t)) = (patience, chat_wait)
                    && t.duration_since(now) > max
                {
                    return Err(t.duration_since(now));
                }
                at
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        () = &mut answered => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => answered.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long the courier waits for a chat before handing a parcel back.
    const PATIENCE: Duration = Duration::from_secs(2);

    #[test]
    fn flood_windows_count_unanswered_sends_and_age_answered_ones_out() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut w = Window::default();
        assert!(matches!(w.fits(t0, 2, SECOND), Fits::Now));
        w.in_flight = 2;
        assert!(matches!(w.fits(t0, 2, SECOND), Fits::AfterAnswer));
        // One answered at t0, one still out: the next fits when the answered one is a
        // second old.
        w.in_flight = 1;
        w.answered.push_back(t0);
        assert!(matches!(w.fits(t0 + ms(10), 2, SECOND), Fits::At(t) if t == t0 + SECOND));
        assert!(matches!(w.fits(t0 + SECOND, 2, SECOND), Fits::Now));
        w.trim(t0 + SECOND, SECOND);
        assert!(w.answered.is_empty());
        w.in_flight = 0;
        assert!(w.idle(t0 + SECOND));
    }

    #[tokio::test]
    async fn a_chat_told_to_wait_is_handed_back_to_an_impatient_sender() {
        let flood = Arc::new(Flood::new(Some(TELEGRAM_LIMITS)));
        let permit = flood.acquire(7, None).await.expect("fits");
        permit.answered::<()>(&Err(RequestError::RetryAfter(
            teloxide::types::Seconds::from_seconds(30),
        )));
        let wait = flood
            .acquire(7, Some(PATIENCE))
            .await
            .err()
            .expect("refused");
        assert!(wait > Duration::from_secs(29), "{wait:?}");
        // Other chats are not held up by it.
        drop(flood.acquire(8, Some(PATIENCE)).await.expect("fits"));
        // Off: nothing is counted.
        let off = Arc::new(Flood::new(None));
        for _ in 0..100 {
            drop(
                off.acquire(7, Some(Duration::ZERO))
                    .await
                    .expect("no limits"),
            );
        }
    }
}
