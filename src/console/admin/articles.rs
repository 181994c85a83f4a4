//! Knowledge-base articles: drafts, published and retired lists; a new article's form;
//! an article's edit form; publish and retire — the desk calls of `/api/articles`, for
//! whoever may write articles (experts and managers). A refused text is said in the
//! page's language with the field it is about, and the form keeps what was typed.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{Fields, article_editor, done, editor_form, refused};
use crate::console::pages::{L, Me, Note, Opt};
use crate::console::{Console, Inner, Person, failed};
use crate::desk::{Article, ArticleEdit, DeskError};
use crate::domain::knowledge::{ArticleError, ArticleStatus, MAX_KEYWORDS};

/// Articles listed at most.
const SHOWN: u32 = 100;

/// `templates/console/admin_articles.html`.
#[derive(Template)]
#[template(path = "console/admin_articles.html")]
pub struct ArticlesPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Done or refused.
    pub note: Note,
    /// The status listed.
    pub status: String,
    /// The list.
    pub articles: Vec<Article>,
    /// One article opened for editing, with the categories to choose from.
    pub open: Option<(Article, Vec<Opt>)>,
    /// The new article's form.
    pub new: NewForm,
    /// Why the texts last sent were refused, if they were (said by the page).
    pub invalid: Option<Invalid>,
}

/// The "new article" form: the categories, and what was typed when it was refused.
#[derive(Debug, Default)]
pub struct NewForm {
    /// Shown unfolded (it was just refused).
    pub unfolded: bool,
    /// Categories, the one typed chosen.
    pub categories: Vec<Opt>,
    /// Title as typed.
    pub title: String,
    /// Symptom as typed.
    pub symptom: String,
    /// Cause as typed.
    pub cause: String,
    /// Solution as typed.
    pub solution: String,
    /// Keywords as typed (one a line).
    pub keywords: String,
}

/// An article's texts refused by the domain's rules, for the page to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `empty`, `too_long`, `too_many_keywords` or `status`.
    pub why: &'static str,
    /// The field: `title`, `symptom`, `cause`, `solution`, `keywords` (or empty).
    pub field: &'static str,
    /// Its length in characters, when too long.
    pub len: usize,
    /// The most allowed (characters, or keywords).
    pub max: usize,
    /// For `status`: the status it is and the one asked for.
    pub from: String,
    /// See `from`.
    pub to: String,
}

impl Invalid {
    fn of(e: &ArticleError) -> Invalid {
        let blank = Invalid {
            why: "",
            field: "",
            len: 0,
            max: 0,
            from: String::new(),
            to: String::new(),
        };
        match e {
            ArticleError::Empty(field) => Invalid {
                why: "empty",
                field,
                ..blank
            },
            ArticleError::TooLong { field, len, max } => Invalid {
                why: "too_long",
                field,
                len: *len,
                max: *max,
                ..blank
            },
            ArticleError::TooManyKeywords => Invalid {
                why: "too_many_keywords",
                field: "keywords",
                max: MAX_KEYWORDS,
                ..blank
            },
            ArticleError::Transition { from, to } => Invalid {
                why: "status",
                from: from.as_str().to_owned(),
                to: to.as_str().to_owned(),
                ..blank
            },
        }
    }
}

/// A refusal as the page says it: an article's texts by the page itself ([`Invalid`]),
/// anything else as the console's refusals are said.
fn refusal(c: &Inner, person: &Person, e: &DeskError) -> (StatusCode, Note, Option<Invalid>) {
    let (status, note) = refused(c, person, e);
    match e {
        DeskError::Article(a) => (status, Note::default(), Some(Invalid::of(a))),
        _ => (status, note, None),
    }
}

/// An article's texts as a form typed them (the keywords one a line), at `version`.
fn typed(f: &Fields, version: Option<i64>) -> ArticleEdit {
    let keywords = f
        .get("keywords")
        .lines()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    ArticleEdit {
        version,
        category: f.some("category"),
        title: Some(f.get("title").to_owned()),
        symptom: Some(f.get("symptom").to_owned()),
        cause: Some(f.get("cause").to_owned()),
        solution: Some(f.get("solution").to_owned()),
        keywords: Some(keywords),
    }
}

/// `?status=` and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct ArticleQuery {
    status: Option<String>,
    done: Option<String>,
}

/// What a page shows besides its list: an article opened, the new article's form as
/// typed, and why the texts were refused.
#[derive(Default)]
struct Shown {
    open: Option<Article>,
    new: NewForm,
    category: String,
    invalid: Option<Invalid>,
}

async fn render(
    c: &Inner,
    person: &Person,
    status: StatusCode,
    note: Note,
    filter: &str,
    shown: Shown,
) -> Response {
    let Shown {
        open,
        mut new,
        category,
        invalid,
    } = shown;
    let l = person.l();
    let wanted = filter
        .parse::<ArticleStatus>()
        .unwrap_or(ArticleStatus::Draft);
    let list = match c
        .desk
        .articles(&person.caller(), Some(wanted), None, 1, SHOWN)
        .await
    {
        Ok(list) => list,
        Err(e) => return failed(&e, l),
    };
    // The categories to choose from, `chosen` selected.
    let categories = |chosen: &str| -> Vec<Opt> {
        c.desk
            .policy()
            .routing
            .categories()
            .map(|k| Opt {
                value: k.to_owned(),
                label: c.value("category", k, person.lang),
                selected: k == chosen,
            })
            .collect()
    };
    let open = open.map(|a| {
        let choices = categories(&a.category);
        (a, choices)
    });
    new.categories = categories(&category);
    crate::console::page(
        status,
        &ArticlesPage {
            l,
            me: person.me(),
            note,
            status: wanted.as_str().to_owned(),
            articles: list,
            open,
            new,
            invalid,
        },
    )
}

/// `GET /desk/admin/articles?status=draft|published|retired`.
pub(in crate::console) async fn articles(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<ArticleQuery>,
) -> Response {
    let c = &console.inner;
    let person = match article_editor(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(q.done);
    let filter = q.status.unwrap_or_default();
    render(c, &person, StatusCode::OK, note, &filter, Shown::default()).await
}

/// `GET /desk/admin/articles/{id}`: the article's edit form.
pub(in crate::console) async fn article(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<ArticleQuery>,
) -> Response {
    let c = &console.inner;
    let person = match article_editor(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(q.done);
    match c.desk.article(&person.caller(), id).await {
        Ok(d) => {
            let status = d.article.status.clone();
            let shown = Shown {
                open: Some(d.article),
                ..Shown::default()
            };
            render(c, &person, StatusCode::OK, note, &status, shown).await
        }
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            render(c, &person, status, note, "", Shown::default()).await
        }
    }
}

/// `POST /desk/admin/articles/{id}/{edit|publish|retire}`.
pub(in crate::console) async fn article_action(
    State(console): State<Console>,
    headers: HeaderMap,
    Path((id, what)): Path<(i64, String)>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (person, f) = match editor_form(c, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let caller = person.caller();
    let result = match what.as_str() {
        "edit" => {
            let edit = typed(&f, f.get("version").trim().parse().ok());
            c.desk.edit_article(&caller, id, edit).await
        }
        "publish" => {
            c.desk
                .set_article_status(&caller, id, ArticleStatus::Published, f.some("note"))
                .await
        }
        "retire" => {
            c.desk
                .set_article_status(&caller, id, ArticleStatus::Retired, f.some("note"))
                .await
        }
        other => Err(DeskError::BadValue(format!("unknown action `{other}`"))),
    };
    match result {
        Ok(d) => done(
            &format!("/desk/admin/articles/{id}"),
            &format!("{id} {}", d.article.status),
        ),
        Err(e) => {
            let (status, note, invalid) = refusal(c, &person, &e);
            let open = c.desk.article(&caller, id).await.ok().map(|d| d.article);
            let filter = open.as_ref().map(|a| a.status.clone()).unwrap_or_default();
            let shown = Shown {
                open,
                invalid,
                ..Shown::default()
            };
            render(c, &person, status, note, &filter, shown).await
        }
    }
}

/// `POST /desk/admin/articles`: a new draft, the desk call of `POST /api/articles`
/// (recorded with its `drafted` event); refused, the form again with what was typed and
/// why.
pub(in crate::console) async fn create(
    State(console): State<Console>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (person, f) = match editor_form(c, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match c
        .desk
        .create_article(&person.caller(), typed(&f, None))
        .await
    {
        Ok(d) => done(
            &format!("/desk/admin/articles/{}", d.article.id),
            &format!("{} {}", d.article.id, d.article.status),
        ),
        Err(e) => {
            let (status, note, invalid) = refusal(c, &person, &e);
            let shown = Shown {
                open: None,
                new: NewForm {
                    unfolded: true,
                    categories: Vec::new(),
                    title: f.get("title").to_owned(),
                    symptom: f.get("symptom").to_owned(),
                    cause: f.get("cause").to_owned(),
                    solution: f.get("solution").to_owned(),
                    keywords: f.get("keywords").to_owned(),
                },
                category: f.get("category").trim().to_owned(),
                invalid,
            };
            render(c, &person, status, note, "draft", shown).await
        }
    }
}
