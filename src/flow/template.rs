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
    /// never silently loses a word.
    pub(crate) fn render(&self, lookup: &mut dyn FnMut(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(v) => match lookup(v) {
                    Some(s) if !s.is_empty() => out.push_str(&s),
                    _ => out.push('—'),
                },
            }
        }
        out
    }
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
}
