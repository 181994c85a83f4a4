//! The console's live view: one task per instance looks every second, while anyone is
//! watching, whether a ticket changed (the newest audit event's id: every change writes
//! one, on any instance sharing the database), and tells the open pages by server-sent
//! events; each page then reloads what it shows, as its person may see it.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;

use crate::desk::Desk;

/// How often the watcher looks.
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The stamp watcher, shared by every page open on this instance.
pub(super) struct Live {
    desk: Desk,
    stamp: watch::Sender<i64>,
    closing: watch::Sender<bool>,
    started: AtomicBool,
}

impl Live {
    pub(super) fn new(desk: Desk) -> Live {
        Live {
            desk,
            stamp: watch::channel(0).0,
            closing: watch::channel(false).0,
            started: AtomicBool::new(false),
        }
    }

    /// Ends every stream, and any opened from now on.
    pub(super) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// An event stream for one page: `changed` each time the stamp moves.
    pub(super) async fn stream(
        self: &Arc<Self>,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        self.start().await;
        let mut stamp = self.stamp.subscribe();
        stamp.mark_unchanged();
        let closing = self.closing.subscribe();
        let events =
            futures_util::stream::unfold((stamp, closing), |(mut stamp, mut closing)| async move {
                if *closing.borrow() {
                    return None;
                }
                let moved = tokio::select! {
                    changed = stamp.changed() => changed.is_ok(),
                    _ = closing.wait_for(|c| *c) => false,
                };
                if !moved {
                    return None;
                }
                let now = *stamp.borrow_and_update();
                let event = Event::default().event("changed").data(now.to_string());
                Some((Ok(event), (stamp, closing)))
            });
        Sse::new(events).keep_alive(KeepAlive::default())
    }

    /// Starts the watcher once, from the stamp as it is now.
    async fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(now) = self.desk.console_stamp().await {
            self.stamp.send_replace(now);
        }
        let live = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(LOOK_EVERY);
            loop {
                tick.tick().await;
                let Some(live) = live.upgrade() else { return };
                if *live.closing.borrow() {
                    return;
                }
                // Nobody watching: no reads.
                if live.stamp.receiver_count() == 0 {
                    continue;
                }
                match live.desk.console_stamp().await {
                    Ok(now) => {
                        live.stamp.send_if_modified(|s| {
                            let moved = *s != now;
                            *s = now;
                            moved
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "console: live view not refreshed"),
                }
            }
        });
    }
}
