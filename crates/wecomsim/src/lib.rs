//! wecomsim: a local stand-in for a WeCom (企业微信) self-built app, for the door's tests
//! and benchmarks.
//!
//! - **Server API over real HTTP:** `gettoken` (tokens expire after `token_ttl` on the
//!   stand-in's clock, or at once with [`SimHandle::expire_tokens`]), `message/send`
//!   (`text`, `template_card`), `message/update_template_card`, `media/get`, `user/get`.
//! - **Callbacks** to the door with real encryption and signatures ([`crypto`], an
//!   implementation of its own): [`SimHandle::send_text`], [`SimHandle::tap`],
//!   [`SimHandle::send_photo`], and [`SimHandle::verify_url`] for the URL check. The door's
//!   encrypted passive reply is checked, decrypted and put in the member's transcript.
//! - **WeCom's limits:** per member, 30 messages a minute and 1,000 an hour (on the
//!   stand-in's clock); excess is dropped *silently* (errcode 0), and counted in
//!   [`SimHandle::dropped`] so tests can see it. Error codes can be injected
//!   ([`SimHandle::fail_next`]). A card whose title or button text is over WeCom's
//!   documented length is refused with errcode 40058, as WeCom refuses an over-long field
//!   (counted in [`SimHandle::refused_too_long`]).
//! - **Control:** members' [`transcript`](SimHandle::transcript)s, cards by task id,
//!   the clock ([`SimHandle::set_time`], [`SimHandle::advance`]); the same over HTTP
//!   under `/control/` (see `control.rs`): send a text, tap a button, send a photo, read
//!   a transcript, expire the tokens.
//! - **Load mode** ([`load`]): tgsim's scripts and virtual-user loop over callbacks.

mod control;
pub mod crypto;
pub mod load;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub use crypto::Codec;

/// Per member: messages a minute and an hour before WeCom drops.
pub const PER_MINUTE: usize = 30;
/// See [`PER_MINUTE`].
pub const PER_HOUR: usize = 1_000;

/// The app the stand-in plays.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// CorpID.
    pub corp_id: String,
    /// AgentId.
    pub agent_id: i64,
    /// The app's Secret.
    pub secret: String,
    /// The callback Token.
    pub token: String,
    /// The callback EncodingAESKey.
    pub encoding_aes_key: String,
    /// How long a token lives, in seconds (WeCom: 7,200).
    pub token_ttl: i64,
    /// Whether the per-member limits apply.
    pub limits: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            corp_id: "wwsim0001".into(),
            agent_id: 1_000_002,
            secret: "sim-secret".into(),
            token: "simtoken".into(),
            encoding_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
            token_ttl: 7_200,
            limits: true,
        }
    }
}

/// Something a member received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The text (a card's `sub_title_text`, or its title).
    pub text: String,
    /// A card's buttons `(key, label)`, as it stands now (none once updated).
    pub buttons: Vec<(String, String)>,
    /// A card's task id.
    pub task_id: Option<String>,
    /// Whether it came as the callback's passive reply.
    pub passive: bool,
}

/// What the door answered to one callback.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The decrypted passive reply's text, if any.
    pub passive: Option<String>,
}

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The door could not be reached.
    #[error("callback failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The door's answer is malformed (bad signature, bad encryption).
    #[error("bad answer from the door: {0}")]
    BadAnswer(String),
    /// No callback URL was set.
    #[error("no callback URL")]
    NoCallback,
}

#[derive(Default)]
struct Card {
    text: String,
    buttons: Vec<(String, String)>,
}

enum Entry {
    Text(String, bool),
    Card(String),
}

#[derive(Default)]
struct Member {
    name: String,
    department: Vec<i64>,
    mobile: String,
    entries: Vec<Entry>,
    sent: VecDeque<i64>,
    dropped: usize,
    /// Woken at every new entry.
    arrived: Arc<tokio::sync::Notify>,
}

impl Member {
    fn push(&mut self, e: Entry) {
        self.entries.push(e);
        self.arrived.notify_waiters();
    }
}

#[derive(Default)]
struct World {
    members: HashMap<String, Member>,
    cards: HashMap<String, Card>,
    /// token → valid until (stand-in time).
    tokens: HashMap<String, i64>,
    media: HashMap<String, Vec<u8>>,
    departments: HashMap<i64, String>,
    faults: VecDeque<i64>,
    /// Calls by path.
    calls: HashMap<String, u64>,
    /// Cards refused for an over-long title or button text.
    refused: usize,
}

impl World {
    /// An entry as its member sees it: a card as it stands now.
    fn received(&self, e: &Entry) -> Received {
        match e {
            Entry::Text(t, passive) => Received {
                text: t.clone(),
                buttons: vec![],
                task_id: None,
                passive: *passive,
            },
            Entry::Card(task) => {
                let card = self.cards.get(task);
                Received {
                    text: card.map(|c| c.text.clone()).unwrap_or_default(),
                    buttons: card.map(|c| c.buttons.clone()).unwrap_or_default(),
                    task_id: Some(task.clone()),
                    passive: false,
                }
            }
        }
    }
}

struct Shared {
    config: SimConfig,
    codec: Codec,
    now: AtomicI64,
    next_id: AtomicU64,
    callback: Mutex<Option<String>>,
    world: Mutex<World>,
}

impl Shared {
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }
}

/// A running stand-in (its control methods are [`SimHandle`]'s, through `Deref`).
pub struct WecomSim {
    addr: SocketAddr,
    handle: SimHandle,
    task: tokio::task::JoinHandle<()>,
}

/// The stand-in's controls: cheap to clone, for many virtual members at once.
#[derive(Clone)]
pub struct SimHandle {
    shared: Arc<Shared>,
    http: reqwest::Client,
}

impl std::ops::Deref for WecomSim {
    type Target = SimHandle;
    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl Drop for WecomSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WecomSim {
    /// Starts the stand-in's API on a free local port.
    pub async fn start(config: SimConfig) -> std::io::Result<WecomSim> {
        let codec = Codec::new(&config.token, &config.encoding_aes_key, &config.corp_id)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let shared = Arc::new(Shared {
            config,
            codec,
            now: AtomicI64::new(now),
            next_id: AtomicU64::new(7_000_000_000_000_000_001),
            callback: Mutex::new(None),
            world: Mutex::new(World::default()),
        });
        let app = Router::new()
            .route("/cgi-bin/gettoken", get(gettoken))
            .route("/cgi-bin/message/send", post(send))
            .route("/cgi-bin/message/update_template_card", post(update_card))
            .route("/cgi-bin/media/get", get(media_get))
            .route("/cgi-bin/user/get", get(user_get))
            .route("/cgi-bin/department/get", get(department_get))
            .with_state(shared.clone());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;
        let handle = SimHandle { shared, http };
        let app = app.merge(control::router(handle.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(WecomSim { addr, handle, task })
    }

    /// The API base URL (the door's `wecom.api_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A handle on the controls (for tasks of their own).
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }
}

impl SimHandle {
    /// The app's settings.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Where callbacks go (the door's `…/wecom/callback`).
    pub fn set_callback(&self, url: &str) {
        *self
            .shared
            .callback
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(url.to_owned());
    }

    /// Where callbacks go, if set.
    pub fn callback_url(&self) -> Option<String> {
        self.shared
            .callback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the stand-in's clock (Unix seconds): callbacks' timestamps, limits, tokens.
    pub fn set_time(&self, unix: i64) {
        self.shared.now.store(unix, Ordering::SeqCst);
    }

    /// Moves the stand-in's clock forward.
    pub fn advance(&self, secs: i64) {
        self.shared.now.fetch_add(secs, Ordering::SeqCst);
    }

    /// Every token issued so far expires now (calls answer 42001).
    pub fn expire_tokens(&self) {
        let now = self.shared.now();
        for until in self.shared.world().tokens.values_mut() {
            *until = now;
        }
    }

    /// The next `message/send` calls answer these error codes, in order.
    pub fn fail_next(&self, errcodes: &[i64]) {
        self.shared.world().faults.extend(errcodes);
    }

    /// Adds a member to the directory.
    pub fn add_member(&self, user: &str, name: &str, department: i64, mobile: &str) {
        let mut w = self.shared.world();
        let m = w.members.entry(user.to_owned()).or_default();
        m.name = name.to_owned();
        m.department = vec![department];
        m.mobile = mobile.to_owned();
    }

    /// Names a department of the directory.
    pub fn add_department(&self, id: i64, name: &str) {
        self.shared.world().departments.insert(id, name.to_owned());
    }

    /// How many API calls the stand-in received in all.
    pub fn total_calls(&self) -> u64 {
        self.shared.world().calls.values().sum()
    }

    /// How many calls `path` (e.g. `gettoken`) received.
    pub fn calls(&self, path: &str) -> u64 {
        self.shared.world().calls.get(path).copied().unwrap_or(0)
    }

    /// What `user` received, in order; cards as they stand now.
    pub fn transcript(&self, user: &str) -> Vec<Received> {
        self.since(user, 0)
    }

    /// What `user` received from entry `from` on (0: all).
    pub fn since(&self, user: &str, from: usize) -> Vec<Received> {
        let w = self.shared.world();
        let Some(m) = w.members.get(user) else {
            return Vec::new();
        };
        m.entries.iter().skip(from).map(|e| w.received(e)).collect()
    }

    /// How many entries `user` has received.
    pub fn received_count(&self, user: &str) -> usize {
        self.shared
            .world()
            .members
            .get(user)
            .map_or(0, |m| m.entries.len())
    }

    /// The first entry of `user`'s from `from` on that is `found`, and its index: only that
    /// one is copied (a load run looks after every step, in transcripts that grow).
    fn find(
        &self,
        user: &str,
        from: usize,
        found: &impl Fn(&Received) -> bool,
    ) -> Option<(usize, Received)> {
        let w = self.shared.world();
        let m = w.members.get(user)?;
        (from..)
            .zip(m.entries.iter().skip(from))
            .map(|(i, e)| (i, w.received(e)))
            .find(|(_, r)| found(r))
    }

    /// Cards refused (errcode 40058) for a title or button text over WeCom's length.
    pub fn refused_too_long(&self) -> usize {
        self.shared.world().refused
    }

    /// Messages to `user` WeCom would have dropped silently (over the limits).
    pub fn dropped(&self, user: &str) -> usize {
        self.shared
            .world()
            .members
            .get(user)
            .map_or(0, |m| m.dropped)
    }

    /// Waits (up to `within`) for an entry of `user`'s from index `from` on that
    /// satisfies `found`; its index and the entry.
    pub async fn wait_for(
        &self,
        user: &str,
        from: usize,
        within: Duration,
        found: impl Fn(&Received) -> bool,
    ) -> Option<(usize, Received)> {
        let until = tokio::time::Instant::now() + within;
        loop {
            let arrived = self
                .shared
                .world()
                .members
                .entry(user.to_owned())
                .or_default()
                .arrived
                .clone();
            let notified = arrived.notified();
            tokio::pin!(notified);
            // Registered before looking, so an entry pushed meanwhile still wakes us.
            notified.as_mut().enable();
            if let Some(hit) = self.find(user, from, &found) {
                return Some(hit);
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return None;
            }
        }
    }

    /// A message's XML as WeCom writes it, from `user`.
    fn message_xml(&self, user: &str, body: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[{corp}]]></ToUserName>\
             <FromUserName><![CDATA[{user}]]></FromUserName>\
             <CreateTime>{now}</CreateTime>{body}\
             <AgentID>{agent}</AgentID></xml>",
            corp = self.shared.config.corp_id,
            now = self.shared.now(),
            agent = self.shared.config.agent_id,
        )
    }

    /// The XML of a text message from `user` (a new MsgId).
    pub fn text_xml(&self, user: &str, text: &str) -> String {
        let body = format!(
            "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{}]]></Content><MsgId>{}</MsgId>",
            text.replace("]]>", "]]]]><![CDATA[>"),
            self.shared.id()
        );
        self.message_xml(user, &body)
    }

    /// The XML of a tap by `user` on card `task_id`'s button `key`.
    pub fn tap_xml(&self, user: &str, task_id: &str, key: &str) -> String {
        let body = format!(
            "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>\
             <EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[{task_id}]]></TaskId>\
             <CardType><![CDATA[button_interaction]]></CardType>\
             <ResponseCode><![CDATA[rc{}]]></ResponseCode>",
            self.shared.id()
        );
        self.message_xml(user, &body)
    }

    /// The signed and encrypted callback of `xml`: its query string and body.
    pub fn seal(&self, xml: &str) -> (String, String) {
        let c = &self.shared.codec;
        let encrypted = c.seal(xml);
        let (ts, nonce) = (
            self.shared.now().to_string(),
            format!("{}", rand::random::<u32>()),
        );
        let sig = c.sign(&ts, &nonce, &encrypted);
        let query = format!("msg_signature={sig}&timestamp={ts}&nonce={nonce}");
        let body = format!(
            "<xml><ToUserName><![CDATA[{}]]></ToUserName><AgentID><![CDATA[{}]]></AgentID>\
             <Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>",
            self.shared.config.corp_id, self.shared.config.agent_id
        );
        (query, body)
    }

    /// POSTs a callback as given (for replays and forgeries); the door's answer, its
    /// passive reply (if any) recorded for `user`.
    pub async fn post_raw(&self, user: &str, query: &str, body: &str) -> Result<Answer, SimError> {
        let url = self
            .shared
            .callback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(SimError::NoCallback)?;
        let r = self
            .http
            .post(format!("{url}?{query}"))
            .header(header::CONTENT_TYPE, "text/xml")
            .body(body.to_owned())
            .send()
            .await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        let passive = if status == 200 && !text.trim().is_empty() && text.trim() != "success" {
            let content = self.open_reply(&text)?;
            let mut w = self.shared.world();
            w.members
                .entry(user.to_owned())
                .or_default()
                .push(Entry::Text(content.clone(), true));
            Some(content)
        } else {
            None
        };
        Ok(Answer { status, passive })
    }

    /// Checks and decrypts a passive reply; its text content.
    fn open_reply(&self, xml: &str) -> Result<String, SimError> {
        let bad = |s: &str| SimError::BadAnswer(s.to_owned());
        let doc = roxmltree::Document::parse(xml).map_err(|e| bad(&e.to_string()))?;
        let field = |name: &str| -> Option<String> {
            doc.descendants()
                .find(|n| n.has_tag_name(name))
                .map(|n| n.children().filter_map(|c| c.text()).collect())
        };
        let (Some(enc), Some(sig), Some(ts), Some(nonce)) = (
            field("Encrypt"),
            field("MsgSignature"),
            field("TimeStamp"),
            field("Nonce"),
        ) else {
            return Err(bad("passive reply lacks fields"));
        };
        if self.shared.codec.sign(&ts, &nonce, &enc) != sig {
            return Err(bad("passive reply's signature is wrong"));
        }
        let (inner, corp) = self
            .shared
            .codec
            .open(&enc)
            .map_err(|e| bad(&e.to_string()))?;
        if corp != self.shared.config.corp_id {
            return Err(bad("passive reply names another corporation"));
        }
        let doc = roxmltree::Document::parse(&inner).map_err(|e| bad(&e.to_string()))?;
        let content: String = doc
            .descendants()
            .find(|n| n.has_tag_name("Content"))
            .map(|n| n.children().filter_map(|c| c.text()).collect())
            .ok_or_else(|| bad("passive reply has no Content"))?;
        Ok(content)
    }

    /// `user` types `text` in the app.
    pub async fn send_text(&self, user: &str, text: &str) -> Result<Answer, SimError> {
        let (q, b) = self.seal(&self.text_xml(user, text));
        self.post_raw(user, &q, &b).await
    }

    /// `user` taps button `key` of card `task_id`.
    pub async fn tap(&self, user: &str, task_id: &str, key: &str) -> Result<Answer, SimError> {
        let (q, b) = self.seal(&self.tap_xml(user, task_id, key));
        self.post_raw(user, &q, &b).await
    }

    /// `user` sends a picture: stored as media for `media/get`.
    pub async fn send_photo(&self, user: &str, bytes: &[u8]) -> Result<Answer, SimError> {
        let media = format!("media{}", self.shared.id());
        self.shared
            .world()
            .media
            .insert(media.clone(), bytes.to_vec());
        let body = format!(
            "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[http://sim/{media}]]></PicUrl>\
             <MediaId><![CDATA[{media}]]></MediaId><MsgId>{}</MsgId>",
            self.shared.id()
        );
        let (q, b) = self.seal(&self.message_xml(user, &body));
        self.post_raw(user, &q, &b).await
    }

    /// WeCom's URL check: a GET with an encrypted echo; the door's answer and whether it
    /// is the plain echo.
    pub async fn verify_url(&self) -> Result<(u16, bool), SimError> {
        let url = self
            .shared
            .callback
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(SimError::NoCallback)?;
        let echo = format!("echo{}", rand::random::<u64>());
        let encrypted = self.shared.codec.seal(&echo);
        let (ts, nonce) = (self.shared.now().to_string(), "12345".to_owned());
        let sig = self.shared.codec.sign(&ts, &nonce, &encrypted);
        let r = self
            .http
            .get(&url)
            .query(&[
                ("msg_signature", sig.as_str()),
                ("timestamp", ts.as_str()),
                ("nonce", nonce.as_str()),
                ("echostr", encrypted.as_str()),
            ])
            .send()
            .await?;
        let status = r.status().as_u16();
        let body = r.text().await?;
        Ok((status, body == echo))
    }
}

/// A button's text on a `template_card`, at most (characters).
pub const MAX_BUTTON_CHARS: usize = 10;
/// A `template_card`'s main title, at most (characters).
pub const MAX_TITLE_CHARS: usize = 36;

/// Why WeCom would refuse a `template_card` (a field over its documented length: 按钮文案
/// 10 字, 一级标题 36 字), as WeCom words an over-long field (errcode 40058).
fn over_long(card: &Value) -> Option<String> {
    let title = card["main_title"]["title"].as_str().unwrap_or_default();
    if title.chars().count() > MAX_TITLE_CHARS {
        return Some(format!(
            "template_card.main_title.title exceed max length {MAX_TITLE_CHARS}. invalid Request Parameter"
        ));
    }
    let buttons = card["button_list"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    buttons
        .iter()
        .any(|b| b["text"].as_str().unwrap_or_default().chars().count() > MAX_BUTTON_CHARS)
        .then(|| {
            format!(
                "template_card.button_list.text exceed max length {MAX_BUTTON_CHARS}. invalid Request Parameter"
            )
        })
}

fn error(code: i64, msg: &str) -> Response {
    Json(json!({ "errcode": code, "errmsg": msg })).into_response()
}

/// Checks `access_token`; an error answer when it is unknown or expired.
fn authorised(
    s: &Shared,
    q: &HashMap<String, String>,
    path: &str,
) -> Result<(), (i64, &'static str)> {
    let mut w = s.world();
    *w.calls.entry(path.to_owned()).or_default() += 1;
    let Some(token) = q.get("access_token") else {
        return Err((41001, "access_token missing"));
    };
    match w.tokens.get(token) {
        Some(until) if *until > s.now() => Ok(()),
        Some(_) => Err((42001, "access_token expired")),
        None => Err((40014, "invalid access_token")),
    }
}

async fn gettoken(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut w = s.world();
    *w.calls.entry("gettoken".into()).or_default() += 1;
    if q.get("corpid") != Some(&s.config.corp_id) || q.get("corpsecret") != Some(&s.config.secret) {
        return error(40001, "invalid credential");
    }
    let token = format!("tok{:x}", rand::random::<u64>());
    w.tokens.insert(token.clone(), s.now() + s.config.token_ttl);
    Json(json!({ "errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": s.config.token_ttl }))
        .into_response()
}

async fn send(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Err((code, why)) = authorised(&s, &q, "message/send") {
        return error(code, why);
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(40058, "invalid json");
    };
    let mut w = s.world();
    if let Some(code) = w.faults.pop_front() {
        return error(code, "injected");
    }
    if v["agentid"].as_i64() != Some(s.config.agent_id) {
        return error(40056, "invalid agentid");
    }
    let entry = match v["msgtype"].as_str() {
        Some("text") => {
            let content = v["text"]["content"].as_str().unwrap_or_default();
            if content.len() > 2048 {
                return error(44004, "content exceeds 2048 bytes");
            }
            Entry::Text(content.to_owned(), false)
        }
        Some("template_card") => {
            let c = &v["template_card"];
            let Some(task) = c["task_id"].as_str().filter(|t| !t.is_empty()) else {
                return error(40058, "task_id missing");
            };
            if w.cards.contains_key(task) {
                return error(40058, "task_id used before");
            }
            if let Some(why) = over_long(c) {
                w.refused += 1;
                return error(40058, &why);
            }
            let text = c["sub_title_text"]
                .as_str()
                .or(c["main_title"]["title"].as_str())
                .unwrap_or_default()
                .to_owned();
            let buttons = c["button_list"]
                .as_array()
                .map(|b| {
                    b.iter()
                        .map(|b| {
                            (
                                b["key"].as_str().unwrap_or_default().to_owned(),
                                b["text"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            w.cards.insert(task.to_owned(), Card { text, buttons });
            Entry::Card(task.to_owned())
        }
        _ => return error(40008, "invalid message type"),
    };
    let users: Vec<String> = v["touser"]
        .as_str()
        .unwrap_or_default()
        .split('|')
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    let now = s.now();
    for user in &users {
        let m = w.members.entry(user.clone()).or_default();
        while m.sent.front().is_some_and(|t| *t + 3600 <= now) {
            m.sent.pop_front();
        }
        let in_minute = m.sent.iter().filter(|t| **t + 60 > now).count();
        if s.config.limits && (in_minute >= PER_MINUTE || m.sent.len() >= PER_HOUR) {
            // WeCom's behaviour: dropped, and no error says so.
            m.dropped += 1;
            continue;
        }
        m.sent.push_back(now);
        m.push(match &entry {
            Entry::Text(t, p) => Entry::Text(t.clone(), *p),
            Entry::Card(t) => Entry::Card(t.clone()),
        });
    }
    Json(
        json!({ "errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": format!("m{}", s.id()) }),
    )
    .into_response()
}

async fn update_card(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Err((code, why)) = authorised(&s, &q, "message/update_template_card") {
        return error(code, why);
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(40058, "invalid json");
    };
    let c = &v["template_card"];
    let Some(task) = c["task_id"].as_str() else {
        return error(40058, "task_id missing");
    };
    let mut w = s.world();
    if let Some(why) = over_long(c) {
        w.refused += 1;
        return error(40058, &why);
    }
    let Some(card) = w.cards.get_mut(task) else {
        return error(40058, "unknown task_id");
    };
    card.text = c["sub_title_text"]
        .as_str()
        .or(c["main_title"]["title"].as_str())
        .unwrap_or_default()
        .to_owned();
    card.buttons = c["button_list"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|b| {
                    (
                        b["key"].as_str().unwrap_or_default().to_owned(),
                        b["text"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Json(json!({ "errcode": 0, "errmsg": "ok", "invaliduser": [] })).into_response()
}

async fn media_get(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err((code, why)) = authorised(&s, &q, "media/get") {
        return error(code, why);
    }
    let media = q.get("media_id").cloned().unwrap_or_default();
    match s.world().media.get(&media) {
        Some(bytes) => ([(header::CONTENT_TYPE, "image/jpeg")], bytes.clone()).into_response(),
        None => error(40007, "invalid media_id"),
    }
}

async fn user_get(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err((code, why)) = authorised(&s, &q, "user/get") {
        return error(code, why);
    }
    let user = q.get("userid").cloned().unwrap_or_default();
    let w = s.world();
    match w.members.get(&user).filter(|m| !m.name.is_empty()) {
        Some(m) => Json(json!({
            "errcode": 0, "errmsg": "ok", "userid": user, "name": m.name,
            "department": m.department, "mobile": m.mobile,
        }))
        .into_response(),
        None => error(60111, "userid not found"),
    }
}

async fn department_get(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err((code, why)) = authorised(&s, &q, "department/get") {
        return error(code, why);
    }
    let id: i64 = q.get("id").and_then(|i| i.parse().ok()).unwrap_or(0);
    match s.world().departments.get(&id) {
        Some(name) => Json(json!({
            "errcode": 0, "errmsg": "ok",
            "department": { "id": id, "name": name, "parentid": 1 },
        }))
        .into_response(),
        None => error(60123, "invalid department"),
    }
}
