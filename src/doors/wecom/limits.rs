//! WeCom's per-member limits, kept by the door itself: WeCom drops what exceeds them
//! *without an error*, so nothing may be sent past them. At most 30 messages a minute and
//! 1,000 an hour to one member (per app), counted on the desk's clock; a message that
//! does not fit waits (an outbox parcel is handed back to the dispatcher with the wait).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Messages to one member per minute.
pub const PER_MINUTE: usize = 30;
/// Messages to one member per hour.
pub const PER_HOUR: usize = 1_000;

/// Recent sends to each member.
#[derive(Debug, Default)]
pub struct Windows {
    members: HashMap<String, VecDeque<DateTime<Utc>>>,
}

impl Windows {
    /// Counts `n` messages to `member` now if they all fit, else says how long until
    /// they do (nothing is counted then).
    pub fn take(&mut self, member: &str, n: usize, now: DateTime<Utc>) -> Result<(), Duration> {
        let hour = chrono::Duration::hours(1);
        let minute = chrono::Duration::minutes(1);
        if self.members.len() > 10_000 {
            self.members
                .retain(|_, w| w.back().is_some_and(|t| *t + hour > now));
        }
        let w = self.members.entry(member.to_owned()).or_default();
        while w.front().is_some_and(|t| *t + hour <= now) {
            w.pop_front();
        }
        let n = n.max(1);
        let in_minute = w.iter().rev().take_while(|t| **t + minute > now).count();
        // The send that must age out of a window before `n` more fit in it.
        let wait = |t: DateTime<Utc>, per: chrono::Duration| {
            (t + per - now)
                .to_std()
                .unwrap_or(Duration::from_millis(1))
                .max(Duration::from_millis(1))
        };
        if n > PER_MINUTE || n > PER_HOUR {
            return Err(Duration::from_secs(60));
        }
        if in_minute + n > PER_MINUTE {
            let oldest = w.len() - in_minute + (in_minute + n - PER_MINUTE - 1);
            return Err(wait(w[oldest], minute));
        }
        if w.len() + n > PER_HOUR {
            return Err(wait(w[w.len() + n - PER_HOUR - 1], hour));
        }
        w.extend(std::iter::repeat_n(now, n));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_a_minute_then_a_wait_until_the_first_ages_out() {
        let t0 = DateTime::<Utc>::default();
        let mut w = Windows::default();
        for i in 0..30 {
            assert!(w.take("u", 1, t0 + chrono::Duration::seconds(i)).is_ok());
        }
        let now = t0 + chrono::Duration::seconds(30);
        assert_eq!(w.take("u", 1, now), Err(Duration::from_secs(30)));
        // Someone else is not held back.
        assert!(w.take("v", 1, now).is_ok());
        // A minute after the first send, one more fits (and only one).
        let later = t0 + chrono::Duration::seconds(60);
        assert!(w.take("u", 1, later).is_ok());
        assert!(w.take("u", 1, later).is_err());
        // Two at once need two to age out.
        assert_eq!(w.take("u", 2, later), Err(Duration::from_secs(2)));
    }

    #[test]
    fn a_thousand_an_hour() {
        let t0 = DateTime::<Utc>::default();
        let mut w = Windows::default();
        // 30 a minute for 34 minutes = 1,020 > 1,000: the hour's limit bites first.
        let mut sent = 0;
        let mut refused_hourly = None;
        for minute in 0..40 {
            for _ in 0..30 {
                let now = t0 + chrono::Duration::minutes(minute);
                match w.take("u", 1, now) {
                    Ok(()) => sent += 1,
                    Err(wait) if wait > Duration::from_secs(60) => {
                        refused_hourly.get_or_insert((sent, wait));
                    }
                    Err(_) => {}
                }
            }
        }
        assert_eq!(sent, 1_000);
        let (at, wait) = refused_hourly.expect("the hour's limit applied");
        assert_eq!(at, 1_000);
        // The first send of the hour ages out 60 minutes after it, at minute 60.
        assert_eq!(wait, Duration::from_secs(60 * (60 - 33)));
    }
}
