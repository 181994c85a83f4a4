//! `{placeholder}` texts: parsed once at load so rendering is a walk over pieces and a
//! misspelt placeholder is a load-time problem, not a blank in a user's chat.

use super::Lang;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Var(String),
}

/// A text with `{name}` placeholders; `{{` and `}}` stand for literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Template {
    /// Parses a template; the error is a sentence for a [`super::FlowProblem`].
    pub(crate) fn parse(src: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(i) = rest.find(['{', '}']) {
            lit.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{") {
                lit.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                lit.push('}');
                rest = after;
            } else if tail.starts_with('}') {
                return Err("a lone `}` (write `}}` for a literal brace)".into());
            } else {
                let Some(end) = tail.find('}') else {
                    return Err(
                        "a `{` without its closing `}` (write `{{` for a literal brace)".into(),
                    );
                };
                let name = &tail[1..end];
                if !is_name(name) {
                    return Err(format!(
                        "placeholder `{{{name}}}` is not a name (lowercase letters, digits, _)"
                    ));
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Var(name.to_owned()));
                rest = &tail[end + 1..];
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Template { pieces })
    }

    /// The placeholder names used.
    pub(crate) fn vars(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(v.as_str()),
            Piece::Lit(_) => None,
        })
    }

    /// Renders with `lookup`; a placeholder it cannot fill becomes "—" so a sentence
    /// never silently loses a word. Every value goes in as one line of bounded length
    /// (see [`one_line`]): what people typed cannot add lines of its own to a notice or a
    /// group's job card, on any door.
    pub(crate) fn render(&self, lookup: &mut dyn FnMut(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(v) => match lookup(v).map(|s| one_line(&s)) {
                    Some(s) if !s.is_empty() => out.push_str(&s),
                    _ => out.push('—'),
                },
            }
        }
        out
    }
}

/// The longest a value is shown in a text, in characters; a longer one ends in "…".
pub(crate) const MAX_VALUE_CHARS: usize = 1000;

/// Whether a character breaks a line, or is a control character a chat could show as
/// anything (line and paragraph separators included).
fn breaks(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `value` as one line: each run of control characters and line breaks (with the spaces
/// around it) becomes one space, the ends are trimmed, and at most [`MAX_VALUE_CHARS`]
/// characters are kept.
pub(crate) fn one_line(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(4 * MAX_VALUE_CHARS));
    let mut kept = 0;
    let mut gap = false;
    for c in value.chars() {
        if breaks(c) {
            while out.ends_with(char::is_whitespace) {
                out.pop();
            }
            gap = true;
            continue;
        }
        if gap && c.is_whitespace() {
            continue;
        }
        if gap {
            if !out.is_empty() {
                out.push(' ');
                kept += 1;
            }
            gap = false;
        }
        if kept >= MAX_VALUE_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        kept += 1;
    }
    out
}

/// A text in every supported language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    pub(crate) zh: Template,
    pub(crate) en: Template,
}

impl Text {
    /// The template for a language.
    pub(crate) fn get(&self, lang: Lang) -> &Template {
        match lang {
            Lang::ZhCn => &self.zh,
            Lang::En => &self.en,
        }
    }

    /// Renders a text that has no placeholders (labels); any placeholder becomes "—".
    pub(crate) fn plain(&self, lang: Lang) -> String {
        self.get(lang).render(&mut |_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_escapes() {
        let t = Template::parse("工单 {ticket} {{x}} {note}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["ticket", "note"]);
        let out = t.render(&mut |v| (v == "ticket").then(|| "BX-1".to_owned()));
        assert_eq!(out, "工单 BX-1 {x} —");
        assert!(Template::parse("{Ticket}").is_err());
        assert!(Template::parse("a { b").is_err());
        assert!(Template::parse("a } b").is_err());
        assert!(Template::parse("{}").is_err());
    }

    #[test]
    fn values_go_in_as_one_bounded_line() {
        let t = Template::parse("问题：{summary}\n✔️ 工单 {ticket}").unwrap();
        let forged = "printer\n✅ 已由 张伟 接单\r\n \u{2028}⛔ 已关闭\t!\u{7}";
        let out = t.render(&mut |v| Some(if v == "summary" { forged } else { "BX-1" }.to_owned()));
        assert_eq!(
            out,
            "问题：printer ✅ 已由 张伟 接单 ⛔ 已关闭 !\n✔️ 工单 BX-1"
        );
        assert_eq!(one_line("  a  b  "), "  a  b  ", "ordinary spaces are kept");
        assert_eq!(one_line("\n\r\t"), "");
        assert_eq!(t.render(&mut |_| Some("\n".into())), "问题：—\n✔️ 工单 —");
        let long = "字".repeat(MAX_VALUE_CHARS + 5);
        let shown = one_line(&long);
        assert_eq!(shown.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(
            one_line(&"字".repeat(MAX_VALUE_CHARS)),
            "字".repeat(MAX_VALUE_CHARS)
        );
    }
}
