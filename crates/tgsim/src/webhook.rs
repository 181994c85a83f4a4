//! Push delivery to a webhook set with setWebhook.
//!
//! Like Telegram: each update is POSTed as JSON with `X-Telegram-Bot-Api-Secret-Token`
//! and stays pending until the receiver answers 2xx; after a failure delivery pauses
//! for the retry delay and the same update is sent again. Up to `max_connections`
//! POSTs run at once, but never two for the same chat, so each chat's updates arrive
//! in order (with `max_connections = 1`, all updates do).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::state::{PendingUpdate, Shared};

/// Result of one POST.
struct Done {
    generation: u64,
    update_id: i64,
    outcome: Result<(), String>,
}

/// Runs until shutdown.
pub(crate) async fn run(shared: Arc<Shared>) {
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("tgsim: no HTTP client for webhooks: {e}");
            return;
        }
    };
    let mut signal = shared.signal.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    // update id → chat id of POSTs in flight, for the current webhook generation.
    let mut in_flight: HashMap<i64, i64> = HashMap::new();
    let mut generation = 0u64;
    let mut paused_until: Option<Instant> = None;
    loop {
        signal.borrow_and_update();
        if paused_until.is_some_and(|t| t <= Instant::now()) {
            paused_until = None;
        }
        if paused_until.is_none() {
            let (jobs, target) = {
                let st = shared.lock();
                if st.webhook_gen != generation {
                    // A new or deleted webhook: results of old POSTs no longer count.
                    generation = st.webhook_gen;
                    in_flight.clear();
                }
                match &st.webhook {
                    Some(w) => {
                        let max = w.max_connections as usize;
                        let mut busy: HashSet<i64> = in_flight.values().copied().collect();
                        let mut jobs: Vec<PendingUpdate> = Vec::new();
                        for u in &st.updates {
                            if in_flight.len() + jobs.len() >= max {
                                break;
                            }
                            if in_flight.contains_key(&u.id) || !busy.insert(u.chat_id) {
                                continue;
                            }
                            jobs.push(u.clone());
                        }
                        (jobs, Some((w.url.clone(), w.secret.clone())))
                    }
                    None => (Vec::new(), None),
                }
            };
            if let Some((url, secret)) = target {
                for job in jobs {
                    in_flight.insert(job.id, job.chat_id);
                    let client = client.clone();
                    let url = url.clone();
                    let secret = secret.clone();
                    let done_tx = done_tx.clone();
                    let generation = generation;
                    tokio::spawn(async move {
                        let outcome = post(&client, &url, secret.as_deref(), &job).await;
                        let _ = done_tx.send(Done {
                            generation,
                            update_id: job.id,
                            outcome,
                        });
                    });
                }
            }
        }
        let pause = paused_until;
        tokio::select! {
            changed = signal.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            Some(done) = done_rx.recv() => {
                if done.generation != generation {
                    continue;
                }
                in_flight.remove(&done.update_id);
                let mut st = shared.lock();
                if st.webhook_gen != done.generation {
                    continue;
                }
                match done.outcome {
                    Ok(()) => {
                        st.confirm_update(done.update_id);
                        st.stats.webhook_deliveries += 1;
                    }
                    Err(message) => {
                        shared.webhook_failed(&mut st, message);
                        paused_until = Some(Instant::now() + shared.config.webhook_retry_delay);
                    }
                }
            }
            _ = async { if let Some(t) = pause { tokio::time::sleep_until(t).await } }, if pause.is_some() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    update: &PendingUpdate,
) -> Result<(), String> {
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(update.body.to_string());
    if let Some(secret) = secret {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    match req.send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!(
            "Wrong response from the webhook: {}",
            resp.status()
        )),
        Err(e) if e.is_connect() => Err("Connection refused".to_owned()),
        Err(e) if e.is_timeout() => Err("Read timeout expired".to_owned()),
        Err(e) => Err(format!("Webhook request failed: {e}")),
    }
}
