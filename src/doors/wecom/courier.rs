//! Sending: what a step or a notice says as WeCom messages (texts of at most 2,048
//! bytes; choices as `template_card` buttons), sent through `message/send` within the
//! per-member limits; outbox parcels as this door's [`Courier`] — through the group's
//! job card where the group has members configured — and the cards themselves
//! ([`CardWall`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::api::ApiError;
use super::limits::{self, PER_HOUR, PER_MINUTE};
use super::{CHANNEL, Inner};
use crate::conversation::CardWall;
use crate::doors::{Said, join_step, lock, split_text};
use crate::flow::Outgoing;
use crate::outbox::{Courier, Delivery, DeliveryError, Parcel};

/// WeCom's limit on a text message's content, in bytes.
pub const MAX_TEXT_BYTES: usize = 2_048;
/// Buttons on one `button_interaction` card.
const MAX_BUTTONS: usize = 6;
// WeCom's limits on a `template_card` sent with `message/send` (发送应用消息 › 模板卡片消息,
// https://developer.work.weixin.qq.com/document/path/90236, 按钮交互型): a button's text
// (`button_list.text`, 按钮文案) "建议不超过10个字", the main title (`main_title.title`,
// 一级标题) "建议不超过36个字". WeCom refuses a field over its length with errcode 40058
// ("… exceed max length …", as public reports of `text.content` show), so nothing longer
// is sent: counted in characters, which keeps within the limit however WeCom counts.
/// A button's text, in characters.
pub const BUTTON_CHARS: usize = 10;
/// A card's main title, in characters.
pub const TITLE_CHARS: usize = 36;
/// How long a reply (not in the outbox) waits for room under the limits or for a busy
/// WeCom before it is given up.
const REPLY_WITHIN: Duration = Duration::from_secs(120);

/// One WeCom message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    /// A text.
    Text(String),
    /// A card with buttons `(key, label)`.
    Card {
        text: String,
        buttons: Vec<(String, String)>,
    },
}

/// A step's or notice's replies as WeCom messages.
pub(super) fn render(out: &[Outgoing]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for said in join_step(out, MAX_TEXT_BYTES, char::len_utf8) {
        // WeCom has no forms: a form's step is asked by its flow's texts.
        let Said::Message(text, options) = said else {
            continue;
        };
        let mut texts = split_text(&text, MAX_TEXT_BYTES, char::len_utf8);
        if options.is_empty() {
            pieces.extend(texts.into_iter().map(Piece::Text));
            continue;
        }
        // The question goes on the card with its buttons; what comes before it as text.
        let question = texts.pop().unwrap_or_default();
        pieces.extend(texts.into_iter().map(Piece::Text));
        for (i, chunk) in options.chunks(MAX_BUTTONS).enumerate() {
            pieces.push(Piece::Card {
                text: if i == 0 {
                    question.clone()
                } else {
                    "…".into()
                },
                buttons: chunk.to_vec(),
            });
        }
    }
    pieces
}

/// `text` in at most `max` characters: as it is when it fits, else cut on a character
/// boundary (trailing spaces dropped) and ended with an ellipsis.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let Some(keep) = max.checked_sub(1) else {
        return String::new();
    };
    let cut: String = text.chars().take(keep).collect();
    format!("{}…", cut.trim_end())
}

/// A card's main title: the first line of its text that says something, fitted.
fn title(text: &str) -> String {
    fit(
        text.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim(),
        TITLE_CHARS,
    )
}

/// A `template_card` of buttons (labels fitted to WeCom's limit; keys as they are).
fn card_json(task_id: &str, text: &str, buttons: &[(String, String)]) -> Value {
    json!({
        "card_type": "button_interaction",
        "main_title": { "title": title(text) },
        "sub_title_text": text,
        "task_id": task_id,
        "button_list": buttons
            .iter()
            .map(|(key, label)| json!({ "text": fit(label, BUTTON_CHARS), "style": 1, "key": key }))
            .collect::<Vec<_>>(),
    })
}

/// A fresh task id (letters, digits, `_`; unique per card).
fn task_id(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

impl Inner {
    /// Sends one piece to `touser` (`a|b|c`) through `message/send`.
    async fn send(&self, touser: &str, piece: &Piece) -> Result<Value, ApiError> {
        let agent = self.config.agent_id;
        let body = match piece {
            Piece::Text(text) => json!({
                "touser": touser, "msgtype": "text", "agentid": agent,
                "text": { "content": text },
            }),
            Piece::Card { text, buttons } => json!({
                "touser": touser, "msgtype": "template_card", "agentid": agent,
                "template_card": card_json(&task_id("q"), text, buttons),
            }),
        };
        let answer = self.api.post("message/send", &body).await?;
        // WeCom answers 0 and lists the recipients it does not know.
        let invalid = answer["invaliduser"].as_str().unwrap_or_default();
        if !invalid.is_empty() && !touser.contains('|') {
            return Err(ApiError::Refused(0, format!("unknown member {invalid}")));
        }
        Ok(answer)
    }

    /// Sends a step's replies to a member in order, each when the limits have room and
    /// WeCom is not busy (waiting up to two minutes in all); stops at a refusal.
    pub(super) async fn send_replies(&self, user: &str, pieces: &[Piece]) {
        let give_up = tokio::time::Instant::now() + REPLY_WITHIN;
        for piece in pieces {
            loop {
                let fits = self.room_for(user, 1).await;
                let outcome: Result<(), String> = match fits {
                    Ok(()) => match self.send(user, piece).await {
                        Ok(_) => break,
                        Err(ApiError::Busy(code)) => Err(format!("busy ({code})")),
                        Err(e) => {
                            tracing::warn!(error = %e, "wecom: reply not delivered");
                            return;
                        }
                    },
                    Err(held) => Err(held.to_string()),
                };
                if let Err(why) = outcome {
                    if tokio::time::Instant::now() >= give_up {
                        tracing::warn!(why, "wecom: reply given up");
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Counts `n` messages to `member` if WeCom's limits have room now (for every
    /// instance: one statement in the database), else says how long until they do.
    async fn room_for(&self, member: &str, n: usize) -> Result<(), DeliveryError> {
        if !self.config.hold_back {
            return Ok(());
        }
        let now = self.inbox.now();
        let count = i64::try_from(n).unwrap_or(i64::MAX);
        let (per_minute, per_hour) = (PER_MINUTE as i64, PER_HOUR as i64);
        match self
            .inbox
            .count_sends(member, count, now, per_minute, per_hour)
            .await
        {
            Ok(None) => Ok(()),
            Ok(Some(counts)) => Err(DeliveryError::RateLimited(limits::wait(&counts, n, now))),
            // Not counted, so not sent: the outbox tries again.
            Err(e) => Err(DeliveryError::Temporary(format!("send count: {e}"))),
        }
    }

    /// The members a group's cards go to.
    fn members(&self, place: &str) -> Result<&[String], DeliveryError> {
        self.config
            .group_members
            .get(place)
            .map(Vec::as_slice)
            .ok_or_else(|| DeliveryError::Permanent(format!("no WeCom members for `{place}`")))
    }
}

impl CardWall for Inner {
    const DOOR: &'static str = CHANNEL;

    fn place_of(&self, group: &str) -> Option<String> {
        self.config
            .group_members
            .contains_key(group)
            .then(|| group.to_owned())
    }

    fn one_at_a_time(&self) -> &tokio::sync::Mutex<()> {
        &self.cards
    }

    /// Sends the card to every member of the group at once; its task id.
    async fn post_card(
        &self,
        place: &str,
        text: &str,
        buttons: &[Vec<(String, String)>],
    ) -> Result<String, DeliveryError> {
        let members = self.members(place)?;
        // One message to each member: all must have room. A member counted before one
        // without room stays counted (holding back a little more is safe).
        for m in members {
            self.room_for(m, 1).await?;
        }
        let task = task_id("job");
        let buttons: Vec<(String, String)> = buttons.iter().flatten().cloned().collect();
        let body = json!({
            "touser": members.join("|"), "msgtype": "template_card",
            "agentid": self.config.agent_id,
            "template_card": card_json(&task, text, &buttons),
        });
        self.api
            .post("message/send", &body)
            .await
            .map_err(delivery_error)?;
        Ok(task)
    }

    /// Updates the card for everyone: the new text, no buttons.
    async fn edit_card(
        &self,
        place: &str,
        message_id: &str,
        text: &str,
    ) -> Result<(), DeliveryError> {
        let members = self.members(place)?;
        let code = lock(&self.response_codes).get(message_id).cloned();
        let body = json!({
            "userids": members,
            "agentid": self.config.agent_id,
            "response_code": code.unwrap_or_default(),
            "template_card": {
                "card_type": "text_notice",
                "main_title": { "title": title(text) },
                "sub_title_text": text,
                "task_id": message_id,
                "card_action": { "type": 1, "url": "https://work.weixin.qq.com" },
            },
        });
        self.api
            .post("message/update_template_card", &body)
            .await
            .map(drop)
            .map_err(delivery_error)
    }
}

/// What a failed call means for a delivery.
fn delivery_error(e: ApiError) -> DeliveryError {
    match e {
        ApiError::Busy(_) => DeliveryError::RateLimited(Duration::from_secs(2)),
        ApiError::Network(why) => DeliveryError::Temporary(why),
        // A wrong Secret or a server error on WeCom's side: keep the messages.
        // 40058: a field WeCom does not accept (too long, say); sending again will not help.
        ApiError::Refused(code, why)
            if code == 0 || ((40001..=42999).contains(&code) && code != 40058) =>
        {
            if why.starts_with("unknown member") {
                DeliveryError::Permanent(why)
            } else {
                DeliveryError::Temporary(format!("errcode {code}: {why}"))
            }
        }
        ApiError::Refused(code, why) => DeliveryError::Permanent(format!("errcode {code}: {why}")),
    }
}

/// Delivers outbox parcels to members (and job offers to groups' members as one card).
pub(super) struct WecomCourier {
    pub(super) inner: Arc<Inner>,
}

impl Courier for WecomCourier {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    fn deliver<'a>(&'a self, parcel: &'a Parcel) -> Delivery<'a> {
        Box::pin(async move {
            let inner = &self.inner;
            let user = parcel.to.external_id.as_str();
            if user.is_empty() {
                return Err(DeliveryError::Permanent("no WeCom UserID".into()));
            }
            if inner.chat.deliver_card(&**inner, parcel).await? {
                return Ok(());
            }
            let pieces = render(&parcel.replies);
            let from = inner.parcels_sent.resume_from(parcel.id);
            for (i, piece) in pieces.iter().enumerate().skip(from) {
                // Held back here rather than dropped by WeCom: the outbox tries again
                // when the member's window has room.
                let sent = match inner.room_for(user, 1).await {
                    Ok(()) => inner
                        .send(user, piece)
                        .await
                        .map(drop)
                        .map_err(delivery_error),
                    Err(held) => Err(held),
                };
                if let Err(e) = sent {
                    return Err(inner.parcels_sent.failed(parcel.id, i, e));
                }
            }
            inner.parcels_sent.finished(parcel.id);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_become_cards_of_six_buttons_and_long_texts_split_under_2048_bytes() {
        let options: Vec<(String, String)> = (0..8)
            .map(|i| (format!("q:{i}"), format!("选项{i}")))
            .collect();
        let out = vec![
            Outgoing::Text("收到。".into()),
            Outgoing::Choices {
                text: "哪一类？".into(),
                options,
            },
        ];
        let pieces = render(&out);
        assert_eq!(pieces.len(), 2, "{pieces:?}");
        let Piece::Card { text, buttons } = &pieces[0] else {
            panic!("a card first: {pieces:?}");
        };
        assert_eq!(text, "收到。\n\n哪一类？");
        assert_eq!(buttons.len(), 6);
        assert!(matches!(&pieces[1], Piece::Card { buttons, .. } if buttons.len() == 2));
        let long = "报修".repeat(1000); // 6,000 bytes
        let pieces = render(&[Outgoing::Text(long.clone())]);
        assert_eq!(pieces.len(), 3);
        let mut joined = String::new();
        for p in &pieces {
            let Piece::Text(t) = p else { panic!("text") };
            assert!(t.len() <= MAX_TEXT_BYTES, "{}", t.len());
            joined.push_str(t);
        }
        assert_eq!(joined, long);
    }

    #[test]
    fn labels_over_the_limit_are_cut_on_a_character_with_an_ellipsis() {
        assert_eq!(fit("接单", 10), "接单");
        assert_eq!(fit("0123456789", 10), "0123456789");
        assert_eq!(fit("Printer & peripherals", 10), "Printer &…");
        assert_eq!(fit("Work has stopped", 10), "Work has…");
        assert_eq!(fit("📦 等待配件 / 挂起", 10), "📦 等待配件 /…");
        assert_eq!(fit("一二三四五六七八九十十一", 10), "一二三四五六七八九…");
        for label in [
            "1 Very dissatisfied",
            "💻 Working remotely",
            "éééééééééééé",
            "",
        ] {
            let f = fit(label, BUTTON_CHARS);
            assert!(f.chars().count() <= BUTTON_CHARS, "{f}");
            assert!(label.starts_with(f.trim_end_matches('…')), "{f}");
        }
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("abc", 1), "…");
    }

    #[test]
    fn a_card_fits_its_title_and_labels_and_keeps_its_keys() {
        let long = "请选择故障类别（点按钮，或输入编号或名称）：这一行很长很长很长很长很长很长很长";
        let c = card_json(
            "t2",
            &format!("\n  {long}\nmore"),
            &[("q:1".into(), "Printer & peripherals".into())],
        );
        let title = c["main_title"]["title"].as_str().expect("title");
        assert_eq!(title.chars().count(), TITLE_CHARS);
        assert!(
            title.starts_with("请选择故障类别") && title.ends_with('…'),
            "{title}"
        );
        assert_eq!(c["button_list"][0]["text"], "Printer &…");
        assert_eq!(c["button_list"][0]["key"], "q:1");
    }

    #[test]
    fn a_card_carries_its_keys() {
        let c = card_json(
            "t1",
            "Accept?\nmore",
            &[("job:accept@X".into(), "接单".into())],
        );
        assert_eq!(c["task_id"], "t1");
        assert_eq!(c["main_title"]["title"], "Accept?");
        assert_eq!(c["button_list"][0]["key"], "job:accept@X");
    }
}
