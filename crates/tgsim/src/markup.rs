//! `parse_mode` handling: HTML, MarkdownV2 and legacy Markdown become plain text plus
//! entities, and malformed markup is refused as Telegram refuses it ("can't parse
//! entities"), so a bot that forgets to escape user text fails here, not in production.
//!
//! The rules follow the Bot API's "Formatting options"; corner cases of Telegram's
//! own parser (nested entity merging, URL validation) are simplified.

use serde_json::{Value, json};

/// One formatting entity, offsets in UTF-16 code units as in the Bot API.
#[derive(Debug, Clone, PartialEq)]
struct Entity {
    kind: &'static str,
    offset: usize,
    length: usize,
    url: Option<String>,
    language: Option<String>,
}

/// Plain text being built, with its length in UTF-16 code units.
#[derive(Debug, Default)]
struct Out {
    text: String,
    utf16: usize,
    entities: Vec<Entity>,
}

impl Out {
    fn push(&mut self, c: char) {
        self.text.push(c);
        self.utf16 += c.len_utf16();
    }

    fn entity(
        &mut self,
        kind: &'static str,
        start: usize,
        url: Option<String>,
        lang: Option<String>,
    ) {
        // Telegram drops empty entities.
        if self.utf16 > start {
            self.entities.push(Entity {
                kind,
                offset: start,
                length: self.utf16 - start,
                url,
                language: lang,
            });
        }
    }

    fn finish(mut self) -> (String, Vec<Value>) {
        self.entities
            .sort_by(|a, b| a.offset.cmp(&b.offset).then(b.length.cmp(&a.length)));
        let entities = self
            .entities
            .into_iter()
            .map(|e| {
                let mut v = json!({"type": e.kind, "offset": e.offset, "length": e.length});
                if let Some(url) = e.url {
                    v["url"] = Value::String(url);
                }
                if let Some(lang) = e.language {
                    v["language"] = Value::String(lang);
                }
                v
            })
            .collect();
        (self.text, entities)
    }
}

/// Parses `text` for `parse_mode`. Returns the plain text and its entities, or the
/// part of Telegram's error description after "Bad Request: ".
pub(crate) fn parse(text: &str, parse_mode: Option<&str>) -> Result<(String, Vec<Value>), String> {
    let result = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => return Ok((text.to_owned(), Vec::new())),
        Some("html") => html(text),
        Some("markdownv2") => markdown_v2(text),
        Some("markdown") => markdown_legacy(text),
        Some(_) => return Err("unsupported parse_mode".to_owned()),
    };
    result.map_err(|e| format!("can't parse entities: {e}"))
}

/// Length of `s` in UTF-16 code units, the unit Telegram's limits and offsets use.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn html_entity(rest: &str) -> Option<(char, usize)> {
    let end = rest.find(';')?;
    if end > 10 {
        return None;
    }
    let name = &rest[1..end];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok()?
            } else {
                name.strip_prefix('#')?.parse().ok()?
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

fn decode_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        if c == '&'
            && let Some((d, used)) = html_entity(&s[i..])
        {
            out.push(d);
            i += used;
            continue;
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

struct OpenTag {
    name: String,
    start: usize,
    attr: Option<String>,
}

fn html(text: &str) -> Result<(String, Vec<Value>), String> {
    let mut out = Out::default();
    let mut stack: Vec<OpenTag> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        if c == '&' {
            if let Some((d, used)) = html_entity(&text[i..]) {
                out.push(d);
                i += used;
            } else {
                // Telegram keeps an unknown `&` as it is.
                out.push('&');
                i += 1;
            }
            continue;
        }
        if c != '<' {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let tag_at = i;
        let Some(close) = text[i..].find('>').map(|p| p + i) else {
            return Err(format!("Unclosed start tag at byte offset {tag_at}"));
        };
        let inner = &text[i + 1..close];
        i = close + 1;
        if let Some(name) = inner.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            let Some(open) = stack.pop() else {
                return Err(format!("Unexpected end tag at byte offset {tag_at}"));
            };
            if !name.is_empty() && name != open.name {
                return Err(format!(
                    "Unmatched end tag at byte offset {tag_at}, expected \"</{}>\", found \"</{name}>\"",
                    open.name
                ));
            }
            close_html(&mut out, &open, &stack);
            continue;
        }
        let name_len = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(inner.len());
        let name = inner[..name_len].to_ascii_lowercase();
        let supported = [
            "b",
            "strong",
            "i",
            "em",
            "u",
            "ins",
            "s",
            "strike",
            "del",
            "span",
            "tg-spoiler",
            "a",
            "code",
            "pre",
            "blockquote",
            "tg-emoji",
        ];
        if !supported.contains(&name.as_str()) {
            return Err(format!(
                "Unsupported start tag \"{name}\" at byte offset {tag_at}"
            ));
        }
        let attrs = parse_attrs(&inner[name_len..]);
        let attr = |key: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| decode_html(v))
        };
        let attr = match name.as_str() {
            "a" => attr("href"),
            "span" => {
                if attr("class").as_deref() != Some("tg-spoiler") {
                    return Err(format!(
                        "Tag \"span\" must have class \"tg-spoiler\" at byte offset {tag_at}"
                    ));
                }
                None
            }
            "code" => attr("class").and_then(|c| c.strip_prefix("language-").map(str::to_owned)),
            "blockquote" => attrs
                .iter()
                .any(|(k, _)| k == "expandable")
                .then(|| "expandable".to_owned()),
            "tg-emoji" => attr("emoji-id"),
            _ => None,
        };
        stack.push(OpenTag {
            name,
            start: out.utf16,
            attr,
        });
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.name
        ));
    }
    Ok(out.finish())
}

fn close_html(out: &mut Out, open: &OpenTag, outer: &[OpenTag]) {
    let start = open.start;
    match open.name.as_str() {
        "b" | "strong" => out.entity("bold", start, None, None),
        "i" | "em" => out.entity("italic", start, None, None),
        "u" | "ins" => out.entity("underline", start, None, None),
        "s" | "strike" | "del" => out.entity("strikethrough", start, None, None),
        "span" | "tg-spoiler" => out.entity("spoiler", start, None, None),
        "a" => {
            if let Some(url) = &open.attr {
                out.entity("text_link", start, Some(url.clone()), None);
            }
        }
        "code" => {
            // <pre><code class="language-x"> gives the pre block a language.
            if outer.last().is_some_and(|t| t.name == "pre") {
                if let Some(lang) = &open.attr {
                    out.entity("pre", start, None, Some(lang.clone()));
                }
            } else {
                out.entity("code", start, None, None);
            }
        }
        "pre" => {
            let has_lang = out
                .entities
                .last()
                .is_some_and(|e| e.kind == "pre" && e.offset == start);
            if !has_lang {
                out.entity("pre", start, None, None);
            }
        }
        "blockquote" => {
            let kind = if open.attr.is_some() {
                "expandable_blockquote"
            } else {
                "blockquote"
            };
            out.entity(kind, start, None, None);
        }
        "tg-emoji" => out.entity("custom_emoji", start, None, None),
        _ => {}
    }
}

fn parse_attrs(s: &str) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() && rest != "/" {
        let name_len = rest
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(rest.len());
        let name = rest[..name_len].to_ascii_lowercase();
        rest = rest[name_len..].trim_start();
        let mut value = String::new();
        if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            if let Some(q @ ('"' | '\'')) = r.chars().next() {
                let body = &r[1..];
                let end = body.find(q).unwrap_or(body.len());
                value = body[..end].to_owned();
                rest = body.get(end + 1..).unwrap_or("");
            } else {
                let end = r.find(char::is_whitespace).unwrap_or(r.len());
                value = r[..end].to_owned();
                rest = &r[end..];
            }
        }
        if !name.is_empty() {
            attrs.push((name, value));
        }
        rest = rest.trim_start();
    }
    attrs
}

const V2_RESERVED: &str = "_*[]()~`>#+-=|{}.!";

#[derive(Debug, Clone, Copy, PartialEq)]
enum V2 {
    Bold,
    Italic,
    Underline,
    Strike,
    Spoiler,
    Code,
    Pre,
    Link,
}

impl V2 {
    fn name(self) -> &'static str {
        match self {
            V2::Bold => "Bold",
            V2::Italic => "Italic",
            V2::Underline => "Underline",
            V2::Strike => "Strikethrough",
            V2::Spoiler => "Spoiler",
            V2::Code => "Code",
            V2::Pre => "Pre",
            V2::Link => "TextUrl",
        }
    }
}

fn markdown_v2(text: &str) -> Result<(String, Vec<Value>), String> {
    let mut out = Out::default();
    // (kind, plain-text start, byte offset of the marker, pre language)
    let mut stack: Vec<(V2, usize, usize, Option<String>)> = Vec::new();
    let mut i = 0;
    let at_line_start = |i: usize| i == 0 || text[..i].ends_with('\n');
    while let Some(c) = text[i..].chars().next() {
        let next = text[i + c.len_utf8()..].chars().next();
        if c == '\\'
            && let Some(n) = next
            && (1..=126).contains(&(n as u32))
        {
            out.push(n);
            i += 1 + n.len_utf8();
            continue;
        }
        let top = stack.last().map(|t| t.0);
        // Inside code and pre only the closing backticks are special.
        if matches!(top, Some(V2::Code | V2::Pre)) {
            let closes = match top {
                Some(V2::Code) => c == '`',
                _ => text[i..].starts_with("```"),
            };
            if closes {
                let (kind, start, _, lang) = stack.pop().unwrap_or((V2::Code, 0, 0, None));
                if kind == V2::Pre {
                    out.entity("pre", start, None, lang);
                    i += 3;
                } else {
                    out.entity("code", start, None, None);
                    i += 1;
                }
            } else {
                out.push(c);
                i += c.len_utf8();
            }
            continue;
        }
        if !V2_RESERVED.contains(c) {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let marker_at = i;
        let two = |s: &str| text[i..].starts_with(s);
        // Closing markers first.
        let closing = match (c, top) {
            ('*', Some(V2::Bold)) => Some((1, "bold")),
            ('_', Some(V2::Underline)) if two("__") => Some((2, "underline")),
            ('_', Some(V2::Italic)) => Some((1, "italic")),
            ('~', Some(V2::Strike)) => Some((1, "strikethrough")),
            ('|', Some(V2::Spoiler)) if two("||") => Some((2, "spoiler")),
            _ => None,
        };
        if let Some((len, kind)) = closing {
            let (_, start, _, _) = stack.pop().unwrap_or((V2::Bold, 0, 0, None));
            out.entity(kind, start, None, None);
            i += len;
            continue;
        }
        if c == ']' && top == Some(V2::Link) {
            let (_, start, _, _) = stack.pop().unwrap_or((V2::Link, 0, 0, None));
            i += 1;
            if text[i..].starts_with('(') {
                i += 1;
                let mut url = String::new();
                let mut closed = false;
                while let Some(u) = text[i..].chars().next() {
                    if u == '\\'
                        && let Some(n) = text[i + 1..].chars().next()
                    {
                        url.push(n);
                        i += 1 + n.len_utf8();
                        continue;
                    }
                    i += u.len_utf8();
                    if u == ')' {
                        closed = true;
                        break;
                    }
                    url.push(u);
                }
                if !closed {
                    return Err(format!(
                        "Can't find end of a url at byte offset {marker_at}"
                    ));
                }
                out.entity("text_link", start, Some(url), None);
            }
            continue;
        }
        let start = out.utf16;
        let opened = match c {
            '*' => Some((V2::Bold, 1)),
            '_' if two("__") => Some((V2::Underline, 2)),
            '_' => Some((V2::Italic, 1)),
            '~' => Some((V2::Strike, 1)),
            '|' if two("||") => Some((V2::Spoiler, 2)),
            '`' if two("```") => Some((V2::Pre, 3)),
            '`' => Some((V2::Code, 1)),
            '[' => Some((V2::Link, 1)),
            '!' if two("![") => Some((V2::Link, 2)),
            _ => None,
        };
        if let Some((kind, len)) = opened {
            i += len;
            let mut lang = None;
            if kind == V2::Pre {
                // ```lang\n : the rest of the first line names the language.
                if let Some(nl) = text[i..].find('\n') {
                    let first = &text[i..i + nl];
                    if !first.is_empty()
                        && !first.contains(char::is_whitespace)
                        && !first.contains('`')
                    {
                        lang = Some(first.to_owned());
                        i += nl + 1;
                    }
                }
            }
            stack.push((kind, start, marker_at, lang));
            continue;
        }
        if c == '>' && at_line_start(i) {
            // A block quote line: the marker is not part of the text.
            i += 1;
            continue;
        }
        return Err(format!(
            "Character '{c}' is reserved and must be escaped with the preceding '\\'"
        ));
    }
    if let Some((kind, _, at, _)) = stack.last() {
        return Err(format!(
            "Can't find end of {} entity at byte offset {at}",
            kind.name()
        ));
    }
    Ok(out.finish())
}

fn markdown_legacy(text: &str) -> Result<(String, Vec<Value>), String> {
    let mut out = Out::default();
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        if c == '\\'
            && let Some(n) = text[i + 1..].chars().next()
            && "_*`[".contains(n)
        {
            out.push(n);
            i += 2;
            continue;
        }
        let (end_marker, kind, len) = match c {
            '*' => ("*", "bold", 1),
            '_' => ("_", "italic", 1),
            '`' if text[i..].starts_with("```") => ("```", "pre", 3),
            '`' => ("`", "code", 1),
            '[' => ("]", "text_link", 1),
            _ => {
                out.push(c);
                i += c.len_utf8();
                continue;
            }
        };
        let body_at = i + len;
        let Some(end) = text[body_at..].find(end_marker).map(|p| p + body_at) else {
            return Err(format!(
                "Can't find end of the entity starting at byte offset {i}"
            ));
        };
        let start = out.utf16;
        for ch in text[body_at..end].chars() {
            out.push(ch);
        }
        i = end + end_marker.len();
        if kind == "text_link" {
            if text[i..].starts_with('(')
                && let Some(close) = text[i..].find(')')
            {
                let url = text[i + 1..i + close].to_owned();
                i += close + 1;
                out.entity(kind, start, Some(url), None);
            }
        } else {
            out.entity(kind, start, None, None);
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_strips_tags_and_counts_utf16() {
        let (text, ents) = parse("<b>报修</b> &lt;ok&gt; 😀<i>x</i>", Some("HTML")).expect("valid");
        assert_eq!(text, "报修 <ok> 😀x");
        assert_eq!(ents[0]["type"], "bold");
        assert_eq!(ents[1]["offset"], 10);
    }

    #[test]
    fn html_rejects_bad_markup() {
        assert!(parse("a <foo> b", Some("HTML")).is_err());
        assert!(parse("<b>open", Some("HTML")).is_err());
        assert!(parse("<b>x</i>", Some("HTML")).is_err());
        assert!(parse("a & b", Some("HTML")).is_ok());
    }

    #[test]
    fn markdown_v2_requires_escapes() {
        let err = parse("Ticket #12 done.", Some("MarkdownV2")).expect_err("unescaped");
        assert!(err.contains("Character '#' is reserved"), "{err}");
        let (text, ents) = parse(
            "*Ticket* \\#12 [open](http://x/a\\)b) done\\.",
            Some("MarkdownV2"),
        )
        .expect("valid");
        assert_eq!(text, "Ticket #12 open done.");
        assert_eq!(ents.len(), 2);
        assert_eq!(ents[1]["url"], "http://x/a)b");
        assert!(parse("*bold", Some("MarkdownV2")).is_err());
        assert!(parse("`a.b`", Some("MarkdownV2")).is_ok());
    }

    #[test]
    fn legacy_markdown() {
        let (text, _) = parse("*a* _b_ a.b", Some("Markdown")).expect("valid");
        assert_eq!(text, "a b a.b");
        assert!(parse("snake_case", Some("Markdown")).is_err());
    }
}
