//! What each kind of update does:
//!
//! | update | from | does |
//! |---|---|---|
//! | message | its private chat's owner | text, photo, image file or contact → the conversation |
//! | message | anything else (a group, a bot) | nothing: group chats carry job cards |
//! | message | its owner, of another kind | "not supported", and the current question |
//! | button tap | its private chat's owner | the choice → the conversation |
//! | button tap | a linked engineer, on a group's job card | the choice → their conversation, privately; the card shows who took the job |
//! | button tap | anyone else, or without data | answered (the spinner stops), nothing else |
//! | any | begun before a crash | not applied again: the current question |
//!
//! A message's replies are recorded with the conversation's state when the step allows,
//! so a step is one write (see `Turn`).

use teloxide::types::{CallbackQuery, Message, Update, UpdateKind, User};

use super::Inner;
use super::render::{Reply, person_of, render, with_first};
use crate::conversation::{Person, Unsettled, decide_settled};
use crate::desk::StepRecord;
use crate::flow::{Flows, Incoming, Outgoing};

/// Telegram's limit on a callback answer's text, in characters.
const MAX_TOAST: usize = 200;

impl Inner {
    /// What update `id` asks for, as replies, and whether they were recorded with the
    /// conversation's state (else the caller records them). The conversation's state is
    /// durable when this returns.
    pub(super) async fn handle(&self, id: i64, u: &Update) -> (Vec<Reply>, bool) {
        match &u.kind {
            UpdateKind::Message(m) => match private_owner(m) {
                Some(from) => self.on_message(id, from, m).await,
                None => (Vec::new(), false),
            },
            UpdateKind::CallbackQuery(q) => self.on_tap(id, q).await,
            _ => (Vec::new(), false),
        }
    }

    /// A message in its sender's private chat.
    async fn on_message(&self, update: i64, from: &User, m: &Message) -> (Vec<Reply>, bool) {
        let person = person_of(from);
        let chat = m.chat.id.0;
        let Some(input) = input_of(m) else {
            let lang = self.chat.lang_of(&person).await;
            let mut out = vec![Outgoing::Text(self.chat.text("unsupported_message", lang))];
            match self.chat.resume(&person).await {
                Ok(current) => out.extend(current),
                Err(e) => tracing::error!(error = %e, "telegram: resume failed"),
            }
            return (render(&out, chat), false);
        };
        self.converse(&person, input, chat, Some((update, Vec::new())))
            .await
    }

    /// A button tap: in its owner's private chat, or on a group's job card.
    async fn on_tap(&self, update: i64, q: &CallbackQuery) -> (Vec<Reply>, bool) {
        let answer = |text: Option<String>| Reply::Answer {
            id: q.id.0.clone(),
            text,
        };
        // Buttons on inline-mode messages, or without data, are not ours.
        let (Some(data), Some(msg)) = (q.data.clone(), q.message.as_ref()) else {
            return (vec![answer(None)], false);
        };
        if q.from.is_bot {
            return (vec![answer(None)], false);
        }
        let person = person_of(&q.from);
        let on = msg.chat();
        if on.is_private() {
            // Only the owner of a private chat can tap its buttons: anything else is forged.
            if i64::try_from(q.from.id.0).ok() != Some(on.id.0) {
                return (vec![answer(None)], false);
            }
            let first = vec![answer(None)];
            return self
                .converse(
                    &person,
                    Incoming::Choice(data),
                    on.id.0,
                    Some((update, first)),
                )
                .await;
        }
        // In a group only job-card buttons count, and only for linked engineers (the
        // conversation then checks that engineer's rights on the ticket). Replies go to
        // the engineer privately; the first line also shows as the tap's toast.
        if Flows::choice_scope(&data).is_none() {
            return (vec![answer(None)], false);
        }
        let lang = self.chat.lang_of(&person).await;
        match self.chat.linked_engineer(&person).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return (
                    vec![answer(Some(self.chat.text("not_allowed", lang)))],
                    false,
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "telegram: engineer lookup failed");
                return (vec![answer(Some(self.chat.text("try_again", lang)))], false);
            }
        }
        let Ok(private) = i64::try_from(q.from.id.0) else {
            return (vec![answer(None)], false);
        };
        // Not recorded with the step: the card's edit below comes after it.
        let (replies, _) = self
            .converse(&person, Incoming::Choice(data), private, None)
            .await;
        let toast = replies.iter().find_map(|r| match r {
            Reply::Message { text, .. } => Some(text.chars().take(MAX_TOAST).collect()),
            Reply::Answer { .. } | Reply::Edit { .. } => None,
        });
        let mut out = vec![answer(toast)];
        out.extend(replies);
        // The first tap that took the job shows on the card for everyone.
        let message_id = i64::from(msg.id().0);
        if let Some(text) = self
            .chat
            .card_taken_text(self, &on.id.0.to_string(), &message_id.to_string())
            .await
        {
            out.push(Reply::Edit {
                chat: on.id.0,
                message_id,
                text,
            });
        }
        (out, false)
    }

    /// An update whose handling was cut short: answer a tap, and show the person their
    /// current question (which is right whether or not the update got through).
    pub(super) async fn recover(&self, u: &Update) -> Vec<Reply> {
        let (from, chat, callback) = match &u.kind {
            UpdateKind::Message(m) => (m.from.as_ref(), &m.chat, None),
            UpdateKind::CallbackQuery(q) => {
                let answer = Some(q.id.0.clone());
                match q.message.as_ref() {
                    Some(m) => (Some(&q.from), m.chat(), answer),
                    None => {
                        return answer
                            .map(|id| Reply::Answer { id, text: None })
                            .into_iter()
                            .collect();
                    }
                }
            }
            _ => return Vec::new(),
        };
        let mut out: Vec<Reply> = callback
            .map(|id| Reply::Answer { id, text: None })
            .into_iter()
            .collect();
        let Some(from) = from.filter(|f| !f.is_bot) else {
            return out;
        };
        if chat.is_private() && i64::try_from(from.id.0).ok() == Some(chat.id.0) {
            match self.chat.resume(&person_of(from)).await {
                Ok(current) => out.extend(render(&current, chat.id.0)),
                Err(e) => tracing::error!(error = %e, "telegram: resume failed"),
            }
        }
        out
    }

    /// Hands input to the conversation service; `first` and its replies (or an apology)
    /// for `chat`. With `record: Some((update, first))`, the replies are recorded as the
    /// update's with the conversation's state when the step allows (the flag says so).
    async fn converse(
        &self,
        person: &Person,
        input: Incoming,
        chat: i64,
        record: Option<(i64, Vec<Reply>)>,
    ) -> (Vec<Reply>, bool) {
        let (update, first) = record.map_or((None, Vec::new()), |(u, f)| (Some(u), f));
        let answered = decide_settled(|| async {
            let turn = self.chat.step(person, input.clone()).await?;
            let Some(update_id) = update.filter(|_| turn.takes_record()) else {
                let saved = turn.save(None).await?;
                return Ok((
                    with_first(first.clone(), render(&saved.replies, chat)),
                    false,
                ));
            };
            let all = with_first(first.clone(), render(turn.replies(), chat));
            let replies = serde_json::to_string(&all).map_err(TelegramStepError::Encode)?;
            let record = StepRecord::TelegramHandled {
                update_id,
                replies: replies.clone(),
            };
            let saved = turn.save(Some(record)).await?;
            if !saved.recorded {
                return Ok((
                    with_first(first.clone(), render(&saved.replies, chat)),
                    false,
                ));
            }
            // What the store wrote: the replies with a filed ticket's number put in.
            let stored = serde_json::from_str(&saved.numbered(&replies))
                .map_err(TelegramStepError::Encode)?;
            Ok::<_, TelegramStepError>((stored, true))
        });
        match answered.await {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "telegram: the chat service failed");
                let lang = self.chat.lang_of(person).await;
                let sorry = render(&[Outgoing::Text(self.chat.text("try_again", lang))], chat);
                (with_first(first, sorry), false)
            }
        }
    }
}

/// Why a step could not be answered.
#[derive(Debug, thiserror::Error)]
enum TelegramStepError {
    #[error(transparent)]
    Chat(#[from] crate::conversation::ChatError),
    #[error("replies could not be encoded: {0}")]
    Encode(serde_json::Error),
}

impl Unsettled for TelegramStepError {
    fn is_conflict(&self) -> bool {
        matches!(self, TelegramStepError::Chat(e) if e.is_conflict())
    }
}

/// The sender of a message in their own private chat (group chats carry job cards; what
/// people say there is not for the bot, nor what bots say).
fn private_owner(m: &Message) -> Option<&User> {
    let from = m.from.as_ref().filter(|f| !f.is_bot)?;
    (m.chat.is_private() && i64::try_from(from.id.0).ok() == Some(m.chat.id.0)).then_some(from)
}

/// What a private message says: text, a photo (its largest size), an image sent as a
/// file, or a shared contact; `None` for anything else.
fn input_of(m: &Message) -> Option<Incoming> {
    if let Some(text) = m.text() {
        return Some(Incoming::Text(text.to_owned()));
    }
    let largest = m.photo().and_then(|sizes| {
        sizes
            .iter()
            .max_by_key(|s| u64::from(s.width) * u64::from(s.height))
    });
    if let Some(photo) = largest {
        return Some(Incoming::Photo(photo.file.id.0.clone()));
    }
    // A picture sent "as a file" is still a photo of the fault.
    if let Some(doc) = m
        .document()
        .filter(|d| d.mime_type.as_ref().is_some_and(|t| t.type_() == "image"))
    {
        return Some(Incoming::Photo(doc.file.id.0.clone()));
    }
    m.contact()
        .map(|contact| Incoming::Contact(contact.phone_number.clone()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::doors::telegram::webhook::update_of;
    use crate::fuzz::{any_json, mutate};

    /// A private message and a button tap as Telegram sends them.
    fn templates() -> [Value; 2] {
        let user = json!({"id": 42, "is_bot": false, "first_name": "Anna", "last_name": "Smith",
                          "username": "anna", "language_code": "en"});
        let chat = json!({"id": 42, "type": "private", "first_name": "Anna"});
        let message = json!({"message_id": 7, "date": 1_795_000_000, "chat": chat, "from": user,
                             "text": "/start asset_PRN-1",
                             "entities": [{"type": "bot_command", "offset": 0, "length": 6}]});
        [
            json!({"update_id": 1, "message": message.clone()}),
            json!({"update_id": 2, "callback_query": {"id": "cb1", "from": user,
                   "chat_instance": "ci", "data": "category:printer", "message": message}}),
        ]
    }

    /// Reads a body as the door does, and every pure step after it.
    fn read(body: &[u8]) {
        let Some((text, _)) = update_of(body) else {
            return;
        };
        let Ok(u) = serde_json::from_str::<Update>(text) else {
            return;
        };
        match &u.kind {
            UpdateKind::Message(m) => {
                if let Some(from) = private_owner(m) {
                    let _ = (person_of(from), input_of(m));
                }
            }
            UpdateKind::CallbackQuery(q) => {
                let _ = person_of(&q.from);
                let _ = q.message.as_ref().map(|m| m.chat().is_private());
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: crate::fuzz_cases(512),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Webhook bodies: real updates with one value swapped for anything.
        #[test]
        fn fuzz_updates_with_a_value_changed(which in 0..2usize, at in 0..40usize, with in any_json()) {
            let mut update = templates()[which].clone();
            mutate(&mut update, &mut at.clone(), &with);
            read(update.to_string().as_bytes());
        }

        /// Webhook bodies: anything at all.
        #[test]
        fn fuzz_any_body(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            read(&body);
        }

        /// Replies of any shape render within Telegram's limits.
        #[test]
        fn fuzz_any_replies_render(texts in proptest::collection::vec(".{0,5000}", 0..6), buttons in 0..30usize) {
            let mut out: Vec<Outgoing> = texts.into_iter().map(Outgoing::Text).collect();
            out.push(Outgoing::Choices {
                text: String::new(),
                options: (0..buttons).map(|i| (format!("q:{i}"), format!("Option {i}"))).collect(),
            });
            for r in render(&out, 42) {
                if let Reply::Message { text, .. } = r {
                    let units: usize = text.chars().map(char::len_utf16).sum();
                    prop_assert!(units <= super::super::MAX_TEXT && !text.trim().is_empty());
                }
            }
        }
    }
}
