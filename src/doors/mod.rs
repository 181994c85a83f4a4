//! The doors: each chat platform in a folder of its own, turning what a person sent into
//! the conversation service's [`Incoming`](crate::flow::Incoming) and its replies into
//! the platform's messages, and delivering the outbox's notices ([`Courier`]s). Commands
//! are parsed once for all (`crate::flow::parse_command`) and a person's language is
//! resolved once for all (`Chat::lang_of`); what the doors share besides lives here.
//!
//! [`Courier`]: crate::outbox::Courier

pub mod discord;
pub mod telegram;
pub mod terminal;
pub mod web;
pub mod wecom;

use std::sync::{Mutex, MutexGuard};

use crate::desk::StoreError;
use crate::flow::Outgoing;

/// Why a door could not start or do its work.
#[derive(Debug, thiserror::Error)]
pub enum DoorError {
    /// A setting is missing or malformed (names the setting, or the environment variable
    /// of a secret).
    #[error("{key}: {reason}")]
    Config {
        /// The setting or variable.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Replies could not be written down as JSON.
    #[error("replies could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// The platform refused or failed.
    #[error("{0}")]
    Api(String),
}

/// One message of a step's replies, as [`join_step`] groups them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Said<'a> {
    /// Text, and the choices `(id, label)` that go under it.
    Message(String, &'a [(String, String)]),
    /// A form: the door shows it its own way (or not at all).
    Form(&'a Outgoing),
}

/// A step's replies as messages: consecutive texts joined (with a blank line between)
/// while they fit in `max` units, a message ending with the first choices it carries, and
/// a form always apart. One message instead of several spares a chat's flood limits, and
/// a person never answers a question whose buttons are still on their way.
pub(crate) fn join_step(out: &[Outgoing], max: usize, units: fn(char) -> usize) -> Vec<Said<'_>> {
    let measure = |s: &str| s.chars().map(units).sum::<usize>();
    let mut said: Vec<Said<'_>> = Vec::new();
    for o in out {
        let (text, options) = match o {
            Outgoing::Text(t) => (t, &[][..]),
            Outgoing::Choices { text, options } => (text, &options[..]),
            Outgoing::Form { .. } => {
                said.push(Said::Form(o));
                continue;
            }
        };
        match said.last_mut() {
            Some(Said::Message(before, none))
                if none.is_empty() && measure(before) + 2 + measure(text) <= max =>
            {
                if before.trim().is_empty() {
                    before.clone_from(text);
                } else if !text.trim().is_empty() {
                    before.push_str("\n\n");
                    before.push_str(text);
                }
                *none = options;
            }
            _ => said.push(Said::Message(text.clone(), options)),
        }
    }
    said
}

/// Splits `text` into pieces of at most `max` units (`units` measures a character: the
/// platform's own measure), at line breaks where possible, else at a space, else between
/// characters. Blank pieces are dropped (platforms refuse empty messages).
pub(crate) fn split_text(text: &str, max: usize, units: fn(char) -> usize) -> Vec<String> {
    let measure = |s: &str| s.chars().map(units).sum::<usize>();
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.split_inclusive('\n') {
        let len = measure(line);
        if current_len + len > max && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            current_len = 0;
        }
        let mut rest = line;
        while measure(rest) > max {
            let cut = cut_point(rest, max, units);
            pieces.push(rest[..cut].to_owned());
            rest = &rest[cut..];
        }
        current.push_str(rest);
        current_len += measure(rest);
    }
    pieces.push(current);
    pieces
        .into_iter()
        .map(|p| p.trim_end().to_owned())
        .filter(|p| !p.trim().is_empty())
        .collect()
}

/// Where to cut an overlong line: after the last space that keeps the first part within
/// `max` (if it is not too early), else at the last character boundary that does.
fn cut_point(line: &str, max: usize, units: fn(char) -> usize) -> usize {
    let mut used = 0;
    let mut end = 0;
    let mut space = None;
    for (i, c) in line.char_indices() {
        if used + units(c) > max {
            break;
        }
        used += units(c);
        end = i + c.len_utf8();
        if c.is_whitespace() {
            space = Some(end);
        }
    }
    match space {
        Some(s) if s > end / 2 => s,
        // At least one character, so the loop in `split_text` always advances.
        _ if end == 0 => line.chars().next().map_or(line.len(), char::len_utf8),
        _ => end,
    }
}

/// A platform display name as a person's name: control characters dropped, at most 64
/// characters, trimmed; `fallback` when nothing is left (the desk needs a name).
pub(crate) fn display_name(raw: &str, fallback: impl FnOnce() -> String) -> String {
    let name: String = raw.chars().filter(|c| !c.is_control()).take(64).collect();
    match name.trim() {
        "" => fallback(),
        name => name.to_owned(),
    }
}

/// Locks a mutex whose data stays consistent whatever panicked while holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steps_texts_are_one_message_up_to_its_choices() {
        let text = |t: &str| Outgoing::Text(t.into());
        let options = vec![("q:a".to_owned(), "A".to_owned())];
        let choices = |t: &str| Outgoing::Choices {
            text: t.into(),
            options: options.clone(),
        };
        let form = Outgoing::Form {
            title: "f".into(),
            fields: vec![],
        };
        let out = [
            text("Noted."),
            text(" "),
            choices("Which?"),
            text("Then."),
            form.clone(),
            text("After."),
        ];
        assert_eq!(
            join_step(&out, 100, CHARS),
            [
                Said::Message("Noted.\n\nWhich?".into(), &options[..]),
                Said::Message("Then.".into(), &[][..]),
                Said::Form(&form),
                Said::Message("After.".into(), &[][..]),
            ]
        );
        // Texts that would not fit together stay apart.
        let long = "x".repeat(95);
        assert_eq!(
            join_step(&[text(&long), text("Next.")], 100, CHARS).len(),
            2
        );
    }

    const TELEGRAM: fn(char) -> usize = char::len_utf16;
    const CHARS: fn(char) -> usize = |_| 1;

    fn utf16_len(s: &str) -> usize {
        s.chars().map(char::len_utf16).sum()
    }

    #[test]
    fn long_texts_split_at_lines_under_the_limit() {
        let line = "第一行 line with some words\n";
        let text = line.repeat(400);
        let pieces = split_text(&text, 4096, TELEGRAM);
        assert!(pieces.len() > 1);
        for p in &pieces {
            assert!(utf16_len(p) <= 4096, "{}", utf16_len(p));
            assert!(p.ends_with("words"), "cut inside a line");
        }
        assert_eq!(pieces.join("\n") + "\n", text);
    }

    #[test]
    fn an_overlong_line_is_cut_between_characters() {
        // Emoji are two UTF-16 units each: 3000 of them need two Telegram messages, but
        // fit in two Discord messages of 2,000 characters too.
        let text = "😀".repeat(3000);
        let pieces = split_text(&text, 4096, TELEGRAM);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| utf16_len(p) <= 4096));
        assert_eq!(pieces.concat(), text);
        let pieces = split_text(&text, 2000, CHARS);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| p.chars().count() <= 2000));
        let words = "word ".repeat(2000);
        let pieces = split_text(&words, 100, CHARS);
        assert!(pieces.iter().all(|p| p.ends_with("word")), "{pieces:?}");
    }

    #[test]
    fn blank_texts_send_nothing() {
        assert!(split_text("", 4096, TELEGRAM).is_empty());
        assert!(split_text("\n \n", 2000, CHARS).is_empty());
    }

    #[test]
    fn display_names_are_cleaned_and_never_empty() {
        assert_eq!(display_name(" 张伟\u{7}\n ", || "x".into()), "张伟");
        assert_eq!(display_name(" \t", || "42".into()), "42");
        assert_eq!(
            display_name(&"名".repeat(80), String::new).chars().count(),
            64
        );
    }
}
