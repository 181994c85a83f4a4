//! A ticket's SLA clocks as pure rules: when each starts, pauses, resumes and stops, and
//! what falls due on it (a warning, the breach, each escalation step, reminders) on a
//! working-time calendar. The desk stores the clocks with the ticket; the scheduler asks
//! [`SlaClock::fire`] what is due.
//!
//! A clock measures *used working time* against a budget fixed when it started (a later
//! policy change does not move it). Every event is a threshold on used time, so pausing
//! simply stops time from being used and resuming never causes an instant false breach.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::calendar::Calendar;
use super::intake::TicketKind;
use super::sla::{Chain, EscalationTarget, SlaPolicy};
use super::ticket::Ticket;

text_enum!(
    /// The contract's clocks.
    ClockKind {
        /// Offered → accepted.
        Response = "response",
        /// Accepted → arrived on site (cancelled when the job is done remotely).
        OnSite = "on_site",
        /// Reported → resolved (resumes on reopen).
        Resolution = "resolution",
        /// A progress note is due every period while the job is worked (P1/P2).
        Progress = "progress",
        /// The 48-hour rule: a device not repaired by then is replaced (wall-clock time
        /// from the report, never paused).
        Replacement = "replacement",
        /// Not an SLA clock: the reporter's time to confirm a fix (wall-clock time), with
        /// reminders on the way, before the ticket goes to the managers' follow-up list (or
        /// is auto-closed).
        Confirmation = "confirmation",
    }
);

text_enum!(
    /// Where a clock stands.
    ClockStatus {
        /// Ticking, within its budget.
        Running = "running",
        /// Not ticking while the ticket is pending; resumes where it stopped.
        Paused = "paused",
        /// Stopped within its budget.
        Met = "met",
        /// Over its budget (ticking, paused or stopped).
        Breached = "breached",
        /// No longer applies (ticket cancelled, job done remotely).
        Cancelled = "cancelled",
    }
);

/// One clock of one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaClock {
    /// Which clock.
    pub kind: ClockKind,
    /// Where it stands.
    pub status: ClockStatus,
    /// Working time allowed, fixed when the clock started (shown in seconds).
    #[serde(serialize_with = "seconds")]
    pub budget: Duration,
    /// Working time used before `since` (for progress: in the current period).
    #[serde(serialize_with = "seconds")]
    pub used: Duration,
    /// Ticking since (None while paused or stopped).
    pub since: Option<DateTime<Utc>>,
    /// The deadline as computed when the clock last started or resumed.
    pub due_at: Option<DateTime<Utc>>,
    /// The warning was sent.
    pub warned: bool,
    /// Breaches recorded (progress: missed periods); each is counted once.
    pub breaches: u32,
    /// Escalation steps and reminders fired since the breach.
    pub steps: u32,
    /// Still measuring (running, paused, or breached and not yet stopped).
    pub open: bool,
    /// When the scheduler must next look at this clock (None: nothing can fall due).
    pub next_at: Option<DateTime<Utc>>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(d.num_seconds())
}

/// Something that fell due on a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// A share of the budget is used: warn whoever holds the job.
    Warning,
    /// The budget is used up.
    Breach,
    /// An escalation step of the priority's chain (its index and target).
    Step(usize, EscalationTarget),
    /// A repeated reminder to the managers after the chain's last step.
    Reminder,
    /// A progress period passed without a progress note.
    ProgressMissed,
    /// The reporter has not confirmed the fix yet: remind them (confirmation timer only).
    ConfirmReminder,
}

/// The escalation rules a clock is measured with.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The SLA calendar.
    pub calendar: &'a Calendar,
    /// Wall-clock time in the same zone (for the confirmation timer).
    pub wall: &'a Calendar,
    /// Fraction of the budget at which to warn.
    pub warn_at: f64,
    /// The ticket's priority's chain.
    pub chain: &'a Chain,
    /// When to remind a reporter who has not confirmed a fix (confirmation timer only).
    pub confirm_reminders: &'a [super::sla::Span],
}

impl Rules<'_> {
    /// The rules a kind of clock runs on: the confirmation timer and the replacement rule
    /// count wall-clock time (plan 003: a replacement device if a repair takes over 48
    /// hours — hours of the user's, not of the desk's working week).
    fn for_kind(self, kind: ClockKind) -> Self {
        match kind {
            ClockKind::Confirmation | ClockKind::Replacement => Rules {
                calendar: self.wall,
                ..self
            },
            _ => self,
        }
    }
}

impl SlaClock {
    /// A clock started at `now` with `budget`.
    pub fn start(kind: ClockKind, budget: Duration, now: DateTime<Utc>, rules: Rules) -> SlaClock {
        let rules = rules.for_kind(kind);
        let mut c = SlaClock {
            kind,
            status: ClockStatus::Running,
            budget,
            used: Duration::zero(),
            since: Some(now),
            due_at: Some(rules.calendar.add(now, budget)),
            warned: false,
            breaches: 0,
            steps: 0,
            open: true,
            next_at: None,
        };
        c.schedule(rules);
        c
    }

    /// Working time used by `now`.
    pub fn used_at(&self, now: DateTime<Utc>, calendar: &Calendar) -> Duration {
        match self.since {
            Some(s) => self.used + calendar.between(s, now),
            None => self.used,
        }
    }

    /// The next threshold on used time and what it brings, if any.
    fn next_threshold(&self, rules: Rules) -> Option<(Duration, Due)> {
        let budget = self.budget;
        match self.kind {
            ClockKind::Progress => Some((budget, Due::ProgressMissed)),
            ClockKind::Confirmation if self.breaches == 0 => {
                // `steps` counts the reminders given; one at or past the end is never due.
                match rules.confirm_reminders.get(self.steps as usize) {
                    Some(r) if r.0 < budget => Some((r.0, Due::ConfirmReminder)),
                    _ => Some((budget, Due::Breach)),
                }
            }
            ClockKind::Replacement | ClockKind::Confirmation => {
                (self.breaches == 0).then_some((budget, Due::Breach))
            }
            _ if self.breaches == 0 => {
                if self.warned {
                    return Some((budget, Due::Breach));
                }
                let secs = (budget.num_seconds() as f64 * rules.warn_at).floor() as i64;
                Some((Duration::seconds(secs), Due::Warning))
            }
            _ => {
                let steps = &rules.chain.steps;
                let fired = self.steps as usize;
                if let Some(step) = steps.get(fired) {
                    return Some((budget + step.after.0, Due::Step(fired, step.to)));
                }
                let every = rules.chain.repeat_every?.0;
                let last = steps.last().map_or(Duration::zero(), |s| s.after.0);
                let n = i32::try_from(fired - steps.len() + 1).unwrap_or(i32::MAX);
                Some((budget + last + every * n, Due::Reminder))
            }
        }
    }

    /// Recomputes `next_at` from the next threshold (None when not ticking).
    fn schedule(&mut self, rules: Rules) {
        self.next_at = match (self.since, self.next_threshold(rules)) {
            (Some(since), Some((at, _))) => {
                let left = at - self.used;
                Some(if left <= Duration::zero() {
                    since
                } else {
                    rules.calendar.add(since, left)
                })
            }
            _ => None,
        };
    }

    /// What is due at `now`, recorded as fired (each threshold fires once). Call again
    /// until it returns `None`: several thresholds may have passed. A warning whose
    /// breach has also passed is skipped, and missed reminders collapse into one.
    pub fn fire(&mut self, now: DateTime<Utc>, rules: Rules) -> Option<Due> {
        let rules = rules.for_kind(self.kind);
        let since = self.since?;
        let used_now = self.used_at(now, rules.calendar);
        let (at, due) = self.next_threshold(rules)?;
        if used_now < at {
            self.schedule(rules);
            return None;
        }
        let due = match due {
            Due::Warning if used_now >= self.budget => {
                self.warned = true;
                return self.fire(now, rules);
            }
            Due::Warning => {
                self.warned = true;
                Due::Warning
            }
            Due::ConfirmReminder => {
                // Reminders missed while no scheduler ran collapse into one; none comes
                // once the time to confirm is up.
                let passed = rules
                    .confirm_reminders
                    .iter()
                    .take_while(|r| r.0 <= used_now)
                    .count();
                self.steps = u32::try_from(passed).unwrap_or(u32::MAX);
                if used_now >= self.budget {
                    return self.fire(now, rules);
                }
                Due::ConfirmReminder
            }
            Due::Breach if self.kind == ClockKind::Confirmation => {
                // Time is up: the desk auto-closes the ticket; the timer is done.
                self.breaches = 1;
                self.open = false;
                self.since = None;
                self.status = ClockStatus::Met;
                self.next_at = None;
                return Some(Due::Breach);
            }
            Due::Breach => {
                self.warned = true;
                self.breaches += 1;
                self.status = ClockStatus::Breached;
                Due::Breach
            }
            Due::Step(..) => {
                self.steps += 1;
                due
            }
            Due::Reminder => {
                let every = rules.chain.repeat_every.map_or(Duration::zero(), |s| s.0);
                let missed = if every > Duration::zero() {
                    u32::try_from((used_now - at).num_seconds() / every.num_seconds()).unwrap_or(0)
                } else {
                    0
                };
                self.steps += 1 + missed;
                Due::Reminder
            }
            Due::ProgressMissed => {
                // The next period starts when this one ended, not when we noticed.
                let ended = rules.calendar.add(since, at - self.used);
                self.breaches += 1;
                self.status = ClockStatus::Breached;
                self.used = Duration::zero();
                self.since = Some(ended);
                self.due_at = Some(rules.calendar.add(ended, self.budget));
                Due::ProgressMissed
            }
        };
        self.schedule(rules);
        Some(due)
    }

    /// Stops ticking while the ticket is pending.
    pub fn pause(&mut self, now: DateTime<Utc>, calendar: &Calendar) {
        let Some(since) = self.since.take() else {
            return;
        };
        self.used += calendar.between(since, now);
        self.next_at = None;
        if self.status == ClockStatus::Running {
            self.status = ClockStatus::Paused;
        }
    }

    /// Ticks again from `now` (after pending, or after a reopen for a stopped clock), with
    /// a new deadline for what is left of the budget.
    pub fn resume(&mut self, now: DateTime<Utc>, rules: Rules) {
        let rules = rules.for_kind(self.kind);
        if self.since.is_some() || !self.open {
            return;
        }
        self.since = Some(now);
        if self.breaches == 0 {
            self.status = ClockStatus::Running;
            self.due_at = Some(rules.calendar.add(now, self.budget - self.used));
        } else {
            self.status = ClockStatus::Breached;
        }
        self.schedule(rules);
    }

    /// Stops for good at `now` (the goal was reached): met when the used time is within
    /// the budget, to the second. Returns `true` when this stop is itself the breach (it
    /// fell due before the scheduler noticed), so the caller records it once.
    pub fn stop(&mut self, now: DateTime<Utc>, calendar: &Calendar) -> bool {
        if !self.open {
            return false;
        }
        self.open = false;
        if let Some(since) = self.since.take() {
            self.used += calendar.between(since, now);
        }
        self.next_at = None;
        let over = self.used > self.budget;
        if self.kind == ClockKind::Progress {
            // Judged on the period in progress; earlier missed periods stay counted.
            if over {
                self.breaches += 1;
            }
            self.status = if over {
                ClockStatus::Breached
            } else {
                ClockStatus::Met
            };
            return over;
        }
        let breach_now = self.breaches == 0 && over;
        if breach_now {
            self.breaches = 1;
        }
        self.status = if self.breaches == 0 {
            ClockStatus::Met
        } else {
            ClockStatus::Breached
        };
        breach_now
    }

    /// Measures again from `now` after a stop (a reopened ticket's resolution clock).
    pub fn reopen(&mut self, now: DateTime<Utc>, rules: Rules) {
        if self.open || self.status == ClockStatus::Cancelled {
            return;
        }
        self.open = true;
        self.resume(now, rules);
    }

    /// Counts the time from `origin` to `now` as used (a ticking clock that must measure
    /// from an earlier instant than its restart), with the deadline `origin` + budget.
    pub fn count_from(&mut self, origin: DateTime<Utc>, now: DateTime<Utc>, rules: Rules) {
        let rules = rules.for_kind(self.kind);
        if self.since.is_none() || !self.open {
            return;
        }
        self.used = rules.calendar.between(origin, now);
        self.since = Some(now);
        if self.breaches == 0 {
            self.due_at = Some(rules.calendar.add(origin, self.budget));
        }
        self.schedule(rules);
    }

    /// A progress note: a new period starts now.
    pub fn restart(&mut self, now: DateTime<Utc>, rules: Rules) {
        let rules = rules.for_kind(self.kind);
        self.open = true;
        self.used = Duration::zero();
        self.since = Some(now);
        self.status = ClockStatus::Running;
        self.due_at = Some(rules.calendar.add(now, self.budget));
        self.schedule(rules);
    }

    /// No longer applies.
    pub fn cancel(&mut self, now: DateTime<Utc>, calendar: &Calendar) {
        if !self.open {
            return;
        }
        self.open = false;
        if let Some(since) = self.since.take() {
            self.used += calendar.between(since, now);
        }
        self.next_at = None;
        if self.breaches == 0 {
            self.status = ClockStatus::Cancelled;
        }
    }
}

/// A ticket's clocks, and how a change to the ticket moves them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clocks(pub Vec<SlaClock>);

impl Clocks {
    /// The clocks a new ticket starts with: response, resolution, and for faults the
    /// replacement rule (progress and on-site start when the job is accepted).
    pub fn for_new(
        ticket: &Ticket,
        policy: &SlaPolicy,
        now: DateTime<Utc>,
        rules: Rules,
    ) -> Clocks {
        let targets = policy.targets(ticket.priority);
        // A call or email the desk recorded later runs from when it came in.
        let from = ticket.intake.received_at.unwrap_or(now).min(now);
        let mut clocks = Vec::new();
        for (kind, span) in [
            (
                ClockKind::Response,
                policy.response(ticket.priority, ticket.intake.channel),
            ),
            (ClockKind::Resolution, targets.resolution),
        ] {
            if let Some(s) = span {
                clocks.push(SlaClock::start(kind, s.0, from, rules));
            }
        }
        if ticket.intake.kind == TicketKind::Fault {
            clocks.push(SlaClock::start(
                ClockKind::Replacement,
                policy.replacement_after.0,
                from,
                rules,
            ));
        }
        Clocks(clocks)
    }

    /// The earliest deadline among the running clocks (open and not paused); None while
    /// none runs.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.0
            .iter()
            .filter(|c| c.open && c.since.is_some())
            .filter_map(|c| c.due_at)
            .min()
    }

    /// One clock.
    pub fn get(&self, kind: ClockKind) -> Option<&SlaClock> {
        self.0.iter().find(|c| c.kind == kind)
    }

    fn get_mut(&mut self, kind: ClockKind) -> Option<&mut SlaClock> {
        self.0.iter_mut().find(|c| c.kind == kind)
    }

    /// Moves the clocks for an action (by its verb) that left the ticket as `after`. Returns
    /// the clocks that changed, and those whose breach this change revealed (stopped past
    /// their deadline before the scheduler saw it).
    pub fn on_change(
        &mut self,
        verb: &str,
        after: &Ticket,
        policy: &SlaPolicy,
        now: DateTime<Utc>,
        rules: Rules,
    ) -> (Vec<SlaClock>, Vec<ClockKind>) {
        use ClockKind::*;
        let old = self.clone();
        // Each clock is measured on its own kind's calendar.
        let cal = |kind: ClockKind| rules.for_kind(kind).calendar;
        let mut breached = Vec::new();
        let mut stop = |clocks: &mut Clocks, kind: ClockKind| {
            if let Some(c) = clocks.get_mut(kind)
                && c.stop(now, cal(kind))
            {
                breached.push(kind);
            }
        };
        let targets = policy.targets(after.priority);
        match verb {
            "accept" => {
                stop(self, Response);
                if let Some(s) = targets.on_site
                    && self.get(OnSite).is_none()
                {
                    self.0.push(SlaClock::start(OnSite, s.0, now, rules));
                }
                match (self.get_mut(Progress), targets.progress_every) {
                    (Some(c), _) => c.restart(now, rules),
                    (None, Some(s)) => self.0.push(SlaClock::start(Progress, s.0, now, rules)),
                    (None, None) => {}
                }
            }
            // Remote work starts with the reporter's consent ("remote_consent" allowed).
            "start" | "remote_consent"
                if after.work_mode == Some(super::ticket::WorkMode::Remote) =>
            {
                if let Some(c) = self.get_mut(OnSite) {
                    c.cancel(now, cal(OnSite));
                }
            }
            "arrive" => stop(self, OnSite),
            "progress" => {
                if let Some(c) = self.get_mut(Progress)
                    && c.open
                {
                    let ticking = c.since.is_some();
                    c.restart(now, rules);
                    if !ticking {
                        // A note while pending: the new period starts on resume.
                        c.pause(now, cal(Progress));
                    }
                }
            }
            "pend" => {
                // The replacement rule is never paused: waiting for the vendor or parts is
                // exactly when the user is owed a device.
                for c in &mut self.0 {
                    if !matches!(c.kind, Confirmation | Replacement) {
                        c.pause(now, cal(c.kind));
                    }
                }
            }
            "resume" => {
                for c in &mut self.0 {
                    c.resume(now, rules);
                }
            }
            "resolve" => {
                for kind in [Resolution, Replacement, Progress] {
                    stop(self, kind);
                }
                if let Some(c) = self.get_mut(OnSite) {
                    c.cancel(now, cal(OnSite));
                }
                let within = policy.confirm_within.0;
                match self.get_mut(Confirmation) {
                    Some(c) => *c = SlaClock::start(Confirmation, within, now, rules),
                    None => self
                        .0
                        .push(SlaClock::start(Confirmation, within, now, rules)),
                }
            }
            "confirm" => {
                if let Some(c) = self.get_mut(Confirmation) {
                    c.cancel(now, rules.wall);
                }
            }
            "reopen" => {
                if let Some(c) = self.get_mut(Confirmation) {
                    c.cancel(now, rules.wall);
                }
                if let Some(c) = self.get_mut(Resolution) {
                    c.reopen(now, rules);
                }
                // The device was never mended: the rule still counts from the report.
                if let Some(c) = self.get_mut(Replacement) {
                    c.reopen(now, rules);
                    c.count_from(after.created_at, now, rules);
                }
                if let Some(c) = self.get_mut(Progress) {
                    c.restart(now, rules);
                }
            }
            "cancel" => {
                for c in &mut self.0 {
                    c.cancel(now, cal(c.kind));
                }
            }
            _ => {}
        }
        let changed = self
            .0
            .iter()
            .filter(|c| !old.0.contains(c))
            .cloned()
            .collect();
        (changed, breached)
    }
}

#[cfg(test)]
mod tests;
