//! Load mode: virtual reporters walk a script in their DMs with the bot in a closed loop.
//!
//! The scripts are tgsim's ([`Script`]: text lines are sent as DMs, `[label]` clicks the
//! button on the bot's newest message showing it). Each virtual user sends the next line
//! only once the bot has reacted to the previous one (a message or an edit in their DM;
//! a deferred reply's empty placeholder does not count), and the time between the two is
//! the step's reply latency. A step without a reaction within the step timeout, or a
//! button the bot is not showing, counts as a timeout or an error, and that user starts
//! the script again. Photos and contacts are Telegram's: such lines count as errors.

use std::time::{Duration, Instant};

pub use tgsim::load::{Latency, LoadOptions, LoadSummary, Script, ScriptLine, Step};
use tgsim::load::{UserResult, gather, summarize};

use super::SimHandle;

/// Adds the virtual users (locale zh-CN) and runs the load; the summary.
pub async fn run(sim: &SimHandle, script: &Script, opts: &LoadOptions) -> LoadSummary {
    let first = u64::try_from(opts.first_user_id).unwrap_or(1).max(1);
    let users: Vec<u64> = (0..u64::from(opts.users)).map(|i| first + i).collect();
    for u in &users {
        sim.add_user(*u, &format!("Reporter {u}"), "zh-CN");
    }
    let before = sim.stats();
    let started = Instant::now();
    let stop_at = opts.duration.map(|d| started + d);
    let repetitions = match (opts.duration, opts.repetitions) {
        (None, None) => Some(1),
        (_, r) => r,
    };
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| {
            let (sim, script, timeout) = (sim.clone(), script.clone(), opts.step_timeout);
            tokio::spawn(async move {
                virtual_user(sim, script, user, timeout, stop_at, repetitions).await
            })
        })
        .collect();
    let all = gather(tasks).await;
    let elapsed = started.elapsed().as_secs_f64();
    let after = sim.stats();
    let requests = |s: &super::Stats| s.requests.values().sum::<u64>();
    summarize(
        opts.users,
        elapsed,
        script,
        all,
        after
            .too_many_requests
            .saturating_sub(before.too_many_requests),
        requests(&after).saturating_sub(requests(&before)),
    )
}

enum StepOutcome {
    Answered(Duration),
    Timeout,
    Error(String),
    Stopped,
}

async fn virtual_user(
    sim: SimHandle,
    script: Script,
    user: u64,
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
            match take_step(&sim, user, step, step_timeout, stop_at).await {
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

async fn take_step(
    sim: &SimHandle,
    user: u64,
    step: &Step,
    step_timeout: Duration,
    stop_at: Option<Instant>,
) -> StepOutcome {
    let step_deadline = Instant::now() + step_timeout;
    let deadline = stop_at.map_or(step_deadline, |s| s.min(step_deadline));
    let dm = match sim.dm_channel(user) {
        Ok(dm) => dm,
        Err(e) => return StepOutcome::Error(e.to_string()),
    };
    let mut rx = sim.watch(dm);
    let mut seen = *rx.borrow_and_update();
    let mut sent_at = Instant::now();
    let injected = match step {
        Step::Text(text) => sim.send_dm(user, text).map(drop),
        Step::Tap(label) => loop {
            // The button may come with a reply still on its way: wait for it.
            if let Some(message) = sim.newest_button(user, label) {
                seen = *rx.borrow_and_update();
                sent_at = Instant::now();
                break sim.click(user, message, label).map(drop);
            }
            if let Some(outcome) = wait_change(&mut rx, deadline, stop_at).await {
                return match outcome {
                    StepOutcome::Timeout => StepOutcome::Error(format!(
                        "user {user}: the bot shows no button [{label}]"
                    )),
                    other => other,
                };
            }
        },
        Step::Photo(_) | Step::Contact(_) => {
            return StepOutcome::Error(format!(
                "user {user}: {step:?} is not supported by the Discord load mode"
            ));
        }
    };
    if let Err(e) = injected {
        return StepOutcome::Error(format!("user {user}: {e}"));
    }
    loop {
        if *rx.borrow_and_update() != seen {
            return StepOutcome::Answered(sent_at.elapsed());
        }
        if let Some(outcome) = wait_change(&mut rx, deadline, stop_at).await {
            return outcome;
        }
    }
}

/// Waits for the next change in a DM; `None` when there was one, else the outcome.
async fn wait_change(
    rx: &mut tokio::sync::watch::Receiver<u64>,
    deadline: Instant,
    stop_at: Option<Instant>,
) -> Option<StepOutcome> {
    match tokio::time::timeout_at(deadline.into(), rx.changed()).await {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(StepOutcome::Error("the stand-in stopped".into())),
        Err(_) if stop_at.is_some_and(|s| Instant::now() >= s) => Some(StepOutcome::Stopped),
        Err(_) => Some(StepOutcome::Timeout),
    }
}
