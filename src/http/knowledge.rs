//! `/api/articles`: the knowledge base. Everyone with a token searches and reads what
//! their role allows (reporters: published articles; engineers: drafts too); experts and
//! managers write, edit, publish and retire. `GET /api/reports/knowledge`: the managers'
//! figures (articles published, deflection rate, top articles).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{ApiError, ApiJson, AppState, Authed};
use crate::desk::{Article, ArticleDetail, ArticleEdit, Found, KbReport};
use crate::domain::knowledge::ArticleStatus;

/// Listing and search: `q` searches (best first), else newest first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    q: Option<String>,
    status: Option<ArticleStatus>,
    category: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// A listing's items: plain articles, or search hits with their scores.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Listing {
    /// Newest first.
    Articles(Vec<Article>),
    /// Best first.
    Found(Vec<Found>),
}

/// A publish or retire request's optional note.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    note: Option<String>,
}

/// The report's period: `from` and `to` (local dates, inclusive) or `period`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    period: Option<String>,
}

/// `GET /api/articles?q=&category=&status=&page=&per_page=`.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<ListQuery>,
) -> Result<Json<Listing>, ApiError> {
    let per_page = q.per_page.unwrap_or(20);
    Ok(Json(match q.q.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Listing::Found(
            s.desk
                .search_articles(&caller, text, q.category.as_deref(), per_page as usize)
                .await?,
        ),
        _ => Listing::Articles(
            s.desk
                .articles(
                    &caller,
                    q.status,
                    q.category.as_deref(),
                    q.page.unwrap_or(1),
                    per_page,
                )
                .await?,
        ),
    }))
}

/// `POST /api/articles` (experts, managers): a new draft.
pub async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(body): ApiJson<ArticleEdit>,
) -> Result<(StatusCode, Json<ArticleDetail>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.desk.create_article(&caller, body).await?),
    ))
}

/// `GET /api/articles/{id}`: with its trail (staff).
pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
) -> Result<Json<ArticleDetail>, ApiError> {
    Ok(Json(s.desk.article(&caller, id).await?))
}

/// `PATCH /api/articles/{id}` (experts, managers): edits, naming the version read.
pub async fn edit(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<ArticleEdit>,
) -> Result<Json<ArticleDetail>, ApiError> {
    Ok(Json(s.desk.edit_article(&caller, id, body).await?))
}

/// `POST /api/articles/{id}/publish` and `/retire` (experts, managers).
pub async fn set_status(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path((id, action)): Path<(i64, String)>,
    body: Option<ApiJson<StatusBody>>,
) -> Result<Json<ArticleDetail>, ApiError> {
    let to = match action.as_str() {
        "publish" => ArticleStatus::Published,
        "retire" => ArticleStatus::Retired,
        other => {
            let shown: String = other.chars().take(32).collect();
            return Err(ApiError::BadRequest(format!(
                "unknown article action `{shown}`; use publish or retire"
            )));
        }
    };
    let note = body.and_then(|ApiJson(b)| b.note);
    Ok(Json(
        s.desk.set_article_status(&caller, id, to, note).await?,
    ))
}

/// `GET /api/reports/knowledge?from=&to=` or `?period=month` (managers).
pub async fn report(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<KbReport>, ApiError> {
    s.desk.may_read_reports(&caller)?;
    let (from, to) = s.desk.report_period(q.from, q.to, q.period.as_deref())?;
    Ok(Json(s.desk.kb_report(&caller, from, to).await?))
}
