//! Load mode: virtual users walk a script against a bot in a closed loop.
//!
//! Each virtual user has its own private chat. It sends the script's next answer only
//! once the bot has reacted to the previous one (any send or edit in its chat), and
//! records the time between the two as the step's reply latency. A step that gets no
//! reaction within the step timeout, or names a button the bot is not showing, counts
//! as a timeout or error, and that user starts the script again from the top.
//!
//! The loop, its accounting and the summary ([`drive`]) serve any stand-in that can take
//! a step in a user's chat ([`StandIn`]): discordsim's load mode walks the same scripts
//! over Discord DMs.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{PLACEHOLDER_JPEG, SimError, SimHandle};

/// One line of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Plain text, sent as a message.
    Text(String),
    /// `[label]`: tap the button with that label on the newest bot message showing it
    /// (a reply-keyboard button sends its label as text).
    Tap(String),
    /// `<photo>` or `<photo caption>`: send a small photo.
    Photo(Option<String>),
    /// `<contact +8613800000000>`: share one's own contact.
    Contact(String),
}

/// A script could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("cannot read script {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("script line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No steps at all.
    #[error("the script has no steps")]
    Empty,
}

/// A step and whether it belongs to the first walk only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptLine {
    /// What to do.
    pub step: Step,
    /// `@once` lines are taken until a user has completed one walk: questions a bot
    /// asks only the first time (department, phone) are answered once.
    pub once: bool,
}

/// A list of answers, one per line.
///
/// Blank lines and lines starting with `#` are skipped; `[label]` taps a button;
/// `<photo [caption]>` and `<contact PHONE>` send media; a leading `@once ` marks a
/// first-walk-only line; `\` at the start of a line sends the rest literally; anything
/// else is sent as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The lines in order.
    pub steps: Vec<ScriptLine>,
}

impl Script {
    /// Parses script text.
    pub fn parse(text: &str) -> Result<Script, ScriptError> {
        let mut steps = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let syntax = |message: &str| ScriptError::Syntax {
                line: i + 1,
                message: message.to_owned(),
            };
            let (once, line) = match line.strip_prefix("@once ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let step = if let Some(rest) = line.strip_prefix('\\') {
                Step::Text(rest.to_owned())
            } else if let Some(inner) = line.trim().strip_prefix('[') {
                let label = inner
                    .strip_suffix(']')
                    .ok_or_else(|| syntax("a button line must end with ']'"))?;
                if label.is_empty() {
                    return Err(syntax("empty button label"));
                }
                Step::Tap(label.to_owned())
            } else if let Some(inner) = line.trim().strip_prefix('<') {
                let inner = inner
                    .strip_suffix('>')
                    .ok_or_else(|| syntax("a media line must end with '>'"))?;
                let (kind, arg) = inner.split_once(' ').unwrap_or((inner, ""));
                let arg = arg.trim();
                match kind {
                    "photo" => Step::Photo((!arg.is_empty()).then(|| arg.to_owned())),
                    "contact" if !arg.is_empty() => Step::Contact(arg.to_owned()),
                    _ => return Err(syntax("expected <photo [caption]> or <contact PHONE>")),
                }
            } else {
                Step::Text(line.to_owned())
            };
            steps.push(ScriptLine { step, once });
        }
        if steps.is_empty() {
            return Err(ScriptError::Empty);
        }
        Ok(Script { steps })
    }

    /// Reads and parses a script file.
    pub fn load(path: &Path) -> Result<Script, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }
}

/// How to run a load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Number of virtual users, run concurrently.
    pub users: u32,
    /// User id of the first virtual user; the others follow consecutively.
    pub first_user_id: i64,
    /// Stop after this long (steps in flight are abandoned uncounted).
    pub duration: Option<Duration>,
    /// Stop each user after this many walks of the script.
    pub repetitions: Option<u32>,
    /// How long to wait for the bot's reaction to one step.
    pub step_timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            users: 10,
            first_user_id: 1_000_000,
            duration: None,
            repetitions: Some(1),
            step_timeout: Duration::from_secs(10),
        }
    }
}

/// Reply latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Worst.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// What a load run measured (printed as JSON by `tgsim load`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadSummary {
    /// Virtual users.
    pub users: u32,
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// Steps answered by the bot.
    pub steps: u64,
    /// Steps answered per second.
    pub steps_per_sec: f64,
    /// Complete walks of the script.
    pub repetitions: u64,
    /// Reply latency over answered steps.
    pub latency_ms: Latency,
    /// Steps the bot did not react to within the step timeout.
    pub timeouts: u64,
    /// Steps that could not be taken (button not shown, injection refused).
    pub errors: u64,
    /// The first error or timeout, to start debugging from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Reply latency of each script line (in script order), to tell which step is slow.
    pub by_step: Vec<StepLatency>,
    /// 429 answers the bot received during the run.
    pub too_many_requests: u64,
    /// Bot API requests the bot made during the run.
    pub bot_requests: u64,
}

/// The reply latency of one script line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepLatency {
    /// The line as written in the script.
    pub step: String,
    /// Answered steps.
    pub count: u64,
    /// Median, milliseconds.
    pub p50: f64,
    /// 99th percentile, milliseconds.
    pub p99: f64,
}

impl std::fmt::Display for StepLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: p50 {:.1} ms, p99 {:.1} ms ({} answered)",
            self.step, self.p50, self.p99, self.count
        )
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Text(text) => f.write_str(text),
            Step::Tap(label) => write!(f, "[{label}]"),
            Step::Photo(None) => f.write_str("<photo>"),
            Step::Photo(Some(caption)) => write!(f, "<photo {caption}>"),
            Step::Contact(phone) => write!(f, "<contact {phone}>"),
        }
    }
}

impl LoadSummary {
    /// The `n` script lines with the worst p99 (those answered at least once): where the
    /// tail comes from.
    pub fn slowest_steps(&self, n: usize) -> Vec<&StepLatency> {
        let mut steps: Vec<&StepLatency> = self.by_step.iter().filter(|l| l.count > 0).collect();
        steps.sort_by(|a, b| b.p99.total_cmp(&a.p99));
        steps.truncate(n);
        steps
    }
}

/// What one virtual user saw (and, summed, what all of them saw).
#[derive(Debug, Default)]
struct UserResult {
    /// Reply latencies by script line.
    latencies_us: Vec<Vec<u64>>,
    repetitions: u64,
    timeouts: u64,
    errors: u64,
    first_error: Option<String>,
}

impl UserResult {
    /// Records an answered step of script line `line`.
    fn answered(&mut self, line: usize, took: Duration) {
        if self.latencies_us.len() <= line {
            self.latencies_us.resize_with(line + 1, Vec::new);
        }
        self.latencies_us[line].push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds what another user saw.
    fn add(&mut self, other: UserResult) {
        if self.latencies_us.len() < other.latencies_us.len() {
            self.latencies_us
                .resize_with(other.latencies_us.len(), Vec::new);
        }
        for (line, us) in self.latencies_us.iter_mut().zip(other.latencies_us) {
            line.extend(us);
        }
        self.repetitions += other.repetitions;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Waits for every virtual user and sums up what they saw.
async fn gather(tasks: Vec<tokio::task::JoinHandle<UserResult>>) -> UserResult {
    let mut all = UserResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => all.add(r),
            Err(e) => {
                all.errors += 1;
                all.first_error
                    .get_or_insert_with(|| format!("virtual user task failed: {e}"));
            }
        }
    }
    all
}

/// The summary of a run of `users` walking `script` that took `elapsed` seconds;
/// `too_many_requests` and `bot_requests` are the stand-in's counters' growth over the run.
fn summarize(
    users: u32,
    elapsed: f64,
    script: &Script,
    all: UserResult,
    too_many_requests: u64,
    bot_requests: u64,
) -> LoadSummary {
    let by_step = script
        .steps
        .iter()
        .zip(
            all.latencies_us
                .iter()
                .chain(std::iter::repeat(&Vec::new())),
        )
        .map(|(line, us)| {
            let l = latency(us.clone());
            StepLatency {
                step: line.step.to_string(),
                count: us.len() as u64,
                p50: l.p50,
                p99: l.p99,
            }
        })
        .collect();
    let every: Vec<u64> = all.latencies_us.into_iter().flatten().collect();
    let steps = every.len() as u64;
    LoadSummary {
        users,
        elapsed_s: round3(elapsed),
        steps,
        steps_per_sec: if elapsed > 0.0 {
            round3(steps as f64 / elapsed)
        } else {
            0.0
        },
        repetitions: all.repetitions,
        latency_ms: latency(every),
        by_step,
        timeouts: all.timeouts,
        errors: all.errors,
        first_error: all.first_error,
        too_many_requests,
        bot_requests,
    }
}

/// What came of one step of a virtual user's walk.
#[derive(Debug)]
pub enum StepOutcome {
    /// The bot reacted this long after the step was taken.
    Answered(Duration),
    /// No reaction by the step's deadline.
    Timeout,
    /// The step could not be taken, or the bot did not show what it needed (why).
    Error(String),
    /// The run's time was up first.
    Stopped,
}

/// The stand-in's counters a load summary reports the growth of.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// 429 answers so far.
    pub too_many_requests: u64,
    /// Requests from the bot so far.
    pub bot_requests: u64,
}

/// A stand-in's side of the load mode: how a virtual user takes one step in its chat.
/// [`drive`] does the rest — the walks, their accounting and the summary — the same for
/// every stand-in (tgsim's [`run`], and discordsim's over DMs).
pub trait StandIn: Clone + Send + Sync + 'static {
    /// A virtual user's id.
    type User: Copy + std::fmt::Display + Send + 'static;

    /// Takes `step` as `user` and waits for the bot's reaction in the user's chat until
    /// `deadline` (the step timeout, or `stop_at`, the end of the run, if sooner).
    fn take_step(
        &self,
        user: Self::User,
        step: &Step,
        deadline: Instant,
        stop_at: Option<Instant>,
    ) -> impl Future<Output = StepOutcome> + Send;

    /// The stand-in's counters now.
    fn counters(&self) -> Counters;
}

/// Runs the load: each of `users` walks `script` in a closed loop in a task of its own,
/// taking its steps through `sim`; the summary.
pub async fn drive<S: StandIn>(
    sim: &S,
    users: Vec<S::User>,
    script: &Script,
    opts: &LoadOptions,
) -> LoadSummary {
    let count = u32::try_from(users.len()).unwrap_or(u32::MAX);
    let before = sim.counters();
    let started = Instant::now();
    let stop_at = opts.duration.map(|d| started + d);
    // Without a duration or repetition count, walk the script once.
    let repetitions = match (opts.duration, opts.repetitions) {
        (None, None) => Some(1),
        (_, r) => r,
    };
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| {
            let (sim, script, step_timeout) = (sim.clone(), script.clone(), opts.step_timeout);
            tokio::spawn(async move {
                virtual_user(&sim, &script, user, step_timeout, stop_at, repetitions).await
            })
        })
        .collect();
    let all = gather(tasks).await;
    let elapsed = started.elapsed().as_secs_f64();
    let after = sim.counters();
    summarize(
        count,
        elapsed,
        script,
        all,
        after
            .too_many_requests
            .saturating_sub(before.too_many_requests),
        after.bot_requests.saturating_sub(before.bot_requests),
    )
}

/// One virtual user: walks the script until the run's time is up or it has done its
/// `repetitions`, starting over after a step that timed out or failed.
async fn virtual_user<S: StandIn>(
    sim: &S,
    script: &Script,
    user: S::User,
    step_timeout: Duration,
    stop_at: Option<Instant>,
    repetitions: Option<u32>,
) -> UserResult {
    let mut result = UserResult::default();
    let mut walks = 0u32;
    'walks: loop {
        if repetitions.is_some_and(|r| walks >= r) {
            break;
        }
        walks += 1;
        let mut completed = true;
        let first = result.repetitions == 0;
        for (line, ScriptLine { step, once }) in script.steps.iter().enumerate() {
            if *once && !first {
                continue;
            }
            if stop_at.is_some_and(|t| Instant::now() >= t) {
                break 'walks;
            }
            let step_deadline = Instant::now() + step_timeout;
            let deadline = stop_at.map_or(step_deadline, |s| s.min(step_deadline));
            match sim.take_step(user, step, deadline, stop_at).await {
                StepOutcome::Answered(d) => result.answered(line, d),
                StepOutcome::Stopped => break 'walks,
                StepOutcome::Timeout => {
                    result.timeouts += 1;
                    result.first_error.get_or_insert_with(|| {
                        format!("user {user}: no reply within {step_timeout:?} to {step:?}")
                    });
                    completed = false;
                    break;
                }
                StepOutcome::Error(e) => {
                    result.errors += 1;
                    result.first_error.get_or_insert(e);
                    completed = false;
                    break;
                }
            }
        }
        if completed {
            result.repetitions += 1;
        }
    }
    result
}

/// Waits for the next change in a chat (a [`tokio::sync::watch`] of its latest event);
/// `None` when there was one, else the step's outcome: [`StepOutcome::Stopped`] at the end
/// of the run, [`StepOutcome::Timeout`] at the step's deadline.
pub async fn wait_change(
    rx: &mut tokio::sync::watch::Receiver<u64>,
    deadline: Instant,
    stop_at: Option<Instant>,
) -> Option<StepOutcome> {
    match tokio::time::timeout_at(deadline.into(), rx.changed()).await {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(StepOutcome::Error(SimError::Closed.to_string())),
        Err(_) if stop_at.is_some_and(|s| Instant::now() >= s) => Some(StepOutcome::Stopped),
        Err(_) => Some(StepOutcome::Timeout),
    }
}

/// Runs the load and returns the summary.
pub async fn run(sim: &SimHandle, script: &Script, opts: &LoadOptions) -> LoadSummary {
    let users = (0..opts.users)
        .map(|i| opts.first_user_id + i64::from(i))
        .collect();
    drive(&Telegram(sim.clone()), users, script, opts).await
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(crate) fn latency(mut us: Vec<u64>) -> Latency {
    if us.is_empty() {
        return Latency::default();
    }
    us.sort_unstable();
    let pick = |q: f64| {
        let rank = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len());
        round3(us[rank - 1] as f64 / 1000.0)
    };
    let mean = us.iter().sum::<u64>() as f64 / us.len() as f64 / 1000.0;
    Latency {
        p50: pick(0.50),
        p95: pick(0.95),
        p99: pick(0.99),
        max: round3(*us.last().unwrap_or(&0) as f64 / 1000.0),
        mean: round3(mean),
    }
}

/// tgsim's side of the load mode: each user writes in its private chat (chat id = user id).
#[derive(Clone)]
struct Telegram(SimHandle);

impl StandIn for Telegram {
    type User = i64;

    async fn take_step(
        &self,
        user: i64,
        step: &Step,
        deadline: Instant,
        stop_at: Option<Instant>,
    ) -> StepOutcome {
        let (sim, shared) = (&self.0, self.0.shared());
        // The chat exists after the first injection; before it there is nothing to see.
        // Event sequence numbers only grow, so "answered" = the chat's latest seq moved.
        let mut rx = shared.subscribe(user).ok();
        let seen = rx.as_mut().map_or(0, |rx| *rx.borrow_and_update());
        let sent_at = Instant::now();
        let injected = match step {
            Step::Text(text) => sim.inject_text(user, user, text),
            Step::Photo(caption) => {
                sim.inject_photo(user, user, caption.as_deref(), PLACEHOLDER_JPEG.to_vec())
            }
            Step::Contact(phone) => sim.inject_contact(
                user,
                user,
                super::Contact {
                    phone_number: phone.clone(),
                    first_name: format!("User {user}"),
                    last_name: None,
                    user_id: Some(user),
                    vcard: None,
                },
            ),
            Step::Tap(label) => loop {
                // The button may come with a reply still on its way: wait for it.
                match shared.find_button(user, label) {
                    Some((_, b)) if b.reply_keyboard => {
                        break sim.inject_text(user, user, &b.text);
                    }
                    Some((message_id, _)) => break sim.tap_label(user, user, message_id, label),
                    None => {
                        let Some(rx) = rx.as_mut() else {
                            return StepOutcome::Error(format!(
                                "user {user}: no button [{label}]: the bot has not written yet"
                            ));
                        };
                        match wait_change(rx, deadline, stop_at).await {
                            None => {}
                            Some(StepOutcome::Timeout) => {
                                return StepOutcome::Error(format!(
                                    "user {user}: the bot shows no button [{label}]"
                                ));
                            }
                            Some(other) => return other,
                        }
                    }
                }
            },
        };
        if let Err(e) = injected {
            return StepOutcome::Error(format!("user {user}: {e}"));
        }
        let mut rx = match rx {
            Some(rx) => rx,
            None => match shared.subscribe(user) {
                Ok(rx) => rx,
                Err(e) => return StepOutcome::Error(e.to_string()),
            },
        };
        loop {
            if *rx.borrow_and_update() != seen {
                return StepOutcome::Answered(sent_at.elapsed());
            }
            if let Some(outcome) = wait_change(&mut rx, deadline, stop_at).await {
                return outcome;
            }
        }
    }

    fn counters(&self) -> Counters {
        let stats = self.0.stats();
        Counters {
            too_many_requests: stats.too_many_requests,
            bot_requests: stats.requests.values().sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scripts() {
        let s = Script::parse(
            "# comment\n/report\n\n[打印机]\n\\[literal]\n<photo 卡纸>\n@once <contact +86138>\n",
        )
        .expect("valid");
        let steps: Vec<_> = s.steps.iter().map(|l| (l.step.clone(), l.once)).collect();
        assert_eq!(
            steps,
            vec![
                (Step::Text("/report".into()), false),
                (Step::Tap("打印机".into()), false),
                (Step::Text("[literal]".into()), false),
                (Step::Photo(Some("卡纸".into())), false),
                (Step::Contact("+86138".into()), true),
            ]
        );
        assert!(Script::parse("[unclosed").is_err());
        assert!(Script::parse("# only\n").is_err());
    }

    #[test]
    fn latencies_are_summed_per_script_line() {
        let script = Script::parse("/report\n[卡纸]\n@once 财务部\n").expect("valid");
        let ms = Duration::from_millis;
        let mut a = UserResult::default();
        a.answered(0, ms(10));
        a.answered(1, ms(30));
        a.answered(2, ms(50));
        let mut b = UserResult::default();
        b.answered(0, ms(20));
        b.answered(1, ms(40));
        a.add(b);
        let s = summarize(2, 1.0, &script, a, 0, 0);
        assert_eq!(s.steps, 5);
        let lines: Vec<_> = s
            .by_step
            .iter()
            .map(|l| (l.step.as_str(), l.count, l.p50, l.p99))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("/report", 2, 10.0, 20.0),
                ("[卡纸]", 2, 30.0, 40.0),
                ("财务部", 1, 50.0, 50.0)
            ]
        );
        let slowest: Vec<_> = s.slowest_steps(2).iter().map(|l| l.step.as_str()).collect();
        assert_eq!(slowest, vec!["财务部", "[卡纸]"]);
    }

    #[test]
    fn percentiles() {
        let l = latency((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((l.p50, l.p95, l.p99, l.max), (50.0, 95.0, 99.0, 100.0));
    }
}
