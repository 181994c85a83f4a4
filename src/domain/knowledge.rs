//! The knowledge base's pure rules: how text is normalised for search, which terms a
//! query (or an article) is made of, how candidates are ranked, what a draft written
//! from a resolved ticket says, and an article's life (draft → published → retired).
//!
//! Ranking lives here, once: the databases only find *candidates* (SQLite's FTS5 trigram
//! index, PostgreSQL's `pg_trgm`, and an index of one- and two-character terms (see
//! [`short_terms`]), which trigram indexes cannot match); [`rank`] orders them the same way
//! whichever database found them.

use std::collections::BTreeMap;

text_enum! {
    /// Where an article is in its life.
    ArticleStatus {
        /// Written (from a resolution, or by an expert), not shown to reporters yet.
        Draft = "draft",
        /// Offered to reporters and found by `/kb`.
        Published = "published",
        /// No longer offered; kept, and still linked to its tickets.
        Retired = "retired",
    }
}

impl ArticleStatus {
    /// Whether an article may move from `self` to `to` (publishing again after retiring
    /// is allowed; a draft may be retired without ever being published).
    pub fn can_become(self, to: ArticleStatus) -> bool {
        use ArticleStatus::*;
        matches!(
            (self, to),
            (Draft, Published) | (Draft, Retired) | (Published, Retired) | (Retired, Published)
        )
    }

    /// Whether its text may still be edited (a retired article is frozen until it is
    /// published again).
    pub fn editable(self) -> bool {
        self != ArticleStatus::Retired
    }
}

/// The longest texts an article keeps, in characters.
pub const MAX_TITLE: usize = 120;
/// The longest symptom, cause or solution, in characters.
pub const MAX_TEXT: usize = 4000;
/// The most keywords an article keeps.
pub const MAX_KEYWORDS: usize = 12;
/// The most terms a query is cut to (a pasted essay must not become 500 index probes).
pub const MAX_QUERY_TERMS: usize = 16;
/// How many candidates the databases hand to [`rank`] at most (most used first).
pub const MAX_CANDIDATES: i64 = 100;

/// Whether `c` is a Han character (CJK ideographs and their extensions).
fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FFFF)
}

/// Text as the index stores it and queries compare it: full-width ASCII folded to
/// ASCII (`ＰＣ` = `pc`), the ideographic space to a space, lowercase.
pub fn normalize(text: &str) -> String {
    text.chars()
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Words that say nothing about a fault (English and Chinese), never query terms.
const STOP: &[&str] = &[
    "the",
    "and",
    "not",
    "can",
    "cannot",
    "can't",
    "does",
    "doesn't",
    "with",
    "for",
    "from",
    "this",
    "that",
    "when",
    "how",
    "what",
    "why",
    "please",
    "help",
    "have",
    "has",
    "was",
    "are",
    "is",
    "it",
    "my",
    "to",
    "of",
    "on",
    "in",
    "a",
    "an",
    "i",
    "me",
    "we",
    "our",
    "怎么",
    "什么",
    "一下",
    "我的",
    "这个",
    "那个",
    "可以",
    "请问",
    "谢谢",
    "为什么",
    "好像",
    "一直",
    "现在",
    "今天",
    "我们",
    "你好",
    "麻烦",
];

/// One term of a query or an article: a run of Han characters or a word of letters and
/// digits, normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(String);

impl Term {
    /// The term's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a trigram index can find it (three characters or more).
    pub fn indexable(&self) -> bool {
        self.0.chars().count() >= 3
    }
}

/// The terms of a text, in order of first appearance, without repeats: each word of
/// letters and digits (stop words dropped), and for each run of Han characters the run
/// itself when it has one or two characters, else its overlapping trigrams and bigrams
/// (Chinese has no spaces: "打印机卡纸" is found by "卡纸" and by "打印机").
pub fn terms(text: &str) -> Vec<Term> {
    let text = normalize(text);
    let mut out: Vec<Term> = Vec::new();
    let mut push = |t: String| {
        if !STOP.contains(&t.as_str()) && !out.iter().any(|o| o.0 == t) {
            out.push(Term(t));
        }
    };
    let mut word = String::new();
    let mut han: Vec<char> = Vec::new();
    let flush_han = |han: &mut Vec<char>, push: &mut dyn FnMut(String)| {
        if han.len() <= 2 {
            if !han.is_empty() {
                push(han.iter().collect());
            }
        } else {
            for w in han.windows(3) {
                push(w.iter().collect());
            }
            for w in han.windows(2) {
                push(w.iter().collect());
            }
        }
        han.clear();
    };
    for c in text.chars() {
        if is_han(c) {
            if !word.is_empty() {
                push(std::mem::take(&mut word));
            }
            han.push(c);
        } else if c.is_alphanumeric() {
            flush_han(&mut han, &mut push);
            word.push(c);
        } else {
            flush_han(&mut han, &mut push);
            if !word.is_empty() {
                push(std::mem::take(&mut word));
            }
        }
    }
    flush_han(&mut han, &mut push);
    if !word.is_empty() {
        push(word);
    }
    out
}

/// A search as the databases run it: the terms a trigram index can find (`long`) and
/// the one- and two-character ones it cannot (`short`, found as words), plus every
/// term for ranking.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// All terms, for ranking (at most [`MAX_QUERY_TERMS`]).
    pub terms: Vec<Term>,
    /// Category the asker is in (ranks that category's articles first), if known.
    pub category: Option<String>,
}

impl Query {
    /// A query from what a person typed; empty when nothing searchable was typed.
    pub fn new(text: &str, category: Option<&str>) -> Query {
        let mut terms = terms(text);
        terms.truncate(MAX_QUERY_TERMS);
        Query {
            terms,
            category: category.filter(|c| !c.is_empty()).map(str::to_owned),
        }
    }

    /// Whether there is anything to search for.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Terms a trigram index finds.
    pub fn long(&self) -> Vec<&str> {
        self.terms
            .iter()
            .filter(|t| t.indexable())
            .map(Term::as_str)
            .collect()
    }

    /// Terms of one or two characters (found in the index of [`short_terms`]).
    pub fn short(&self) -> Vec<&str> {
        self.terms
            .iter()
            .filter(|t| !t.indexable())
            .map(Term::as_str)
            .collect()
    }

    /// SQLite FTS5's match expression for the long terms: each quoted, OR-ed (terms
    /// hold only letters and digits, so quoting is enough).
    pub fn fts_match(&self) -> Option<String> {
        fts_join(&self.long(), " OR ")
    }

    /// SQLite FTS5's match expression requiring every long term (the phrase as typed).
    pub fn fts_match_all(&self) -> Option<String> {
        fts_join(&self.long(), " AND ")
    }

    /// SQLite FTS5's match expression for the short terms (see [`short_terms`]).
    pub fn short_match(&self) -> Option<String> {
        fts_join(&self.short(), " OR ")
    }
}

/// `"a" OR "b" …` (or with `AND`), or nothing for no terms.
fn fts_join(terms: &[&str], op: &str) -> Option<String> {
    (!terms.is_empty()).then(|| {
        terms
            .iter()
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(op)
    })
}

/// What ranking needs of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its id (the last tie-breaker: older first).
    pub id: i64,
    /// Its category.
    pub category: &'a str,
    /// Title, symptom and keywords: a match here weighs more.
    pub head: String,
    /// Cause and solution.
    pub body: String,
    /// How often it solved a reporter's fault.
    pub uses: i64,
}

/// Points for a term found in title, symptom or keywords.
const HEAD_POINTS: i64 = 3;
/// Points for a term found only in cause or solution.
const BODY_POINTS: i64 = 1;
/// Points for the asker's category.
const CATEGORY_POINTS: i64 = 20;
/// Use counts above this add nothing more.
const USES_CAP: i64 = 9;

/// An article's score for a query, with how much of it came from matched terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Score {
    /// The whole score (higher first).
    pub total: i64,
    /// Points from matched terms alone.
    pub matched: i64,
}

/// The score of one candidate: ten per term point (title, symptom and keywords weigh
/// three, cause and solution one), twenty for the asker's category, and up to nine for
/// its use count. Integers, so both databases' candidates order identically.
pub fn score(query: &Query, c: &Candidate<'_>) -> Score {
    let head = normalize(&c.head);
    let body = normalize(&c.body);
    let matched: i64 = query
        .terms
        .iter()
        .map(|t| {
            if head.contains(t.as_str()) {
                HEAD_POINTS
            } else if body.contains(t.as_str()) {
                BODY_POINTS
            } else {
                0
            }
        })
        .sum();
    let category = if query.category.as_deref() == Some(c.category) {
        CATEGORY_POINTS
    } else {
        0
    };
    Score {
        total: 10 * matched + category + c.uses.clamp(0, USES_CAP),
        matched,
    }
}

/// The candidates that match at least one term, best first: by score, then use count,
/// then id. At most `limit`.
pub fn rank(query: &Query, candidates: &[Candidate<'_>], limit: usize) -> Vec<(i64, Score)> {
    let mut scored: Vec<(i64, i64, Score)> = candidates
        .iter()
        .map(|c| (c.id, c.uses, score(query, c)))
        .filter(|(_, _, s)| s.matched > 0)
        .collect();
    scored.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(&b.0)));
    scored
        .into_iter()
        .take(limit)
        .map(|(id, _, s)| (id, s))
        .collect()
}

/// Term points an article needs before it is offered at intake: two terms in its title,
/// symptom or keywords (one shared word is chance).
pub const OFFER_MIN_MATCHED: i64 = 2 * HEAD_POINTS;
/// How many articles intake offers at most.
pub const OFFER_MAX: usize = 3;

/// Whether a ranked article is good enough to offer a reporter at intake.
pub fn worth_offering(s: Score) -> bool {
    s.matched >= OFFER_MIN_MATCHED
}

/// The share of answered offers that a published article solved (no ticket filed);
/// 0 when nothing was offered.
pub fn deflection_rate(self_solved: i64, offered: i64) -> f64 {
    if offered <= 0 {
        0.0
    } else {
        self_solved.clamp(0, offered) as f64 / offered as f64
    }
}

/// The draft an article starts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// Category (the ticket's).
    pub category: String,
    /// A short title.
    pub title: String,
    /// What the reporter saw.
    pub symptom: String,
    /// Why it happened.
    pub cause: String,
    /// What fixed it.
    pub solution: String,
    /// Keywords, normalised.
    pub keywords: Vec<String>,
}

/// Cuts `text` to at most `max` characters.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The title a symptom suggests: its first line or sentence, at most 40 characters.
pub fn title_from(symptom: &str) -> String {
    let first = symptom
        .split(['\n', '。', '！', '？', '.', '!', '?', '；', ';'])
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    let title = cut(first, 40);
    if title.is_empty() {
        "—".into()
    } else {
        title
    }
}

/// The keywords a text suggests: its most frequent terms (ties: first seen), English
/// words and two-character Chinese ones seen at least twice (the commonest length of a
/// Chinese word), at most [`MAX_KEYWORDS`].
pub fn keywords_from(texts: &[&str]) -> Vec<String> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut order = 0;
    for text in texts {
        // All occurrences count, so terms() (which dedupes) is not enough: split per line.
        for piece in normalize(text).split(|c: char| !(c.is_alphanumeric())) {
            for t in terms(piece) {
                let chars = t.as_str().chars().count();
                let han = t.as_str().chars().all(is_han);
                let wanted = if han { chars == 2 } else { chars >= 3 };
                if !wanted {
                    continue;
                }
                let e = counts.entry(t.0).or_insert((0, order));
                e.0 += 1;
                order += 1;
            }
        }
    }
    // A Chinese pair seen once is as often a seam between two words as a word.
    let mut ranked: Vec<(String, (usize, usize))> = counts
        .into_iter()
        .filter(|(k, (n, _))| *n >= 2 || !k.chars().all(is_han))
        .collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
    ranked
        .into_iter()
        .take(MAX_KEYWORDS)
        .map(|(k, _)| k)
        .collect()
}

/// The draft a resolved ticket becomes: its category, its description as the symptom
/// (with a title from its first sentence), the engineer's cause and solution, and
/// keywords drawn from all three.
pub fn draft_from_resolution(
    category: &str,
    description: &str,
    cause: &str,
    solution: &str,
) -> Draft {
    Draft {
        category: category.to_owned(),
        title: title_from(description),
        symptom: cut(description, MAX_TEXT),
        cause: cut(cause, MAX_TEXT),
        solution: cut(solution, MAX_TEXT),
        keywords: keywords_from(&[description, cause, solution]),
    }
}

/// What the index stores of an article: its texts normalised, as one string (the
/// trigram indexes search it).
pub fn search_text(d: &Draft) -> String {
    normalize(&format!(
        "{}\n{}\n{}\n{}\n{}",
        d.title,
        d.symptom,
        d.keywords.join(" "),
        d.cause,
        d.solution
    ))
}

/// What the index of short terms stores of an article: every Han character and pair of
/// adjacent Han characters, and every word of one or two letters or digits, once each,
/// separated by spaces. Trigram indexes cannot find terms this short ("打印", "网",
/// "ip"); this word index finds them exactly (FTS5 `unicode61` on SQLite, a GIN index on
/// the words as an array on PostgreSQL).
pub fn short_terms(text: &str) -> String {
    let text = normalize(text);
    let mut out: Vec<String> = Vec::new();
    let add = |t: String, out: &mut Vec<String>| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    let mut run: Vec<char> = Vec::new();
    let mut word = String::new();
    let flush = |run: &mut Vec<char>, word: &mut String, out: &mut Vec<String>| {
        for (i, c) in run.iter().enumerate() {
            add(c.to_string(), out);
            if let Some(next) = run.get(i + 1) {
                add(format!("{c}{next}"), out);
            }
        }
        run.clear();
        if (1..=2).contains(&word.chars().count()) {
            add(std::mem::take(word), out);
        }
        word.clear();
    };
    for c in text.chars() {
        if is_han(c) {
            if !word.is_empty() {
                let mut none = Vec::new();
                flush(&mut none, &mut word, &mut out);
            }
            run.push(c);
        } else if c.is_alphanumeric() {
            if !run.is_empty() {
                let mut no_word = String::new();
                flush(&mut run, &mut no_word, &mut out);
            }
            word.push(c);
        } else {
            flush(&mut run, &mut word, &mut out);
        }
    }
    flush(&mut run, &mut word, &mut out);
    out.join(" ")
}

/// Why an edit of an article is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArticleError {
    /// A required text is blank.
    #[error("the {0} must not be empty")]
    Empty(&'static str),
    /// A text is longer than allowed.
    #[error("the {field} is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Which text.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Too many keywords.
    #[error("at most {MAX_KEYWORDS} keywords are allowed")]
    TooManyKeywords,
    /// The status change is not allowed.
    #[error("an article that is {from} cannot become {to}")]
    Transition {
        /// Now.
        from: ArticleStatus,
        /// Asked for.
        to: ArticleStatus,
    },
}

impl Draft {
    /// Checks an article's texts: title, symptom and solution present, nothing too long,
    /// keywords normalised and deduplicated (at most [`MAX_KEYWORDS`]).
    pub fn checked(mut self) -> Result<Draft, ArticleError> {
        self.title = self.title.trim().to_owned();
        self.symptom = self.symptom.trim().to_owned();
        self.cause = self.cause.trim().to_owned();
        self.solution = self.solution.trim().to_owned();
        for (field, text, max) in [
            ("title", &self.title, MAX_TITLE),
            ("symptom", &self.symptom, MAX_TEXT),
            ("solution", &self.solution, MAX_TEXT),
        ] {
            if text.is_empty() {
                return Err(ArticleError::Empty(field));
            }
            let len = text.chars().count();
            if len > max {
                return Err(ArticleError::TooLong { field, len, max });
            }
        }
        let len = self.cause.chars().count();
        if len > MAX_TEXT {
            return Err(ArticleError::TooLong {
                field: "cause",
                len,
                max: MAX_TEXT,
            });
        }
        let mut keywords: Vec<String> = Vec::new();
        for k in &self.keywords {
            // One line each, inner spaces single ("paper  jam" = "paper jam").
            let k = normalize(&k.split_whitespace().collect::<Vec<_>>().join(" "));
            if !k.is_empty() && !keywords.contains(&k) {
                keywords.push(k);
            }
        }
        if keywords.len() > MAX_KEYWORDS {
            return Err(ArticleError::TooManyKeywords);
        }
        self.keywords = keywords;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(ts: &[Term]) -> Vec<&str> {
        ts.iter().map(Term::as_str).collect()
    }

    #[test]
    fn normalising_folds_width_and_case() {
        assert_eq!(normalize("ＰＣ　Printer"), "pc printer");
        assert_eq!(normalize("打印机ＡＢＣ"), "打印机abc");
    }

    #[test]
    fn chinese_runs_become_trigrams_and_bigrams_short_ones_stay_whole() {
        assert_eq!(
            strs(&terms("打印机卡纸")),
            ["打印机", "印机卡", "机卡纸", "打印", "印机", "机卡", "卡纸"]
        );
        assert_eq!(strs(&terms("打印")), ["打印"]);
        assert_eq!(strs(&terms("网")), ["网"]);
        assert_eq!(strs(&terms("HP打印 网络")), ["hp", "打印", "网络"]);
    }

    #[test]
    fn english_words_are_split_and_stop_words_dropped() {
        assert_eq!(
            strs(&terms("The printer is NOT printing, paper-jam!")),
            ["printer", "printing", "paper", "jam"]
        );
        assert!(terms("怎么 the 什么").is_empty());
        assert!(terms("  ，。!! ").is_empty());
    }

    #[test]
    fn repeated_terms_are_kept_once() {
        assert_eq!(strs(&terms("vpn VPN vpn 断网 断网")), ["vpn", "断网"]);
    }

    #[test]
    fn long_terms_go_to_the_index_short_ones_to_like() {
        let q = Query::new("打印 vpn 卡纸 ip", Some("printer"));
        assert_eq!(q.long(), ["vpn"]);
        assert_eq!(q.short(), ["打印", "卡纸", "ip"]);
        assert_eq!(q.fts_match().as_deref(), Some("\"vpn\""));
        let both = Query::new("vpn 打印机", None);
        assert_eq!(both.fts_match().as_deref(), Some("\"vpn\" OR \"打印机\""));
        assert_eq!(
            both.fts_match_all().as_deref(),
            Some("\"vpn\" AND \"打印机\"")
        );
        assert_eq!(both.short_match().as_deref(), Some("\"打印\" OR \"印机\""));
        assert_eq!(q.category.as_deref(), Some("printer"));
        assert_eq!(Query::new("打印", None).fts_match(), None);
        assert!(Query::new("the", None).is_empty());
    }

    #[test]
    fn short_terms_hold_every_han_character_and_pair_and_short_words() {
        assert_eq!(short_terms("打印机 ip, PC-3"), "打 打印 印 印机 机 ip pc 3");
        assert_eq!(short_terms("U盘坏了 printer"), "u 盘 盘坏 坏 坏了 了");
        assert_eq!(short_terms("网 网络"), "网 网络 络");
        // Every short query term of a text is among its short terms.
        let text = "无线网络断网，VPN 的 ip 不对";
        let stored = short_terms(text);
        let stored: Vec<&str> = stored.split(' ').collect();
        for t in Query::new(text, None).short() {
            assert!(stored.contains(&t), "{t} in {stored:?}");
        }
    }

    #[test]
    fn a_query_is_cut_to_its_first_terms() {
        let long: String = (0..100).map(|i| format!("word{i} ")).collect();
        assert_eq!(Query::new(&long, None).terms.len(), MAX_QUERY_TERMS);
    }

    fn cand(
        id: i64,
        category: &'static str,
        head: &str,
        body: &str,
        uses: i64,
    ) -> Candidate<'static> {
        Candidate {
            id,
            category,
            head: head.into(),
            body: body.into(),
            uses,
        }
    }

    #[test]
    fn title_matches_weigh_more_than_solution_matches() {
        let q = Query::new("卡纸", None);
        let head = cand(1, "printer", "打印机卡纸", "", 0);
        let body = cand(2, "printer", "打印机报错", "取出卡纸", 0);
        assert_eq!(
            score(&q, &head),
            Score {
                total: 30,
                matched: 3
            }
        );
        assert_eq!(
            score(&q, &body),
            Score {
                total: 10,
                matched: 1
            }
        );
        assert_eq!(
            rank(&q, &[body, head], 5),
            vec![
                (
                    1,
                    Score {
                        total: 30,
                        matched: 3
                    }
                ),
                (
                    2,
                    Score {
                        total: 10,
                        matched: 1
                    }
                ),
            ]
        );
    }

    #[test]
    fn the_askers_category_and_use_count_rank_next_then_age() {
        let q = Query::new("vpn", Some("network"));
        let a = cand(1, "desktop", "vpn", "", 50);
        let b = cand(2, "network", "vpn", "", 0);
        let c = cand(3, "network", "vpn", "", 4);
        let d = cand(4, "network", "vpn", "", 4);
        let ranked: Vec<i64> = rank(&q, &[a, b, c, d], 10)
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ranked, [3, 4, 2, 1]);
    }

    #[test]
    fn use_counts_beyond_the_cap_tie_on_score_and_break_on_uses() {
        let q = Query::new("vpn", None);
        let a = cand(1, "x", "vpn", "", 9);
        let b = cand(2, "x", "vpn", "", 500);
        assert_eq!(score(&q, &a).total, score(&q, &b).total);
        let ranked: Vec<i64> = rank(&q, &[a, b], 10).into_iter().map(|r| r.0).collect();
        assert_eq!(ranked, [2, 1]);
    }

    #[test]
    fn candidates_that_match_nothing_are_dropped_and_the_limit_holds() {
        let q = Query::new("scanner", None);
        let list = [
            cand(1, "x", "scanner", "", 0),
            cand(2, "x", "printer", "", 0),
            cand(3, "x", "scanner jam", "", 0),
        ];
        assert_eq!(rank(&q, &list, 1).len(), 1);
        assert_eq!(rank(&q, &list, 10).len(), 2);
    }

    #[test]
    fn matching_ignores_case_and_width() {
        let q = Query::new("ＶＰＮ", None);
        assert_eq!(score(&q, &cand(1, "x", "VPN 连不上", "", 0)).matched, 3);
    }

    #[test]
    fn only_articles_sharing_two_title_terms_are_offered() {
        let q = Query::new("打印机卡纸了", Some("printer"));
        let good = score(&q, &cand(1, "printer", "打印机卡纸", "", 0));
        assert!(worth_offering(good));
        let weak = score(&q, &cand(2, "printer", "网络很慢", "纸", 0));
        assert!(!worth_offering(weak));
    }

    #[test]
    fn a_resolution_becomes_a_draft_with_title_and_keywords() {
        let d = draft_from_resolution(
            "printer",
            "3楼打印机卡纸。一直闪红灯",
            "搓纸轮磨损，卡纸",
            "更换搓纸轮 (pickup roller)；清理卡纸",
        );
        assert_eq!(d.title, "3楼打印机卡纸");
        assert_eq!(d.category, "printer");
        assert_eq!(d.keywords.first().map(String::as_str), Some("卡纸"));
        assert!(d.keywords.contains(&"roller".to_owned()));
        assert!(d.keywords.len() <= MAX_KEYWORDS);
    }

    #[test]
    fn a_title_is_never_empty() {
        assert_eq!(title_from("  \n。"), "—");
        assert_eq!(title_from(&"长".repeat(100)).chars().count(), 40);
    }

    #[test]
    fn the_search_text_holds_every_field_normalised() {
        let d = draft_from_resolution("network", "VPN 连不上", "证书过期", "重新导入证书");
        let s = search_text(&d);
        for part in ["vpn 连不上", "证书过期", "重新导入证书"] {
            assert!(s.contains(part), "{s}");
        }
    }

    #[test]
    fn edits_are_checked() {
        let ok = Draft {
            category: "printer".into(),
            title: " 卡纸 ".into(),
            symptom: "卡纸".into(),
            cause: String::new(),
            solution: "取出".into(),
            keywords: vec![
                "Jam".into(),
                "jam".into(),
                " ".into(),
                "Paper\n  Jam".into(),
            ],
        };
        let checked = ok.clone().checked().expect("valid");
        assert_eq!(checked.title, "卡纸");
        assert_eq!(checked.keywords, ["jam", "paper jam"]);
        let blank = Draft {
            solution: "  ".into(),
            ..ok.clone()
        };
        assert_eq!(blank.checked(), Err(ArticleError::Empty("solution")));
        let long = Draft {
            title: "x".repeat(MAX_TITLE + 1),
            ..ok.clone()
        };
        assert!(matches!(
            long.checked(),
            Err(ArticleError::TooLong { field: "title", .. })
        ));
        let many = Draft {
            keywords: (0..=MAX_KEYWORDS).map(|i| format!("k{i}")).collect(),
            ..ok
        };
        assert_eq!(many.checked(), Err(ArticleError::TooManyKeywords));
    }

    #[test]
    fn the_deflection_rate_is_a_share_of_answered_offers() {
        assert_eq!(deflection_rate(0, 0), 0.0);
        assert_eq!(deflection_rate(1, 4), 0.25);
        assert_eq!(deflection_rate(4, 4), 1.0);
    }

    #[test]
    fn the_life_of_an_article() {
        use ArticleStatus::*;
        assert!(Draft.can_become(Published));
        assert!(Published.can_become(Retired));
        assert!(Retired.can_become(Published));
        assert!(Draft.can_become(Retired));
        assert!(!Published.can_become(Draft));
        assert!(!Published.can_become(Published));
        assert!(!Retired.editable());
        assert!(Published.editable());
    }
}
