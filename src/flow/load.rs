//! Reading and validating a bot-flows directory. Every problem is collected with its file
//! and line (from toml's spans) so an operator fixes them all in one pass.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::RegexBuilder;
use serde::Deserialize;
use toml::Spanned;

use super::model::{Finish, Flow, FormDef, JobKind, Kind, Messages, OptionDef, StepDef, Target};
use super::template::{Template, Text};
use super::{DETAILS, FlowProblem, PHOTOS, engine, report};

/// A `{ zh-CN = "…", en = "…" }` table.
type RawText = Spanned<BTreeMap<String, Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    id: Spanned<String>,
    start: Option<Spanned<String>>,
    scope: Option<Spanned<String>>,
    #[serde(default)]
    vars: Vec<Spanned<String>>,
    intro: Option<RawText>,
    #[serde(default)]
    form: Vec<Spanned<RawForm>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForm {
    id: Spanned<String>,
    title: RawText,
    steps: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    kind: Spanned<String>,
    answer: Option<Spanned<String>>,
    label: Option<RawText>,
    text: RawText,
    hint: RawText,
    next: Option<Spanned<String>>,
    finish: Option<Spanned<String>>,
    #[serde(default)]
    option: Vec<Spanned<RawOption>>,
    #[serde(default)]
    skip: bool,
    #[serde(default)]
    photo: bool,
    #[serde(default)]
    contact: bool,
    #[serde(default)]
    multiline: bool,
    #[serde(default)]
    detail: bool,
    ask: Option<Spanned<String>>,
    pattern: Option<Spanned<String>>,
    max_len: Option<Spanned<i64>>,
    min: Option<Spanned<i64>>,
    max: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    id: Spanned<String>,
    label: RawText,
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    next: Option<Spanned<String>>,
    finish: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessages {
    #[serde(default)]
    message: BTreeMap<String, RawText>,
    #[serde(default)]
    value: BTreeMap<String, BTreeMap<String, RawText>>,
}

/// Typed answers longer than this are refused everywhere (Description::MAX in the desk).
pub(crate) const HARD_MAX_LEN: usize = 4000;
/// Typed answers to choice and number steps are short; longer input is refused early.
const DEFAULT_CHOICE_LEN: usize = 100;
const DEFAULT_TEXT_LEN: usize = 200;
/// Room a scope suffix `@BX-2026-000123` needs in a choice id (prefix ≤ 8, sequence ≤ 12).
pub(crate) const SCOPE_RESERVE: usize = 27;
/// Telegram's callback data limit.
pub(crate) const MAX_CHOICE_ID: usize = 64;
/// Files that must exist because the desk runs them.
const REQUIRED_FLOWS: [&str; 2] = ["fault_report", "engineer_job"];

/// Per-file context: where problems are reported.
struct Ctx<'a> {
    file: PathBuf,
    line_starts: Vec<usize>,
    problems: &'a mut Vec<FlowProblem>,
}

impl Ctx<'_> {
    fn new<'a>(file: &Path, src: &str, problems: &'a mut Vec<FlowProblem>) -> Ctx<'a> {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ctx {
            file: file.to_owned(),
            line_starts,
            problems,
        }
    }

    fn line(&self, span: Range<usize>) -> usize {
        match self.line_starts.binary_search(&span.start) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    fn at(&mut self, span: Range<usize>, reason: impl Into<String>) {
        let line = self.line(span);
        self.problems.push(FlowProblem {
            file: self.file.clone(),
            line,
            reason: reason.into(),
        });
    }

    /// A problem about the whole file (line 0).
    fn file(&mut self, reason: impl Into<String>) {
        self.problems.push(FlowProblem {
            file: self.file.clone(),
            line: 0,
            reason: reason.into(),
        });
    }

    /// Compiles a bilingual text, checking both translations and the placeholders.
    fn text(&mut self, raw: &RawText, what: &str, allowed: &dyn Fn(&str) -> bool) -> Option<Text> {
        let (mut zh, mut en) = (None, None);
        let mut ok = true;
        for (lang, value) in raw.get_ref() {
            let slot = match lang.as_str() {
                "zh-CN" => &mut zh,
                "en" => &mut en,
                other => {
                    self.at(
                        value.span(),
                        format!("{what}: unknown language `{other}` (use zh-CN and en)"),
                    );
                    ok = false;
                    continue;
                }
            };
            if value.get_ref().trim().is_empty() {
                self.at(value.span(), format!("{what}: the {lang} text is empty"));
                ok = false;
                continue;
            }
            match Template::parse(value.get_ref()) {
                Ok(t) => {
                    for v in t.vars() {
                        if !allowed(v) {
                            self.at(
                                value.span(),
                                format!("{what} ({lang}): unknown placeholder `{{{v}}}`"),
                            );
                            ok = false;
                        }
                    }
                    *slot = Some(t);
                }
                Err(e) => {
                    self.at(value.span(), format!("{what} ({lang}): {e}"));
                    ok = false;
                }
            }
        }
        for (lang, slot) in [("zh-CN", &zh), ("en", &en)] {
            if slot.is_none() && !raw.get_ref().contains_key(lang) {
                self.at(raw.span(), format!("{what}: missing {lang} translation"));
                ok = false;
            }
        }
        match (zh, en) {
            (Some(zh), Some(en)) if ok => Some(Text { zh, en }),
            _ => None,
        }
    }
}

fn is_id(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_lowercase())
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// What the engine and the desk get from a valid directory.
pub(crate) struct Loaded {
    pub(crate) flows: HashMap<String, Flow>,
    pub(crate) messages: Messages,
}

/// Reads every `*.toml` in `dir`: `messages.toml` holds the texts, every other file is a flow.
pub(crate) fn load_dir(dir: &Path) -> Result<Loaded, Vec<FlowProblem>> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
                    files.push(path);
                }
            }
        }
        Err(e) => {
            problems.push(FlowProblem {
                file: dir.to_owned(),
                line: 0,
                reason: format!("cannot read the bot-flows directory: {e}"),
            });
            return Err(problems);
        }
    }
    files.sort();

    let mut sources = Vec::new();
    for path in &files {
        match std::fs::read_to_string(path) {
            Ok(src) => sources.push((path.clone(), src)),
            Err(e) => problems.push(FlowProblem {
                file: path.clone(),
                line: 0,
                reason: format!("cannot read: {e}"),
            }),
        }
    }
    load_sources(dir, sources, problems)
}

/// Loads files already read: `(path, contents)`, `path` naming each file in problems
/// (the files shipped in the binary are named `bot-flows/NAME`).
pub(crate) fn load_sources(
    dir: &Path,
    sources: Vec<(PathBuf, String)>,
    mut problems: Vec<FlowProblem>,
) -> Result<Loaded, Vec<FlowProblem>> {
    let mut messages = None;
    let mut flows: HashMap<String, Flow> = HashMap::new();
    // Messages first: flows' placeholders are translated with its value tables.
    let is_messages = |p: &Path| p.file_name().is_some_and(|n| n == "messages.toml");
    for (path, src) in sources.iter().filter(|(p, _)| is_messages(p)) {
        messages = load_messages(path, src, &mut problems);
    }
    if !sources.iter().any(|(p, _)| is_messages(p)) {
        problems.push(FlowProblem {
            file: dir.join("messages.toml"),
            line: 0,
            reason: "missing: the message texts file is required".into(),
        });
    }
    for (path, src) in sources.iter().filter(|(p, _)| !is_messages(p)) {
        if let Some((id, flow)) = load_flow(path, src, &mut problems) {
            if let Some(first) = flows.get(&id) {
                problems.push(FlowProblem {
                    file: path.clone(),
                    line: 1,
                    reason: format!("flow id `{id}` is already used by {}", first.file.display()),
                });
            } else {
                flows.insert(id, flow);
            }
        }
    }
    for id in REQUIRED_FLOWS {
        let file = dir.join(format!("{id}.toml"));
        if !flows.contains_key(id) && !problems.iter().any(|p| p.file == file) {
            problems.push(FlowProblem {
                file,
                line: 0,
                reason: format!("missing: the flow `{id}` is required"),
            });
        }
    }
    match messages {
        Some(messages) if problems.is_empty() => Ok(Loaded { flows, messages }),
        _ => {
            problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            Err(problems)
        }
    }
}

fn parse_toml<T: serde::de::DeserializeOwned>(ctx: &mut Ctx<'_>, src: &str) -> Option<T> {
    match toml::from_str::<T>(src) {
        Ok(v) => Some(v),
        Err(e) => {
            let msg = e.message().trim().replace('\n', " ");
            match e.span() {
                Some(span) => ctx.at(span, format!("TOML: {msg}")),
                None => ctx.file(format!("TOML: {msg}")),
            }
            None
        }
    }
}

fn load_messages(path: &Path, src: &str, problems: &mut Vec<FlowProblem>) -> Option<Messages> {
    let before = problems.len();
    let mut ctx = Ctx::new(path, src, problems);
    let raw: RawMessages = parse_toml(&mut ctx, src)?;
    let mut out = Messages::default();
    for (key, text) in &raw.message {
        let allowed: Vec<&str> = engine::ENGINE_TEXTS
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, vars)| vars.to_vec())
            .unwrap_or_else(|| super::PAYLOAD.to_vec());
        if let Some(t) = ctx.text(text, &format!("message `{key}`"), &|v| allowed.contains(&v)) {
            out.texts.insert(key.clone(), t);
        }
    }
    let required = super::EVENTS
        .iter()
        .chain(engine::ENGINE_TEXTS.iter().map(|(k, _)| k));
    for key in required {
        if !raw.message.contains_key(*key) {
            ctx.file(format!(
                "missing message `{key}` (add a [message.{key}] table)"
            ));
        }
    }
    for (var, values) in &raw.value {
        for (value, text) in values {
            if let Some(t) = ctx.text(text, &format!("value `{var}.{value}`"), &|_| false) {
                out.values.insert((var.clone(), value.clone()), t);
            }
        }
    }
    (problems.len() == before).then_some(out)
}

/// Step data gathered in the first pass, before references are resolved.
struct Pass1<'r> {
    raw: &'r RawStep,
    kind: Option<Kind>,
    answer: Option<String>,
}

fn load_flow(path: &Path, src: &str, problems: &mut Vec<FlowProblem>) -> Option<(String, Flow)> {
    let before = problems.len();
    let mut ctx = Ctx::new(path, src, problems);
    let raw: RawFlow = parse_toml(&mut ctx, src)?;
    let flow_id = raw.id.get_ref().clone();
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if !is_id(&flow_id) {
        ctx.at(
            raw.id.span(),
            format!("flow id `{flow_id}` must be lowercase letters, digits and _"),
        );
    } else if flow_id != stem {
        ctx.at(
            raw.id.span(),
            format!("flow id `{flow_id}` must match the file name `{stem}.toml`"),
        );
    }
    if raw.step.is_empty() {
        ctx.file("the flow has no [[step]]");
        return None;
    }

    // Pass 1: ids, kinds, answer keys (placeholders may name any answer key).
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut pass1 = Vec::new();
    for (i, s) in raw.step.iter().enumerate() {
        let r = s.get_ref();
        let id = r.id.get_ref();
        if !is_id(id) {
            ctx.at(
                r.id.span(),
                format!("step id `{id}` must start with a-z and use only a-z, 0-9 and _"),
            );
        } else if id == "change" {
            ctx.at(
                r.id.span(),
                "step id `change` is reserved (the change-an-answer picker)",
            );
        } else if let Some(&first) = index.get(id) {
            let line = ctx.line(raw.step[first].get_ref().id.span());
            ctx.at(
                r.id.span(),
                format!("duplicate step id `{id}` (first at line {line})"),
            );
        } else {
            index.insert(id.clone(), i);
        }
        let kind = match r.kind.get_ref().as_str() {
            "choice" => Some(Kind::Choice),
            "text" => Some(Kind::Text),
            "number" => Some(Kind::Number),
            "summary" => Some(Kind::Summary),
            other => {
                ctx.at(
                    r.kind.span(),
                    format!(
                        "step `{id}`: unknown kind `{other}` (choice, text, number or summary)"
                    ),
                );
                None
            }
        };
        let answer = if kind == Some(Kind::Summary) {
            if let Some(a) = &r.answer {
                ctx.at(a.span(), format!("step `{id}`: a summary has no answer"));
            }
            None
        } else {
            let key = r.answer.as_ref().map_or(id, |a| a.get_ref());
            if let Some(a) = &r.answer
                && !is_id(key)
            {
                ctx.at(
                    a.span(),
                    format!("step `{id}`: answer key `{key}` must be a-z, 0-9 and _"),
                );
            }
            if key == PHOTOS || key == DETAILS {
                let span = r.answer.as_ref().map_or(r.id.span(), |a| a.span());
                ctx.at(span, format!("step `{id}`: answer key `{key}` is reserved"));
            }
            Some(key.clone())
        };
        pass1.push(Pass1 {
            raw: r,
            kind,
            answer,
        });
    }
    let answer_keys: BTreeSet<String> = pass1.iter().filter_map(|p| p.answer.clone()).collect();
    let vars: Vec<String> = raw.vars.iter().map(|v| v.get_ref().clone()).collect();
    for v in &raw.vars {
        if !is_id(v.get_ref()) {
            ctx.at(
                v.span(),
                format!("var `{}` must be a-z, 0-9 and _", v.get_ref()),
            );
        }
    }
    let allowed = |v: &str| answer_keys.contains(v) || vars.iter().any(|x| x == v);
    let resolve = |ctx: &mut Ctx<'_>, r: &Spanned<String>, what: &str| -> Option<usize> {
        let found = index.get(r.get_ref()).copied();
        if found.is_none() {
            ctx.at(r.span(), format!("{what}: unknown step `{}`", r.get_ref()));
        }
        found
    };
    let mut ref_problems = false;
    let finish_of =
        |ctx: &mut Ctx<'_>, f: &Option<Spanned<String>>, what: &str| -> Option<Finish> {
            let f = f.as_ref()?;
            let parsed = Finish::parse(f.get_ref());
            if parsed.is_none() {
                let jobs: Vec<&str> = JobKind::ALL.iter().map(|(n, _)| *n).collect();
                ctx.at(
                    f.span(),
                    format!(
                        "{what}: unknown finish `{}` (submit, cancel, change or job:{})",
                        f.get_ref(),
                        jobs.join("|")
                    ),
                );
            }
            parsed
        };

    let scoped = match &raw.scope {
        None => false,
        Some(s) if s.get_ref() == "ticket" => {
            if !vars.iter().any(|v| v == "ticket") {
                ctx.at(s.span(), "scope `ticket` needs `ticket` in vars");
            }
            true
        }
        Some(s) => {
            ctx.at(
                s.span(),
                format!("unknown scope `{}` (only `ticket`)", s.get_ref()),
            );
            false
        }
    };

    // Pass 2: compile each step.
    let mut steps = Vec::new();
    for (i, p) in pass1.iter().enumerate() {
        let r = p.raw;
        let id = r.id.get_ref().clone();
        let what = |field: &str| format!("step `{id}`: {field}");
        let text = ctx.text(&r.text, &what("text"), &allowed);
        let hint = ctx.text(&r.hint, &what("hint"), &allowed);
        let label = r
            .label
            .as_ref()
            .and_then(|l| ctx.text(l, &what("label"), &|_| false));
        let before_refs = ctx.problems.len();
        let next = r
            .next
            .as_ref()
            .and_then(|n| resolve(&mut ctx, n, &what("next")));
        ref_problems |= ctx.problems.len() > before_refs;
        let finish = finish_of(&mut ctx, &r.finish, &what("finish"));
        // An unknown kind was reported already; its kind-specific checks would only add noise.
        let known_kind = p.kind.is_some();
        let kind = p.kind.unwrap_or(Kind::Text);
        let typed = !known_kind || matches!(kind, Kind::Text | Kind::Number);
        if matches!(kind, Kind::Choice | Kind::Summary) && r.option.is_empty() {
            ctx.at(
                r.kind.span(),
                what("a choice or summary step needs at least one [[step.option]]"),
            );
        }
        if r.skip && !typed {
            ctx.at(
                r.id.span(),
                what("`skip` is only for text and number steps"),
            );
        }
        if r.multiline && known_kind && kind != Kind::Text {
            ctx.at(r.id.span(), what("`multiline` is only for text steps"));
        }
        let if_missing = match r.ask.as_ref().map(|a| a.get_ref().as_str()) {
            None | Some("always") => false,
            Some("if_missing") => true,
            Some(other) => {
                if let Some(a) = &r.ask {
                    ctx.at(
                        a.span(),
                        what(&format!("unknown ask `{other}` (always or if_missing)")),
                    );
                }
                false
            }
        };
        let pattern = r.pattern.as_ref().and_then(|pat| {
            if known_kind && kind != Kind::Text {
                ctx.at(pat.span(), what("`pattern` is only for text steps"));
                return None;
            }
            match RegexBuilder::new(pat.get_ref()).size_limit(1 << 20).build() {
                Ok(re) => Some(re),
                Err(e) => {
                    let msg = e.to_string();
                    let last = msg
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    ctx.at(pat.span(), what(&format!("bad pattern: {}", last.trim())));
                    None
                }
            }
        });
        let default_len = if kind == Kind::Text {
            DEFAULT_TEXT_LEN
        } else {
            DEFAULT_CHOICE_LEN
        };
        let max_len = match &r.max_len {
            None => default_len,
            Some(m) => match usize::try_from(*m.get_ref()) {
                Ok(n) if (1..=HARD_MAX_LEN).contains(&n) => n,
                _ => {
                    ctx.at(
                        m.span(),
                        what(&format!("max_len must be 1..={HARD_MAX_LEN}")),
                    );
                    default_len
                }
            },
        };
        let (min, max) = (
            r.min.as_ref().map_or(1, |m| *m.get_ref()),
            r.max.as_ref().map_or(1_000_000, |m| *m.get_ref()),
        );
        if !known_kind {
            // Reported above.
        } else if kind != Kind::Number {
            for m in r.min.iter().chain(&r.max) {
                ctx.at(m.span(), what("`min` and `max` are only for number steps"));
            }
        } else if min > max || min < 0 {
            let span = r
                .min
                .as_ref()
                .or(r.max.as_ref())
                .map_or(r.kind.span(), |m| m.span());
            ctx.at(span, what("needs 0 <= min <= max"));
        }

        // Options.
        let mut options: Vec<OptionDef> = Vec::new();
        let mut words: HashMap<String, usize> = HashMap::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (o_i, o) in r.option.iter().enumerate() {
            let ro = o.get_ref();
            let oid = ro.id.get_ref();
            let owhat = |field: &str| format!("step `{id}` option `{oid}`: {field}");
            if !is_id(oid) {
                ctx.at(
                    ro.id.span(),
                    owhat("id must start with a-z and use only a-z, 0-9 and _"),
                );
            } else if oid == "skip" {
                ctx.at(
                    ro.id.span(),
                    owhat("id `skip` is reserved (use `skip = true` on the step)"),
                );
            } else if let Some(&first) = seen.get(oid.as_str()) {
                let line = ctx.line(r.option[first].get_ref().id.span());
                ctx.at(
                    ro.id.span(),
                    format!("step `{id}`: duplicate option id `{oid}` (first at line {line})"),
                );
                continue;
            } else {
                seen.insert(oid, o_i);
            }
            let full =
                engine::choice_id(&id, oid, None).len() + if scoped { SCOPE_RESERVE } else { 0 };
            if full > MAX_CHOICE_ID {
                ctx.at(
                    ro.id.span(),
                    format!(
                        "choice id `{id}:{oid}` is {full} bytes{} — over the {MAX_CHOICE_ID}-byte limit of chat buttons",
                        if scoped { " with its ticket suffix" } else { "" }
                    ),
                );
            }
            let olabel = ctx.text(&ro.label, &owhat("label"), &|_| false);
            let before_refs = ctx.problems.len();
            let onext = ro
                .next
                .as_ref()
                .and_then(|n| resolve(&mut ctx, n, &owhat("next")));
            ref_problems |= ctx.problems.len() > before_refs;
            let ofinish = finish_of(&mut ctx, &ro.finish, &owhat("finish"));
            if ofinish == Some(Finish::Change) && kind != Kind::Summary {
                let span = ro.finish.as_ref().map_or(ro.id.span(), |f| f.span());
                ctx.at(
                    span,
                    owhat("`finish = \"change\"` is only for summary steps"),
                );
            }
            // Typed words: id, both labels, aliases. One word may name one option only.
            let mut add = |ctx: &mut Ctx<'_>, word: String, span: Range<usize>| {
                if word.is_empty() {
                    return;
                }
                if let Some(n) = word.parse::<usize>().ok().filter(|_| kind != Kind::Number)
                    && (1..=r.option.len()).contains(&n)
                    && n != o_i + 1
                {
                    ctx.at(
                        span,
                        owhat(&format!("alias `{word}` is the number of option {n}")),
                    );
                    return;
                }
                match words.get(&word) {
                    Some(&other) if other != o_i => {
                        let other_id = r.option[other].get_ref().id.get_ref();
                        ctx.at(
                            span,
                            owhat(&format!("`{word}` also names option `{other_id}`")),
                        );
                    }
                    _ => {
                        words.insert(word, o_i);
                    }
                }
            };
            add(&mut ctx, engine::normalize(oid), ro.id.span());
            for l in ro.label.get_ref().values() {
                add(&mut ctx, engine::normalize(l.get_ref()), l.span());
            }
            for a in &ro.aliases {
                add(&mut ctx, engine::normalize(a.get_ref()), a.span());
            }
            if let Some(label) = olabel {
                options.push(OptionDef {
                    id: oid.clone(),
                    label,
                    next: onext,
                    finish: ofinish,
                });
            }
        }
        if r.skip {
            let full =
                engine::choice_id(&id, "skip", None).len() + if scoped { SCOPE_RESERVE } else { 0 };
            if full > MAX_CHOICE_ID {
                ctx.at(r.id.span(), format!("choice id `{id}:skip` is {full} bytes — over the {MAX_CHOICE_ID}-byte limit"));
            }
        }
        if finish == Some(Finish::Change) && kind != Kind::Summary {
            let span = r.finish.as_ref().map_or(r.id.span(), |f| f.span());
            ctx.at(
                span,
                what("`finish = \"change\"` is only for summary steps"),
            );
        }
        // Without `next` or `finish` a step continues with the following one in the file.
        let next = next.or_else(|| {
            (finish.is_none() && r.next.is_none() && i + 1 < pass1.len()).then_some(i + 1)
        });
        if let (Some(text), Some(hint)) = (text, hint) {
            steps.push(StepDef {
                id,
                kind,
                answer: p.answer.clone(),
                label,
                text,
                hint,
                next,
                finish,
                options,
                words,
                skip: r.skip,
                photo: r.photo,
                contact: r.contact,
                multiline: r.multiline,
                detail: r.detail,
                if_missing,
                pattern,
                max_len,
                min,
                max,
                form: None,
            });
        }
    }

    let intro = raw
        .intro
        .as_ref()
        .and_then(|t| ctx.text(t, "intro", &allowed));
    let start = match &raw.start {
        Some(s) => {
            let found = resolve(&mut ctx, s, "start");
            ref_problems |= found.is_none();
            found.unwrap_or(0)
        }
        None => 0,
    };

    // Forms: consecutive text steps, each leading to the next.
    let mut forms = Vec::new();
    let mut in_form: HashMap<usize, String> = HashMap::new();
    for f in &raw.form {
        let rf = f.get_ref();
        let fid = rf.id.get_ref();
        let title = ctx.text(&rf.title, &format!("form `{fid}`: title"), &|_| false);
        let mut fsteps = Vec::new();
        for s in rf.steps.get_ref() {
            let Some(i) = resolve(&mut ctx, s, &format!("form `{fid}`")) else {
                ref_problems = true;
                continue;
            };
            if let Some(other) = in_form.insert(i, fid.clone()) {
                ctx.at(
                    s.span(),
                    format!(
                        "form `{fid}`: step `{}` is already in form `{other}`",
                        s.get_ref()
                    ),
                );
            }
            if pass1[i].kind != Some(Kind::Text) {
                ctx.at(
                    s.span(),
                    format!("form `{fid}`: step `{}` is not a text step", s.get_ref()),
                );
            }
            fsteps.push(i);
        }
        if fsteps.is_empty() {
            ctx.at(rf.steps.span(), format!("form `{fid}` has no steps"));
        }
        if let Some(title) = title {
            forms.push((
                f.span(),
                FormDef {
                    title,
                    steps: fsteps,
                },
            ));
        }
    }

    if ctx.problems.len() > before {
        return None;
    }
    let mut flow = Flow {
        file: path.to_owned(),
        start,
        scoped,
        vars,
        intro,
        steps,
        index,
        forms: Vec::new(),
    };
    for (span, form) in forms {
        for w in form.steps.windows(2) {
            let s = &flow.steps[w[0]];
            if s.finish.is_some() || s.next != Some(w[1]) {
                ctx.at(
                    span.clone(),
                    format!(
                        "form fields must follow each other: step `{}` does not lead to `{}`",
                        s.id, flow.steps[w[1]].id
                    ),
                );
            }
        }
        let n = flow.forms.len();
        for (k, &i) in form.steps.iter().enumerate() {
            flow.steps[i].form = Some((n, k == 0));
        }
        flow.forms.push(form);
    }
    if !ref_problems {
        check_graph(&mut ctx, &raw, &flow);
    }
    check_contracts(&mut ctx, &raw, &flow_id, &flow);
    (ctx.problems.len() == before).then_some((flow_id, flow))
}

/// Nowhere-to-go steps, unreachable steps, labels for summaries, and that every job action
/// has the answers it is built from on every path to it.
fn check_graph(ctx: &mut Ctx<'_>, raw: &RawFlow, flow: &Flow) {
    let span = |i: usize| raw.step[i].get_ref().id.span();
    for i in 0..flow.steps.len() {
        if flow.targets(i).contains(&Target::Nowhere) {
            ctx.at(
                span(i),
                format!(
                    "step `{}` has nowhere to go: give it (or its options) `next` or `finish`",
                    flow.steps[i].id
                ),
            );
        }
    }
    // Reachability from the start.
    let mut seen = vec![false; flow.steps.len()];
    let mut todo = vec![flow.start];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        for t in flow.targets(i) {
            if let Target::Next(n) = t {
                todo.push(n);
            }
        }
    }
    for (i, reached) in seen.iter().enumerate() {
        if !reached {
            ctx.at(
                span(i),
                format!("step `{}` is unreachable from the start", flow.steps[i].id),
            );
        }
    }
    let has_summary = flow.steps.iter().any(|s| s.kind == Kind::Summary);
    if has_summary {
        for (i, s) in flow.steps.iter().enumerate() {
            if s.kind != Kind::Summary && s.label.is_none() {
                ctx.at(
                    span(i),
                    format!("step `{}` needs a `label` (the summary lists it)", s.id),
                );
            }
        }
    }
    // Answers present on every path ("must" analysis): arrive[n] ∩= arrive[i] ∪ keys(i).
    let all: BTreeSet<&str> = flow.steps.iter().flat_map(|s| s.keys()).collect();
    let mut arrive: Vec<Option<BTreeSet<&str>>> = vec![None; flow.steps.len()];
    arrive[flow.start] = Some(BTreeSet::new());
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..flow.steps.len() {
            let Some(here) = arrive[i].clone() else {
                continue;
            };
            let out: BTreeSet<&str> = here.iter().copied().chain(flow.steps[i].keys()).collect();
            for t in flow.targets(i) {
                if let Target::Next(n) = t {
                    let new = match &arrive[n] {
                        None => out.clone(),
                        Some(old) => old.intersection(&out).copied().collect(),
                    };
                    if arrive[n].as_ref() != Some(&new) {
                        arrive[n] = Some(new);
                        changed = true;
                    }
                }
            }
        }
    }
    for (i, s) in flow.steps.iter().enumerate() {
        let Some(here) = &arrive[i] else { continue };
        let have: BTreeSet<&str> = here.iter().copied().chain(s.keys()).collect();
        for t in flow.targets(i) {
            if let Target::Finish(Finish::Job(kind)) = t {
                for need in kind.needs() {
                    if !have.contains(need) {
                        let exists = all.contains(need);
                        ctx.at(
                            span(i),
                            format!(
                                "step `{}` finishes a job action that needs the answer `{need}`, {}",
                                s.id,
                                if exists { "which is not collected on every path to it" } else { "which no step collects" }
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// The answers `report_form` and `JobAction` interpret must use ids they understand.
fn check_contracts(ctx: &mut Ctx<'_>, raw: &RawFlow, flow_id: &str, flow: &Flow) {
    let span = |i: usize| raw.step[i].get_ref().id.span();
    let understood: &[(&str, &[&str])] = &[
        ("started", report::STARTED),
        ("people", report::PEOPLE),
        ("urgency", report::URGENCY),
        ("pend_reason", &["vendor", "reporter"]),
    ];
    for (i, s) in flow.steps.iter().enumerate() {
        let Some(key) = &s.answer else { continue };
        let Some((_, ids)) = understood.iter().find(|(k, _)| k == key) else {
            continue;
        };
        if key != "people" && s.kind != Kind::Choice {
            ctx.at(
                span(i),
                format!("step `{}`: answer `{key}` must be a choice step", s.id),
            );
        }
        for o in &s.options {
            if !ids.contains(&o.id.as_str()) {
                ctx.at(
                    span(i),
                    format!(
                        "step `{}`: option `{}` is not understood for `{key}` (expected one of {})",
                        s.id,
                        o.id,
                        ids.join(", ")
                    ),
                );
            }
        }
    }
    if flow_id == "fault_report" {
        let keys: HashSet<&str> = flow
            .steps
            .iter()
            .filter_map(|s| s.answer.as_deref())
            .collect();
        for need in report::REQUIRED {
            if !keys.contains(need) {
                ctx.at(
                    raw.id.span(),
                    format!("flow `fault_report` must ask for `{need}` (the desk requires it)"),
                );
            }
        }
    }
}
