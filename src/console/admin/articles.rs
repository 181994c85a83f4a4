//! Knowledge-base articles: drafts, published and retired lists; an article's edit form;
//! publish and retire — the desk calls of `/api/articles`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{done, manager, manager_form, refused};
use crate::console::pages::{L, Me, Note, Opt};
use crate::console::{Console, Inner, Person, failed};
use crate::desk::{Article, ArticleEdit, DeskError};
use crate::domain::knowledge::ArticleStatus;

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
}

/// `?status=` and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub(in crate::console) struct ArticleQuery {
    status: Option<String>,
    done: Option<String>,
}

async fn render(
    c: &Inner,
    person: &Person,
    status: StatusCode,
    note: Note,
    filter: &str,
    open: Option<Article>,
) -> Response {
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
    let open = open.map(|a| {
        let categories = c
            .desk
            .policy()
            .routing
            .categories()
            .map(|k| Opt {
                value: k.to_owned(),
                label: c.value("category", k, person.lang),
                selected: k == a.category,
            })
            .collect();
        (a, categories)
    });
    crate::console::page(
        status,
        &ArticlesPage {
            l,
            me: person.me(),
            note,
            status: wanted.as_str().to_owned(),
            articles: list,
            open,
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
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(q.done);
    let filter = q.status.unwrap_or_default();
    render(c, &person, StatusCode::OK, note, &filter, None).await
}

/// `GET /desk/admin/articles/{id}`: the article's edit form.
pub(in crate::console) async fn article(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<ArticleQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(q.done);
    match c.desk.article(&person.caller(), id).await {
        Ok(d) => {
            let status = d.article.status.clone();
            render(c, &person, StatusCode::OK, note, &status, Some(d.article)).await
        }
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            render(c, &person, status, note, "", None).await
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
    let (person, f) = match manager_form(c, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let caller = person.caller();
    let result = match what.as_str() {
        "edit" => {
            let edit = ArticleEdit {
                version: f.get("version").trim().parse().ok(),
                category: f.some("category"),
                title: Some(f.get("title").to_owned()),
                symptom: Some(f.get("symptom").to_owned()),
                cause: Some(f.get("cause").to_owned()),
                solution: Some(f.get("solution").to_owned()),
                keywords: Some(
                    f.get("keywords")
                        .lines()
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ),
            };
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
            let (status, note) = refused(c, &person, &e);
            let open = c.desk.article(&caller, id).await.ok().map(|d| d.article);
            let filter = open.as_ref().map(|a| a.status.clone()).unwrap_or_default();
            render(c, &person, status, note, &filter, open).await
        }
    }
}
