//! The knowledge base's records: articles with their own trail, the offers made at
//! intake, and the candidates a search hands to the ranking (`domain::knowledge`).
//!
//! Finding candidates is the only part that differs by backend: SQLite asks its FTS5
//! trigram table (`articles_fts`), PostgreSQL a `pg_trgm` GIN index through `LIKE`. Terms
//! of one or two characters, which trigrams cannot find, are looked up as words of
//! `short_terms` (SQLite: an FTS5 `unicode61` table; PostgreSQL: a GIN index on the words
//! as an array).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Actor, PgStore, SqliteStore, StoreError, sql};
use crate::domain::knowledge::{
    ArticleStatus, Draft, MAX_CANDIDATES, Query, search_text, short_terms,
};
use crate::domain::{ReporterId, TicketId};

/// An article to record (drafted from a resolution, or written by an expert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArticle {
    /// The ticket it was drafted from.
    pub ticket: Option<TicketId>,
    /// Its texts.
    pub draft: Draft,
    /// The first event of its trail (`drafted`).
    pub event: NewArticleEvent,
}

/// One event of an article's trail, to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArticleEvent {
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
    /// Verb (`drafted`, `edited`, `published`, `retired`).
    pub action: &'static str,
    /// Status before (none when drafted).
    pub from: Option<ArticleStatus>,
    /// Status after.
    pub to: ArticleStatus,
    /// Free text.
    pub note: Option<String>,
}

/// An article as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Article {
    /// Id.
    pub id: i64,
    /// `draft`, `published` or `retired`.
    pub status: String,
    /// Category id.
    pub category: String,
    /// Title.
    pub title: String,
    /// What the reporter saw.
    pub symptom: String,
    /// Why it happened.
    pub cause: String,
    /// What fixed it.
    pub solution: String,
    /// Keywords.
    #[serde(serialize_with = "words")]
    pub keywords: String,
    /// The ticket it came from (id).
    pub ticket_id: Option<i64>,
    /// The ticket it came from (number).
    pub ticket: Option<String>,
    /// How many reporters it solved a fault for at intake.
    pub uses: i64,
    /// Changes so far (an edit names the version it was made on).
    pub version: i64,
    /// Drafted at.
    pub created_at: DateTime<Utc>,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
    /// Last published at.
    pub published_at: Option<DateTime<Utc>>,
    /// Retired at (while retired).
    pub retired_at: Option<DateTime<Utc>>,
}

fn words<S: serde::Serializer>(k: &str, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(k.lines().filter(|w| !w.is_empty()))
}

impl Article {
    /// Title, symptom and keywords: where a match weighs most.
    pub fn head(&self) -> String {
        format!("{}\n{}\n{}", self.title, self.symptom, self.keywords)
    }

    /// Cause and solution.
    pub fn body(&self) -> String {
        format!("{}\n{}", self.cause, self.solution)
    }

    /// Its status, parsed.
    pub fn status(&self) -> Result<ArticleStatus, StoreError> {
        self.status
            .parse()
            .map_err(|e: String| StoreError::Corrupt(e))
    }
}

/// One event of an article's trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ArticleEvent {
    /// Row id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `engineer`, `desk` or `system`.
    pub actor_kind: String,
    /// Their id.
    pub actor_id: Option<String>,
    /// Their name then.
    pub actor_name: String,
    /// Verb.
    pub action: String,
    /// Status before.
    pub from_status: Option<String>,
    /// Status after.
    pub to_status: String,
    /// Free text.
    pub note: Option<String>,
}

/// What a reporter said to the articles offered at intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKbOffer {
    /// Who was offered them.
    pub reporter: ReporterId,
    /// The door.
    pub channel: String,
    /// The category they had chosen.
    pub category: Option<String>,
    /// The offered articles, best first.
    pub offered: Vec<i64>,
    /// The one that solved it (a deflection: no ticket), or none (the report went on).
    pub solved_by: Option<i64>,
    /// When they answered.
    pub at: DateTime<Utc>,
}

/// The conversation an answer to an offer changes, saved in the same transaction if it is
/// still as the step read it: `(channel, external id, new state, expected)`; no state
/// ends it.
pub type ConversationAfter = (String, String, Option<String>, super::Expect);

/// The knowledge base's figures for a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KbFigures {
    /// Articles published in the period (first or again).
    pub published: i64,
    /// Offers reporters answered at intake.
    pub offered: i64,
    /// Of those, solved by an article: no ticket was filed.
    pub self_solved: i64,
    /// The articles that solved most faults: `(id, title, times)`, most first.
    pub top: Vec<(i64, String, i64)>,
}

/// The articles with their tickets' numbers.
const SELECT: &str = "SELECT a.id, a.status, a.category, a.title, a.symptom, a.cause,
       a.solution, a.keywords, a.ticket_id, t.number AS ticket, a.uses, a.version,
       a.created_at, a.updated_at, a.published_at, a.retired_at
     FROM articles a LEFT JOIN tickets t ON t.id = a.ticket_id";

/// Which statuses a search sees: `$1` true adds drafts to the published.
const VISIBLE: &str = "(a.status = 'published' OR ($1 AND a.status = 'draft'))";

/// `(a.search_text LIKE $k OR …)` (or with `AND`) for `n` patterns numbered from `first`.
fn like_join(first: usize, n: usize, op: &str) -> String {
    let ors: Vec<String> = (first..first + n)
        .map(|p| format!("a.search_text LIKE ${p}"))
        .collect();
    format!("({})", ors.join(op))
}

/// Adds the articles of `more` not in `found` yet, in order.
fn merge(found: &mut Vec<Article>, more: Vec<Article>) {
    for a in more {
        if !found.iter().any(|f| f.id == a.id) {
            found.push(a);
        }
    }
}

/// A `LIKE` pattern for a term (terms hold only letters and digits: nothing to escape).
fn pattern(term: &str) -> String {
    format!("%{term}%")
}

/// A step of the candidate search (see `article_candidates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Articles holding every long term (the phrase as typed: few rows, the best ones).
    EveryLong,
    /// Articles holding any long term, when those are not enough.
    AnyLong,
    /// Articles holding a short term, when still not enough.
    Short,
}

impl Stage {
    /// Whether this step runs, with `found` candidates so far of the `want`ed.
    fn needed(self, query: &Query, found: usize, want: usize) -> bool {
        let long = query.long().len();
        match self {
            Stage::EveryLong => long > 0,
            // With one long term, "any" finds what "every" found.
            Stage::AnyLong => long > 1 && found < want,
            Stage::Short => found < want && !query.short().is_empty(),
        }
    }
}

/// A candidate step to run: its SQL, with `$1` whether drafts are seen, the texts as
/// `$2`… and [`MAX_CANDIDATES`] as the last parameter.
pub(super) struct CandidateQuery {
    pub(super) sql: String,
    pub(super) texts: Vec<String>,
    /// On SQLite, the FTS5 table whose rowids matching the one text (`MATCH`) the SQL
    /// takes as `$2`, a JSON array. Asked first and alone: SQLite prepares a statement
    /// holding `MATCH $n` again whenever `$n` changes (every search), so that statement is
    /// kept small; and when it finds nothing, the articles are not read at all.
    pub(super) matching: Option<&'static str>,
}

/// The query of a candidate step: SQLite (`fts`) asks its FTS5 tables, PostgreSQL its
/// trigram and word indexes.
pub(super) fn candidate_query(fts: bool, query: &Query, stage: Stage) -> CandidateQuery {
    /// The articles among the rowids an FTS5 table matched (`$2`, a JSON array).
    const MATCHED: &str = "a.id IN (SELECT value FROM json_each($2))";
    let long = query.long();
    let ranked = |filter: &str, last: usize| {
        format!("{SELECT} WHERE {VISIBLE} AND {filter} ORDER BY a.uses DESC, a.id LIMIT ${last}")
    };
    match (stage, fts) {
        (Stage::Short, true) => CandidateQuery {
            sql: ranked(MATCHED, 3),
            texts: vec![query.short_match().unwrap_or_default()],
            matching: Some("articles_short"),
        },
        (Stage::Short, false) => CandidateQuery {
            sql: ranked("a.short_terms && string_to_array($2, ' ')", 3),
            texts: vec![query.short().join(" ")],
            matching: None,
        },
        (stage, true) => {
            let terms = if stage == Stage::EveryLong {
                query.fts_match_all()
            } else {
                query.fts_match()
            };
            CandidateQuery {
                sql: ranked(MATCHED, 3),
                texts: vec![terms.unwrap_or_default()],
                matching: Some("articles_fts"),
            }
        }
        (stage, false) => {
            let op = if stage == Stage::EveryLong {
                " AND "
            } else {
                " OR "
            };
            CandidateQuery {
                sql: ranked(&like_join(2, long.len(), op), 2 + long.len()),
                texts: long.iter().map(|t| pattern(t)).collect(),
                matching: None,
            }
        }
    }
}

impl PgStore {
    /// Runs a [`candidate_query`] (PostgreSQL's have no `matching`).
    async fn run_candidates(
        &self,
        query: &CandidateQuery,
        drafts: bool,
    ) -> Result<Vec<Article>, StoreError> {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(query.sql.clone())).bind(drafts);
        for t in &query.texts {
            q = q.bind(t);
        }
        Ok(q.bind(MAX_CANDIDATES).fetch_all(self.reader()).await?)
    }
}

macro_rules! knowledge {
    ($store:ty, $db:ty, fts = $fts:expr) => {
        impl $store {
            /// The stored form of the short terms bound as parameter `p` (space-separated
            /// text): as is for SQLite's FTS5 table, an array for PostgreSQL's GIN index.
            fn short_words_sql(p: usize) -> String {
                if $fts {
                    format!("${p}")
                } else {
                    format!("string_to_array(${p}, ' ')")
                }
            }

            async fn article_event_in(
                tx: &mut <$db as sqlx::Database>::Connection,
                id: i64,
                e: &NewArticleEvent,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO article_events (article_id, at, actor_kind, actor_id,
                       actor_name, action, from_status, to_status, note)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id)
                .bind(e.at)
                .bind(e.actor.kind)
                .bind(&e.actor.id)
                .bind(&e.actor.name)
                .bind(e.action)
                .bind(e.from.map(|s| s.as_str()))
                .bind(e.to.as_str())
                .bind(&e.note)
                .execute(&mut *tx)
                .await?;
                Ok(())
            }

            /// Records a draft inside `tx` (a resolution's transaction, or its own). A
            /// ticket resolved again updates its article while that is still a draft
            /// (and leaves a published or retired one alone); the id, if written.
            pub(super) async fn insert_article_in(
                tx: &mut <$db as sqlx::Database>::Connection,
                new: &NewArticle,
            ) -> Result<Option<i64>, StoreError> {
                let d = &new.draft;
                let sql = format!(
                    "INSERT INTO articles (status, category, title, symptom, cause, solution,
                       keywords, ticket_id, search_text, short_terms, uses, version, created_at,
                       updated_at)
                     VALUES ('draft', $1, $2, $3, $4, $5, $6, $7, $8, {}, 0, 1, $9, $9)
                     ON CONFLICT (ticket_id) DO UPDATE SET title = excluded.title,
                       symptom = excluded.symptom, cause = excluded.cause,
                       solution = excluded.solution, keywords = excluded.keywords,
                       search_text = excluded.search_text, short_terms = excluded.short_terms,
                       updated_at = excluded.updated_at,
                       version = articles.version + 1
                     WHERE articles.status = 'draft'
                     RETURNING id",
                    Self::short_words_sql(10)
                );
                let id: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&d.category)
                .bind(&d.title)
                .bind(&d.symptom)
                .bind(&d.cause)
                .bind(&d.solution)
                .bind(d.keywords.join("\n"))
                .bind(new.ticket.map(|t| t.0))
                .bind(search_text(d))
                .bind(new.event.at)
                .bind(short_terms(&search_text(d)))
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((id,)) = id {
                    Self::article_event_in(&mut *tx, id, &new.event).await?;
                }
                Ok(id.map(|(id,)| id))
            }

            pub(super) async fn create_article(&self, new: &NewArticle) -> Result<i64, StoreError> {
                let mut tx = self.begin().await?;
                let id = Self::insert_article_in(&mut *tx, new)
                    .await?
                    .ok_or(StoreError::Conflict)?;
                tx.commit().await?;
                Ok(id)
            }

            pub(super) async fn article(&self, id: i64) -> Result<Option<Article>, StoreError> {
                let sql = format!("{SELECT} WHERE a.id = $1");
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            pub(super) async fn article_events(&self, id: i64) -> Result<Vec<ArticleEvent>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, at, actor_kind, actor_id, actor_name, action, from_status,
                       to_status, note FROM article_events WHERE article_id = $1 ORDER BY id",
                )
                .bind(id)
                .fetch_all(self.reader())
                .await?)
            }

            pub(super) async fn list_articles(
                &self,
                status: Option<&str>,
                category: Option<&str>,
                limit: i64,
                offset: i64,
            ) -> Result<Vec<Article>, StoreError> {
                let sql = format!(
                    "{SELECT} WHERE ($1 IS NULL OR a.status = $1) AND ($2 IS NULL OR a.category = $2)
                     ORDER BY a.id DESC LIMIT $3 OFFSET $4"
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(status)
                    .bind(category)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(self.reader())
                    .await?)
            }

            pub(super) async fn update_article(
                &self,
                id: i64,
                version: i64,
                draft: &Draft,
                event: &NewArticleEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                // Only the version the editor read, and never a retired article.
                let sql = format!(
                    "UPDATE articles SET category = $3, title = $4, symptom = $5, cause = $6,
                       solution = $7, keywords = $8, search_text = $9, updated_at = $10,
                       short_terms = {}, version = version + 1
                     WHERE id = $1 AND version = $2 AND status <> 'retired'",
                    Self::short_words_sql(11)
                );
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(version)
                .bind(&draft.category)
                .bind(&draft.title)
                .bind(&draft.symptom)
                .bind(&draft.cause)
                .bind(&draft.solution)
                .bind(draft.keywords.join("\n"))
                .bind(search_text(draft))
                .bind(event.at)
                .bind(short_terms(&search_text(draft)))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 0 {
                    return Err(StoreError::Conflict);
                }
                Self::article_event_in(&mut *tx, id, event).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn set_article_status(
                &self,
                id: i64,
                event: &NewArticleEvent,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin().await?;
                let publish = event.to == ArticleStatus::Published;
                // From the status the desk decided from: `Conflict` if it moved meanwhile.
                let done = sqlx::query(
                    "UPDATE articles SET status = $3, updated_at = $4, version = version + 1,
                       published_at = CASE WHEN $5 THEN $4 ELSE published_at END,
                       retired_at = CASE WHEN $5 THEN NULL ELSE $4 END
                     WHERE id = $1 AND status = $2",
                )
                .bind(id)
                .bind(event.from.map(|s| s.as_str()))
                .bind(event.to.as_str())
                .bind(event.at)
                .bind(publish)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 0 {
                    return Err(StoreError::Conflict);
                }
                Self::article_event_in(&mut *tx, id, event).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Articles that may answer `query` (published, and drafts with `drafts`),
            /// most used first: those the trigram index finds holding every long term;
            /// when they are fewer than `want`, those holding any; when still fewer, those
            /// holding a short term (the index of short terms). At most
            /// [`MAX_CANDIDATES`] from each.
            pub(super) async fn article_candidates(
                &self,
                query: &Query,
                drafts: bool,
                want: usize,
            ) -> Result<Vec<Article>, StoreError> {
                let mut found: Vec<Article> = Vec::new();
                for stage in [Stage::EveryLong, Stage::AnyLong, Stage::Short] {
                    if !stage.needed(query, found.len(), want) {
                        continue;
                    }
                    let step = candidate_query($fts, query, stage);
                    merge(&mut found, self.run_candidates(&step, drafts).await?);
                }
                Ok(found)
            }

            /// Records a reporter's answer to an offer with what it changes: the article
            /// that solved it is used once more, and their conversation moves on (or
            /// ends), in one transaction.
            pub(super) async fn record_kb_offer(
                &self,
                offer: &NewKbOffer,
                conversation: &ConversationAfter,
            ) -> Result<Option<i64>, StoreError> {
                let mut tx = self.begin().await?;
                let offered: Vec<String> = offer.offered.iter().map(i64::to_string).collect();
                sqlx::query(
                    "INSERT INTO kb_offers (reporter_id, channel, category, offered, outcome,
                       article_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(offer.reporter.0)
                .bind(&offer.channel)
                .bind(&offer.category)
                .bind(offered.join(","))
                .bind(if offer.solved_by.is_some() { "self_solved" } else { "declined" })
                .bind(offer.solved_by)
                .bind(offer.at)
                .execute(&mut *tx)
                .await?;
                if let Some(article) = offer.solved_by {
                    sqlx::query("UPDATE articles SET uses = uses + 1 WHERE id = $1")
                        .bind(article)
                        .execute(&mut *tx)
                        .await?;
                }
                let (channel, external_id, state, expect) = conversation;
                use $crate::store::Expect;
                let (written, version) = match (state, *expect) {
                    (None, Expect::Absent | Expect::Restoring) => (1, None),
                    (None, Expect::At(v)) => (
                        sqlx::query(sql::END_CONVERSATION_AT)
                            .bind(channel)
                            .bind(external_id)
                            .bind(v)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                        None,
                    ),
                    (Some(state), Expect::Absent | Expect::Restoring) => (
                        sqlx::query(sql::START_CONVERSATION)
                            .bind(channel)
                            .bind(external_id)
                            .bind(state)
                            .bind(offer.at)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                        Some(1),
                    ),
                    (Some(state), Expect::At(v)) => (
                        sqlx::query(sql::UPDATE_CONVERSATION)
                            .bind(channel)
                            .bind(external_id)
                            .bind(state)
                            .bind(offer.at)
                            .bind(v)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected(),
                        Some(v + 1),
                    ),
                };
                // Someone saved the conversation meanwhile: nothing is recorded (the
                // transaction is dropped), and the answer is decided again.
                if written != 1 {
                    return Err(StoreError::Conflict);
                }
                tx.commit().await?;
                Ok(version)
            }

            pub(super) async fn kb_figures(
                &self,
                from: DateTime<Utc>,
                to: DateTime<Utc>,
            ) -> Result<KbFigures, StoreError> {
                let (published,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM articles WHERE published_at >= $1 AND published_at < $2",
                )
                .bind(from)
                .bind(to)
                .fetch_one(self.reader())
                .await?;
                let (offered, self_solved): (i64, i64) = sqlx::query_as(
                    "SELECT COUNT(*),
                       COALESCE(SUM(CASE WHEN outcome = 'self_solved' THEN 1 ELSE 0 END), 0)
                     FROM kb_offers WHERE at >= $1 AND at < $2",
                )
                .bind(from)
                .bind(to)
                .fetch_one(self.reader())
                .await?;
                let top: Vec<(i64, String, i64)> = sqlx::query_as(
                    "SELECT a.id, a.title, COUNT(*) FROM kb_offers o
                       JOIN articles a ON a.id = o.article_id
                     WHERE o.outcome = 'self_solved' AND o.at >= $1 AND o.at < $2
                     GROUP BY a.id, a.title ORDER BY COUNT(*) DESC, a.id LIMIT 10",
                )
                .bind(from)
                .bind(to)
                .fetch_all(self.reader())
                .await?;
                Ok(KbFigures {
                    published,
                    offered,
                    self_solved,
                    top,
                })
            }
        }
    };
}

knowledge!(SqliteStore, sqlx::Sqlite, fts = true);
knowledge!(PgStore, sqlx::Postgres, fts = false);
