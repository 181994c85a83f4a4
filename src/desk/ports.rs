//! Narrow ports onto the store, one per consumer that keeps records of its own: the
//! conversation service's conversations, the group-card board, and each door's inbox and
//! photo queue. The desk hands them out (see [`super::Desk::ports`]) and the composition
//! root (`app.rs`) gives each to its consumer, so nothing outside the desk holds the whole
//! store, and a port can reach only its own tables. Ports decide nothing: the rules stay
//! in the desk.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::store::{
    Card, CardClaim, CardEnd, Expect, PendingPhoto, PendingUpdate, Reporter, SendCounts,
    StepRecord, Store, StoreError, StoredConversation, WebAnnouncements, WebEntry,
};

/// A port: a struct over the store and the desk's clock whose methods each call one store
/// method of the same signature.
macro_rules! port {
    ($(#[$doc:meta])* $name:ident {
        $( $(#[$m:meta])* fn $method:ident = $target:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*
    }) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            store: Store,
            clock: Arc<dyn Clock>,
        }

        impl $name {
            /// The desk's current time.
            pub fn now(&self) -> DateTime<Utc> {
                self.clock.now()
            }

            $(
                $(#[$m])*
                pub async fn $method(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    self.store.$target($($arg),*).await
                }
            )*
        }
    };
}

port! {
    /// People's conversations in progress, and the drafts idle ones leave.
    Conversations {
        /// The reporter behind a chat identity with their conversation in progress, if
        /// any, and whether the identity is also linked to an engineer (one read: this
        /// runs per message).
        fn reporter_with_conversation = reporter_with_conversation(channel: &str, external_id: &str)
            -> Option<(Reporter, Option<StoredConversation>, bool)>;
        /// A chat identity's conversation in progress.
        fn get = conversation(channel: &str, external_id: &str) -> Option<StoredConversation>;
        /// Saves a conversation's state durably (`None` ends it) if it is as `expect` says
        /// (else `Conflict`): its new version, `None` once ended.
        fn save = save_conversation(channel: &str, external_id: &str, state: Option<String>, now: DateTime<Utc>, expect: Expect) -> Option<i64>;
        /// Saves a conversation's state and the door's record of the step, in one
        /// transaction, as [`Conversations::save`] does.
        fn save_with = save_conversation_with(channel: &str, external_id: &str, state: Option<String>, now: DateTime<Utc>, record: StepRecord, expect: Expect) -> Option<i64>;
        /// Moves conversations idle since before `idle_since` to drafts (returning them)
        /// and forgets drafts discarded before `drafts_since`.
        fn expire = expire_conversations(idle_since: DateTime<Utc>, drafts_since: DateTime<Utc>, now: DateTime<Utc>)
            -> Vec<(String, String, String)>;
        /// The draft discarded at or after `drafts_since`, if any: it is taken when the
        /// conversation restored from it is saved with [`Expect::Restoring`].
        fn kept_draft = kept_draft(channel: &str, external_id: &str, drafts_since: DateTime<Utc>) -> Option<String>;
    }
}

port! {
    /// Job cards posted in engineer groups' chats (see `conversation::cards`).
    CardBoard {
        /// Claims the posting of `ticket`'s card for `offer` in a group `chat` of `door`.
        fn claim = card_claim(door: &str, ticket: &str, chat: &str, offer: &str, now: DateTime<Utc>, stale_before: DateTime<Utc>) -> CardClaim;
        /// Records the posted card's message id and text.
        fn posted = card_posted(door: &str, ticket: &str, chat: &str, message_id: &str, text: &str) -> ();
        /// Gives up a claimed posting that failed, so it can be tried again.
        fn release = card_release(door: &str, ticket: &str, chat: &str) -> ();
        /// `ticket`'s posted card in `chat`.
        fn card = card(door: &str, ticket: &str, chat: &str) -> Option<Card>;
        /// The card that is message `message_id` of `chat`, if it is one.
        fn card_at = card_at(door: &str, chat: &str, message_id: &str) -> Option<Card>;
        /// Records how the card's offer ended; false if an end was recorded already.
        fn ended = card_ended(door: &str, ticket: &str, chat: &str, end: CardEnd<'_>) -> bool;
    }
}

port! {
    /// Photos a door must fetch into the tickets they were filed with.
    PhotoQueue {
        /// Claims photos of `door` due for fetching by `now` until `until`, oldest first
        /// (another instance skips them meanwhile).
        fn claim = photos_claim(door: &str, now: DateTime<Utc>, until: DateTime<Utc>, limit: i64) -> Vec<PendingPhoto>;
        /// Stores a fetched photo's bytes.
        fn fetched = photo_fetched(ticket_id: i64, n: i32, content: &[u8]) -> ();
        /// A fetch failed: tried again at `retry_at`, or (without one) given up.
        fn not_fetched = photo_not_fetched(ticket_id: i64, n: i32, retry_at: Option<DateTime<Utc>>, error: &str) -> ();
    }
}

port! {
    /// The Telegram door's inbox: updates as received, until their replies are sent.
    TelegramInbox {
        /// Records received updates `(update_id, body)` in one transaction; for each,
        /// false if it was seen before. With `claim`, new ones are recorded as begun.
        fn receive = telegram_receive(updates: &[(i64, String)], now: DateTime<Utc>, claim: bool) -> Vec<bool>;
        /// Renews the lease on an update begun as attempt `attempt`: false if it was
        /// taken over or handled meanwhile.
        fn renew = telegram_renew(update_id: i64, attempt: i32, now: DateTime<Utc>) -> bool;
        /// Starts handling an update: the attempt number, or `None` if it was handled or
        /// someone started it after `stale_before`.
        fn claim = telegram_claim(update_id: i64, now: DateTime<Utc>, stale_before: DateTime<Utc>) -> Option<i32>;
        /// Marks an update handled, with the replies (JSON) still to send.
        fn handled = telegram_handled(update_id: i64, replies: &str, now: DateTime<Utc>) -> ();
        /// Marks updates' replies sent: they are finished.
        fn sent = telegram_sent(update_ids: &[i64], now: DateTime<Utc>) -> ();
        /// Up to `limit` unfinished updates, oldest first, but those begun at or after
        /// `stale_before`.
        fn pending = telegram_pending(limit: i64, stale_before: DateTime<Utc>) -> Vec<PendingUpdate>;
        /// The getUpdates offset that confirms every recorded update.
        fn next_offset = telegram_next_offset() -> i64;
        /// Forgets finished updates received before `before` (keeping the newest).
        fn prune = telegram_prune(before: DateTime<Utc>) -> u64;
        /// Gives back updates recorded as begun on receipt but never handled.
        fn release = telegram_release(update_ids: &[i64]) -> u64;
    }
}

port! {
    /// The Discord door's inbox: events by id, so one dispatched twice is handled once.
    DiscordInbox {
        /// Records a received event; false if it was seen before.
        fn receive = discord_receive(event_id: &str, kind: &str, now: DateTime<Utc>) -> bool;
        /// Marks a received event handled.
        fn handled = discord_handled(event_id: &str, now: DateTime<Utc>) -> ();
        /// Forgets events received before `before`.
        fn prune = discord_prune(before: DateTime<Utc>) -> u64;
    }
}

port! {
    /// The WeCom door's inbox: callbacks by key, so one WeCom sends again is handled once;
    /// and its count of sends to each member, shared by every instance.
    WecomInbox {
        /// Records a received callback (key, kind, decrypted body); false if seen before.
        fn receive = wecom_receive(key: &str, kind: &str, body: &str, now: DateTime<Utc>) -> bool;
        /// Marks a received callback handled; false if it was marked already.
        fn handled = wecom_handled(key: &str, now: DateTime<Utc>) -> bool;
        /// Callbacks received before `before` and never handled, oldest first.
        fn unhandled = wecom_unhandled(before: DateTime<Utc>, limit: i64) -> Vec<(String, String)>;
        /// Forgets callbacks received before `before`.
        fn prune = wecom_prune(before: DateTime<Utc>) -> u64;
        /// Counts `n` sends to a member now if WeCom's limits (`per_minute`, `per_hour`)
        /// have room, for every instance: `None` when counted, else what is in the way.
        fn count_sends = wecom_count_sends(member: &str, n: i64, now: DateTime<Utc>, per_minute: i64, per_hour: i64) -> Option<SendCounts>;
    }
}

port! {
    /// The web chat's sessions and each web identity's messages (its history, and the
    /// mailbox notices are delivered to).
    WebChat {
        /// Records a session: the hash of its token, and the web identity behind it.
        fn create_session = web_session_create(token_hash: &str, external_id: &str, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> ();
        /// The web identity of an unexpired session.
        fn session = web_session(token_hash: &str, now: DateTime<Utc>) -> Option<String>;
        /// Ends a session.
        fn end_session = web_session_end(token_hash: &str) -> ();
        /// Adds messages `(from_bot, body)` to a web identity's history; their ids.
        fn append = web_append(external_id: &str, entries: &[(bool, String)], now: DateTime<Utc>) -> Vec<i64>;
        /// The newest `limit` messages after id `after`, oldest first.
        fn since = web_since(external_id: &str, after: i64, limit: i64) -> Vec<WebEntry>;
        /// Forgets messages from before `before`, and sessions and invitations expired by then.
        fn prune = web_prune(before: DateTime<Utc>) -> u64;
        /// Web identities whose history another instance adds to, as they are announced
        /// (`None` with one instance, on SQLite).
        fn announcements = web_announcements() -> Option<WebAnnouncements>;
    }
}

port! {
    /// Leases on work only one instance may do at a time (see `crate::lease`).
    Leases {
        /// Takes `name` for `holder` until `until`: free, ours (renewed) or expired
        /// before `now`; false if another instance holds it.
        fn take = lease_take(name: &str, holder: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> bool;
        /// Gives up `holder`'s lease on `name`.
        fn give_up = lease_give_up(name: &str, holder: &str) -> ();
    }
}

/// Every port, as the desk hands them out.
#[derive(Clone)]
pub struct Ports {
    /// For the conversation service.
    pub conversations: Conversations,
    /// For the conversation service's group cards.
    pub cards: CardBoard,
    /// For the doors that fetch photos.
    pub photos: PhotoQueue,
    /// For the Telegram door.
    pub telegram: TelegramInbox,
    /// For the Discord door.
    pub discord: DiscordInbox,
    /// For the web chat.
    pub web: WebChat,
    /// For the WeCom door.
    pub wecom: WecomInbox,
    /// For the doors whose intake one instance holds at a time.
    pub leases: Leases,
}

impl Ports {
    pub(super) fn new(store: &Store, clock: &Arc<dyn Clock>) -> Ports {
        let (store, clock) = (store.clone(), clock.clone());
        Ports {
            conversations: Conversations {
                store: store.clone(),
                clock: clock.clone(),
            },
            cards: CardBoard {
                store: store.clone(),
                clock: clock.clone(),
            },
            photos: PhotoQueue {
                store: store.clone(),
                clock: clock.clone(),
            },
            telegram: TelegramInbox {
                store: store.clone(),
                clock: clock.clone(),
            },
            discord: DiscordInbox {
                store: store.clone(),
                clock: clock.clone(),
            },
            web: WebChat {
                store: store.clone(),
                clock: clock.clone(),
            },
            wecom: WecomInbox {
                store: store.clone(),
                clock: clock.clone(),
            },
            leases: Leases { store, clock },
        }
    }
}
