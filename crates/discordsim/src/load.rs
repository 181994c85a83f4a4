//! Load mode: virtual reporters walk a script in their DMs with the bot in a closed loop.
//!
//! The scripts are tgsim's ([`Script`]: text lines are sent as DMs, `[label]` clicks the
//! button on the bot's newest message showing it), and so is the virtual-user loop
//! ([`tgsim::load::drive`]): this module only takes a step in a DM. Each virtual user sends the next line
//! only once the bot has reacted to the previous one (a message or an edit in their DM;
//! a deferred reply's empty placeholder does not count), and the time between the two is
//! the step's reply latency. A step without a reaction within the step timeout, or a
//! button the bot is not showing, counts as a timeout or an error, and that user starts
//! the script again. Photos and contacts are Telegram's: such lines count as errors.

use std::time::Instant;

use tgsim::load::{Counters, StandIn, StepOutcome, drive, wait_change};
pub use tgsim::load::{Latency, LoadOptions, LoadSummary, Script, ScriptLine, Step};

use super::SimHandle;

/// Adds the virtual users (locale zh-CN) and runs the load; the summary.
pub async fn run(sim: &SimHandle, script: &Script, opts: &LoadOptions) -> LoadSummary {
    let first = u64::try_from(opts.first_user_id).unwrap_or(1).max(1);
    let users: Vec<u64> = (0..u64::from(opts.users)).map(|i| first + i).collect();
    for u in &users {
        sim.add_user(*u, &format!("Reporter {u}"), "zh-CN");
    }
    drive(&Discord(sim.clone()), users, script, opts).await
}

/// discordsim's side of tgsim's load mode: each user writes in its DM with the bot.
#[derive(Clone)]
struct Discord(SimHandle);

impl StandIn for Discord {
    type User = u64;

    async fn take_step(
        &self,
        user: u64,
        step: &Step,
        deadline: Instant,
        stop_at: Option<Instant>,
    ) -> StepOutcome {
        let sim = &self.0;
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

    fn counters(&self) -> Counters {
        let stats = self.0.stats();
        Counters {
            too_many_requests: stats.too_many_requests,
            bot_requests: stats.requests.values().sum(),
        }
    }
}
