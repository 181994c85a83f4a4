//! The simulated server's state and every operation on it: Bot API methods (called by
//! the HTTP layer) and injections and reads (called by tests and load mode).
//!
//! One mutex guards everything: each operation is a few map look-ups, far cheaper
//! than the HTTP around it, and one lock keeps update ids, message ids and transcripts
//! consistent without reasoning about lock order.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::SimError;
use super::TgSimConfig;
use super::limits::Limiter;
use super::markup;
use super::model::{
    BotEvent, BotEventKind, CallbackAnswer, CallbackRecord, ChatType, Contact, Content, Injected,
    SimChat, SimMessage, SimUser, Stats, WebhookState,
};
use super::params::{ApiError, ChatRef, Params};

/// Telegram's limit on message text, in UTF-16 code units after entity parsing.
pub const MAX_TEXT: usize = 4096;
/// Telegram's limit on media captions.
pub const MAX_CAPTION: usize = 1024;
/// Telegram's limit on callback data, in bytes.
pub const MAX_CALLBACK_DATA: usize = 64;

/// getUpdates' answer when nothing is pending.
const NO_UPDATES: &str = "[]";

/// An update waiting for the bot.
#[derive(Debug, Clone)]
pub(crate) struct PendingUpdate {
    pub(crate) id: i64,
    /// Chat it belongs to: webhook delivery keeps each chat's updates in order.
    pub(crate) chat_id: i64,
    /// The Update object as JSON text, serialised once however often it is delivered.
    pub(crate) body: Arc<str>,
}

/// A file the bot can fetch with getFile.
#[derive(Debug, Clone)]
struct StoredFile {
    file_id: String,
    unique_id: String,
    path: String,
    bytes: std::sync::Arc<Vec<u8>>,
}

#[derive(Debug)]
struct ChatState {
    chat: SimChat,
    members: BTreeSet<i64>,
    /// Index = message_id - 1.
    messages: Vec<SimMessage>,
    events: Vec<BotEvent>,
    /// Bumped on every bot event in this chat; waiters subscribe to it.
    notify: watch::Sender<u64>,
}

impl ChatState {
    fn new(chat: SimChat) -> Self {
        Self {
            chat,
            members: BTreeSet::new(),
            messages: Vec::new(),
            events: Vec::new(),
            notify: watch::Sender::new(0),
        }
    }

    fn message(&self, id: i64) -> Option<&SimMessage> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.messages.get(i))
    }

    fn message_mut(&mut self, id: i64) -> Option<&mut SimMessage> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.messages.get_mut(i))
    }
}

/// The webhook settings.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub(crate) url: String,
    pub(crate) secret: Option<String>,
    pub(crate) max_connections: u32,
}

/// Everything behind the lock.
#[derive(Debug)]
pub(crate) struct State {
    users: HashMap<i64, SimUser>,
    blocked: HashSet<i64>,
    chats: HashMap<i64, ChatState>,
    pub(crate) updates: VecDeque<PendingUpdate>,
    next_update_id: i64,
    files: HashMap<String, StoredFile>,
    paths: HashMap<String, String>,
    next_file: u64,
    callbacks: HashMap<String, CallbackRecord>,
    next_callback: u64,
    commands: HashMap<String, Value>,
    pub(crate) webhook: Option<Webhook>,
    /// Changes whenever the webhook is set, deleted or reset, so deliveries in flight
    /// for an old webhook are not counted against the new one.
    pub(crate) webhook_gen: u64,
    pub(crate) last_webhook_error: Option<(i64, String)>,
    limiter: Limiter,
    pub(crate) stats: Stats,
    poll_gen: u64,
    event_seq: u64,
}

impl State {
    fn new(first_update_id: i64) -> Self {
        Self {
            users: HashMap::new(),
            blocked: HashSet::new(),
            chats: HashMap::new(),
            updates: VecDeque::new(),
            next_update_id: first_update_id,
            files: HashMap::new(),
            paths: HashMap::new(),
            next_file: 1,
            callbacks: HashMap::new(),
            next_callback: 1,
            commands: HashMap::new(),
            webhook: None,
            webhook_gen: 0,
            last_webhook_error: None,
            limiter: Limiter::default(),
            stats: Stats::default(),
            poll_gen: 0,
            event_seq: 0,
        }
    }

    /// Removes an update accepted by the webhook.
    pub(crate) fn confirm_update(&mut self, id: i64) {
        if let Some(pos) = self.updates.iter().position(|u| u.id == id) {
            self.updates.remove(pos);
            self.stats.updates_confirmed += 1;
        }
    }

    pub(crate) fn webhook_state(&self) -> Option<WebhookState> {
        self.webhook.as_ref().map(|w| WebhookState {
            url: w.url.clone(),
            secret_token: w.secret.clone(),
            max_connections: w.max_connections,
            pending_update_count: self.updates.len(),
            last_error_message: self.last_webhook_error.as_ref().map(|e| e.1.clone()),
        })
    }
}

/// The simulator shared between the HTTP server, background tasks and handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: TgSimConfig,
    pub(crate) bot_id: i64,
    state: Mutex<State>,
    /// Bumped when updates arrive, polls start, or the webhook changes.
    pub(crate) signal: watch::Sender<u64>,
    /// Becomes true on shutdown; long polls and the webhook task end.
    pub(crate) shutdown: watch::Sender<bool>,
    /// Becomes true at the bot's first authorized request (load mode waits for it).
    pub(crate) bot_seen: watch::Sender<bool>,
    /// Wall-clock unix seconds when the clock read zero.
    wall_origin: i64,
}

/// Which kind of bot message to render.
fn bot_user_json(config: &TgSimConfig, bot_id: i64) -> Value {
    json!({
        "id": bot_id,
        "is_bot": true,
        "first_name": config.bot_first_name,
        "username": config.bot_username,
    })
}

fn user_json(u: &SimUser) -> Value {
    let mut v = json!({"id": u.id, "is_bot": false, "first_name": u.first_name});
    if let Some(x) = &u.last_name {
        v["last_name"] = json!(x);
    }
    if let Some(x) = &u.username {
        v["username"] = json!(x);
    }
    if let Some(x) = &u.language_code {
        v["language_code"] = json!(x);
    }
    v
}

fn chat_json(chat: &SimChat, users: &HashMap<i64, SimUser>) -> Value {
    match chat.kind {
        ChatType::Private => {
            let mut v = json!({"id": chat.id, "type": "private"});
            if let Some(u) = users.get(&chat.id) {
                v["first_name"] = json!(u.first_name);
                if let Some(x) = &u.last_name {
                    v["last_name"] = json!(x);
                }
                if let Some(x) = &u.username {
                    v["username"] = json!(x);
                }
            } else {
                v["first_name"] = json!(format!("User {}", chat.id));
            }
            v
        }
        ChatType::Group | ChatType::Supergroup => {
            let kind = if chat.kind == ChatType::Group {
                "group"
            } else {
                "supergroup"
            };
            let mut v = json!({
                "id": chat.id,
                "type": kind,
                "title": chat.title.clone().unwrap_or_else(|| format!("Group {}", chat.id)),
            });
            if let Some(x) = &chat.username {
                v["username"] = json!(x);
            }
            v
        }
    }
}

/// Entities for a user's text: a leading `/command` is a bot_command, which
/// frameworks such as python-telegram-bot require to recognise commands.
fn user_text_entities(text: &str) -> Vec<Value> {
    if !text.starts_with('/') {
        return Vec::new();
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    if end < 2 {
        return Vec::new();
    }
    vec![json!({"type": "bot_command", "offset": 0, "length": markup::utf16_len(&text[..end])})]
}

const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// Checks a reply_markup the way Telegram does and returns it normalised.
fn check_markup(markup: Option<Value>, inline_only: bool) -> Result<Option<Value>, ApiError> {
    let Some(markup) = markup else {
        return Ok(None);
    };
    let Some(obj) = markup.as_object() else {
        return Err(ApiError::bad_request(
            "can't parse reply keyboard markup JSON object",
        ));
    };
    if let Some(rows) = obj.get("inline_keyboard") {
        let rows = rows.as_array().ok_or_else(|| {
            ApiError::bad_request(
                "can't parse inline keyboard button: InlineKeyboardButton must be an Object",
            )
        })?;
        for row in rows {
            let row = row.as_array().ok_or_else(|| {
                ApiError::bad_request("can't parse inline keyboard button: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays")
            })?;
            for button in row {
                let text = button.get("text").and_then(Value::as_str);
                if text.is_none_or(str::is_empty) {
                    return Err(ApiError::bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                    ));
                }
                if let Some(data) = button.get("callback_data") {
                    let data = data.as_str().unwrap_or_default();
                    if data.is_empty() || data.len() > MAX_CALLBACK_DATA {
                        return Err(ApiError::bad_request("BUTTON_DATA_INVALID"));
                    }
                } else if ![
                    "url",
                    "login_url",
                    "switch_inline_query",
                    "switch_inline_query_current_chat",
                    "switch_inline_query_chosen_chat",
                    "copy_text",
                    "callback_game",
                    "pay",
                    "web_app",
                ]
                .iter()
                .any(|k| button.get(*k).is_some())
                {
                    return Err(ApiError::bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                    ));
                }
            }
        }
        return Ok(Some(markup));
    }
    if inline_only {
        return Err(ApiError::bad_request("inline keyboard expected"));
    }
    if obj.contains_key("keyboard")
        || obj.contains_key("remove_keyboard")
        || obj.contains_key("force_reply")
    {
        return Ok(Some(markup));
    }
    Err(ApiError::bad_request(
        "can't parse reply keyboard markup JSON object",
    ))
}

fn now_secs_since(origin: Duration) -> i64 {
    i64::try_from(origin.as_secs()).unwrap_or(i64::MAX)
}

impl Shared {
    pub(crate) fn new(config: TgSimConfig) -> Self {
        // "123456:ABC" → bot id 123456, as Telegram derives it.
        let bot_id = config
            .token
            .split(':')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let wall_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(now_secs_since)
            .unwrap_or(0);
        let wall_origin = wall_now - now_secs_since(config.clock.now());
        Self {
            state: Mutex::new(State::new(config.first_update_id)),
            bot_id,
            config,
            signal: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
            bot_seen: watch::Sender::new(false),
            wall_origin,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clock_ms(&self) -> u64 {
        u64::try_from(self.config.clock.now().as_millis()).unwrap_or(u64::MAX)
    }

    fn unix_now(&self) -> i64 {
        self.wall_origin + now_secs_since(self.config.clock.now())
    }

    fn bump(&self) {
        self.signal.send_modify(|v| *v = v.wrapping_add(1));
    }

    // ---------- rendering ----------

    fn render_message(&self, st: &State, msg: &SimMessage) -> Value {
        let Some(chat) = st.chats.get(&msg.chat_id) else {
            return Value::Null;
        };
        let from = if msg.from_bot {
            bot_user_json(&self.config, self.bot_id)
        } else {
            let id = msg.from_user.unwrap_or(msg.chat_id);
            st.users
                .get(&id)
                .map(user_json)
                .unwrap_or_else(|| user_json(&SimUser::new(id)))
        };
        let mut v = json!({
            "message_id": msg.message_id,
            "from": from,
            "chat": chat_json(&chat.chat, &st.users),
            "date": msg.date,
        });
        let c = &msg.content;
        if let Some(edit) = msg.edit_date {
            v["edit_date"] = json!(edit);
        }
        if let Some(reply) = msg.reply_to.and_then(|id| chat.message(id)) {
            // One level deep, as Telegram does.
            let mut inner = self.render_message_shallow(st, reply);
            if let Some(o) = inner.as_object_mut() {
                o.remove("reply_to_message");
            }
            v["reply_to_message"] = inner;
        }
        if let Some(text) = &c.text {
            v["text"] = json!(text);
            if !c.entities.is_empty() {
                v["entities"] = json!(c.entities);
            }
        }
        if let Some(file_id) = &c.photo {
            let (unique, size) = st
                .files
                .get(file_id)
                .map(|f| (f.unique_id.clone(), f.bytes.len()))
                .unwrap_or_default();
            v["photo"] = json!([{
                "file_id": file_id, "file_unique_id": unique,
                "width": 1280, "height": 960, "file_size": size,
            }]);
            if let Some(caption) = &c.caption {
                v["caption"] = json!(caption);
                if !c.entities.is_empty() {
                    v["caption_entities"] = json!(c.entities);
                }
            }
        }
        if let Some(contact) = &c.contact {
            v["contact"] = serde_json::to_value(contact).unwrap_or(Value::Null);
        }
        if let Some(markup) = &c.reply_markup
            && markup.get("inline_keyboard").is_some()
        {
            // Only inline keyboards are part of the Message object.
            v["reply_markup"] = markup.clone();
        }
        v
    }

    fn render_message_shallow(&self, st: &State, msg: &SimMessage) -> Value {
        let mut m = msg.clone();
        m.reply_to = None;
        self.render_message(st, &m)
    }

    // ---------- helpers ----------

    fn resolve_chat(&self, st: &State, chat: &ChatRef) -> Result<i64, ApiError> {
        let id = match chat {
            ChatRef::Id(id) => *id,
            ChatRef::Username(name) => st
                .chats
                .values()
                .find(|c| c.chat.username.as_deref() == Some(name.as_str()))
                .map(|c| c.chat.id)
                .ok_or_else(|| ApiError::bad_request("chat not found"))?,
        };
        if !st.chats.contains_key(&id) {
            // A known user who never wrote to the bot cannot be messaged first.
            if id > 0 && st.users.contains_key(&id) {
                return Err(ApiError::forbidden(
                    "bot can't initiate conversation with a user",
                ));
            }
            return Err(ApiError::bad_request("chat not found"));
        }
        if id > 0 && st.blocked.contains(&id) {
            return Err(ApiError::forbidden("bot was blocked by the user"));
        }
        Ok(id)
    }

    fn next_seq(st: &mut State) -> u64 {
        st.event_seq += 1;
        st.event_seq
    }

    fn record_event(st: &mut State, kind: BotEventKind, chat_id: i64, message_id: i64) {
        let seq = Self::next_seq(st);
        if let Some(chat) = st.chats.get_mut(&chat_id) {
            let content = chat
                .message(message_id)
                .map(|m| m.content.clone())
                .unwrap_or_default();
            chat.events.push(BotEvent {
                seq,
                kind,
                chat_id,
                message_id,
                content,
            });
            chat.notify.send_modify(|v| *v = seq);
        }
    }

    fn push_update(&self, st: &mut State, chat_id: i64, key: &str, payload: Value) -> i64 {
        let id = st.next_update_id;
        st.next_update_id += 1;
        let mut body = json!({"update_id": id});
        body[key] = payload;
        let body = body.to_string().into();
        st.updates.push_back(PendingUpdate { id, chat_id, body });
        st.stats.updates_created += 1;
        id
    }

    fn add_message(st: &mut State, chat_id: i64, mut msg: SimMessage) -> i64 {
        let Some(chat) = st.chats.get_mut(&chat_id) else {
            return 0;
        };
        let id = i64::try_from(chat.messages.len()).unwrap_or(i64::MAX - 1) + 1;
        msg.message_id = id;
        chat.messages.push(msg);
        id
    }

    fn new_file(st: &mut State, bytes: Vec<u8>, dir: &str, ext: &str) -> String {
        let n = st.next_file;
        st.next_file += 1;
        let file_id = format!("AgACAgIAAxkBAAI{n:06}tgsim");
        let path = format!("{dir}/file_{n}.{ext}");
        st.paths.insert(path.clone(), file_id.clone());
        st.files.insert(
            file_id.clone(),
            StoredFile {
                file_id: file_id.clone(),
                unique_id: format!("AQAD{n:06}"),
                path,
                bytes: std::sync::Arc::new(bytes),
            },
        );
        file_id
    }

    fn parse_text(
        text: &str,
        parse_mode: Option<&str>,
        max: usize,
        too_long: &str,
        empty: &str,
    ) -> Result<(String, Vec<Value>), ApiError> {
        let (plain, entities) = markup::parse(text, parse_mode).map_err(ApiError::bad_request)?;
        if plain.trim().is_empty() {
            return Err(ApiError::bad_request(empty));
        }
        if markup::utf16_len(&plain) > max {
            return Err(ApiError::bad_request(too_long));
        }
        Ok((plain, entities))
    }

    fn admit(&self, st: &mut State, chat_id: i64) -> Result<(), ApiError> {
        let now = self.config.clock.now();
        if st.limiter.too_early(chat_id, now) {
            st.stats.retry_after_ignored += 1;
        }
        st.limiter
            .admit(&self.config.limits, chat_id, now)
            .map_err(|retry| {
                st.stats.too_many_requests += 1;
                *st.stats
                    .too_many_requests_by_chat
                    .entry(chat_id)
                    .or_default() += 1;
                ApiError::too_many_requests(retry)
            })
    }

    fn reply_to(p: &Params) -> Result<Option<i64>, ApiError> {
        if let Some(id) = p.i64("reply_to_message_id")? {
            return Ok(Some(id));
        }
        match p.json("reply_parameters") {
            Ok(Some(v)) => Ok(v.get("message_id").and_then(Value::as_i64)),
            Ok(None) => Ok(None),
            Err(_) => Err(ApiError::bad_request(
                "can't parse reply parameters JSON object",
            )),
        }
    }

    // ---------- Bot API methods ----------

    /// Runs a Bot API method other than getUpdates. `method` is lower-case.
    pub(crate) fn call(&self, method: &str, p: &Params) -> Result<Value, ApiError> {
        match method {
            "getme" => Ok(self.get_me()),
            "sendmessage" => self.send_message(p),
            "sendphoto" => self.send_photo(p),
            "editmessagetext" => self.edit_message(p, EditKind::Text),
            "editmessagecaption" => self.edit_message(p, EditKind::Caption),
            "editmessagereplymarkup" => self.edit_message(p, EditKind::Markup),
            "answercallbackquery" => self.answer_callback_query(p),
            "deletemessage" => self.delete_message(p),
            "sendchataction" => self.send_chat_action(p),
            "getfile" => self.get_file(p),
            "setmycommands" => self.set_my_commands(p),
            "getmycommands" => self.get_my_commands(p),
            "deletemycommands" => self.delete_my_commands(p),
            "setwebhook" => self.set_webhook(p),
            "deletewebhook" => self.delete_webhook(p),
            "getwebhookinfo" => Ok(self.get_webhook_info()),
            "logout" | "close" => Ok(Value::Bool(true)),
            _ => Err(ApiError::not_found()),
        }
    }

    fn get_me(&self) -> Value {
        let mut v = bot_user_json(&self.config, self.bot_id);
        v["can_join_groups"] = json!(true);
        v["can_read_all_group_messages"] = json!(false);
        v["supports_inline_queries"] = json!(false);
        v["can_connect_to_business"] = json!(false);
        v["has_main_web_app"] = json!(false);
        v
    }

    fn send_message(&self, p: &Params) -> Result<Value, ApiError> {
        let chat = p.chat()?;
        let text = p.str("text").unwrap_or_default();
        let parse_mode = p.str("parse_mode").filter(|s| !s.is_empty());
        let (plain, entities) = Self::parse_text(
            &text,
            parse_mode.as_deref(),
            MAX_TEXT,
            "message is too long",
            "message text is empty",
        )?;
        let markup = check_markup(
            p.json("reply_markup").map_err(|_| {
                ApiError::bad_request("can't parse reply keyboard markup JSON object")
            })?,
            false,
        )?;
        let reply_to = Self::reply_to(p)?;
        let mut st = self.lock();
        let chat_id = self.resolve_chat(&st, &chat)?;
        self.admit(&mut st, chat_id)?;
        let content = Content {
            text: Some(plain),
            raw_text: Some(text),
            parse_mode,
            entities,
            reply_markup: markup,
            ..Content::default()
        };
        self.commit_bot_message(&mut st, chat_id, content, reply_to)
    }

    fn commit_bot_message(
        &self,
        st: &mut State,
        chat_id: i64,
        content: Content,
        reply_to: Option<i64>,
    ) -> Result<Value, ApiError> {
        let msg = SimMessage {
            chat_id,
            message_id: 0,
            from_bot: true,
            from_user: None,
            date: self.unix_now(),
            sent_at_ms: self.clock_ms(),
            edit_date: None,
            reply_to: reply_to.filter(|id| {
                st.chats
                    .get(&chat_id)
                    .is_some_and(|c| c.message(*id).is_some())
            }),
            content: Arc::new(content),
            edits: Vec::new(),
            deleted: false,
        };
        let id = Self::add_message(st, chat_id, msg);
        st.stats.messages_sent += 1;
        Self::record_event(st, BotEventKind::Sent, chat_id, id);
        let rendered = st
            .chats
            .get(&chat_id)
            .and_then(|c| c.message(id))
            .map(|m| self.render_message(st, m))
            .unwrap_or(Value::Null);
        Ok(rendered)
    }

    fn send_photo(&self, p: &Params) -> Result<Value, ApiError> {
        let chat = p.chat()?;
        let caption = p.str("caption").filter(|s| !s.is_empty());
        let parse_mode = p.str("parse_mode").filter(|s| !s.is_empty());
        let (caption, entities) = match &caption {
            Some(c) => {
                let (plain, ents) =
                    markup::parse(c, parse_mode.as_deref()).map_err(ApiError::bad_request)?;
                if markup::utf16_len(&plain) > MAX_CAPTION {
                    return Err(ApiError::bad_request("message caption is too long"));
                }
                (Some(plain), ents)
            }
            None => (None, Vec::new()),
        };
        let markup = check_markup(
            p.json("reply_markup").map_err(|_| {
                ApiError::bad_request("can't parse reply keyboard markup JSON object")
            })?,
            false,
        )?;
        let reply_to = Self::reply_to(p)?;
        let mut st = self.lock();
        let chat_id = self.resolve_chat(&st, &chat)?;
        // Where the photo comes from: a file part, attach://name, a known file id, or a URL.
        let upload = match (p.upload("photo"), p.str("photo")) {
            (Some(u), _) => Some(u.bytes.clone()),
            (None, Some(s)) if s.starts_with("attach://") => Some(
                p.upload(&s["attach://".len()..])
                    .ok_or_else(|| {
                        ApiError::bad_request("wrong file identifier/HTTP URL specified")
                    })?
                    .bytes
                    .clone(),
            ),
            (None, Some(s)) if st.files.contains_key(&s) => None,
            (None, Some(s)) if s.starts_with("http://") || s.starts_with("https://") => {
                Some(Vec::new())
            }
            (None, Some(_)) => {
                return Err(ApiError::bad_request(
                    "wrong file identifier/HTTP URL specified",
                ));
            }
            (None, None) => return Err(ApiError::bad_request("there is no photo in the request")),
        };
        self.admit(&mut st, chat_id)?;
        let file_id = match upload {
            Some(bytes) => Self::new_file(&mut st, bytes, "photos", "jpg"),
            None => p.str("photo").unwrap_or_default(),
        };
        let content = Content {
            caption,
            raw_text: p.str("caption"),
            parse_mode,
            entities,
            photo: Some(file_id),
            reply_markup: markup,
            ..Content::default()
        };
        self.commit_bot_message(&mut st, chat_id, content, reply_to)
    }

    fn edit_message(&self, p: &Params, kind: EditKind) -> Result<Value, ApiError> {
        if p.str("inline_message_id").is_some() {
            return Err(ApiError::bad_request("inline messages are not simulated"));
        }
        let chat = p.chat()?;
        let message_id = p
            .i64("message_id")?
            .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
        let parse_mode = p.str("parse_mode").filter(|s| !s.is_empty());
        let new_text = match kind {
            EditKind::Text => {
                let text = p.str("text").unwrap_or_default();
                let (plain, ents) = Self::parse_text(
                    &text,
                    parse_mode.as_deref(),
                    MAX_TEXT,
                    "message is too long",
                    "message text is empty",
                )?;
                Some((text, plain, ents))
            }
            EditKind::Caption => {
                let text = p.str("caption").unwrap_or_default();
                let (plain, ents) =
                    markup::parse(&text, parse_mode.as_deref()).map_err(ApiError::bad_request)?;
                if markup::utf16_len(&plain) > MAX_CAPTION {
                    return Err(ApiError::bad_request("message caption is too long"));
                }
                Some((text, plain, ents))
            }
            EditKind::Markup => None,
        };
        // Leaving reply_markup out of an edit removes the inline keyboard, as on Telegram.
        let markup = check_markup(
            p.json("reply_markup").map_err(|_| {
                ApiError::bad_request("can't parse reply keyboard markup JSON object")
            })?,
            true,
        )?;
        let mut st = self.lock();
        let chat_id = self.resolve_chat(&st, &chat)?;
        let now = self.unix_now();
        let chat_state = st
            .chats
            .get_mut(&chat_id)
            .ok_or_else(|| ApiError::bad_request("chat not found"))?;
        let msg = chat_state
            .message_mut(message_id)
            .filter(|m| !m.deleted)
            .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
        if !msg.from_bot {
            return Err(ApiError::bad_request("message can't be edited"));
        }
        let mut next = Content::clone(&msg.content);
        match (kind, new_text) {
            (EditKind::Text, Some((raw, plain, ents))) => {
                if msg.content.text.is_none() {
                    return Err(ApiError::bad_request(
                        "there is no text in the message to edit",
                    ));
                }
                next.text = Some(plain);
                next.raw_text = Some(raw);
                next.entities = ents;
                next.parse_mode = parse_mode;
            }
            (EditKind::Caption, Some((raw, plain, ents))) => {
                if msg.content.photo.is_none() {
                    return Err(ApiError::bad_request(
                        "there is no caption in the message to edit",
                    ));
                }
                next.caption = Some(plain).filter(|c| !c.is_empty());
                next.raw_text = Some(raw);
                next.entities = ents;
                next.parse_mode = parse_mode;
            }
            _ => {}
        }
        next.reply_markup = markup;
        if next.shown_text() == msg.content.shown_text()
            && next.entities == msg.content.entities
            && next.reply_markup == msg.content.reply_markup
        {
            return Err(ApiError::bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
            ));
        }
        let old = std::mem::replace(&mut msg.content, Arc::new(next));
        msg.edits.push(old);
        msg.edit_date = Some(now);
        st.stats.messages_edited += 1;
        Self::record_event(&mut st, BotEventKind::Edited, chat_id, message_id);
        let rendered = st
            .chats
            .get(&chat_id)
            .and_then(|c| c.message(message_id))
            .map(|m| self.render_message(&st, m))
            .unwrap_or(Value::Null);
        Ok(rendered)
    }

    fn answer_callback_query(&self, p: &Params) -> Result<Value, ApiError> {
        let invalid = || {
            ApiError::bad_request(
                "query is too old and response timeout expired or query ID is invalid",
            )
        };
        let id = p.str("callback_query_id").ok_or_else(invalid)?;
        let text = p.str("text").filter(|t| !t.is_empty());
        if text.as_deref().is_some_and(|t| t.chars().count() > 200) {
            return Err(ApiError::bad_request("MESSAGE_TOO_LONG"));
        }
        let mut st = self.lock();
        let record = st.callbacks.get_mut(&id).ok_or_else(invalid)?;
        if record.answer.is_some() {
            return Err(invalid());
        }
        record.answer = Some(CallbackAnswer {
            text,
            show_alert: p.bool("show_alert"),
            url: p.str("url"),
        });
        Ok(Value::Bool(true))
    }

    fn delete_message(&self, p: &Params) -> Result<Value, ApiError> {
        let chat = p.chat()?;
        let message_id = p
            .i64("message_id")?
            .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
        let mut st = self.lock();
        let chat_id = self.resolve_chat(&st, &chat)?;
        let msg = st
            .chats
            .get_mut(&chat_id)
            .and_then(|c| c.message_mut(message_id))
            .filter(|m| !m.deleted)
            .ok_or_else(|| ApiError::bad_request("message to delete not found"))?;
        msg.deleted = true;
        let from_bot = msg.from_bot;
        if from_bot {
            Self::record_event(&mut st, BotEventKind::Deleted, chat_id, message_id);
        }
        Ok(Value::Bool(true))
    }

    fn send_chat_action(&self, p: &Params) -> Result<Value, ApiError> {
        let chat = p.chat()?;
        let action = p.str("action").unwrap_or_default();
        if !CHAT_ACTIONS.contains(&action.as_str()) {
            return Err(ApiError::bad_request("wrong parameter action in request"));
        }
        let st = self.lock();
        self.resolve_chat(&st, &chat)?;
        Ok(Value::Bool(true))
    }

    fn get_file(&self, p: &Params) -> Result<Value, ApiError> {
        let id = p.str("file_id").unwrap_or_default();
        let st = self.lock();
        let f = st
            .files
            .get(&id)
            .ok_or_else(|| ApiError::bad_request("invalid file_id"))?;
        Ok(json!({
            "file_id": f.file_id,
            "file_unique_id": f.unique_id,
            "file_size": f.bytes.len(),
            "file_path": f.path,
        }))
    }

    /// Bytes of a file by its `file_path`, for `/file/bot<token>/<path>`.
    pub(crate) fn file_bytes(&self, path: &str) -> Option<std::sync::Arc<Vec<u8>>> {
        let st = self.lock();
        let id = st.paths.get(path)?;
        st.files.get(id).map(|f| f.bytes.clone())
    }

    fn commands_key(p: &Params) -> Result<String, ApiError> {
        let scope = p
            .json("scope")
            .map_err(|_| ApiError::bad_request("can't parse BotCommandScope JSON object"))?
            .unwrap_or_else(|| json!({"type": "default"}));
        let lang = p.str("language_code").unwrap_or_default();
        Ok(format!("{scope}|{lang}"))
    }

    fn set_my_commands(&self, p: &Params) -> Result<Value, ApiError> {
        let commands = p
            .json("commands")
            .map_err(|_| ApiError::bad_request("can't parse commands JSON object"))?
            .unwrap_or_else(|| json!([]));
        let list = commands
            .as_array()
            .ok_or_else(|| ApiError::bad_request("can't parse commands JSON object"))?;
        if list.len() > 100 {
            return Err(ApiError::bad_request("too many commands specified"));
        }
        for c in list {
            let name = c.get("command").and_then(Value::as_str).unwrap_or_default();
            let name = name.strip_prefix('/').unwrap_or(name);
            let ok = (1..=32).contains(&name.len())
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !ok {
                return Err(ApiError::bad_request("BOT_COMMAND_INVALID"));
            }
            let desc = c
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !(1..=256).contains(&desc.chars().count()) {
                return Err(ApiError::bad_request(
                    "command description must be non-empty",
                ));
            }
        }
        let key = Self::commands_key(p)?;
        self.lock().commands.insert(key, commands);
        Ok(Value::Bool(true))
    }

    fn get_my_commands(&self, p: &Params) -> Result<Value, ApiError> {
        let key = Self::commands_key(p)?;
        Ok(self
            .lock()
            .commands
            .get(&key)
            .cloned()
            .unwrap_or_else(|| json!([])))
    }

    fn delete_my_commands(&self, p: &Params) -> Result<Value, ApiError> {
        let key = Self::commands_key(p)?;
        self.lock().commands.remove(&key);
        Ok(Value::Bool(true))
    }

    fn set_webhook(&self, p: &Params) -> Result<Value, ApiError> {
        let url = p.str("url").unwrap_or_default();
        if url.is_empty() {
            return self.delete_webhook(p);
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ApiError::bad_request(
                "bad webhook: An HTTPS URL must be provided for webhook",
            ));
        }
        let secret = p.str("secret_token").filter(|s| !s.is_empty());
        if let Some(s) = &secret
            && (s.len() > 256
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(ApiError::bad_request(
                "secret token contains unallowed characters",
            ));
        }
        let max_connections = match p.i64("max_connections")? {
            None => 40,
            Some(n) => u32::try_from(n.clamp(1, 100)).unwrap_or(40),
        };
        let mut st = self.lock();
        if p.bool("drop_pending_updates") {
            st.updates.clear();
        }
        st.webhook = Some(Webhook {
            url,
            secret,
            max_connections,
        });
        st.webhook_gen += 1;
        st.last_webhook_error = None;
        drop(st);
        self.bump();
        Ok(Value::Bool(true))
    }

    fn delete_webhook(&self, p: &Params) -> Result<Value, ApiError> {
        let mut st = self.lock();
        if p.bool("drop_pending_updates") {
            st.updates.clear();
        }
        st.webhook = None;
        st.webhook_gen += 1;
        st.last_webhook_error = None;
        drop(st);
        self.bump();
        Ok(Value::Bool(true))
    }

    fn get_webhook_info(&self) -> Value {
        let st = self.lock();
        let mut v = json!({
            "url": st.webhook.as_ref().map(|w| w.url.clone()).unwrap_or_default(),
            "has_custom_certificate": false,
            "pending_update_count": st.updates.len(),
        });
        if let Some(w) = &st.webhook {
            v["max_connections"] = json!(w.max_connections);
            v["ip_address"] = json!("127.0.0.1");
        }
        if let Some((date, msg)) = &st.last_webhook_error {
            v["last_error_date"] = json!(date);
            v["last_error_message"] = json!(msg);
        }
        v
    }

    /// Records a webhook delivery failure as getWebhookInfo reports it.
    pub(crate) fn webhook_failed(&self, st: &mut State, message: String) {
        st.last_webhook_error = Some((self.unix_now(), message));
        st.stats.webhook_failures += 1;
    }

    /// getUpdates: confirms by `offset`, then returns pending updates (a JSON array's
    /// text), waiting up to `timeout` seconds for one if there are none.
    pub(crate) async fn get_updates(&self, p: &Params) -> Result<String, ApiError> {
        let offset = p.i64("offset")?.unwrap_or(0);
        // Telegram accepts 1–100 and treats anything else as the default, 100.
        let limit = match p.i64("limit")? {
            Some(n) if (1..=100).contains(&n) => usize::try_from(n).unwrap_or(100),
            _ => 100,
        };
        let timeout = Duration::from_secs(
            u64::try_from(p.i64("timeout")?.unwrap_or(0).clamp(0, 3600)).unwrap_or(0),
        );
        let mut signal = self.signal.subscribe();
        let mut shutdown = self.shutdown.subscribe();
        let my_gen;
        {
            let mut st = self.lock();
            if st.webhook.is_some() {
                return Err(ApiError::conflict(
                    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                ));
            }
            Self::confirm_offset(&mut st, offset);
            // A newer getUpdates ends any older one still waiting, as on Telegram.
            st.poll_gen += 1;
            my_gen = st.poll_gen;
            let batch = Self::take_batch(&st, limit);
            if batch.is_some() || timeout.is_zero() {
                drop(st);
                self.bump();
                return Ok(batch.unwrap_or_else(|| NO_UPDATES.to_owned()));
            }
            signal.borrow_and_update();
        }
        self.bump();
        signal.borrow_and_update();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            tokio::select! {
                changed = signal.changed() => {
                    if changed.is_err() {
                        return Ok(NO_UPDATES.to_owned());
                    }
                    let st = self.lock();
                    if st.poll_gen != my_gen {
                        return Err(ApiError::conflict(
                            "terminated by other getUpdates request; make sure that only one bot instance is running",
                        ));
                    }
                    if st.webhook.is_some() {
                        return Err(ApiError::conflict(
                            "can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                        ));
                    }
                    if let Some(batch) = Self::take_batch(&st, limit) {
                        return Ok(batch);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Ok(NO_UPDATES.to_owned()),
                _ = shutdown.wait_for(|s| *s) => return Ok(NO_UPDATES.to_owned()),
            }
        }
    }

    fn confirm_offset(st: &mut State, offset: i64) {
        if offset > 0 {
            while st.updates.front().is_some_and(|u| u.id < offset) {
                st.updates.pop_front();
                st.stats.updates_confirmed += 1;
            }
        } else if offset < 0 {
            // -N: keep only the last N updates, forgetting the rest.
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            while st.updates.len() > keep {
                st.updates.pop_front();
                st.stats.updates_confirmed += 1;
            }
        }
    }

    /// Up to `limit` pending updates as a JSON array's text; `None` if there are none.
    fn take_batch(st: &State, limit: usize) -> Option<String> {
        let mut batch = st.updates.iter().take(limit).peekable();
        batch.peek()?;
        let mut out = String::from("[");
        for (i, u) in batch.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&u.body);
        }
        out.push(']');
        Some(out)
    }

    /// Counts an authorized request and notes that the bot is alive.
    pub(crate) fn count_request(&self, method: &str) {
        let mut st = self.lock();
        // Look up before inserting: no key allocation on the hot path.
        if let Some(n) = st.stats.requests.get_mut(method) {
            *n += 1;
        } else {
            st.stats.requests.insert(method.to_owned(), 1);
        }
        drop(st);
        self.bot_seen
            .send_if_modified(|seen| !std::mem::replace(seen, true));
    }

    /// Counts an error answer.
    pub(crate) fn count_error(&self, code: u16) {
        *self.lock().stats.errors.entry(code).or_default() += 1;
    }

    // ---------- control: users, chats, injections ----------

    /// Creates or updates a user.
    pub(crate) fn upsert_user(&self, user: SimUser) -> Result<SimUser, SimError> {
        if user.id <= 0 {
            return Err(SimError::InvalidUser(user.id));
        }
        let mut st = self.lock();
        st.users.insert(user.id, user.clone());
        Ok(user)
    }

    /// Marks whether a user has blocked the bot (sends then get 403).
    pub(crate) fn set_blocked(&self, user: i64, blocked: bool) {
        let mut st = self.lock();
        if blocked {
            st.blocked.insert(user);
        } else {
            st.blocked.remove(&user);
        }
    }

    /// Creates or updates a group chat.
    pub(crate) fn upsert_group(
        &self,
        id: i64,
        title: &str,
        kind: ChatType,
        username: Option<String>,
        members: &[i64],
    ) -> Result<SimChat, SimError> {
        if id >= 0 || kind == ChatType::Private {
            return Err(SimError::InvalidChat(id));
        }
        let mut st = self.lock();
        for m in members {
            Self::ensure_user(&mut st, *m)?;
        }
        let chat = st.chats.entry(id).or_insert_with(|| {
            ChatState::new(SimChat {
                id,
                kind,
                title: None,
                username: None,
            })
        });
        chat.chat.kind = kind;
        chat.chat.title = Some(title.to_owned());
        chat.chat.username = username;
        chat.members.extend(members.iter().copied());
        Ok(chat.chat.clone())
    }

    fn ensure_user(st: &mut State, id: i64) -> Result<(), SimError> {
        if id <= 0 {
            return Err(SimError::InvalidUser(id));
        }
        st.users.entry(id).or_insert_with(|| SimUser::new(id));
        Ok(())
    }

    /// Makes sure `user` can write in `chat`: their private chat, or a group (created
    /// on first use) they become a member of.
    fn ensure_chat(st: &mut State, user: i64, chat: i64) -> Result<(), SimError> {
        Self::ensure_user(st, user)?;
        if chat > 0 {
            if chat != user {
                return Err(SimError::NotYourChat { user, chat });
            }
            st.chats.entry(chat).or_insert_with(|| {
                ChatState::new(SimChat {
                    id: chat,
                    kind: ChatType::Private,
                    title: None,
                    username: None,
                })
            });
        } else if chat < 0 {
            let state = st.chats.entry(chat).or_insert_with(|| {
                let kind = if chat <= -1_000_000_000_000 {
                    ChatType::Supergroup
                } else {
                    ChatType::Group
                };
                ChatState::new(SimChat {
                    id: chat,
                    kind,
                    title: Some(format!("Group {chat}")),
                    username: None,
                })
            });
            state.members.insert(user);
        } else {
            return Err(SimError::InvalidChat(chat));
        }
        Ok(())
    }

    /// Adds a user message and queues its update.
    pub(crate) fn inject_message(
        &self,
        user: i64,
        chat: i64,
        content: Content,
        photo_bytes: Option<Vec<u8>>,
    ) -> Result<Injected, SimError> {
        let mut st = self.lock();
        Self::ensure_chat(&mut st, user, chat)?;
        let mut content = content;
        let mut file_id = None;
        if let Some(bytes) = photo_bytes {
            let id = Self::new_file(&mut st, bytes, "photos", "jpg");
            content.photo = Some(id.clone());
            file_id = Some(id);
        }
        if let Some(text) = &content.text {
            content.entities = user_text_entities(text);
        }
        let msg = SimMessage {
            chat_id: chat,
            message_id: 0,
            from_bot: false,
            from_user: Some(user),
            date: self.unix_now(),
            sent_at_ms: self.clock_ms(),
            edit_date: None,
            reply_to: None,
            content: Arc::new(content),
            edits: Vec::new(),
            deleted: false,
        };
        let message_id = Self::add_message(&mut st, chat, msg);
        let rendered = st
            .chats
            .get(&chat)
            .and_then(|c| c.message(message_id))
            .map(|m| self.render_message(&st, m))
            .unwrap_or(Value::Null);
        let update_id = self.push_update(&mut st, chat, "message", rendered);
        drop(st);
        self.bump();
        Ok(Injected {
            update_id,
            chat_id: chat,
            message_id: Some(message_id),
            callback_query_id: None,
            file_id,
        })
    }

    /// A user text message.
    pub(crate) fn inject_text(
        &self,
        user: i64,
        chat: i64,
        text: &str,
    ) -> Result<Injected, SimError> {
        let content = Content {
            text: Some(text.to_owned()),
            ..Content::default()
        };
        self.inject_message(user, chat, content, None)
    }

    /// A user contact message.
    pub(crate) fn inject_contact(
        &self,
        user: i64,
        chat: i64,
        contact: Contact,
    ) -> Result<Injected, SimError> {
        let content = Content {
            contact: Some(contact),
            ..Content::default()
        };
        self.inject_message(user, chat, content, None)
    }

    /// A button tap on a bot message. `data` is either the callback data or, with
    /// `by_label`, the button's label; `checked` refuses data that is not on a button
    /// of the message (turn it off to forge callbacks).
    pub(crate) fn inject_tap(
        &self,
        user: i64,
        chat: i64,
        message_id: i64,
        data: &str,
        by_label: bool,
        checked: bool,
    ) -> Result<Injected, SimError> {
        let mut st = self.lock();
        if checked && chat > 0 && chat != user {
            return Err(SimError::NotYourChat { user, chat });
        }
        if !st.chats.contains_key(&chat) {
            return Err(SimError::UnknownChat(chat));
        }
        Self::ensure_user(&mut st, user)?;
        if chat < 0
            && let Some(c) = st.chats.get_mut(&chat)
        {
            c.members.insert(user);
        }
        let msg = st
            .chats
            .get(&chat)
            .and_then(|c| c.message(message_id))
            .filter(|m| !m.deleted)
            .ok_or(SimError::UnknownMessage { chat, message_id })?;
        if checked && !msg.from_bot {
            return Err(SimError::UnknownMessage { chat, message_id });
        }
        let data = if by_label {
            msg.content
                .button(data)
                .and_then(|b| b.callback_data)
                .ok_or_else(|| SimError::NoSuchButton(data.to_owned()))?
        } else {
            if checked
                && !msg
                    .content
                    .buttons()
                    .iter()
                    .any(|b| b.callback_data.as_deref() == Some(data))
            {
                return Err(SimError::NoSuchButton(data.to_owned()));
            }
            data.to_owned()
        };
        let rendered = self.render_message(&st, msg);
        let n = st.next_callback;
        st.next_callback += 1;
        let id = (4_000_000_000_000_000_000u64 + n).to_string();
        let from = st
            .users
            .get(&user)
            .map(user_json)
            .unwrap_or_else(|| user_json(&SimUser::new(user)));
        let payload = json!({
            "id": id,
            "from": from,
            "message": rendered,
            "chat_instance": (chat.unsigned_abs().wrapping_mul(2_654_435_761) % 9_000_000_000_000_000_000).to_string(),
            "data": data,
        });
        st.callbacks.insert(
            id.clone(),
            CallbackRecord {
                id: id.clone(),
                from: user,
                chat_id: chat,
                message_id,
                data,
                answer: None,
            },
        );
        let update_id = self.push_update(&mut st, chat, "callback_query", payload);
        drop(st);
        self.bump();
        Ok(Injected {
            update_id,
            chat_id: chat,
            message_id: None,
            callback_query_id: Some(id),
            file_id: None,
        })
    }

    // ---------- control: reads and waits ----------

    /// Every message in a chat, user and bot, in order.
    pub(crate) fn transcript(&self, chat: i64) -> Result<Vec<SimMessage>, SimError> {
        let st = self.lock();
        st.chats
            .get(&chat)
            .map(|c| c.messages.clone())
            .ok_or(SimError::UnknownChat(chat))
    }

    /// Bot events in a chat with `seq > after`.
    pub(crate) fn events_after(&self, chat: i64, after: u64) -> Result<Vec<BotEvent>, SimError> {
        let st = self.lock();
        let c = st.chats.get(&chat).ok_or(SimError::UnknownChat(chat))?;
        let start = c.events.partition_point(|e| e.seq <= after);
        Ok(c.events[start..].to_vec())
    }

    /// The bot message a user would tap `label` on: the newest live one showing it.
    pub(crate) fn find_button(
        &self,
        chat: i64,
        label: &str,
    ) -> Option<(i64, super::model::Button)> {
        let st = self.lock();
        let c = st.chats.get(&chat)?;
        c.messages
            .iter()
            .rev()
            .filter(|m| m.from_bot && !m.deleted)
            .find_map(|m| m.content.button(label).map(|b| (m.message_id, b)))
    }

    /// A receiver that changes on every bot event in `chat`.
    pub(crate) fn subscribe(&self, chat: i64) -> Result<watch::Receiver<u64>, SimError> {
        let st = self.lock();
        st.chats
            .get(&chat)
            .map(|c| c.notify.subscribe())
            .ok_or(SimError::UnknownChat(chat))
    }

    /// Finds the first live bot message matching `pred`.
    pub(crate) fn find_bot_message(
        &self,
        chat: i64,
        pred: &dyn Fn(&SimMessage) -> bool,
    ) -> Result<Option<SimMessage>, SimError> {
        let st = self.lock();
        let c = st.chats.get(&chat).ok_or(SimError::UnknownChat(chat))?;
        Ok(c.messages
            .iter()
            .find(|m| m.from_bot && !m.deleted && pred(m))
            .cloned())
    }

    /// A callback query and its answer.
    pub(crate) fn callback(&self, id: &str) -> Option<CallbackRecord> {
        self.lock().callbacks.get(id).cloned()
    }

    /// A copy of the counters.
    pub(crate) fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Forgets everything but the configuration.
    pub(crate) fn reset(&self) {
        let mut st = self.lock();
        // Ids keep counting up: a bot's saved offset must not swallow new updates, and
        // a waiting getUpdates must not mistake the reset for a newer poll.
        let mut fresh = State::new(st.next_update_id);
        fresh.webhook_gen = st.webhook_gen + 1;
        fresh.poll_gen = st.poll_gen;
        fresh.event_seq = st.event_seq;
        fresh.next_file = st.next_file;
        fresh.next_callback = st.next_callback;
        *st = fresh;
        drop(st);
        self.bump();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EditKind {
    Text,
    Caption,
    Markup,
}
