//! The stand-in's world: users and their DM channels, messages, interactions, modals,
//! registered commands, the gateway session's event log, rate-limit windows, counters.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::gateway::Command;
use super::{
    Fault, SimButton, SimClock, SimConfig, SimError, SimInteraction, SimMessage, SimModal,
};

/// Rate limits like Discord's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests per second over all routes (interaction callbacks and follow-ups excluded,
    /// as on Discord); `None`: unlimited.
    pub global_per_sec: Option<u32>,
    /// Messages created per channel per window (`POST /channels/{id}/messages`).
    pub channel_messages: Option<(u32, Duration)>,
}

impl Limits {
    /// Discord's: 50 requests/s global, 5 messages per 5 s per channel.
    pub fn discord() -> Limits {
        Limits {
            global_per_sec: Some(50),
            channel_messages: Some((5, Duration::from_secs(5))),
        }
    }

    /// No limits.
    pub fn off() -> Limits {
        Limits {
            global_per_sec: None,
            channel_messages: None,
        }
    }
}

/// Counters for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests by route name (`create_message`, `interaction_callback`, …).
    pub requests: BTreeMap<String, u64>,
    /// Requests answered 429.
    pub too_many_requests: u64,
    /// Requests sent to a bucket before the `Retry-After` it was given had passed.
    pub retry_after_ignored: u64,
    /// Messages the bot created (including follow-ups).
    pub messages_created: u64,
    /// Gateway sessions identified.
    pub identifies: u64,
    /// Gateway sessions resumed.
    pub resumes: u64,
    /// Gateway connections closed because another connected while they were open: a
    /// bot holding two sessions at once (as two instances both connected would).
    pub displaced: u64,
    /// Requests answered with a failure scripted by [`crate::SimHandle::fail_next`].
    pub faults_injected: u64,
}

pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) locale: String,
    pub(crate) dm: u64,
}

/// A guild text channel.
pub(crate) struct GuildChannel {
    pub(crate) guild: u64,
    pub(crate) members: std::collections::HashSet<u64>,
}

pub(crate) struct Interaction {
    pub(crate) id: u64,
    pub(crate) user: u64,
    pub(crate) channel: u64,
    /// The message a clicked button sits on.
    pub(crate) message: Option<u64>,
    pub(crate) dispatched: Instant,
    pub(crate) callback: Option<u8>,
    pub(crate) answered_after: Option<Duration>,
    pub(crate) refused: u32,
    /// The response message (a reply, or a deferred reply's placeholder).
    pub(crate) original: Option<u64>,
    /// Delivered by HTTP to the bot's endpoint (answered in the HTTP response).
    pub(crate) over_http: bool,
}

impl Interaction {
    pub(crate) fn public(&self) -> SimInteraction {
        SimInteraction {
            id: self.id,
            user: self.user,
            callback: self.callback,
            answered_after: self.answered_after,
            refused_callbacks: self.refused,
        }
    }
}

/// The gateway session as the server keeps it.
#[derive(Default)]
pub(crate) struct Gateway {
    /// The live connection's outbox.
    pub(crate) conn: Option<mpsc::UnboundedSender<Command>>,
    /// Identified or resumed on the live connection.
    pub(crate) ready: bool,
    pub(crate) session: Option<String>,
    pub(crate) seq: u64,
    /// Every dispatch of the session, for RESUME.
    pub(crate) log: Vec<(u64, String)>,
    /// On the next RESUME, also re-send this many events the client had.
    pub(crate) replay_extra: u64,
}

#[derive(Default)]
struct Window {
    sent: VecDeque<Duration>,
    blocked_until: Option<Duration>,
}

pub(crate) struct State {
    pub(crate) clock: Arc<dyn SimClock>,
    pub(crate) limits: Limits,
    pub(crate) app_id: u64,
    pub(crate) bot_name: String,
    next_id: u64,
    pub(crate) users: HashMap<u64, User>,
    pub(crate) dm_owner: HashMap<u64, u64>,
    pub(crate) guild_channels: HashMap<u64, GuildChannel>,
    pub(crate) messages: BTreeMap<u64, SimMessage>,
    /// Message ids by channel, oldest first (lookups in one channel stay cheap under load).
    pub(crate) by_channel: HashMap<u64, Vec<u64>>,
    /// Per-channel change counters for the load mode: bumped when the bot posts or edits
    /// there (only for channels someone watches).
    pub(crate) watchers: HashMap<u64, tokio::sync::watch::Sender<u64>>,
    pub(crate) interactions: HashMap<u64, Interaction>,
    pub(crate) tokens: HashMap<String, u64>,
    pub(crate) modals: HashMap<u64, SimModal>,
    pub(crate) commands: Vec<Value>,
    pub(crate) gateway: Gateway,
    pub(crate) stats: Stats,
    global: Window,
    buckets: HashMap<String, Window>,
    pub(crate) forced_429: u32,
    pub(crate) forced_retry_after: Duration,
    /// Scripted failures by route name, used in order.
    pub(crate) faults: HashMap<String, VecDeque<Fault>>,
    /// Messages created with `enforce_nonce`, by channel and nonce (as JSON).
    pub(crate) nonces: HashMap<(u64, String), u64>,
}

/// Why a request was refused with 429.
pub(crate) struct Limited {
    pub(crate) retry_after: Duration,
    pub(crate) global: bool,
    pub(crate) bucket: String,
}

/// Rate-limit headers for a request that went through.
pub(crate) struct Passed {
    pub(crate) bucket: String,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset_after: Duration,
    pub(crate) now: Duration,
}

impl State {
    pub(crate) fn new(config: &SimConfig) -> State {
        State {
            clock: config.clock.clone(),
            limits: config.limits,
            app_id: config.application_id,
            bot_name: "baoxiu-test-bot".into(),
            next_id: 1_300_000_000_000_000_000,
            users: HashMap::new(),
            dm_owner: HashMap::new(),
            guild_channels: HashMap::new(),
            messages: BTreeMap::new(),
            by_channel: HashMap::new(),
            watchers: HashMap::new(),
            interactions: HashMap::new(),
            tokens: HashMap::new(),
            modals: HashMap::new(),
            commands: Vec::new(),
            gateway: Gateway::default(),
            stats: Stats::default(),
            global: Window::default(),
            buckets: HashMap::new(),
            forced_429: 0,
            forced_retry_after: Duration::from_secs(1),
            faults: HashMap::new(),
            nonces: HashMap::new(),
        }
    }

    /// A fresh snowflake (increasing).
    pub(crate) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    /// ISO 8601 time of the simulated clock (from 2026-11-23T01:00:00Z).
    pub(crate) fn timestamp(&self) -> String {
        let base = chrono::DateTime::parse_from_rfc3339("2026-11-23T01:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        let at = base + chrono::Duration::from_std(self.now()).unwrap_or_default();
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    pub(crate) fn add_user(&mut self, id: u64, name: &str, locale: &str) -> u64 {
        if let Some(u) = self.users.get(&id) {
            return u.dm;
        }
        let dm = self.id();
        self.users.insert(
            id,
            User {
                name: name.to_owned(),
                locale: locale.to_owned(),
                dm,
            },
        );
        self.dm_owner.insert(dm, id);
        dm
    }

    pub(crate) fn add_guild_channel(
        &mut self,
        guild: u64,
        channel: u64,
        members: &[(u64, &str, &str)],
    ) {
        for (id, name, locale) in members {
            self.add_user(*id, name, locale);
        }
        let c = self
            .guild_channels
            .entry(channel)
            .or_insert_with(|| GuildChannel {
                guild,
                members: Default::default(),
            });
        c.members.extend(members.iter().map(|m| m.0));
    }

    /// Bumps the change counter of a watched channel.
    fn touch(&self, channel: u64) {
        if let Some(w) = self.watchers.get(&channel) {
            w.send_modify(|n| *n += 1);
        }
    }

    /// Whether the bot can post in `channel` (a DM or a guild channel).
    pub(crate) fn is_channel(&self, channel: u64) -> bool {
        self.dm_owner.contains_key(&channel) || self.guild_channels.contains_key(&channel)
    }

    pub(crate) fn user_json(&self, id: u64) -> Value {
        if id == self.app_id {
            return json!({
                "id": id.to_string(), "username": self.bot_name, "discriminator": "0",
                "global_name": null, "avatar": null, "bot": true,
            });
        }
        let name = self.users.get(&id).map_or("unknown", |u| u.name.as_str());
        json!({
            "id": id.to_string(), "username": name, "discriminator": "0",
            "global_name": name, "avatar": null, "bot": false,
        })
    }

    pub(crate) fn message_json(&self, m: &SimMessage) -> Value {
        let components: Vec<Value> = m
            .buttons
            .iter()
            .map(|row| match row.first().and_then(|b| b.menu.clone()) {
                Some(menu) => {
                    let options: Vec<Value> = row
                        .iter()
                        .map(|o| json!({"label": o.label, "value": o.custom_id}))
                        .collect();
                    json!({"type": 1, "components": [
                        {"type": 3, "custom_id": menu, "options": options}
                    ]})
                }
                None => {
                    let buttons: Vec<Value> = row
                        .iter()
                        .map(|b| {
                            json!({"type": 2, "style": 1, "label": b.label,
                                   "custom_id": b.custom_id, "disabled": b.disabled})
                        })
                        .collect();
                    json!({"type": 1, "components": buttons})
                }
            })
            .collect();
        json!({
            "id": m.id.to_string(),
            "channel_id": m.channel_id.to_string(),
            "author": self.user_json(m.author_id),
            "content": m.content,
            "timestamp": self.timestamp(),
            "edited_timestamp": if m.edits > 0 { Value::from(self.timestamp()) } else { Value::Null },
            "tts": false,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": false,
            "type": 0,
            "flags": (if m.thinking { 128 } else { 0 }) | (if m.ephemeral_to.is_some() { 64 } else { 0 }),
            "guild_id": self.guild_channels.get(&m.channel_id).map(|c| c.guild.to_string()),
            "webhook_id": m.interaction.map(|_| self.app_id.to_string()),
            "application_id": m.interaction.map(|_| self.app_id.to_string()),
            "components": components,
        })
    }

    /// Appends a dispatch to the session's log and sends it on the live connection.
    pub(crate) fn dispatch(&mut self, t: &str, d: Value) {
        self.gateway.seq += 1;
        let s = self.gateway.seq;
        let frame = json!({"op": 0, "s": s, "t": t, "d": d}).to_string();
        self.gateway.log.push((s, frame.clone()));
        if self.gateway.ready
            && let Some(conn) = &self.gateway.conn
        {
            let _ = conn.send(Command::Send(frame));
        }
    }

    /// A message the bot sends (REST or a follow-up).
    pub(crate) fn bot_message(
        &mut self,
        channel: u64,
        body: &Value,
        interaction: Option<u64>,
    ) -> SimMessage {
        let id = self.id();
        let m = SimMessage {
            id,
            channel_id: channel,
            author_id: self.app_id,
            from_bot: true,
            content: body["content"].as_str().unwrap_or_default().to_owned(),
            buttons: buttons_of(body),
            allowed_mentions: body.get("allowed_mentions").cloned(),
            edits: 0,
            thinking: false,
            interaction,
            ephemeral_to: None,
        };
        self.messages.insert(id, m.clone());
        self.by_channel.entry(channel).or_default().push(id);
        self.stats.messages_created += 1;
        // A deferred reply's empty placeholder is not an answer yet.
        if !m.content.is_empty() || !m.buttons.is_empty() {
            self.touch(channel);
        }
        m
    }

    /// Applies an edit's body to a message.
    pub(crate) fn edit(&mut self, id: u64, body: &Value) -> Option<SimMessage> {
        let m = self.messages.get_mut(&id)?;
        if let Some(text) = body.get("content").and_then(Value::as_str) {
            m.content = text.to_owned();
        }
        if body.get("components").is_some() {
            m.buttons = buttons_of(body);
        }
        if body.get("allowed_mentions").is_some() {
            m.allowed_mentions = body.get("allowed_mentions").cloned();
        }
        m.edits += 1;
        m.thinking = false;
        let m = m.clone();
        self.touch(m.channel_id);
        Some(m)
    }

    pub(crate) fn user_message(&mut self, user: u64, text: &str) -> Result<SimMessage, SimError> {
        let dm = self
            .users
            .get(&user)
            .map(|u| u.dm)
            .ok_or(SimError::UnknownUser(user))?;
        let id = self.id();
        let m = SimMessage {
            id,
            channel_id: dm,
            author_id: user,
            from_bot: false,
            content: text.to_owned(),
            buttons: Vec::new(),
            allowed_mentions: None,
            edits: 0,
            thinking: false,
            interaction: None,
            ephemeral_to: None,
        };
        self.messages.insert(id, m.clone());
        self.by_channel.entry(dm).or_default().push(id);
        let d = self.message_json(&m);
        self.dispatch("MESSAGE_CREATE", d);
        Ok(m)
    }

    /// A new interaction by `user` in `channel`; its id and the common payload fields.
    fn interaction(&mut self, user: u64, channel: u64, message: Option<u64>) -> (u64, Value) {
        let guild = self.guild_channels.get(&channel).map(|c| c.guild);
        let id = self.id();
        let token = format!("itok-{id}-{}", rand::random::<u32>());
        self.interactions.insert(
            id,
            Interaction {
                id,
                user,
                channel,
                message,
                dispatched: Instant::now(),
                callback: None,
                answered_after: None,
                refused: 0,
                original: None,
                over_http: false,
            },
        );
        self.tokens.insert(token.clone(), id);
        let locale = self.users.get(&user).map_or("en-US", |u| u.locale.as_str());
        let mut base = json!({
            "id": id.to_string(),
            "application_id": self.app_id.to_string(),
            "token": token,
            "version": 1,
            "channel_id": channel.to_string(),
            "channel": {"id": channel.to_string(), "type": 1},
            "user": self.user_json(user),
            "locale": locale,
            "entitlements": [],
            "context": 1,
            "attachment_size_limit": 26_214_400,
        });
        // In a server Discord sends the member (with the user inside) and the guild.
        if let Some(guild) = guild {
            base["guild_id"] = guild.to_string().into();
            base["guild_locale"] = "zh-CN".into();
            base["channel"] =
                json!({"id": channel.to_string(), "type": 0, "guild_id": guild.to_string()});
            base["context"] = 0.into();
            base["member"] = json!({
                "user": self.user_json(user), "nick": null, "avatar": null, "roles": [],
                "joined_at": self.timestamp(), "premium_since": null, "deaf": false,
                "mute": false, "flags": 0, "pending": false, "permissions": "1024",
                "communication_disabled_until": null,
            });
            if let Some(o) = base.as_object_mut() {
                o.remove("user");
            }
        }
        (id, base)
    }

    pub(crate) fn click(
        &mut self,
        user: u64,
        message_id: u64,
        label: &str,
        forged: bool,
    ) -> Result<u64, SimError> {
        if !self.users.contains_key(&user) {
            return Err(SimError::UnknownUser(user));
        }
        let m = self
            .messages
            .get(&message_id)
            .cloned()
            .ok_or(SimError::UnknownMessage(message_id))?;
        if let Some(c) = self.guild_channels.get(&m.channel_id)
            && !c.members.contains(&user)
        {
            return Err(SimError::NotMember {
                user,
                channel: m.channel_id,
            });
        }
        let data = if forged {
            json!({"custom_id": label, "component_type": 2})
        } else {
            let b = m
                .button(label)
                .filter(|b| !b.disabled)
                .ok_or_else(|| SimError::NoSuchButton(label.to_owned()))?;
            match &b.menu {
                Some(menu) => json!({"custom_id": menu, "component_type": 3,
                                     "values": [b.custom_id]}),
                None => json!({"custom_id": b.custom_id, "component_type": 2}),
            }
        };
        let (id, mut d) = self.interaction(user, m.channel_id, Some(m.id));
        d["type"] = 3.into();
        d["data"] = data;
        d["message"] = self.message_json(&m);
        self.dispatch("INTERACTION_CREATE", d);
        Ok(id)
    }

    pub(crate) fn slash(
        &mut self,
        user: u64,
        name: &str,
        options: &[(&str, &str)],
    ) -> Result<u64, SimError> {
        let (id, d) = self.slash_payload(user, name, options)?;
        self.dispatch("INTERACTION_CREATE", d);
        Ok(id)
    }

    /// A slash command interaction for delivery by HTTP (not dispatched): its id and
    /// body. Follow-ups are taken for it at once (the stand-in does not see the HTTP
    /// answer, which Discord has before any follow-up).
    pub(crate) fn http_slash(
        &mut self,
        user: u64,
        name: &str,
        options: &[(&str, &str)],
    ) -> Result<(u64, Value), SimError> {
        let (id, d) = self.slash_payload(user, name, options)?;
        if let Some(i) = self.interactions.get_mut(&id) {
            i.over_http = true;
        }
        Ok((id, d))
    }

    fn slash_payload(
        &mut self,
        user: u64,
        name: &str,
        options: &[(&str, &str)],
    ) -> Result<(u64, Value), SimError> {
        let dm = self
            .users
            .get(&user)
            .map(|u| u.dm)
            .ok_or(SimError::UnknownUser(user))?;
        let command_id = self
            .commands
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "1".to_owned());
        let (id, mut d) = self.interaction(user, dm, None);
        d["type"] = 2.into();
        let options: Vec<Value> = options
            .iter()
            .map(|(n, v)| json!({"name": n, "type": 3, "value": v}))
            .collect();
        d["data"] = json!({"id": command_id, "name": name, "type": 1, "options": options});
        Ok((id, d))
    }

    pub(crate) fn submit_modal(
        &mut self,
        user: u64,
        values: &BTreeMap<String, String>,
    ) -> Result<u64, SimError> {
        let modal = self.modals.remove(&user).ok_or(SimError::NoModal(user))?;
        let dm = self
            .users
            .get(&user)
            .map(|u| u.dm)
            .ok_or(SimError::UnknownUser(user))?;
        let (id, mut d) = self.interaction(user, dm, None);
        d["type"] = 5.into();
        let rows: Vec<Value> = modal
            .fields
            .iter()
            .map(|(field, _)| {
                let value = values.get(field).cloned().unwrap_or_default();
                json!({"type": 1, "components": [{"type": 4, "custom_id": field, "value": value}]})
            })
            .collect();
        d["data"] = json!({"custom_id": modal.custom_id, "components": rows});
        self.dispatch("INTERACTION_CREATE", d);
        Ok(id)
    }

    /// The failure scripted for the next request to `route`, if any (counted).
    pub(crate) fn fault(&mut self, route: &str) -> Option<Fault> {
        let fault = self.faults.get_mut(route)?.pop_front()?;
        self.stats.faults_injected += 1;
        Some(fault)
    }

    /// Counts a request against the limits: `Ok` with the headers to send, or the 429.
    pub(crate) fn limit(
        &mut self,
        bucket: Option<String>,
        global: bool,
    ) -> Result<Passed, Limited> {
        let now = self.now();
        let second = Duration::from_secs(1);
        let key = bucket.clone().unwrap_or_else(|| "global".into());
        if let Some(w) = self.buckets.get(&key)
            && w.blocked_until.is_some_and(|t| t > now)
        {
            self.stats.retry_after_ignored += 1;
        }
        if self.forced_429 > 0 {
            self.forced_429 -= 1;
            let retry_after = self.forced_retry_after;
            self.buckets.entry(key.clone()).or_default().blocked_until = Some(now + retry_after);
            self.stats.too_many_requests += 1;
            return Err(Limited {
                retry_after,
                global: true,
                bucket: key,
            });
        }
        if global && let Some(max) = self.limits.global_per_sec {
            let w = &mut self.global;
            while w.sent.front().is_some_and(|t| *t + second <= now) {
                w.sent.pop_front();
            }
            if w.sent.len() >= max as usize {
                let retry_after = w.sent.front().map_or(second, |t| *t + second - now);
                self.buckets.entry(key.clone()).or_default().blocked_until =
                    Some(now + retry_after);
                self.stats.too_many_requests += 1;
                return Err(Limited {
                    retry_after,
                    global: true,
                    bucket: key,
                });
            }
            w.sent.push_back(now);
        }
        let (limit, per) = match (&bucket, self.limits.channel_messages) {
            (Some(b), Some(l)) if b.starts_with("messages:") => l,
            _ => (50, second),
        };
        let w = self.buckets.entry(key.clone()).or_default();
        while w.sent.front().is_some_and(|t| *t + per <= now) {
            w.sent.pop_front();
        }
        if bucket.is_some() && w.sent.len() >= limit as usize {
            let retry_after = w.sent.front().map_or(per, |t| *t + per - now);
            w.blocked_until = Some(now + retry_after);
            self.stats.too_many_requests += 1;
            return Err(Limited {
                retry_after,
                global: false,
                bucket: key,
            });
        }
        w.sent.push_back(now);
        let reset_after = w.sent.front().map_or(per, |t| *t + per - now);
        Ok(Passed {
            remaining: limit.saturating_sub(w.sent.len() as u32),
            limit,
            bucket: key,
            reset_after,
            now,
        })
    }
}

/// Buttons from a message body's `components`: action rows of buttons, and a string
/// select menu as a row of its options (other components are not shown).
pub(crate) fn buttons_of(body: &Value) -> Vec<Vec<SimButton>> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    body["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let components = row["components"].as_array().into_iter().flatten();
            components
                .flat_map(|c| match c["type"].as_u64() {
                    Some(2) => vec![SimButton {
                        custom_id: text(&c["custom_id"]),
                        label: text(&c["label"]),
                        disabled: c["disabled"].as_bool().unwrap_or(false),
                        menu: None,
                    }],
                    Some(3) => c["options"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|o| SimButton {
                            custom_id: text(&o["value"]),
                            label: text(&o["label"]),
                            disabled: c["disabled"].as_bool().unwrap_or(false),
                            menu: Some(text(&c["custom_id"])),
                        })
                        .collect(),
                    _ => vec![],
                })
                .collect::<Vec<_>>()
        })
        .filter(|row| !row.is_empty())
        .collect()
}
