//! The service levels promised per priority (DOMAIN.md's tables), as configuration.

use std::fmt;

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::channel::Channel;
use super::priority::Priority;

/// A span written the way people write it in config: `10m`, `2h`, `1h30m`, `48h`, `3d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    /// Parses `[Nd][Nh][Nm][Ns]` (at least one part, all non-negative).
    pub fn parse(text: &str) -> Result<Span, String> {
        let bad = || format!("`{text}` is not a duration; write e.g. 10m, 2h, 1h30m or 3d");
        let mut total = Duration::zero();
        let mut digits = String::new();
        let mut parts = 0;
        for c in text.trim().chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| bad())?;
            digits.clear();
            let part = match c {
                'd' => Duration::try_days(n),
                'h' => Duration::try_hours(n),
                'm' => Duration::try_minutes(n),
                's' => Duration::try_seconds(n),
                _ => None,
            }
            .ok_or_else(bad)?;
            total = total.checked_add(&part).ok_or_else(bad)?;
            parts += 1;
        }
        if parts == 0 || !digits.is_empty() {
            return Err(bad());
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.num_seconds();
        if secs == 0 {
            return f.write_str("0m");
        }
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Targets for one priority; `None` means "no clock".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Offered → accepted.
    pub response: Option<Span>,
    /// Accepted → arrived on site, for jobs that need a visit.
    pub on_site: Option<Span>,
    /// Reported → resolved.
    pub resolution: Option<Span>,
    /// A progress note is due this often while the ticket is open.
    pub progress_every: Option<Span>,
}

/// The whole service-level policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaPolicy {
    /// Level 1 / critical.
    pub p1: Targets,
    /// Level 2 / urgent.
    pub p2: Targets,
    /// Level 3 / normal.
    pub p3: Targets,
    /// Requests: scheduled.
    pub p4: Targets,
    /// A device not repaired within this (wall-clock time from the report, never paused)
    /// is replaced (the 48-hour rule).
    pub replacement_after: Span,
    /// A reporter who has not confirmed a fix this long after it (wall-clock time) is
    /// reminded, once at each span (shorter than `confirm_within`).
    pub confirm_reminders: Vec<Span>,
    /// A reporter who does not confirm a fix within this (wall-clock time): the ticket goes
    /// to the managers' follow-up list, or is auto-closed (see `unconfirmed`).
    pub confirm_within: Span,
    /// What happens at `confirm_within`.
    pub unconfirmed: Unconfirmed,
    /// A phone report the desk recorded is answered (accepted) within this, whatever its
    /// priority allows (plan 002: phone answered within 30 minutes).
    pub phone_answer: Option<Span>,
    /// The same for an email (plan 002: email answered within 2 hours).
    pub email_answer: Option<Span>,
}

/// What the desk does with a fix nobody confirmed in time (`[sla] unconfirmed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unconfirmed {
    /// The ticket stays resolved and goes on the managers' follow-up list (someone calls
    /// the reporter): plan 002 closes a ticket only after the user confirms.
    #[default]
    FollowUp,
    /// The ticket is closed, recorded as auto-closed (never as confirmed).
    AutoClose,
}

fn span(text: &str) -> Option<Span> {
    Span::parse(text).ok()
}

impl Default for SlaPolicy {
    /// DOMAIN.md: response 10 min / 30 min / 2 h; on site within 4 h of dispatch;
    /// resolution 4 h / 8 h / 12 h; progress every 30 min for levels 1 and 2.
    fn default() -> Self {
        Self {
            p1: Targets {
                response: span("10m"),
                on_site: span("4h"),
                resolution: span("4h"),
                progress_every: span("30m"),
            },
            p2: Targets {
                response: span("30m"),
                on_site: span("4h"),
                resolution: span("8h"),
                progress_every: span("30m"),
            },
            p3: Targets {
                response: span("2h"),
                on_site: span("4h"),
                resolution: span("12h"),
                progress_every: None,
            },
            p4: Targets::default(),
            replacement_after: Span(Duration::hours(48)),
            confirm_reminders: vec![Span(Duration::days(1)), Span(Duration::days(2))],
            confirm_within: Span(Duration::days(3)),
            unconfirmed: Unconfirmed::FollowUp,
            phone_answer: span("30m"),
            email_answer: span("2h"),
        }
    }
}

impl SlaPolicy {
    /// Checks the values serde cannot: the confirmation reminders come in order, each
    /// before the end of the time to confirm.
    pub fn check(&self) -> Result<(), String> {
        let r = &self.confirm_reminders;
        if r.windows(2).any(|w| w[0] >= w[1]) {
            return Err("confirm_reminders must be in increasing order".into());
        }
        if r.iter()
            .any(|s| s.0 <= Duration::zero() || *s >= self.confirm_within)
        {
            return Err(format!(
                "each of confirm_reminders must be longer than zero and shorter than confirm_within ({})",
                self.confirm_within
            ));
        }
        Ok(())
    }

    /// The response target of a report of `priority` that came by `channel`: the
    /// priority's, or the channel's answer target when that is sooner.
    pub fn response(&self, priority: Priority, channel: Channel) -> Option<Span> {
        let by_channel = match channel {
            Channel::Phone => self.phone_answer,
            Channel::Email => self.email_answer,
            _ => None,
        };
        match (self.targets(priority).response, by_channel) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The targets for a priority.
    pub fn targets(&self, p: Priority) -> &Targets {
        match p {
            Priority::P1 => &self.p1,
            Priority::P2 => &self.p2,
            Priority::P3 => &self.p3,
            Priority::P4 => &self.p4,
        }
    }
}

/// Who an escalation step brings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationTarget {
    /// The group's second line (tier 2).
    Experts,
    /// The managers (third line).
    Managers,
}

/// One step of an escalation chain: `after` the breach, bring in `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// Who.
    pub to: EscalationTarget,
    /// How long after the breach (in the calendar's working time).
    pub after: Span,
}

/// What happens when a priority's clock runs out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Chain {
    /// Steps, in order of `after`.
    pub steps: Vec<EscalationStep>,
    /// After the last step, remind the managers this often until the clock stops.
    pub repeat_every: Option<Span>,
}

/// Warnings and escalation chains per priority (`[escalation]` in the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationPolicy {
    /// Warn the engineer when this fraction of a clock's time is used (0 < f < 1).
    pub warn_at: f64,
    /// Level 1.
    pub p1: Chain,
    /// Level 2.
    pub p2: Chain,
    /// Level 3.
    pub p3: Chain,
    /// Requests.
    pub p4: Chain,
}

impl Default for EscalationPolicy {
    /// Breach: experts at once, managers later (30 min for P1, reminded every 30 min).
    fn default() -> Self {
        let chain = |managers: &str, repeat: Option<&str>| Chain {
            steps: vec![
                EscalationStep {
                    to: EscalationTarget::Experts,
                    after: Span(Duration::zero()),
                },
                EscalationStep {
                    to: EscalationTarget::Managers,
                    after: Span::parse(managers).unwrap_or(Span(Duration::hours(1))),
                },
            ],
            repeat_every: repeat.and_then(span),
        };
        Self {
            warn_at: 0.75,
            p1: chain("30m", Some("30m")),
            p2: chain("1h", None),
            p3: chain("4h", None),
            p4: chain("1d", None),
        }
    }
}

impl EscalationPolicy {
    /// The chain for a priority.
    pub fn chain(&self, p: Priority) -> &Chain {
        match p {
            Priority::P1 => &self.p1,
            Priority::P2 => &self.p2,
            Priority::P3 => &self.p3,
            Priority::P4 => &self.p4,
        }
    }

    /// Checks the values serde cannot: the fraction, and steps in order.
    pub fn check(&self) -> Result<(), String> {
        if !(self.warn_at > 0.0 && self.warn_at < 1.0) {
            return Err(format!(
                "warn_at = {} must be between 0 and 1",
                self.warn_at
            ));
        }
        for (name, c) in [
            ("p1", &self.p1),
            ("p2", &self.p2),
            ("p3", &self.p3),
            ("p4", &self.p4),
        ] {
            if c.steps.windows(2).any(|w| w[0].after > w[1].after) {
                return Err(format!("{name}.steps must be in order of `after`"));
            }
            if c.repeat_every.is_some_and(|r| r.0 <= Duration::zero()) {
                return Err(format!("{name}.repeat_every must be longer than zero"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_reminders_come_in_order_before_the_time_is_up() {
        let d = |n| Span(Duration::days(n));
        let mut p = SlaPolicy::default();
        assert_eq!(p.confirm_reminders, [d(1), d(2)]);
        assert_eq!(p.unconfirmed, Unconfirmed::FollowUp);
        assert_eq!(p.check(), Ok(()));
        for bad in [
            vec![d(2), d(1)],
            vec![d(1), d(1)],
            vec![d(3)],
            vec![Span(Duration::zero())],
        ] {
            p.confirm_reminders = bad.clone();
            assert!(p.check().is_err(), "{bad:?}");
        }
        p.confirm_reminders = Vec::new();
        assert_eq!(p.check(), Ok(()));
    }

    #[test]
    fn spans_parse_and_print() {
        for (text, mins) in [
            ("10m", 10),
            ("2h", 120),
            ("1h30m", 90),
            ("3d", 4320),
            ("90s", 1),
        ] {
            let s = Span::parse(text).unwrap();
            if text != "90s" {
                assert_eq!(s.0, Duration::minutes(mins), "{text}");
                assert_eq!(s.to_string(), text);
            } else {
                assert_eq!(s.0, Duration::seconds(90));
                assert_eq!(s.to_string(), "1m30s");
            }
        }
        for bad in ["", "10", "m", "10x", "-5m", "1h30"] {
            assert!(Span::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn default_policy_is_the_contract() {
        let p = SlaPolicy::default();
        let mins = |s: Option<Span>| s.map(|s| s.0.num_minutes());
        assert_eq!(mins(p.targets(Priority::P1).response), Some(10));
        assert_eq!(mins(p.targets(Priority::P2).response), Some(30));
        assert_eq!(mins(p.targets(Priority::P3).response), Some(120));
        assert_eq!(mins(p.targets(Priority::P1).resolution), Some(240));
        assert_eq!(mins(p.targets(Priority::P2).resolution), Some(480));
        assert_eq!(mins(p.targets(Priority::P3).resolution), Some(720));
        assert_eq!(mins(p.targets(Priority::P3).on_site), Some(240));
        assert_eq!(mins(p.targets(Priority::P1).progress_every), Some(30));
        assert_eq!(p.targets(Priority::P3).progress_every, None);
        assert_eq!(*p.targets(Priority::P4), Targets::default());
        assert_eq!(p.replacement_after.0, Duration::hours(48));
    }

    #[test]
    fn policy_reads_from_toml() {
        let p: SlaPolicy =
            toml::from_str("[p3]\nresponse = \"1h\"\nresolution = \"1d\"\n").unwrap();
        assert_eq!(p.p3.response, span("1h"));
        assert_eq!(p.p3.on_site, None);
        assert_eq!(p.p1, SlaPolicy::default().p1);
        let err = toml::from_str::<SlaPolicy>("[p3]\nresponse = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
    }
}
