//! The knowledge base in chat: `/kb WORDS` in every door (reporters find published
//! articles, engineers drafts too), related articles under an engineer's job card, and
//! the offer at intake: once the reporter has described the fault, up to three published
//! articles matching its category and description are offered with the next question.
//! "This one solved it" ends the conversation with no ticket (a deflection); "none of
//! these", or simply answering the next question, goes on with the report, every answer
//! kept. The answer is recorded with the conversation's new state in one transaction.

use super::{Chat, ChatError, Person, Role, Save, person_key};
use crate::desk::{Article, Expect, Reporter};
use crate::domain::routing::Engineer;
use crate::domain::ticket::Caller;
use crate::flow::{Conversation, Incoming, Lang, Outgoing};

/// The conversation variable holding the offered article ids (comma-separated, best
/// first) while the reporter has not answered; `-` once they have.
const OFFERED: &str = "kb_offered";
/// The step after which articles are offered, in the flow that files reports.
const AFTER_STEP: &str = "description";
const REPORT_FLOW: &str = "fault_report";
/// Button ids: `kb:solved:ID` and `kb:no`.
const SOLVED: &str = "kb:solved:";
const NO: &str = "kb:no";
/// How many results `/kb` shows.
const KB_RESULTS: usize = 5;
/// How much of a solution a list shows.
const EXCERPT: usize = 120;

/// The offered articles still awaiting an answer in `conv`, best first.
pub(super) fn offered(conv: &Conversation) -> Vec<i64> {
    conv.var(OFFERED)
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.parse().ok())
        .collect()
}

fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(EXCERPT).collect();
    if one_line.chars().count() > EXCERPT {
        cut.push('…');
    }
    cut
}

impl Chat {
    /// `/kb WORDS`: the best matches the person may see, or how to use it.
    pub(super) async fn kb_search(
        &self,
        role: &Role,
        lang: Lang,
        args: &str,
    ) -> Result<Vec<Outgoing>, ChatError> {
        if args.trim().is_empty() {
            return Ok(vec![Outgoing::Text(self.text("kb_usage", lang))]);
        }
        let found = self
            .desk
            .search_articles(&role.caller(), args, None, KB_RESULTS)
            .await?;
        if found.is_empty() {
            return Ok(vec![Outgoing::Text(self.text("kb_none", lang))]);
        }
        let vars = serde_json::json!({ "count": found.len() });
        let mut text = self.flows.text("kb_results", lang, &vars);
        for f in &found {
            text.push('\n');
            text.push_str(&self.kb_line(&f.article, lang));
        }
        Ok(vec![Outgoing::Text(text)])
    }

    fn kb_line(&self, a: &Article, lang: Lang) -> String {
        let key = if a.status == "draft" {
            "kb_line_draft"
        } else {
            "kb_line"
        };
        let vars = serde_json::json!({
            "article": a.id,
            "title": a.title,
            "solution": excerpt(&a.solution),
        });
        self.flows.text(key, lang, &vars)
    }

    /// The articles related to a job, for its card; nothing when there are none (or the
    /// search fails: the card matters more than its links).
    pub(super) async fn kb_related(&self, e: &Engineer, number: &str, lang: Lang) -> Vec<Outgoing> {
        let caller = Caller::Engineer(e.clone());
        let related = match self.desk.related_articles(&caller, number).await {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(error = %err, ticket = %number, "related articles unavailable");
                return Vec::new();
            }
        };
        if related.is_empty() {
            return Vec::new();
        }
        let mut text = self.text("kb_related", lang);
        for a in &related {
            text.push('\n');
            text.push_str(&self.kb_line(a, lang));
        }
        vec![Outgoing::Text(text)]
    }

    /// After a step of a report: when the description was just answered, the articles
    /// worth offering are put before the next question (`first` is where this step's
    /// replies start) and remembered in the conversation. When an offer was waiting and
    /// the reporter answered the next question instead, that counts as "none of these":
    /// recorded with the new state in one transaction (then nothing is left to save).
    pub(super) async fn kb_after_step(
        &self,
        person: &Person,
        role: &Role,
        mut conv: Conversation,
        before: &str,
        replies: &mut Vec<Outgoing>,
        first: usize,
    ) -> Result<Save, ChatError> {
        let Role::Reporter(r) = role else {
            return Ok(Save::State(Some(conv)));
        };
        let waiting = offered(&conv);
        if !waiting.is_empty() && conv.step() != before {
            conv.set_var(OFFERED, Some("-".into()));
            self.kb_record(person, r, &conv, &waiting, None, Some(&conv))
                .await?;
            return Ok(Save::Nothing);
        }
        let just_described = conv.flow() == REPORT_FLOW
            && before == AFTER_STEP
            && conv.step() != AFTER_STEP
            && conv.var(OFFERED).is_none();
        if !just_described {
            return Ok(Save::State(Some(conv)));
        }
        let answers = conv.answers();
        let category = answers
            .get("category")
            .map(String::as_str)
            .unwrap_or_default();
        let text = answers
            .get("description")
            .map(String::as_str)
            .unwrap_or_default();
        let articles = match self.desk.kb_offer(category, text).await {
            Ok(a) => a,
            Err(err) => {
                // The report matters more than the offer: go on without one.
                tracing::warn!(error = %err, "knowledge base offer skipped");
                return Ok(Save::State(Some(conv)));
            }
        };
        if articles.is_empty() {
            return Ok(Save::State(Some(conv)));
        }
        let lang = conv.lang();
        let mut text = self.text("kb_offer", lang);
        let mut options = Vec::new();
        for (n, a) in (1..).zip(&articles) {
            let vars = serde_json::json!({
                "n": n, "title": a.title, "solution": excerpt(&a.solution),
            });
            text.push('\n');
            text.push_str(&self.flows.text("kb_offer_line", lang, &vars));
            let label = self.flows.text("kb_solved_button", lang, &vars);
            options.push((format!("{SOLVED}{}", a.id), label));
        }
        options.push((NO.to_owned(), self.text("kb_no_button", lang)));
        let ids: Vec<String> = articles.iter().map(|a| a.id.to_string()).collect();
        conv.set_var(OFFERED, Some(ids.join(",")));
        let at = first.min(replies.len());
        replies.insert(at, Outgoing::Choices { text, options });
        Ok(Save::State(Some(conv)))
    }

    /// An answer to a waiting offer: a "solved" button (or its label typed) ends the
    /// conversation with no ticket; "none of these" goes back to the report's current
    /// question. `None` for anything else (the caller runs it through the flow).
    pub(super) async fn kb_answer(
        &self,
        person: &Person,
        role: &Role,
        conv: &Conversation,
        input: &Incoming,
    ) -> Result<Option<Vec<Outgoing>>, ChatError> {
        let Role::Reporter(r) = role else {
            return Ok(None);
        };
        let waiting = offered(conv);
        if waiting.is_empty() {
            return Ok(None);
        }
        let lang = conv.lang();
        let chosen = match input {
            Incoming::Choice(id) if id == NO => Some(None),
            Incoming::Choice(id) => id
                .strip_prefix(SOLVED)
                .and_then(|id| id.parse::<i64>().ok())
                .filter(|id| waiting.contains(id))
                .map(Some),
            Incoming::Text(t) => {
                let typed = crate::domain::knowledge::normalize(t.trim());
                let no = crate::domain::knowledge::normalize(&self.text("kb_no_button", lang));
                if typed == no {
                    Some(None)
                } else {
                    (1..).zip(&waiting).find_map(|(n, id)| {
                        let vars = serde_json::json!({ "n": n });
                        let label = self.flows.text("kb_solved_button", lang, &vars);
                        (crate::domain::knowledge::normalize(&label) == typed).then_some(Some(*id))
                    })
                }
            }
            _ => None,
        };
        let Some(solved_by) = chosen else {
            return Ok(None);
        };
        let mut conv = conv.clone();
        conv.set_var(OFFERED, Some("-".into()));
        match solved_by {
            Some(id) => {
                self.kb_record(person, r, &conv, &waiting, Some(id), None)
                    .await?;
                let title = self
                    .desk
                    .article(&Caller::Reporter(r.id), id)
                    .await
                    .map(|d| d.article.title)
                    .unwrap_or_default();
                let vars = serde_json::json!({ "title": title });
                Ok(Some(vec![Outgoing::Text(self.flows.text(
                    "kb_self_solved",
                    lang,
                    &vars,
                ))]))
            }
            None => {
                self.kb_record(person, r, &conv, &waiting, None, Some(&conv))
                    .await?;
                let mut replies = vec![Outgoing::Text(self.text("kb_declined", lang))];
                replies.extend(self.flows.current(&conv));
                Ok(Some(replies))
            }
        }
    }

    /// Records the answer with the conversation's next state (`None`: it ends).
    async fn kb_record(
        &self,
        person: &Person,
        r: &Reporter,
        conv: &Conversation,
        offered: &[i64],
        solved_by: Option<i64>,
        next: Option<&Conversation>,
    ) -> Result<(), ChatError> {
        let state = next
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ChatError::State(e.to_string()))?;
        let category = conv.answers().get("category").map(String::as_str);
        let key = person_key(person);
        let version = self
            .desk
            .kb_answer(
                r.id,
                &person.channel,
                category,
                offered,
                solved_by,
                (
                    person.channel.clone(),
                    person.external_id.clone(),
                    state,
                    self.seen.get(&key),
                ),
            )
            .await?;
        self.seen
            .set(&key, version.map_or(Expect::Absent, Expect::At));
        Ok(())
    }
}
