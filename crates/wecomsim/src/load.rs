//! Load mode: virtual members walk a script in the app in a closed loop.
//!
//! The scripts are tgsim's ([`Script`]: text lines are sent as messages, `[label]` taps
//! the button on the newest card showing it since the member's previous step), and so is
//! the virtual-user loop ([`tgsim::load::drive`]): this module only takes a step. Each
//! member sends the next line only once the app has said something back (the passive
//! reply, or a message through `message/send`); the time between the two is the step's
//! reply latency. Photos and contacts are Telegram's: such lines count as errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tgsim::load::{Counters, StandIn, StepOutcome, drive};
pub use tgsim::load::{Latency, LoadOptions, LoadSummary, Script, ScriptLine, Step};

use super::SimHandle;

/// The UserID of virtual member `n`.
pub fn member(n: u32) -> String {
    format!("load{n}")
}

/// Adds the virtual members to the directory and runs the load; the summary.
pub async fn run(sim: &SimHandle, script: &Script, opts: &LoadOptions) -> LoadSummary {
    let first = u32::try_from(opts.first_user_id).unwrap_or(1).max(1);
    let users: Vec<u32> = (0..opts.users).map(|i| first + i).collect();
    for u in &users {
        sim.add_member(&member(*u), &format!("报修人 {u}"), 1, "13800138000");
    }
    let wecom = Wecom {
        sim: sim.clone(),
        marks: Arc::default(),
    };
    drive(&wecom, users, script, opts).await
}

/// wecomsim's side of tgsim's load mode.
#[derive(Clone)]
struct Wecom {
    sim: SimHandle,
    /// Each member's transcript length when their previous step was taken.
    marks: Arc<Mutex<HashMap<u32, usize>>>,
}

impl StandIn for Wecom {
    type User = u32;

    async fn take_step(
        &self,
        user: u32,
        step: &Step,
        deadline: Instant,
        stop_at: Option<Instant>,
    ) -> StepOutcome {
        let sim = &self.sim;
        let id = member(user);
        let left = || deadline.saturating_duration_since(Instant::now());
        let mark = self
            .marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
            .copied()
            .unwrap_or(0);
        let outcome = |found: bool| match found {
            true => None,
            false if stop_at.is_some_and(|s| Instant::now() >= s) => Some(StepOutcome::Stopped),
            false => Some(StepOutcome::Timeout),
        };
        let target = match step {
            Step::Text(_) => None,
            Step::Tap(label) => {
                // The card may still be on its way: wait for it.
                let card = sim
                    .wait_for(&id, mark, left(), |r| {
                        r.buttons.iter().any(|(_, l)| l == label)
                    })
                    .await;
                match card {
                    Some((_, r)) => {
                        let key = r
                            .buttons
                            .iter()
                            .find(|(_, l)| l == label)
                            .map(|(k, _)| k.clone());
                        Some((r.task_id.unwrap_or_default(), key.unwrap_or_default()))
                    }
                    None => {
                        return match outcome(false) {
                            Some(StepOutcome::Timeout) => StepOutcome::Error(format!(
                                "member {id}: the app shows no button [{label}]"
                            )),
                            Some(other) => other,
                            None => StepOutcome::Timeout,
                        };
                    }
                }
            }
            Step::Photo(_) | Step::Contact(_) => {
                return StepOutcome::Error(format!(
                    "member {id}: {step:?} is not supported by the WeCom load mode"
                ));
            }
        };
        let from = sim.received_count(&id);
        self.marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user, from);
        let sent_at = Instant::now();
        let sent = match (step, target) {
            (Step::Text(text), _) => sim.send_text(&id, text).await,
            (_, Some((task, key))) => sim.tap(&id, &task, &key).await,
            _ => return StepOutcome::Error("nothing to send".into()),
        };
        match sent {
            Ok(a) if a.status == 200 => {}
            Ok(a) => return StepOutcome::Error(format!("member {id}: HTTP {}", a.status)),
            Err(e) => return StepOutcome::Error(format!("member {id}: {e}")),
        }
        match sim.wait_for(&id, from, left(), |_| true).await {
            Some(_) => StepOutcome::Answered(sent_at.elapsed()),
            None => outcome(false).unwrap_or(StepOutcome::Timeout),
        }
    }

    fn counters(&self) -> Counters {
        Counters {
            too_many_requests: 0,
            bot_requests: self.sim.total_calls(),
        }
    }
}
