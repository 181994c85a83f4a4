//! The inbox: every update is written to `telegram_updates` before it is handled (a polled
//! batch in one statement; as begun when a running worker takes it straight away), then
//! handled, then marked handled together with its replies, then the replies are sent and
//! the row is finished (marked in batches). Receiving never waits for handling; each
//! person's updates are handled in order, different people's in parallel. So a crash
//! loses nothing (the polling offset confirms only what is written), an update delivered
//! twice has one effect (the id is the primary key), and one whose handling began before
//! a crash is not applied again: the person is shown their current question instead.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use teloxide::RequestError;
use teloxide::payloads::GetUpdatesSetters;
use teloxide::requests::Requester;
use teloxide::types::{AllowedUpdate, Update};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::render::Reply;
use super::{Backoff, Inner, Telegram};
use crate::desk::StoreError;
use crate::doors::DoorError;
use crate::doors::lock;

/// Long-poll wait (teloxide adds it to its request timeout).
const POLL_TIMEOUT_SECS: u32 = 25;
/// Unfinished updates read from the table per rescan.
const RESCAN_BATCH: i64 = 1000;
/// A handling that began this long ago and never finished was cut short by a crash.
const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(2);
/// How long a stopping worker goes on handling what was received.
const DRAIN: Duration = Duration::from_secs(6);
/// How often a draining worker looks whether it is done.
const DRAIN_LOOK: Duration = Duration::from_millis(20);
/// The worker also looks at the table this often (for updates an earlier run or another
/// instance received and left unfinished).
const RESCAN_EVERY: Duration = Duration::from_secs(5);

impl Inner {
    /// Handlings begun before this were cut short by a crash. Two minutes covers any
    /// handling; and while this instance polls, it is the bot's only receiver (it holds
    /// the lease, and Telegram refuses a second getUpdates), so a handling begun before
    /// it took the lease belongs to a process that is gone: a restart or a takeover
    /// picks it up at once instead of leaving that person without an answer for two
    /// minutes.
    fn stale_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let cutoff = now - STALE_AFTER;
        match *lock(&self.polling_since) {
            Some(since) => cutoff.max(since),
            None => cutoff,
        }
    }
}

impl Telegram {
    /// Long polling: stores each batch of updates in one transaction and hands it to the
    /// worker, then asks for the next at once (handling does not hold up receiving).
    pub(super) async fn poll(&self, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Backoff::default();
        // getUpdates refuses to work while a webhook is set.
        while let Err(e) = self.inner.bot.delete_webhook().await {
            tracing::warn!(error = %e, "telegram: deleteWebhook failed");
            backoff.wait().await;
        }
        backoff.reset();
        let mut offset: Option<i64> = None;
        loop {
            let next = match offset {
                Some(o) => o,
                None => match self.inner.inbox.next_offset().await {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::error!(error = %e, "telegram: cannot read the update offset");
                        backoff.wait().await;
                        continue;
                    }
                },
            };
            let request = self
                .inner
                .bot
                .get_updates()
                .offset(i32::try_from(next).unwrap_or(i32::MAX))
                .timeout(POLL_TIMEOUT_SECS)
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
            // A stop ends the wait for a batch (unconfirmed, Telegram sends it again),
            // never the storing of one.
            let updates = tokio::select! {
                u = request.into_future() => u,
                () = stopped(&mut stopping) => return,
            };
            match updates {
                Ok(updates) if updates.is_empty() => backoff.reset(),
                Ok(updates) => match self.inner.receive(updates).await {
                    // Confirmed with the next getUpdates, once stored.
                    Ok(last) => {
                        backoff.reset();
                        offset = Some(last + 1);
                    }
                    Err(e) => {
                        // The offset stays below them, so Telegram sends them again.
                        tracing::error!(error = %e, "telegram: cannot store updates");
                        offset = None;
                        backoff.wait().await;
                    }
                },
                Err(RequestError::RetryAfter(s)) => {
                    tokio::time::sleep(s.duration()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: getUpdates failed");
                    backoff.wait().await;
                }
            }
        }
    }
}

/// Updates being received, recorded as begun for the running worker (see
/// [`Inner::begin_receive`]).
pub(super) struct Receiving<'a> {
    inner: &'a Inner,
    /// Record them as begun.
    pub(super) claim: bool,
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        if self.claim {
            self.inner.receiving.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Resolves when the stop flag is (or turns) true; never if its sender is gone first.
pub(super) async fn stopped(flag: &mut tokio::sync::watch::Receiver<bool>) {
    if flag.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A row of `telegram_updates` still to finish.
pub(super) struct Stored {
    id: i64,
    /// `None` when the body is not an update teloxide can read (it is skipped).
    update: Option<Update>,
    /// Set once handled: what to send.
    replies: Option<Vec<Reply>>,
    /// Written as begun (attempt 1) when it was received, at this time: handled without
    /// a claim of its own.
    pub(super) claimed: Option<chrono::DateTime<chrono::Utc>>,
}

impl Stored {
    /// A row as read back from the table.
    pub(super) fn read(id: i64, body: &str, replies: Option<String>) -> Stored {
        Stored {
            id,
            update: serde_json::from_str::<Update>(body).ok(),
            replies: replies.map(|json| {
                serde_json::from_str(&json).unwrap_or_else(|e| {
                    tracing::error!(update = id, error = %e, "telegram: stored replies unreadable");
                    Vec::new()
                })
            }),
            claimed: None,
        }
    }

    /// Whose update it is: one person's updates are handled in order.
    fn lane(&self) -> u64 {
        self.update
            .as_ref()
            .and_then(Update::from)
            .map_or(0, |u| u.id.0)
    }
}

/// What a lane task reports back to the worker.
enum LaneEvent {
    /// The lane's first update was tried: finished (true) or to be tried again.
    Tried {
        lane: u64,
        row: Box<Stored>,
        outcome: Result<bool, DoorError>,
    },
    /// A lane's wait before trying again is over.
    Again { lane: u64 },
    /// Finished updates were marked sent in the table (or not, and are to be again).
    Marked {
        ids: Vec<i64>,
        result: Result<(), StoreError>,
    },
}

/// Handles stored updates: each person's in order, one at a time; different people's in
/// parallel (a task each). Updates come from the receivers (polling, webhook route) as
/// they are stored, and from the table at start and every `RESCAN_EVERY` (what an earlier
/// run or another instance left unfinished).
pub(super) struct Worker {
    inner: Arc<Inner>,
    incoming: mpsc::UnboundedReceiver<Stored>,
    /// Updates waiting per person; the person's task holds the one being handled.
    lanes: HashMap<u64, VecDeque<Stored>>,
    /// People whose task is running (or waiting to try again).
    busy: HashMap<u64, u32>,
    /// Update ids queued or being handled.
    known: HashSet<i64>,
    /// Recently finished ids (a rescan may have seen an update before its receiver
    /// handed it over): bounded.
    finished: HashSet<i64>,
    finished_order: VecDeque<i64>,
    /// Finished updates not marked sent yet, and whether a marking is under way.
    unmarked: Vec<i64>,
    marking: bool,
    /// Lane tasks handling an update right now.
    handling: usize,
    tasks: JoinSet<LaneEvent>,
}

/// How many finished ids the worker remembers.
const REMEMBER_FINISHED: usize = 10_000;

impl Worker {
    pub(super) fn new(inner: Arc<Inner>, incoming: mpsc::UnboundedReceiver<Stored>) -> Worker {
        Worker {
            inner,
            incoming,
            lanes: HashMap::new(),
            busy: HashMap::new(),
            known: HashSet::new(),
            finished: HashSet::new(),
            finished_order: VecDeque::new(),
            unmarked: Vec::new(),
            marking: false,
            handling: 0,
            tasks: JoinSet::new(),
        }
    }

    /// Handles updates until `stopping` turns true, then drains: what was received is
    /// handled and answered (no rescans, no retries after a failure), for at most
    /// `DRAIN`; then the updates it could not begin are given back (see
    /// [`Worker::give_back`]) and it returns.
    pub(super) async fn run(mut self, mut stopping: tokio::sync::watch::Receiver<bool>) {
        let mut rescan = tokio::time::interval(RESCAN_EVERY);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drain_until: Option<Instant> = None;
        loop {
            if let Some(until) = drain_until {
                if self.drained() && self.inner.close_intake() {
                    break;
                }
                if Instant::now() >= until {
                    tracing::warn!(
                        "telegram: updates still being handled after {DRAIN:?}; the rest is left to the next start"
                    );
                    break;
                }
            }
            let draining = drain_until.is_some();
            let until = drain_until.unwrap_or_else(|| Instant::now() + DRAIN);
            tokio::select! {
                Some(row) = self.incoming.recv() => self.enqueue(row),
                Some(event) = self.tasks.join_next(), if !self.tasks.is_empty() => match event {
                    Ok(event) => self.on_event(event, draining),
                    Err(e) => tracing::error!(error = %e, "telegram: an update task failed"),
                },
                // Finished updates are forgotten by the desk's retention job.
                _ = rescan.tick(), if !draining => self.rescan().await,
                () = stopped(&mut stopping), if !draining => {
                    drain_until = Some(Instant::now() + DRAIN);
                }
                // Looks again now and then: a receive under way may end without a row.
                () = tokio::time::sleep_until(until.min(Instant::now() + DRAIN_LOOK)), if draining => {}
            }
            if !self.marking && !self.unmarked.is_empty() {
                // One statement for all updates finished since the last marking.
                self.marking = true;
                let ids = std::mem::take(&mut self.unmarked);
                let inner = self.inner.clone();
                self.tasks.spawn(async move {
                    let result = inner.inbox.sent(&ids, inner.inbox.now()).await;
                    LaneEvent::Marked { ids, result }
                });
            }
        }
        self.give_back().await;
    }

    /// Whether a draining worker is done: nothing handed over unread, nothing being
    /// handled (while draining, a lane moves on only when its update is done, and a
    /// failed one is not tried again), every finished update marked. What is left in the
    /// lanes is given back.
    fn drained(&self) -> bool {
        self.handling == 0 && !self.marking && self.unmarked.is_empty() && self.incoming.is_empty()
    }

    /// At the end of a stop: no more hand-overs (what is received from now on is stored
    /// unclaimed), tasks still running are cut short as a crash would, and the updates
    /// recorded as begun on receipt but never begun are given back, so the next start
    /// handles them as new rather than as cut short.
    async fn give_back(mut self) {
        // Closed already unless the drain ran out of time.
        *lock(&self.inner.incoming) = None;
        self.tasks.abort_all();
        while let Ok(row) = self.incoming.try_recv() {
            self.enqueue_only(row);
        }
        let ids: Vec<i64> = self
            .lanes
            .values()
            .flatten()
            .filter(|r| r.claimed.is_some())
            .map(|r| r.id)
            .collect();
        if !ids.is_empty() {
            match self.inner.inbox.release(&ids).await {
                Ok(n) => tracing::info!(updates = n, "telegram: updates left for the next start"),
                Err(e) => tracing::error!(error = %e, "telegram: could not give back updates"),
            }
        }
        if !self.unmarked.is_empty() {
            let _ = self
                .inner
                .inbox
                .sent(&self.unmarked, self.inner.inbox.now())
                .await;
        }
    }

    /// Picks up unfinished updates from the table that the worker does not hold.
    async fn rescan(&mut self) {
        // Whatever the receivers handed over first, so a person's updates stay in order.
        while let Ok(row) = self.incoming.try_recv() {
            self.enqueue(row);
        }
        let now = self.inner.inbox.now();
        match self
            .inner
            .inbox
            .pending(RESCAN_BATCH, self.inner.stale_before(now))
            .await
        {
            Ok(rows) => {
                for (id, body, replies) in rows {
                    if !self.known.contains(&id) && !self.finished.contains(&id) {
                        self.enqueue(Stored::read(id, &body, replies));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "telegram: cannot read stored updates"),
        }
    }

    fn enqueue(&mut self, row: Stored) {
        if let Some(lane) = self.enqueue_only(row)
            && let std::collections::hash_map::Entry::Vacant(idle) = self.busy.entry(lane)
        {
            idle.insert(0);
            self.start(lane);
        }
    }

    /// Queues a row in its lane (in id order: a rescan may find an older one late);
    /// its lane, or `None` if the row is known already.
    fn enqueue_only(&mut self, row: Stored) -> Option<u64> {
        if self.finished.contains(&row.id) || !self.known.insert(row.id) {
            return None;
        }
        let lane = row.lane();
        let queue = self.lanes.entry(lane).or_default();
        let at = queue
            .iter()
            .position(|r| r.id > row.id)
            .unwrap_or(queue.len());
        queue.insert(at, row);
        Some(lane)
    }

    /// Starts a task on the lane's first update (the lane is marked busy).
    fn start(&mut self, lane: u64) {
        let Some(row) = self.lanes.get_mut(&lane).and_then(VecDeque::pop_front) else {
            self.lanes.remove(&lane);
            self.busy.remove(&lane);
            return;
        };
        let inner = self.inner.clone();
        self.handling += 1;
        self.tasks.spawn(async move {
            let mut row = Box::new(row);
            let outcome = inner.process(&mut row).await;
            LaneEvent::Tried { lane, row, outcome }
        });
    }

    fn on_event(&mut self, event: LaneEvent, draining: bool) {
        if matches!(event, LaneEvent::Tried { .. }) {
            self.handling -= 1;
        }
        match event {
            LaneEvent::Tried {
                lane,
                row,
                outcome: Ok(true),
            } => {
                self.known.remove(&row.id);
                self.unmarked.push(row.id);
                self.finished.insert(row.id);
                self.finished_order.push_back(row.id);
                if self.finished_order.len() > REMEMBER_FINISHED
                    && let Some(old) = self.finished_order.pop_front()
                {
                    self.finished.remove(&old);
                }
                self.busy.insert(lane, 0);
                self.start(lane);
            }
            LaneEvent::Tried { lane, row, outcome } => {
                if let Err(e) = outcome {
                    tracing::error!(update = row.id, error = %e, "telegram: cannot finish an update");
                }
                // It stays first in its lane; the lane waits, longer after each failure
                // (Telegram unreachable, or another instance is handling it). Not while
                // stopping: the lane is left to the next start.
                self.lanes.entry(lane).or_default().push_front(*row);
                if draining {
                    return;
                }
                let failures = self.busy.entry(lane).or_default();
                let wait =
                    Duration::from_secs(1 << (*failures).min(6)).min(Duration::from_secs(60));
                *failures += 1;
                self.tasks.spawn(async move {
                    tokio::time::sleep(wait).await;
                    LaneEvent::Again { lane }
                });
            }
            LaneEvent::Again { .. } if draining => {}
            LaneEvent::Again { lane } => self.start(lane),
            LaneEvent::Marked { ids, result } => {
                self.marking = false;
                if let Err(e) = result {
                    // Tried again with the next finished update (or the next rescan).
                    tracing::error!(error = %e, "telegram: cannot mark updates finished");
                    self.unmarked.extend(ids);
                }
            }
        }
    }
}

impl Inner {
    /// Writes updates down in one transaction (repeats change nothing) and hands the new
    /// ones to the worker. Returns the highest id.
    async fn receive(&self, updates: Vec<Update>) -> Result<i64, DoorError> {
        let rows = updates
            .iter()
            .map(|u| Ok((i64::from(u.id.0), serde_json::to_string(u)?)))
            .collect::<Result<Vec<(i64, String)>, DoorError>>()?;
        let now = self.inbox.now();
        let receiving = self.begin_receive();
        let claim = receiving.claim;
        let new = self.inbox.receive(&rows, now, claim).await?;
        for (u, new) in updates.into_iter().zip(new) {
            if new {
                self.hand_over(Stored {
                    id: i64::from(u.id.0),
                    update: Some(u),
                    replies: None,
                    claimed: claim.then_some(now),
                });
            }
        }
        Ok(rows.iter().map(|(id, _)| *id).max().unwrap_or(0))
    }

    /// Starts receiving updates: whether a worker takes what is received — then updates
    /// are recorded as begun as they are written (one write instead of two; a crash in
    /// between is then taken for one during handling, and the person is shown their
    /// current question) — and if so, counted until the returned guard is dropped (after
    /// the hand-over), so a stopping worker never leaves while updates claimed for it are
    /// on their way.
    pub(super) fn begin_receive(&self) -> Receiving<'_> {
        let incoming = lock(&self.incoming);
        let claim = incoming.as_ref().is_some_and(|tx| !tx.is_closed());
        if claim {
            self.receiving.fetch_add(1, Ordering::AcqRel);
        }
        Receiving { inner: self, claim }
    }

    /// Ends the hand-overs if no claimed update is on its way (then what is received from
    /// now on is stored unclaimed, for the next start); false if one is.
    fn close_intake(&self) -> bool {
        let mut incoming = lock(&self.incoming);
        if self.receiving.load(Ordering::Acquire) > 0 {
            return false;
        }
        *incoming = None;
        true
    }

    /// Gives a stored update to the running worker (if none runs, the next one finds it
    /// in the table).
    pub(super) fn hand_over(&self, row: Stored) {
        if let Some(tx) = lock(&self.incoming).as_ref() {
            let _ = tx.send(row);
        }
    }

    /// Handles (unless already handled) and sends the replies of one stored update;
    /// false if it must wait for a later try.
    async fn process(&self, row: &mut Stored) -> Result<bool, DoorError> {
        if row.replies.is_none() {
            let now = self.inbox.now();
            let attempt = match row.claimed {
                // Begun as it was received: no write, unless it waited long in its lane.
                Some(at) if now - at < STALE_AFTER / 2 => Some(1),
                Some(_) if self.inbox.renew(row.id, 1, now).await? => Some(1),
                _ => {
                    self.inbox
                        .claim(row.id, now, self.stale_before(now))
                        .await?
                }
            };
            // From here handling has begun: a retry is a new attempt.
            row.claimed = None;
            let Some(attempt) = attempt else {
                return Ok(false);
            };
            let (replies, recorded) = match &row.update {
                None => {
                    tracing::warn!(update = row.id, "telegram: skipping an unreadable update");
                    (Vec::new(), false)
                }
                Some(u) if attempt == 1 => self.handle(row.id, u).await,
                // Begun before a crash: it may have reached the conversation already,
                // so it is not applied again; the person sees where they are.
                Some(u) => (self.recover(u).await, false),
            };
            if !recorded {
                let json = serde_json::to_string(&replies)?;
                self.inbox.handled(row.id, &json, self.inbox.now()).await?;
            }
            // A retry sends these, as a rescan would read them from the table.
            row.replies = Some(replies);
        }
        // Finished once sent; the worker marks it in the table (in batches, off the
        // person's path: until then a crash only means these replies go out again).
        let replies = row.replies.as_deref().unwrap_or_default();
        Ok(self.send_replies(row.id, replies).await)
    }
}
