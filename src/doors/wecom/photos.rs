//! Photos reporters sent with a fault: after the ticket is filed, each image's MediaId is
//! fetched through `media/get` into the ticket's attachments (WeCom keeps temporary media
//! for three days, and the desk must show them without the app's Secret). Off the
//! conversation path: a failed fetch is retried later and never holds up a reply.

use std::time::Duration;

use super::api::ApiError;
use super::{CHANNEL, Wecom};
use crate::doors::DoorError;

/// Photos fetched per pass.
const BATCH: i64 = 20;
/// Tries before a photo is given up.
const MAX_ATTEMPTS: i32 = 8;
/// How often the door looks for photos to fetch.
const EVERY: Duration = Duration::from_secs(15);
/// Pruning runs every this many ticks (an hour).
const PRUNE_EVERY_TICKS: u64 = 240;
/// Errcodes of media WeCom does not have (invalid or expired MediaId).
const GONE: [i64; 2] = [40007, 42007];

impl Wecom {
    /// Fetches the photos that are due (new tickets' photos, and retries); how many were
    /// stored. A photo WeCom no longer has is given up; other failures are retried with
    /// a growing pause.
    pub async fn fetch_photos(&self) -> Result<usize, DoorError> {
        let queue = &self.inner.photos;
        let now = queue.now();
        let mut stored = 0;
        let until = now + chrono::Duration::minutes(10);
        for p in queue.claim(CHANNEL, now, until, BATCH).await? {
            let fetched = self
                .inner
                .api
                .get_bytes("media/get", &[("media_id", p.file_ref.as_str())])
                .await;
            match fetched {
                Ok(bytes) => {
                    queue.fetched(p.ticket_id, p.n, &bytes).await?;
                    stored += 1;
                }
                Err(ApiError::Refused(code, why)) if GONE.contains(&code) => {
                    let why = format!("errcode {code}: {why}");
                    queue.not_fetched(p.ticket_id, p.n, None, &why).await?;
                }
                Err(e) => {
                    let retry = (p.attempts + 1 < MAX_ATTEMPTS)
                        .then(|| now + chrono::Duration::minutes(1_i64 << p.attempts.clamp(0, 10)));
                    queue
                        .not_fetched(p.ticket_id, p.n, retry, &e.to_string())
                        .await?;
                }
            }
        }
        Ok(stored)
    }

    /// Forgets recorded callbacks older than `[wecom] inbox_days`; how many.
    pub async fn prune_inbox(&self) -> Result<u64, DoorError> {
        let inbox = &self.inner.inbox;
        let keep = chrono::Duration::from_std(self.inner.config.keep_callbacks).unwrap_or(
            chrono::Duration::days(i64::from(super::settings::DEFAULT_INBOX_DAYS)),
        );
        Ok(inbox.prune(inbox.now() - keep).await?)
    }

    /// Handles callbacks recorded but cut short by a crash (see `Inner::recover`); how
    /// many.
    pub async fn recover(&self) -> Result<usize, DoorError> {
        self.inner.recover().await
    }

    /// Fetches photos, and handles callbacks a crash cut short, every 15 seconds until
    /// `stop`.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(EVERY);
        for n in 0u64.. {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {
                    // Hourly: forget callbacks WeCom can no longer retry.
                    if n % PRUNE_EVERY_TICKS == 0 && let Err(e) = self.prune_inbox().await {
                        tracing::warn!(error = %e, "wecom: old callbacks not pruned");
                    }
                    if let Err(e) = self.recover().await {
                        tracing::warn!(error = %e, "wecom: recorded callbacks not recovered");
                    }
                    if let Err(e) = self.fetch_photos().await {
                        tracing::warn!(error = %e, "wecom: photos not fetched");
                    }
                }
            }
        }
    }
}
