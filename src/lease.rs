//! Work only one instance may do at a time, when several `serve` processes share one
//! PostgreSQL: Telegram allows one `getUpdates` caller per bot, and Discord one gateway
//! session per bot that a desk wants answering. The instance that holds a lease row
//! does the work and renews the row every third of its term; if it dies, another takes
//! the row over once the term has run out; if it stops, it gives the row up and another
//! takes over at its next try. A holder that cannot renew stops the work before its term
//! ends, so two instances never do it at once (as long as their clocks agree to well
//! within a term).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::desk::ports::Leases;

/// A term a lease lasts without renewal when the configuration says nothing.
pub const DEFAULT_TERM: Duration = Duration::from_secs(10);

/// This instance, as a lease holder: the host and the address it serves on. Unique among
/// live instances (two cannot listen on one address), and the same after a restart, so
/// an instance that crashed takes its own leases back at once instead of waiting a term.
pub fn holder_id(listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!("{host}/{listen}")
}

/// One lease, by name, for this instance.
#[derive(Clone)]
pub struct Lease {
    port: Leases,
    name: &'static str,
    holder: Arc<str>,
    term: Duration,
}

/// What the work is given while this instance holds the lease.
pub struct Held {
    /// When this instance took the lease: work begun before then by any instance was
    /// begun by a holder that is gone.
    pub since: DateTime<Utc>,
    /// Turns true when the work must end: the service stops or the lease was lost.
    pub ending: watch::Receiver<bool>,
}

/// How holding the lease ended.
enum End {
    Stopped,
    Lost,
}

impl Lease {
    /// The lease `name`, held for `term` at a time by `holder` (see [`holder_id`]).
    pub fn new(port: Leases, name: &'static str, holder: &str, term: Duration) -> Lease {
        Lease {
            port,
            name,
            holder: holder.into(),
            term: term.max(Duration::from_millis(300)),
        }
    }

    /// Who holds it when this instance does.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Until `stop`: waits for the lease, runs `work` while holding it, and waits again
    /// if it is lost. `work` must return soon after `Held::ending` turns true. At the
    /// stop the lease is given up, so another instance takes over at once.
    pub async fn hold<W, F>(&self, stop: impl Future<Output = ()>, mut work: W)
    where
        W: FnMut(Held) -> F,
        F: Future<Output = ()>,
    {
        tokio::pin!(stop);
        loop {
            let Some(since) = self.acquire(&mut stop).await else {
                return;
            };
            tracing::info!(lease = self.name, holder = %self.holder, "this instance took the lease");
            let (end, ending) = watch::channel(false);
            let worked = work(Held { since, ending });
            tokio::pin!(worked);
            let how = tokio::select! {
                how = self.keep(since, &mut stop) => {
                    let _ = end.send(true);
                    worked.await;
                    how
                }
                // Work that ends by itself gives the lease up for another instance.
                () = &mut worked => End::Lost,
            };
            if let Err(e) = self.port.give_up(self.name, &self.holder).await {
                tracing::warn!(lease = self.name, error = %e, "lease not given up: it runs out by itself");
            }
            if matches!(how, End::Stopped) {
                return;
            }
            tracing::warn!(lease = self.name, "this instance no longer holds the lease");
        }
    }

    /// Tries every third of a term until the lease is taken (its time) or `stop`.
    async fn acquire(
        &self,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Option<DateTime<Utc>> {
        loop {
            let now = self.port.now();
            match self
                .port
                .take(self.name, &self.holder, now, now + self.span())
                .await
            {
                Ok(true) => return Some(now),
                Ok(false) => {}
                Err(e) => tracing::warn!(lease = self.name, error = %e, "lease not taken"),
            }
            tokio::select! {
                () = stop.as_mut() => return None,
                () = tokio::time::sleep(self.term / 3) => {}
            }
        }
    }

    /// Renews every third of a term until `stop`, or until the lease is lost: taken
    /// over, or not renewed for so long that the term would end before the next try.
    async fn keep(
        &self,
        since: DateTime<Utc>,
        stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> End {
        let every = self.term / 3;
        let mut held_until = since + self.span();
        loop {
            tokio::select! {
                () = stop.as_mut() => return End::Stopped,
                () = tokio::time::sleep(every) => {}
            }
            let now = self.port.now();
            match self
                .port
                .take(self.name, &self.holder, now, now + self.span())
                .await
            {
                Ok(true) => held_until = now + self.span(),
                Ok(false) => return End::Lost,
                Err(e) => {
                    tracing::warn!(lease = self.name, error = %e, "lease not renewed");
                    let next_try = chrono::Duration::from_std(every).unwrap_or_default();
                    if self.port.now() + next_try >= held_until {
                        return End::Lost;
                    }
                }
            }
        }
    }

    fn span(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.term).unwrap_or(chrono::Duration::seconds(10))
    }
}
