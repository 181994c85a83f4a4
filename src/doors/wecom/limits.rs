//! WeCom's per-member limits, kept by the door itself: WeCom drops what exceeds them
//! *without an error*, so nothing may be sent past them. At most 30 messages a minute and
//! 1,000 an hour to one member (per app), counted on the desk's clock in the database
//! (`wecom_sends`), so that every instance on it shares one count; a message that does not
//! fit waits (an outbox parcel is handed back to the dispatcher with the wait).
//!
//! The count is one statement per send that decides and counts (see the store's
//! `COUNT_SENDS`): each window (a minute, an hour) counts its own sends, plus the previous
//! window's while the newest of those is younger than a window. Any sliding minute then
//! holds at most 30 sends, as WeCom counts, at the price of holding back a little longer
//! than needed when the previous window's sends were spread out. This module says how long
//! a refused send waits.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::desk::SendCounts;

/// Messages to one member per minute.
pub const PER_MINUTE: usize = 30;
/// Messages to one member per hour.
pub const PER_HOUR: usize = 1_000;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// One window's record: its number, its sends and the newest of them, and the same for
/// the window before it.
#[derive(Debug, Clone, Copy)]
struct Window {
    no: i64,
    sends: i64,
    last: i64,
    prev_sends: i64,
    prev_last: i64,
}

impl Window {
    /// How long until `n` more fit in windows of `len` ms with room for `limit` at `now`
    /// (Unix ms); zero if they fit now. Mirrors `COUNT_SENDS`.
    fn wait(self, n: i64, now: i64, len: i64, limit: i64) -> i64 {
        let current = now.div_euclid(len);
        // What the window before the current one holds, and the current one.
        let (sends, last, prev_sends, prev_last) = if self.no >= current {
            (self.sends, self.last, self.prev_sends, self.prev_last)
        } else if self.no == current - 1 {
            (0, 0, self.sends, self.last)
        } else {
            (0, 0, 0, 0)
        };
        let prev = if prev_last > now - len { prev_sends } else { 0 };
        if sends + prev + n <= limit {
            0
        } else if sends + n > limit {
            // The current window's own sends must age out: a window after the newest.
            last + len - now
        } else {
            prev_last + len - now
        }
    }
}

/// How long until `n` more messages to a member fit, given what the count refused them
/// with at `now`. At least a millisecond: the count refused, so they do not fit now.
pub fn wait(counts: &SendCounts, n: usize, now: DateTime<Utc>) -> Duration {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    if n > PER_MINUTE as i64 {
        return Duration::from_secs(60);
    }
    let now = now.timestamp_millis();
    let minute = Window {
        no: counts.minute_no,
        sends: counts.minute_sends,
        last: counts.minute_last,
        prev_sends: counts.prev_minute_sends,
        prev_last: counts.prev_minute_last,
    };
    let hour = Window {
        no: counts.hour_no,
        sends: counts.hour_sends,
        last: counts.hour_last,
        prev_sends: counts.prev_hour_sends,
        prev_last: counts.prev_hour_last,
    };
    let ms = minute
        .wait(n, now, MINUTE_MS, PER_MINUTE as i64)
        .max(hour.wait(n, now, HOUR_MS, PER_HOUR as i64))
        .max(1);
    Duration::from_millis(u64::try_from(ms).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `COUNT_SENDS` in memory: counts `n` at `now` if they fit, else the wait.
    fn take(c: &mut SendCounts, n: usize, now: DateTime<Utc>) -> Result<(), Duration> {
        let ms = now.timestamp_millis();
        let fits = |no: i64, sends: i64, last: i64, prev_sends: i64, prev_last: i64, len, limit| {
            Window {
                no,
                sends,
                last,
                prev_sends,
                prev_last,
            }
            .wait(n as i64, ms, len, limit)
                == 0
        };
        let minute_ok = fits(
            c.minute_no,
            c.minute_sends,
            c.minute_last,
            c.prev_minute_sends,
            c.prev_minute_last,
            MINUTE_MS,
            PER_MINUTE as i64,
        );
        let hour_ok = fits(
            c.hour_no,
            c.hour_sends,
            c.hour_last,
            c.prev_hour_sends,
            c.prev_hour_last,
            HOUR_MS,
            PER_HOUR as i64,
        );
        if !(minute_ok && hour_ok) {
            return Err(wait(c, n, now));
        }
        let roll = |no: &mut i64,
                    sends: &mut i64,
                    last: &mut i64,
                    prev_sends: &mut i64,
                    prev_last: &mut i64,
                    len: i64| {
            let current = ms.div_euclid(len);
            if *no < current {
                (*prev_sends, *prev_last) = if *no == current - 1 {
                    (*sends, *last)
                } else {
                    (0, 0)
                };
                (*no, *sends) = (current, 0);
            }
            *sends += n as i64;
            *last = (*last).max(ms);
        };
        roll(
            &mut c.minute_no,
            &mut c.minute_sends,
            &mut c.minute_last,
            &mut c.prev_minute_sends,
            &mut c.prev_minute_last,
            MINUTE_MS,
        );
        roll(
            &mut c.hour_no,
            &mut c.hour_sends,
            &mut c.hour_last,
            &mut c.prev_hour_sends,
            &mut c.prev_hour_last,
            HOUR_MS,
        );
        Ok(())
    }

    fn at(secs: i64) -> DateTime<Utc> {
        // 1,800,000,000 s is 500,000 hours: a minute and an hour start at 0.
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    #[test]
    fn thirty_a_minute_then_a_wait_until_the_newest_ages_out() {
        let mut c = SendCounts::default();
        for i in 0..30 {
            assert!(take(&mut c, 1, at(i)).is_ok());
        }
        // Full: the window's sends must age out (the newest at 29 s).
        assert_eq!(take(&mut c, 1, at(30)), Err(Duration::from_secs(59)));
        // In the next window the previous one's still count until its newest is a
        // minute old.
        assert_eq!(take(&mut c, 1, at(60)), Err(Duration::from_secs(29)));
        assert!(take(&mut c, 1, at(89)).is_ok());
        // Two at once need room for two.
        for _ in 0..28 {
            assert!(take(&mut c, 1, at(89)).is_ok());
        }
        assert_eq!(take(&mut c, 2, at(89)), Err(Duration::from_secs(60)));
        assert!(take(&mut c, 1, at(89)).is_ok());
        // More than a minute's worth never fits.
        assert_eq!(take(&mut c, 31, at(500)), Err(Duration::from_secs(60)));
    }

    #[test]
    fn no_sliding_minute_ever_holds_more_than_thirty() {
        // Someone sends as fast as allowed, one try every 700 ms for an hour.
        let mut c = SendCounts::default();
        let mut sent: Vec<i64> = Vec::new();
        let mut ms = 0;
        while ms < 3_600_000 {
            let now = at(0) + chrono::Duration::milliseconds(ms);
            if take(&mut c, 1, now).is_ok() {
                sent.push(ms);
            }
            ms += 700;
        }
        for (i, t) in sent.iter().enumerate() {
            let in_minute = sent[i..].iter().take_while(|u| **u < t + 60_000).count();
            assert!(
                in_minute <= PER_MINUTE,
                "{in_minute} in the minute from {t} ms"
            );
        }
        // Held back a little more than needed, never starved: 15 a minute at worst.
        assert!(sent.len() >= 15 * 60, "{}", sent.len());
    }

    #[test]
    fn a_thousand_an_hour() {
        let mut c = SendCounts::default();
        // 30 a minute for 40 minutes = 1,200 > 1,000: the hour's limit bites first.
        let mut sent = 0;
        let mut refused_hourly = None;
        for minute in 0..40 {
            for _ in 0..30 {
                match take(&mut c, 1, at(minute * 60)) {
                    Ok(()) => sent += 1,
                    Err(wait) if wait > Duration::from_secs(60) => {
                        refused_hourly.get_or_insert((sent, wait));
                    }
                    Err(_) => {}
                }
            }
        }
        assert_eq!(sent, 1_000);
        let (at_count, wait) = refused_hourly.expect("the hour's limit applied");
        assert_eq!(at_count, 1_000);
        // The hour's sends must age out: an hour after the newest (at minute 33).
        assert_eq!(wait, Duration::from_secs(60 * 60));
    }

    #[test]
    fn a_clock_a_little_behind_the_rows_counts_in_its_window() {
        let mut c = SendCounts::default();
        for _ in 0..30 {
            assert!(take(&mut c, 1, at(60)).is_ok());
        }
        // Another instance half a second behind, in the window before: still full.
        let behind = at(60) - chrono::Duration::milliseconds(500);
        assert!(take(&mut c, 1, behind).is_err());
    }
}
