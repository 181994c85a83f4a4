//! What the door sends, as Telegram messages: the conversation service's replies become
//! [`Reply`]s (stored with a handled update, so a crash before sending loses none), and a
//! Telegram user becomes a [`Person`]. Plain text only (no parse mode), so nothing a user
//! typed is ever read as markup.

use serde::{Deserialize, Serialize};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, User};

use super::CHANNEL;
use crate::conversation::Person;
use crate::doors::{Said, display_name, join_step, split_text};
use crate::flow::Outgoing;

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const MAX_TEXT: usize = 4096;

/// One thing to send, as stored with a handled update (so a crash before sending does
/// not lose it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Reply {
    /// answerCallbackQuery (stops the button's spinner; the text shows as a toast).
    Answer { id: String, text: Option<String> },
    /// sendMessage, with an inline keyboard of `(callback data, label)` rows.
    Message {
        chat: i64,
        text: String,
        #[serde(default)]
        buttons: Vec<Vec<(String, String)>>,
    },
    /// editMessageText without a keyboard (Telegram then removes the message's buttons):
    /// a group's job card showing who took the job.
    Edit {
        chat: i64,
        message_id: i64,
        text: String,
    },
}

/// The chat service's replies as Telegram messages for `chat`: a step's texts joined
/// into one message while they fit (one message instead of several also spares the
/// one-per-second limit of a private chat), long texts split, choices as inline keyboards
/// (on the last piece), forms dropped (the question that follows a form asks its first
/// field as text).
pub(super) fn render(out: &[Outgoing], chat: i64) -> Vec<Reply> {
    let mut replies = Vec::new();
    for said in join_step(out, MAX_TEXT, char::len_utf16) {
        let Said::Message(text, options) = said else {
            continue;
        };
        let mut pieces = split_text(&text, MAX_TEXT, char::len_utf16);
        if pieces.is_empty() && !options.is_empty() {
            // Telegram needs some text to hang buttons on.
            pieces.push("⬇️".to_owned());
        }
        let last = pieces.len().saturating_sub(1);
        for (i, piece) in pieces.into_iter().enumerate() {
            replies.push(Reply::Message {
                chat,
                text: piece,
                buttons: if i == last {
                    keyboard(options)
                } else {
                    Vec::new()
                },
            });
        }
    }
    replies
}

/// Buttons in rows: short labels three or two to a row, long ones alone.
fn keyboard(options: &[(String, String)]) -> Vec<Vec<(String, String)>> {
    let widest = options
        .iter()
        .map(|(_, label)| label.chars().count())
        .max()
        .unwrap_or(0);
    let per_row = match widest {
        0..=8 => 3,
        9..=16 => 2,
        _ => 1,
    };
    options.chunks(per_row).map(<[_]>::to_vec).collect()
}

pub(super) fn inline_keyboard(buttons: &[Vec<(String, String)>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(buttons.iter().map(|row| {
        row.iter()
            .map(|(data, label)| InlineKeyboardButton::callback(label, data))
            .collect::<Vec<_>>()
    }))
}

/// `first`, then `rest`.
pub(super) fn with_first(mut first: Vec<Reply>, rest: Vec<Reply>) -> Vec<Reply> {
    first.extend(rest);
    first
}

/// A Telegram user as the chat service knows people.
pub(super) fn person_of(u: &User) -> Person {
    let full = match &u.last_name {
        Some(last) => format!("{} {last}", u.first_name),
        None => u.first_name.clone(),
    };
    // The desk needs a name; a Telegram account always has an id.
    let name = display_name(&full, || {
        u.username
            .as_ref()
            .map_or_else(|| u.id.0.to_string(), |n| format!("@{n}"))
    });
    Person {
        channel: CHANNEL.to_owned(),
        external_id: u.id.0.to_string(),
        name,
        language: u.language_code.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_become_a_keyboard_on_the_last_piece() {
        let out = vec![
            Outgoing::Form {
                title: "t".into(),
                fields: vec![],
            },
            Outgoing::Choices {
                text: "Which?".into(),
                options: vec![("q:a".into(), "A".into()), ("q:b".into(), "B".into())],
            },
        ];
        let replies = render(&out, 7);
        assert_eq!(
            replies,
            vec![Reply::Message {
                chat: 7,
                text: "Which?".into(),
                buttons: vec![vec![("q:a".into(), "A".into()), ("q:b".into(), "B".into())]],
            }]
        );
    }

    #[test]
    fn a_steps_texts_go_as_one_message_while_they_fit() {
        let text = |t: &str| Outgoing::Text(t.into());
        let choices = |t: &str| Outgoing::Choices {
            text: t.into(),
            options: vec![("q:a".into(), "A".into())],
        };
        let message = |text: &str, buttons: bool| Reply::Message {
            chat: 7,
            text: text.into(),
            buttons: if buttons {
                vec![vec![("q:a".into(), "A".into())]]
            } else {
                Vec::new()
            },
        };
        assert_eq!(
            render(&[text("Hello."), text(" "), choices("Which?")], 7),
            vec![message("Hello.\n\nWhich?", true)]
        );
        // Buttons end a message: what follows starts the next one.
        assert_eq!(
            render(&[choices("Which?"), text("Noted.")], 7),
            vec![message("Which?", true), message("Noted.", false)]
        );
        // Texts that would not fit together stay apart.
        let long = "x".repeat(MAX_TEXT - 5);
        assert_eq!(
            render(&[text(&long), text("Next.")], 7),
            vec![message(&long, false), message("Next.", false)]
        );
    }
}
