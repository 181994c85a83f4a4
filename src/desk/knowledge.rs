//! The knowledge base: a resolved ticket's cause and solution become a draft article in
//! the resolution's own transaction; experts (second line) and managers edit, publish and
//! retire articles; engineers read drafts too; reporters see only published articles
//! (`/kb` and the offer at intake). A reporter whose fault an offered article solves
//! files no ticket: the offer's outcome is recorded as a deflection.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Desk, DeskError, actor_named};
use crate::domain::ReporterId;
use crate::domain::knowledge::{
    ArticleError, ArticleStatus, Candidate, Draft, OFFER_MAX, Query, draft_from_resolution, rank,
    worth_offering,
};
use crate::domain::routing::Tier;
use crate::domain::ticket::{Caller, Ticket};
use crate::store::{
    Article, ArticleEvent, ConversationAfter, KbFigures, NewArticle, NewArticleEvent, NewKbOffer,
    StoreError,
};

/// The most articles one listing or search returns.
const MAX_PAGE: u32 = 100;

/// An article with its trail.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleDetail {
    /// The article.
    pub article: Article,
    /// Its trail, oldest first.
    pub events: Vec<ArticleEvent>,
}

/// An article a search found, with its score (higher is better).
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// The article.
    pub article: Article,
    /// Its score for the search (see `domain::knowledge::score`).
    pub score: i64,
}

/// An article's texts as an editor sends them; what is left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleEdit {
    /// The version the editor read (required for an edit: a concurrent edit is refused
    /// rather than overwritten).
    pub version: Option<i64>,
    /// Category id.
    pub category: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// What the reporter sees.
    pub symptom: Option<String>,
    /// Why it happens.
    pub cause: Option<String>,
    /// What fixes it.
    pub solution: Option<String>,
    /// Keywords.
    pub keywords: Option<Vec<String>>,
}

/// The knowledge base's figures for a period, as the managers' report shows them.
#[derive(Debug, Clone, Serialize)]
pub struct KbReport {
    /// First day of the period (UTC instant).
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// Articles published in the period.
    pub articles_published: i64,
    /// Offers at intake that reporters answered.
    pub offered: i64,
    /// Of those, solved by an article: no ticket (deflected).
    pub self_solved: i64,
    /// `self_solved / offered` (0 when nothing was offered).
    pub deflection_rate: f64,
    /// The articles that solved most faults in the period, most first.
    pub top_articles: Vec<TopArticle>,
}

/// One of the articles that solved most faults.
#[derive(Debug, Clone, Serialize)]
pub struct TopArticle {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Faults it solved in the period.
    pub self_solved: i64,
}

/// What a caller may do with articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Reporters: published articles only.
    Published,
    /// First-line engineers: drafts too, read only.
    Read,
    /// Experts, managers and the desk: write, publish, retire.
    Edit,
}

fn access(caller: &Caller) -> Access {
    match caller {
        Caller::Desk { .. } => Access::Edit,
        Caller::Engineer(e) if matches!(e.tier, Tier::Expert | Tier::Manager) => Access::Edit,
        Caller::Engineer(_) => Access::Read,
        Caller::Reporter(_) | Caller::System => Access::Published,
    }
}

fn editors_only(caller: &Caller) -> Result<(), DeskError> {
    if access(caller) == Access::Edit {
        Ok(())
    } else {
        Err(DeskError::Forbidden(
            "only experts and managers can write, publish or retire articles".into(),
        ))
    }
}

impl From<ArticleError> for DeskError {
    fn from(e: ArticleError) -> Self {
        DeskError::Article(e)
    }
}

impl Desk {
    /// The draft a resolution writes with it (in the same transaction): the ticket's
    /// category and description, the engineer's cause and solution.
    pub(super) fn article_for_resolution(&self, caller: &Caller, t: &Ticket) -> Option<NewArticle> {
        let (cause, solution) = (t.cause.as_ref()?, t.solution.as_ref()?);
        let draft = draft_from_resolution(
            &t.intake.category,
            t.intake.description.as_str(),
            cause.as_str(),
            solution.as_str(),
        );
        Some(NewArticle {
            ticket: Some(t.id),
            draft,
            event: NewArticleEvent {
                actor: super::actor(caller, t),
                at: self.now(),
                action: "drafted",
                from: None,
                to: ArticleStatus::Draft,
                note: Some(format!("from {}", t.number.as_str())),
            },
        })
    }

    fn article_event(
        &self,
        caller: &Caller,
        action: &'static str,
        from: Option<ArticleStatus>,
        to: ArticleStatus,
        note: Option<String>,
    ) -> NewArticleEvent {
        NewArticleEvent {
            actor: actor_named(caller, |id| format!("reporter {id}")),
            at: self.now(),
            action,
            from,
            to,
            note,
        }
    }

    fn known_category(&self, category: &str) -> Result<(), DeskError> {
        if self.policy.routing.group_for(category).is_none() {
            return Err(DeskError::BadValue(format!(
                "unknown category `{category}`"
            )));
        }
        Ok(())
    }

    /// An article the caller may see; not found otherwise (a draft looks missing to a
    /// reporter, as everywhere).
    async fn visible_article(&self, caller: &Caller, id: i64) -> Result<Article, DeskError> {
        let not_found = || DeskError::NotFound(format!("article {id}"));
        let a = self.store.article(id).await?.ok_or_else(not_found)?;
        if access(caller) == Access::Published && a.status()? != ArticleStatus::Published {
            return Err(not_found());
        }
        Ok(a)
    }

    /// Whether the caller may write, edit, publish and retire articles: experts, managers
    /// and the desk (as `POST /api/articles` and the console's articles page have it).
    pub fn may_edit_articles(&self, caller: &Caller) -> bool {
        access(caller) == Access::Edit
    }

    /// Writes a new article as a draft (experts and managers).
    pub async fn create_article(
        &self,
        caller: &Caller,
        edit: ArticleEdit,
    ) -> Result<ArticleDetail, DeskError> {
        editors_only(caller)?;
        let category = edit.category.unwrap_or_default();
        self.known_category(&category)?;
        let draft = Draft {
            category,
            title: edit.title.unwrap_or_default(),
            symptom: edit.symptom.unwrap_or_default(),
            cause: edit.cause.unwrap_or_default(),
            solution: edit.solution.unwrap_or_default(),
            keywords: edit.keywords.unwrap_or_default(),
        }
        .checked()?;
        let new = NewArticle {
            ticket: None,
            draft,
            event: self.article_event(caller, "drafted", None, ArticleStatus::Draft, None),
        };
        let id = self.store.create_article(&new).await?;
        self.article(caller, id).await
    }

    /// An article with its trail, if the caller may see it.
    pub async fn article(&self, caller: &Caller, id: i64) -> Result<ArticleDetail, DeskError> {
        let article = self.visible_article(caller, id).await?;
        let events = if access(caller) == Access::Published {
            // Who drafted and edited it is the desk's business.
            Vec::new()
        } else {
            self.store.article_events(id).await?
        };
        Ok(ArticleDetail { article, events })
    }

    /// A page of articles, newest first: reporters see the published ones only.
    pub async fn articles(
        &self,
        caller: &Caller,
        status: Option<ArticleStatus>,
        category: Option<&str>,
        page: u32,
        per_page: u32,
    ) -> Result<Vec<Article>, DeskError> {
        let status = match access(caller) {
            Access::Published => match status {
                None | Some(ArticleStatus::Published) => Some(ArticleStatus::Published),
                Some(_) => return Ok(Vec::new()),
            },
            _ => status,
        };
        let per_page = per_page.clamp(1, MAX_PAGE);
        let offset = i64::from(page.max(1) - 1) * i64::from(per_page);
        Ok(self
            .store
            .list_articles(
                status.map(|s| s.as_str()),
                category,
                i64::from(per_page),
                offset,
            )
            .await?)
    }

    /// Edits an article's texts (experts and managers), made on the version the editor
    /// read; a published article stays published, a retired one cannot be edited.
    pub async fn edit_article(
        &self,
        caller: &Caller,
        id: i64,
        edit: ArticleEdit,
    ) -> Result<ArticleDetail, DeskError> {
        editors_only(caller)?;
        let a = self.visible_article(caller, id).await?;
        let status = a.status()?;
        if !status.editable() {
            return Err(DeskError::BadValue(format!(
                "article {id} is retired; publish it again before editing it"
            )));
        }
        let version = edit.version.ok_or_else(|| {
            DeskError::BadValue("say which `version` of the article the edit was made on".into())
        })?;
        if let Some(c) = &edit.category {
            self.known_category(c)?;
        }
        let draft = Draft {
            category: edit.category.unwrap_or(a.category),
            title: edit.title.unwrap_or(a.title),
            symptom: edit.symptom.unwrap_or(a.symptom),
            cause: edit.cause.unwrap_or(a.cause),
            solution: edit.solution.unwrap_or(a.solution),
            keywords: edit
                .keywords
                .unwrap_or_else(|| a.keywords.lines().map(str::to_owned).collect()),
        }
        .checked()?;
        let event = self.article_event(caller, "edited", Some(status), status, None);
        match self.store.update_article(id, version, &draft, &event).await {
            Ok(()) => self.article(caller, id).await,
            Err(StoreError::Conflict) => Err(DeskError::BadValue(format!(
                "article {id} was changed by someone else since version {version}; read it again"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes or retires an article (experts and managers), with an optional note.
    pub async fn set_article_status(
        &self,
        caller: &Caller,
        id: i64,
        to: ArticleStatus,
        note: Option<String>,
    ) -> Result<ArticleDetail, DeskError> {
        editors_only(caller)?;
        let a = self.visible_article(caller, id).await?;
        let from = a.status()?;
        if !from.can_become(to) {
            return Err(ArticleError::Transition { from, to }.into());
        }
        let action = match to {
            ArticleStatus::Published => "published",
            ArticleStatus::Retired => "retired",
            ArticleStatus::Draft => "drafted",
        };
        let note = note.map(|n| n.trim().chars().take(500).collect::<String>());
        let event = self.article_event(caller, action, Some(from), to, note);
        match self.store.set_article_status(id, &event).await {
            Ok(()) => self.article(caller, id).await,
            Err(StoreError::Conflict) => Err(DeskError::Busy),
            Err(e) => Err(e.into()),
        }
    }

    /// Searches the articles the caller may see (reporters: published; engineers:
    /// drafts too), best first, at most `limit`. The same ranking on every database.
    pub async fn search_articles(
        &self,
        caller: &Caller,
        text: &str,
        category: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Found>, DeskError> {
        let query = Query::new(text, category);
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let drafts = access(caller) != Access::Published;
        Ok(self
            .ranked(&query, drafts, limit.clamp(1, MAX_PAGE as usize))
            .await?
            .into_iter()
            .map(|(article, score)| Found {
                article,
                score: score.total,
            })
            .collect())
    }

    async fn ranked(
        &self,
        query: &Query,
        drafts: bool,
        limit: usize,
    ) -> Result<Vec<(Article, crate::domain::knowledge::Score)>, StoreError> {
        let mut candidates = self.store.article_candidates(query, drafts, limit).await?;
        let order = {
            let view: Vec<Candidate<'_>> = candidates
                .iter()
                .map(|a| Candidate {
                    id: a.id,
                    category: &a.category,
                    head: a.head(),
                    body: a.body(),
                    uses: a.uses,
                })
                .collect();
            rank(query, &view, limit)
        };
        let mut out = Vec::with_capacity(order.len());
        for (id, score) in order {
            if let Some(i) = candidates.iter().position(|a| a.id == id) {
                out.push((candidates.swap_remove(i), score));
            }
        }
        Ok(out)
    }

    /// The published articles worth offering a reporter at intake for what they wrote
    /// in `category`: at most three, best first (none when nothing matches well).
    pub async fn kb_offer(&self, category: &str, text: &str) -> Result<Vec<Article>, DeskError> {
        let query = Query::new(text, Some(category));
        if query.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .ranked(&query, false, OFFER_MAX)
            .await?
            .into_iter()
            .filter(|(_, s)| worth_offering(*s))
            .map(|(a, _)| a)
            .collect())
    }

    /// Records a reporter's answer to the articles offered at intake: `solved_by` one of
    /// them (no ticket is filed; it counts as deflected and as a use of the article) or
    /// none (the report goes on). Their conversation moves to `conversation` in the same
    /// transaction, so an answer is never counted twice.
    pub async fn kb_answer(
        &self,
        reporter: ReporterId,
        channel: &str,
        category: Option<&str>,
        offered: &[i64],
        solved_by: Option<i64>,
        conversation: ConversationAfter,
    ) -> Result<Option<i64>, DeskError> {
        if let Some(id) = solved_by
            && !offered.contains(&id)
        {
            return Err(DeskError::BadValue(format!(
                "article {id} was not one of those offered"
            )));
        }
        let offer = NewKbOffer {
            reporter,
            channel: channel.to_owned(),
            category: category.map(str::to_owned),
            offered: offered.to_vec(),
            solved_by,
            at: self.now(),
        };
        Ok(self.store.record_kb_offer(&offer, &conversation).await?)
    }

    /// Articles related to a ticket the caller may see, for its job card: published ones
    /// (and drafts for engineers) matching its category and description, at most three.
    pub async fn related_articles(
        &self,
        caller: &Caller,
        number: &str,
    ) -> Result<Vec<Article>, DeskError> {
        let t = self.look_up(caller, number).await?;
        let query = Query::new(t.intake.description.as_str(), Some(&t.intake.category));
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let drafts = access(caller) != Access::Published;
        Ok(self
            .ranked(&query, drafts, OFFER_MAX + 1)
            .await?
            .into_iter()
            // The ticket's own draft is not news to the engineer working it.
            .filter(|(a, _)| a.ticket_id != Some(t.id.0))
            .take(OFFER_MAX)
            .map(|(a, _)| a)
            .collect())
    }

    /// The knowledge base's figures for `[from, to)` (managers): articles published,
    /// offers answered and self-solved, the deflection rate and the top articles.
    pub async fn kb_report(
        &self,
        caller: &Caller,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<KbReport, DeskError> {
        self.may_read_reports(caller)?;
        let KbFigures {
            published,
            offered,
            self_solved,
            top,
        } = self.store.kb_figures(from, to).await?;
        Ok(KbReport {
            from,
            to,
            articles_published: published,
            offered,
            self_solved,
            deflection_rate: crate::domain::knowledge::deflection_rate(self_solved, offered),
            top_articles: top
                .into_iter()
                .map(|(id, title, n)| TopArticle {
                    id,
                    title,
                    self_solved: n,
                })
                .collect(),
        })
    }
}
