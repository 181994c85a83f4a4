//! What the simulator keeps and shows: users, chats, messages with their edit
//! history, bot events, callback queries and counters.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A simulated Telegram user (a person talking to the bot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimUser {
    /// Telegram user id (positive); also the id of their private chat with the bot.
    pub id: i64,
    /// First name shown in chats.
    pub first_name: String,
    /// Optional last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Optional @username, without the `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// IETF language tag of the user's app, e.g. `zh-hans` or `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

impl SimUser {
    /// A user called "User `id`" with no username.
    pub fn new(id: i64) -> Self {
        Self {
            id,
            first_name: format!("User {id}"),
            last_name: None,
            username: None,
            language_code: None,
        }
    }
}

/// The type of a chat, as in the Bot API's `Chat.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    /// One user and the bot; chat id = user id.
    Private,
    /// A basic group (negative id).
    Group,
    /// A supergroup (negative id, conventionally `-100…`).
    Supergroup,
}

/// A chat the bot can talk in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimChat {
    /// Chat id: the user id for private chats, negative for groups.
    pub id: i64,
    /// Private, group or supergroup.
    #[serde(rename = "type")]
    pub kind: ChatType,
    /// Group title (groups only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Public @username of a group, without the `@` (lets bots send to `@name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// A shared phone contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Phone number as typed, e.g. `+8613800000000`.
    pub phone_number: String,
    /// Contact's first name.
    pub first_name: String,
    /// Contact's last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// The contact's Telegram user id, when the contact is a Telegram user (own contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// Optional vCard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcard: Option<String>,
}

/// One version of a message's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// The text as a user sees it: markup removed by `parse_mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The text exactly as the bot sent it (with markup), for bot messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_text: Option<String>,
    /// Photo caption as shown (markup removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The `parse_mode` the bot used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<String>,
    /// Entities of the text or caption (Bot API `MessageEntity` objects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Value>,
    /// File id of the photo, for photo messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
    /// Shared contact, for contact messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    /// The reply markup as the bot sent it (inline keyboard, reply keyboard, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<Value>,
}

/// A button of an inline keyboard or a reply keyboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// Label shown on the button.
    pub text: String,
    /// Callback data (inline callback buttons only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_data: Option<String>,
    /// URL (inline URL buttons only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Whether this is a reply-keyboard button (tapping it sends its label as text).
    #[serde(default)]
    pub reply_keyboard: bool,
}

impl Content {
    /// The text, or the caption for media messages.
    pub fn shown_text(&self) -> Option<&str> {
        self.text.as_deref().or(self.caption.as_deref())
    }

    /// Every button of the reply markup, row by row.
    pub fn buttons(&self) -> Vec<Button> {
        let Some(markup) = &self.reply_markup else {
            return Vec::new();
        };
        let (rows, reply_keyboard) = match (markup.get("inline_keyboard"), markup.get("keyboard")) {
            (Some(rows), _) => (rows, false),
            (None, Some(rows)) => (rows, true),
            _ => return Vec::new(),
        };
        let Some(rows) = rows.as_array() else {
            return Vec::new();
        };
        rows.iter()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|b| {
                // Reply keyboards allow bare strings as buttons.
                let text = b.as_str().or_else(|| b.get("text")?.as_str())?;
                Some(Button {
                    text: text.to_owned(),
                    callback_data: b
                        .get("callback_data")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    url: b.get("url").and_then(Value::as_str).map(str::to_owned),
                    reply_keyboard,
                })
            })
            .collect()
    }

    /// The first button whose label is `label`.
    pub fn button(&self, label: &str) -> Option<Button> {
        self.buttons().into_iter().find(|b| b.text == label)
    }
}

/// A message in a chat, from the bot or a user, with its edit history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimMessage {
    /// Chat the message is in.
    pub chat_id: i64,
    /// Message id, counted per chat from 1 as in private chats and groups.
    pub message_id: i64,
    /// Whether the bot sent it.
    pub from_bot: bool,
    /// The sending user, for user messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_user: Option<i64>,
    /// Unix time it was sent (simulator clock).
    pub date: i64,
    /// When it was sent, in milliseconds of the simulator's clock (the clock the rate
    /// limiter reads): lets a test check the flood limits from a transcript.
    #[serde(default)]
    pub sent_at_ms: u64,
    /// Unix time of the last edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_date: Option<i64>,
    /// The message the bot replied to (`reply_parameters` / `reply_to_message_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    /// Current content (shared with the bot events that show it: load runs keep
    /// hundreds of thousands).
    pub content: Arc<Content>,
    /// Earlier versions, oldest first (each edit pushes the version it replaced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<Arc<Content>>,
    /// Whether the bot deleted it.
    #[serde(default)]
    pub deleted: bool,
}

/// What the bot did to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotEventKind {
    /// sendMessage / sendPhoto.
    Sent,
    /// editMessageText / editMessageCaption / editMessageReplyMarkup.
    Edited,
    /// deleteMessage.
    Deleted,
}

/// One visible action of the bot in a chat, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotEvent {
    /// Simulator-wide sequence number, increasing across all chats.
    pub seq: u64,
    /// Sent, edited or deleted.
    pub kind: BotEventKind,
    /// Chat it happened in.
    pub chat_id: i64,
    /// Message it concerns.
    pub message_id: i64,
    /// The message content after the action.
    pub content: Arc<Content>,
}

/// How the bot answered a callback query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackAnswer {
    /// Notification text (≤ 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Alert instead of a toast.
    #[serde(default)]
    pub show_alert: bool,
    /// URL to open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A button tap sent to the bot and, once it came, the bot's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRecord {
    /// The callback query id.
    pub id: String,
    /// The tapping user.
    pub from: i64,
    /// Chat of the tapped message.
    pub chat_id: i64,
    /// The tapped message.
    pub message_id: i64,
    /// Callback data sent.
    pub data: String,
    /// The bot's answerCallbackQuery, if any yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<CallbackAnswer>,
}

/// What an injection created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    /// The update's id.
    pub update_id: i64,
    /// The chat it belongs to.
    pub chat_id: i64,
    /// The new user message (messages, photos, contacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// The callback query id (taps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_query_id: Option<String>,
    /// The new file (photos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
}

/// Counters since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Authorized Bot API requests by method name (as Telegram spells it).
    pub requests: BTreeMap<String, u64>,
    /// Error responses by error code (400, 401, 404, 409, 429, …).
    pub errors: BTreeMap<u16, u64>,
    /// 429 Too Many Requests answers sent to the bot.
    pub too_many_requests: u64,
    /// 429 answers by chat id.
    pub too_many_requests_by_chat: BTreeMap<i64, u64>,
    /// Sends to a chat that came before the `retry_after` of that chat's last 429 had
    /// passed (a bot that does not honour 429s; Telegram would extend the ban).
    pub retry_after_ignored: u64,
    /// Messages the bot sent successfully.
    pub messages_sent: u64,
    /// Successful edits.
    pub messages_edited: u64,
    /// Updates created by injections.
    pub updates_created: u64,
    /// Updates the bot confirmed (getUpdates offset) or a webhook accepted (2xx).
    pub updates_confirmed: u64,
    /// Webhook POSTs answered 2xx.
    pub webhook_deliveries: u64,
    /// Webhook POSTs that failed (non-2xx or connection error) and will be retried.
    pub webhook_failures: u64,
}

/// The webhook as set by setWebhook, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookState {
    /// Where updates are POSTed.
    pub url: String,
    /// Value of `X-Telegram-Bot-Api-Secret-Token`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_token: Option<String>,
    /// Parallel POSTs allowed (1–100); updates of one chat are always sent in order.
    pub max_connections: u32,
    /// Updates not yet accepted.
    pub pending_update_count: usize,
    /// Last delivery error, as getWebhookInfo reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_message: Option<String>,
}
