//! What the door sends, as Discord messages: up to five choices become buttons (the
//! custom_id is the choice id), more a select menu (the chosen value is the choice id), a
//! form a button that opens a modal; long texts are split under Discord's limit. Every
//! message goes out with empty `allowed_mentions`, so nothing a user typed pings anyone.
//! Discord reads a message's content as markdown, and what the door says carries what
//! people typed (a summary, a job card), so every content is escaped here ([`shown`],
//! [`Inner::render`]): a typed `[click](http://evil)` is shown as typed, not as a link
//! hiding its target, and `@everyone` or `<@id>` as text, not as a mention. The bot's own
//! texts use no markdown; bare links are left whole, so they stay clickable.
//! Also: the slash commands, and a Discord user as a [`Person`].

use serenity::all::{
    ButtonStyle, CommandOptionType, ComponentInteraction, ComponentInteractionDataKind,
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateCommand, CreateCommandOption,
    CreateInputText, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    CreateModal, CreateSelectMenu, CreateSelectMenuKind, CreateSelectMenuOption, InputTextStyle,
    User,
};

use super::{CHANNEL, Inner};
use crate::conversation::{Person, is_accept};
use crate::doors::{Said, display_name, join_step, lock, split_text};
use crate::flow::{Flows, FormField, Lang, Outgoing};

/// Discord's limit on a message's content, in characters.
pub const MAX_CONTENT: usize = 2000;
/// Discord's limit on a component's custom_id, in characters.
pub const MAX_CUSTOM_ID: usize = 100;
/// The custom_id of the button that opens the pending form as a modal.
pub(super) const FORM_BUTTON: &str = "bx:form";
/// The custom_id of a select menu of choices (the choice is the selected value).
const MENU: &str = "bx:menu";
/// The custom_id of the modal itself.
pub(super) const FORM_MODAL: &str = "bx:form-submit";
/// Discord's limits on modals: title length, text inputs, label and placeholder lengths.
const MODAL_TITLE: usize = 45;
const MODAL_FIELDS: usize = 5;
const INPUT_LABEL: usize = 45;
const INPUT_PLACEHOLDER: usize = 100;
/// Buttons per row and rows per message.
const ROW: usize = 5;
const ROWS: usize = 5;

/// The slash commands registered (names as the chat service knows them), each with the
/// `messages.toml` key of its description and, if it takes one, its required string
/// option `(name, description key)`.
const COMMANDS: [(&str, &str, Option<CommandOption>); 7] = [
    ("report", "cmd_report", None),
    ("status", "cmd_status", None),
    ("mytickets", "cmd_mytickets", None),
    ("cancel", "cmd_cancel", None),
    ("lang", "cmd_lang", Some(("language", "cmd_lang_option"))),
    ("link", "cmd_link", Some(("code", "cmd_link_option"))),
    (
        "complain",
        "cmd_complain",
        Some(("what", "cmd_complain_option")),
    ),
];
/// A command's required string option: its name and the key of its description.
type CommandOption = (&'static str, &'static str);
/// Discord's limit on a command's or option's description, in characters.
const MAX_DESCRIPTION: usize = 100;
/// The Discord locale the Chinese texts are registered under.
const ZH_LOCALE: &str = "zh-CN";

/// One message to post: text (escaped, as Discord is to show it) and choices
/// `(custom_id, label)` in rows of buttons, or (with `menu`) one row that is a select menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    pub(super) content: String,
    pub(super) buttons: Vec<Vec<(String, String)>>,
    pub(super) menu: bool,
}

impl Inner {
    /// Replies as Discord messages; a form is remembered for `user` and offered as a
    /// button that opens it as a modal, on the message that follows it (the step's
    /// question) where that has room, so a step is one message.
    pub(super) fn render(&self, user: u64, out: &[Outgoing]) -> Vec<Piece> {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut form: Option<Piece> = None;
        for said in join_step(out, MAX_CONTENT, escaped_len) {
            match said {
                Said::Message(text, options) => {
                    let mut more = message(&text, options);
                    if let Some(f) = form.take() {
                        match more.last_mut() {
                            Some(last) if !last.menu && last.buttons.len() < ROWS => {
                                last.buttons.insert(0, f.buttons[0].clone());
                            }
                            _ => pieces.push(f),
                        }
                    }
                    pieces.extend(more);
                }
                Said::Form(Outgoing::Form { title, fields })
                    if (1..=MODAL_FIELDS).contains(&fields.len()) =>
                {
                    lock(&self.forms).insert(user, (title.clone(), fields.clone()));
                    pieces.extend(form.take());
                    form = Some(Piece {
                        content: shown(title),
                        buttons: vec![vec![(
                            FORM_BUTTON.to_owned(),
                            format!("📝 {}", cut(title, 70)),
                        )]],
                        menu: false,
                    });
                }
                Said::Form(_) => {}
            }
        }
        pieces.extend(form);
        pieces
    }
}

/// The slash commands to register, their descriptions from `text(key, lang)` (cut to
/// Discord's 100 characters).
pub(super) fn slash_commands(text: &dyn Fn(&str, Lang) -> String) -> Vec<CreateCommand> {
    let describe = |key: &str, lang| cut(&text(key, lang), MAX_DESCRIPTION);
    COMMANDS
        .iter()
        .map(|(name, key, option)| {
            let c = CreateCommand::new(*name)
                .description(describe(key, Lang::En))
                .description_localized(ZH_LOCALE, describe(key, Lang::ZhCn));
            match option {
                Some((option, key)) => c.add_option(
                    CreateCommandOption::new(
                        CommandOptionType::String,
                        *option,
                        describe(key, Lang::En),
                    )
                    .description_localized(ZH_LOCALE, describe(key, Lang::ZhCn))
                    .required(true),
                ),
                None => c,
            }
        })
        .collect()
}

/// One message of a step as Discord messages: long texts split, the choices on the last
/// piece — up to five as buttons, more as a select menu (Discord's idiom for a list) — and
/// at most 25 per message (more go on further messages).
pub(super) fn message(text: &str, options: &[(String, String)]) -> Vec<Piece> {
    let options: Vec<(String, String)> = options
        .iter()
        .filter(|(id, _)| !id.is_empty() && id.chars().count() <= MAX_CUSTOM_ID)
        .map(|(id, label)| (id.clone(), cut(label, 80)))
        .collect();
    let menu = options.len() > ROW;
    let rows = |chunk: &[(String, String)]| -> Vec<Vec<(String, String)>> {
        if menu {
            vec![chunk.to_vec()]
        } else {
            chunk.chunks(ROW).map(<[_]>::to_vec).collect()
        }
    };
    let mut pieces: Vec<Piece> = split_text(text, MAX_CONTENT, escaped_len)
        .into_iter()
        .map(|content| Piece {
            content: escape(&content),
            buttons: vec![],
            menu: false,
        })
        .collect();
    let mut groups = options.chunks(ROW * ROWS);
    if let Some(first) = groups.next() {
        match pieces.last_mut() {
            Some(last) => {
                last.buttons = rows(first);
                last.menu = menu;
            }
            None => pieces.push(Piece {
                content: "⬇️".into(),
                buttons: rows(first),
                menu,
            }),
        }
    }
    for more in groups {
        pieces.push(Piece {
            content: "⬇️".into(),
            buttons: rows(more),
            menu,
        });
    }
    pieces
}

/// What a click chose: a button's custom_id, or the value picked in a select menu.
pub(super) fn choice_of(c: &ComponentInteraction) -> String {
    match &c.data.kind {
        ComponentInteractionDataKind::StringSelect { values } if c.data.custom_id == MENU => {
            values.first().cloned().unwrap_or_default()
        }
        _ => c.data.custom_id.clone(),
    }
}

/// Whether a custom_id is the Accept of `ticket`'s card.
pub(super) fn is_accept_for(custom_id: &str, ticket: &str) -> bool {
    is_accept(custom_id) && Flows::choice_scope(custom_id) == Some(ticket)
}

pub(super) fn action_rows(piece: &Piece) -> Vec<CreateActionRow> {
    if piece.menu {
        let options = piece
            .buttons
            .iter()
            .flatten()
            .map(|(id, label)| CreateSelectMenuOption::new(label.clone(), id.clone()))
            .collect();
        let kind = CreateSelectMenuKind::String { options };
        return vec![CreateActionRow::SelectMenu(CreateSelectMenu::new(
            MENU, kind,
        ))];
    }
    piece
        .buttons
        .iter()
        .map(|row| {
            CreateActionRow::Buttons(
                row.iter()
                    .map(|(id, label)| {
                        CreateButton::new(id.clone())
                            .label(label.clone())
                            .style(ButtonStyle::Primary)
                    })
                    .collect(),
            )
        })
        .collect()
}

/// A piece as an interaction's own answer (a new message in the channel).
pub(super) fn reply(piece: &Piece) -> CreateInteractionResponseMessage {
    let mut m = CreateInteractionResponseMessage::new()
        .content(piece.content.clone())
        .allowed_mentions(CreateAllowedMentions::new());
    if !piece.buttons.is_empty() {
        m = m.components(action_rows(piece));
    }
    m
}

pub(super) fn followup(piece: &Piece) -> CreateInteractionResponseFollowup {
    let mut f = CreateInteractionResponseFollowup::new()
        .content(piece.content.clone())
        .allowed_mentions(CreateAllowedMentions::new());
    if !piece.buttons.is_empty() {
        f = f.components(action_rows(piece));
    }
    f
}

pub(super) fn modal(title: &str, fields: &[FormField]) -> CreateModal {
    let rows = fields
        .iter()
        .take(MODAL_FIELDS)
        .map(|f| {
            let style = if f.max_len > 200 {
                InputTextStyle::Paragraph
            } else {
                InputTextStyle::Short
            };
            let mut input = CreateInputText::new(style, cut(&f.label, INPUT_LABEL), f.id.clone())
                .placeholder(cut(&f.hint, INPUT_PLACEHOLDER))
                .required(f.required)
                .max_length(u16::try_from(f.max_len.clamp(1, 4000)).unwrap_or(4000));
            if let Some(v) = &f.value {
                input = input.value(v.clone());
            }
            CreateActionRow::InputText(input)
        })
        .collect();
    CreateModal::new(FORM_MODAL, cut(title, MODAL_TITLE)).components(rows)
}

/// Characters Discord's markdown gives a meaning to, and those that start a mention: each
/// is shown as itself after a backslash.
const MARKDOWN: [char; 14] = [
    '\\', '*', '_', '~', '`', '|', '>', '[', ']', '(', ')', '#', '<', '@',
];

/// `text` as Discord is to show it: markdown and mentions escaped, bare `http(s)://`
/// links (up to a space or `<`) left whole — Discord links them before it reads escapes,
/// so a backslash in one would change where it leads.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut rest = text;
    let mut after_word = false;
    while let Some(c) = rest.chars().next() {
        if !after_word && let Some(link) = bare_link(rest) {
            out.push_str(&rest[..link]);
            rest = &rest[link..];
            after_word = true;
            continue;
        }
        if MARKDOWN.contains(&c) {
            out.push('\\');
        }
        out.push(c);
        after_word = c.is_alphanumeric();
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The length of the bare link `s` starts with, if it does.
fn bare_link(s: &str) -> Option<usize> {
    let scheme = ["https://", "http://"].into_iter().find(|p| {
        s.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })?;
    let end = s
        .find(|c: char| c.is_whitespace() || c == '<')
        .unwrap_or(s.len());
    (end > scheme.len()).then_some(end)
}

/// A character's length once escaped (at most: links keep theirs), to split and cut by.
pub(super) fn escaped_len(c: char) -> usize {
    if MARKDOWN.contains(&c) { 2 } else { 1 }
}

/// `text` as one message's content: escaped ([`escape`]), cut to Discord's limit.
pub(super) fn shown(text: &str) -> String {
    if text.chars().map(escaped_len).sum::<usize>() <= MAX_CONTENT {
        return escape(text);
    }
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        used += escaped_len(c);
        if used > MAX_CONTENT - 1 {
            break;
        }
        end = i + c.len_utf8();
    }
    let mut s = escape(&text[..end]);
    s.push('…');
    s
}

/// At most `max` characters (an ellipsis marks a cut).
pub(super) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// A Discord user as the chat service knows people.
pub(super) fn person_of(u: &User, locale: Option<&str>) -> Person {
    let name = u.global_name.clone().unwrap_or_else(|| u.name.clone());
    Person {
        channel: CHANNEL.to_owned(),
        external_id: u.id.get().to_string(),
        name: display_name(&name, || u.id.get().to_string()),
        language: locale.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_five_choices_are_buttons_more_are_a_select_menu() {
        let choices = |n: usize| {
            let options: Vec<(String, String)> = (0..n)
                .map(|i| (format!("q:{i}"), format!("Option {i}")))
                .collect();
            message("Which?", &options)
        };
        let five = choices(5);
        assert_eq!(five.len(), 1);
        assert!(!five[0].menu);
        assert_eq!(five[0].buttons, [five[0].buttons[0].clone()]);
        assert_eq!(five[0].buttons[0].len(), 5);

        let seven = choices(7);
        assert_eq!(seven.len(), 1);
        assert!(seven[0].menu);
        assert_eq!(seven[0].buttons.len(), 1, "one menu");
        assert_eq!(seven[0].buttons[0][6], ("q:6".into(), "Option 6".into()));
        let rows = serde_json::to_value(action_rows(&seven[0])).expect("json");
        assert_eq!(rows[0]["components"][0]["type"], 3, "{rows}");
        assert_eq!(rows[0]["components"][0]["custom_id"], MENU);
        assert_eq!(rows[0]["components"][0]["options"][6]["value"], "q:6");

        // A menu holds 25 options: more go on a further message.
        let thirty = choices(30);
        assert_eq!(thirty.len(), 2);
        assert_eq!(thirty[0].buttons[0].len(), 25);
        assert!(thirty[1].menu && thirty[1].buttons[0].len() == 5);
    }

    #[test]
    fn markdown_and_mentions_are_shown_as_typed() {
        let typed =
            r"[click](http://evil) **now** __u__ ~~s~~ `c` ||spoil|| > q # h \ @everyone <@1> <#2>";
        let e = escape(typed);
        assert_eq!(
            e,
            r"\[click\]\(http://evil) \*\*now\*\* \_\_u\_\_ \~\~s\~\~ \`c\` \|\|spoil\|\| \> q \# h \\ \@everyone \<\@1\> \<\#2\>"
        );
        // Each escape is a backslash before the character it keeps literal.
        assert_eq!(
            e.replace('\\', "").len() + e.matches("\\\\").count(),
            typed.len()
        );
        // Text without markdown is unchanged; so are bare links, which stay clickable.
        for same in [
            "打印机卡纸了，HP LaserJet M404",
            "see https://intranet.example/oa_login?a=1&b=[2] now",
            "HTTPS://X.Y/a_b",
            "🔗 http://127.0.0.1:8080/web/invite/AbC_dE-f9",
        ] {
            assert_eq!(escape(same), same);
        }
        // A link starts a word: inside one, or with no more than its scheme, it is text.
        assert_eq!(escape("xhttp://a_b"), r"xhttp://a\_b");
        assert_eq!(escape("http:// _"), r"http:// \_");
        assert_eq!(escape("(http://a_b)"), r"\(http://a_b)");
    }

    #[test]
    fn escaped_texts_still_fit_discords_limit() {
        let stars = "*".repeat(3000);
        let pieces = message(&stars, &[]);
        assert!(pieces.len() >= 3, "{}", pieces.len());
        for p in &pieces {
            assert!(p.content.chars().count() <= MAX_CONTENT);
            assert!(p.content.starts_with("\\*") && !p.content.ends_with("\\"));
        }
        let card = shown(&"_".repeat(1500));
        // 999 escaped underscores and the ellipsis: a pair is never split.
        assert_eq!(card.chars().count(), MAX_CONTENT - 1, "{card}");
        assert!(card.ends_with("\\_…"));
        assert_eq!(shown("a_b"), r"a\_b");
    }

    #[test]
    fn long_texts_split_under_discords_limit() {
        let text = "第一行 some words\n".repeat(300);
        let pieces = split_text(&text, MAX_CONTENT, |_| 1);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.chars().count() <= MAX_CONTENT));
        assert!(split_text(" \n", MAX_CONTENT, |_| 1).is_empty());
    }

    #[test]
    fn slash_commands_are_described_from_messages_in_both_languages() {
        let flows = crate::flow::Flows::load_dir(&crate::flow::Flows::builtin_dir())
            .expect("bundled flows load");
        let text = |key: &str, lang| flows.text(key, lang, &serde_json::Value::Null);
        let commands = serde_json::to_value(slash_commands(&text)).expect("json");
        let commands = commands.as_array().expect("a list");
        assert_eq!(commands.len(), COMMANDS.len());
        for (c, (name, key, option)) in commands.iter().zip(COMMANDS) {
            assert_eq!(c["name"], name);
            assert_eq!(c["description"], text(key, Lang::En), "{c}");
            assert_eq!(
                c["description_localizations"][ZH_LOCALE],
                text(key, Lang::ZhCn),
                "{c}"
            );
            // A key missing from messages.toml would show as the key itself.
            assert_ne!(c["description"], key);
            let options = c["options"].as_array().cloned().unwrap_or_default();
            assert_eq!(options.len(), usize::from(option.is_some()), "{c}");
            if let Some((option, key)) = option {
                assert_eq!(options[0]["name"], option);
                assert_eq!(options[0]["description"], text(key, Lang::En));
                assert_eq!(
                    options[0]["description_localizations"][ZH_LOCALE],
                    text(key, Lang::ZhCn)
                );
                assert_eq!(options[0]["required"], true);
            }
        }
    }

    #[test]
    fn descriptions_are_cut_to_discords_limit() {
        let long = |_: &str, _| "说".repeat(300);
        let commands = serde_json::to_value(slash_commands(&long)).expect("json");
        for c in commands.as_array().expect("a list") {
            let d = c["description"].as_str().expect("text");
            assert_eq!(d.chars().count(), MAX_DESCRIPTION);
        }
    }
}
