//! Photos reporters sent with a fault: after the ticket is filed, each file id is fetched
//! through getFile into the ticket's attachments (Telegram keeps files only for a while,
//! and the desk must be able to show them without a bot token). Off the conversation
//! path: a failed fetch is retried later and never holds up a reply.

use std::time::Duration;

use teloxide::net::Download;
use teloxide::requests::Requester;
use teloxide::types::FileId;
use teloxide::{ApiError, RequestError};

use super::{CHANNEL, Telegram};
use crate::doors::DoorError;

/// The Bot API serves files up to 20 MB through getFile; larger ones are given up.
const MAX_BYTES: u32 = 20 * 1024 * 1024;
/// Photos fetched per pass.
const BATCH: i64 = 20;
/// Tries before a photo is given up.
const MAX_ATTEMPTS: i32 = 8;
/// How often the door looks for photos to fetch, by default.
pub(super) const EVERY: Duration = Duration::from_secs(15);

impl Telegram {
    /// Fetches the photos that are due (new tickets' photos, and retries); how many were
    /// stored. A photo Telegram no longer has, or one too large, is given up; other
    /// failures are retried with a growing pause.
    pub async fn fetch_photos(&self) -> Result<usize, DoorError> {
        let queue = &self.inner.photos;
        let now = queue.now();
        let mut stored = 0;
        // Long enough for a batch of the largest files; a crash mid-batch retries then.
        let until = now + chrono::Duration::minutes(10);
        for p in queue.claim(CHANNEL, now, until, BATCH).await? {
            match self.download(&p.file_ref).await {
                Ok(bytes) => {
                    queue.fetched(p.ticket_id, p.n, &bytes).await?;
                    stored += 1;
                }
                Err(Fetch::GiveUp(why)) => {
                    queue.not_fetched(p.ticket_id, p.n, None, &why).await?;
                }
                Err(Fetch::Later(why)) => {
                    let retry = (p.attempts + 1 < MAX_ATTEMPTS)
                        .then(|| now + chrono::Duration::minutes(1_i64 << p.attempts.clamp(0, 10)));
                    queue.not_fetched(p.ticket_id, p.n, retry, &why).await?;
                }
            }
        }
        Ok(stored)
    }

    /// Fetches photos until the task is dropped.
    pub(super) async fn fetch_photos_forever(&self) {
        let Some(every) = self.inner.photo_fetch_every else {
            return;
        };
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = self.fetch_photos().await {
                tracing::warn!(error = %e, "telegram: photos not fetched");
            }
        }
    }

    async fn download(&self, file_id: &str) -> Result<Vec<u8>, Fetch> {
        let bot = &self.inner.bot;
        let file = bot
            .get_file(FileId(file_id.to_owned()))
            .await
            .map_err(Fetch::from)?;
        if file.size > MAX_BYTES {
            return Err(Fetch::GiveUp(format!("{} bytes is too large", file.size)));
        }
        let mut bytes = Vec::with_capacity(file.size as usize);
        bot.download_file(&file.path, &mut bytes)
            .await
            .map_err(|e| Fetch::Later(e.to_string()))?;
        Ok(bytes)
    }
}

/// Why a photo was not fetched.
enum Fetch {
    /// Retrying cannot help (unknown file, too large).
    GiveUp(String),
    /// Worth another try.
    Later(String),
}

impl From<RequestError> for Fetch {
    fn from(e: RequestError) -> Fetch {
        match e {
            RequestError::Api(
                ApiError::FileIdInvalid | ApiError::WrongFileId | ApiError::WrongFileIdOrUrl,
            ) => Fetch::GiveUp(e.to_string()),
            other => Fetch::Later(other.to_string()),
        }
    }
}
