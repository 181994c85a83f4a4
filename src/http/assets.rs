//! `/api/assets`: the asset register. Managers import (the CSV as the request body),
//! export and edit it; engineers and managers read it, each device with its history, the
//! asset report (age, warranty, faults, advice) and its QR sticker sheets.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Deserialize;

use super::people::MAX_FILE;
use super::{ApiError, ApiJson, AppState, Authed};
use crate::desk::{AssetDetail, AssetFields, AssetFilter, Imported};
use crate::domain::asset::AssetStatus;
use crate::labels;

/// The register's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/assets", get(list).post(save))
        .route(
            "/api/assets/import",
            post(import).layer(DefaultBodyLimit::max(MAX_FILE)),
        )
        .route("/api/assets/report", get(report))
        .route("/api/assets/labels", get(labels_sheet))
        .route("/api/assets/{tag}", get(show))
}

/// Selecting assets (every listing), plus what the listing takes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Select {
    site: Option<String>,
    kind: Option<String>,
    status: Option<AssetStatus>,
    department: Option<String>,
    tag_prefix: Option<String>,
    /// `json` (default) or `csv` (the import's columns: export, edit, import again);
    /// for labels `svg` (default) or `pdf`.
    format: Option<String>,
    /// Report: only warranties ending within this many days (or ended).
    warranty_within: Option<u32>,
    /// Labels: the sticker sheet (`a4-3x8` default, `a4-3x7`, `a4-2x7`, `a4-5x13`).
    sheet: Option<String>,
    /// Labels: which page of an SVG (from 1).
    page: Option<usize>,
    /// Report: before this day (only with `warranty_within` unset).
    warranty_until_before: Option<NaiveDate>,
}

impl Select {
    fn filter(&self) -> AssetFilter {
        AssetFilter {
            site: self.site.clone(),
            kind: self.kind.as_ref().map(|k| k.to_lowercase()),
            status: self.status,
            department: self.department.clone(),
            tag_prefix: self.tag_prefix.clone(),
            warranty_until_before: self.warranty_until_before,
        }
    }
}

fn csv_file(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// `GET /api/assets[?site=&kind=&status=&department=&tag_prefix=][&format=csv]`
/// (engineers and managers), by tag.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<Select>,
) -> Result<Response, ApiError> {
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(s.desk.assets(&caller, &q.filter()).await?).into_response()),
        Some("csv") => Ok(csv_file(
            "assets.csv",
            s.desk.export_assets(&caller, &q.filter()).await?,
        )),
        Some(other) => Err(ApiError::BadRequest(format!(
            "unknown format `{other}`; use json or csv"
        ))),
    }
}

/// `POST /api/assets` (managers; the CSV's columns as JSON strings): adds or replaces one.
pub async fn save(
    State(s): State<AppState>,
    Authed(caller): Authed,
    ApiJson(fields): ApiJson<AssetFields>,
) -> Result<(StatusCode, Json<crate::desk::Asset>), ApiError> {
    let (asset, new) = s.desk.save_asset(&caller, &fields).await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(asset)))
}

/// `POST /api/assets/import` (managers; body: the CSV): adds or updates by tag, or
/// refuses the file with the line that is wrong and changes nothing.
pub async fn import(
    State(s): State<AppState>,
    Authed(caller): Authed,
    body: Bytes,
) -> Result<Json<Imported>, ApiError> {
    Ok(Json(s.desk.import_assets(&caller, &body).await?))
}

/// `GET /api/assets/{tag}` (engineers and managers): the device with its history.
pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(tag): Path<String>,
) -> Result<Json<AssetDetail>, ApiError> {
    Ok(Json(s.desk.asset(&caller, &tag).await?))
}

/// `GET /api/assets/report[?warranty_within=DAYS][&format=csv]` (engineers and
/// managers): age, warranty, faults in 90 days and advice per device.
pub async fn report(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<Select>,
) -> Result<Response, ApiError> {
    let lines = s
        .desk
        .asset_report(&caller, &q.filter(), q.warranty_within)
        .await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(lines).into_response()),
        Some("csv") => {
            let header = [
                "tag",
                "kind",
                "model",
                "location",
                "department",
                "age_years",
                "warranty_until",
                "warranty_days_left",
                "faults_90_days",
                "advice",
            ];
            let rows = lines.into_iter().map(|l| {
                let o = |v: Option<String>| v.unwrap_or_default();
                vec![
                    l.tag,
                    l.kind,
                    o(l.model),
                    l.location,
                    o(l.department),
                    o(l.age_years.map(|a| a.to_string())),
                    o(l.warranty_until.map(|d| d.to_string())),
                    o(l.warranty_days_left.map(|d| d.to_string())),
                    l.faults_90_days.to_string(),
                    l.advice.to_owned(),
                ]
            });
            Ok(csv_file(
                "asset-report.csv",
                crate::domain::sheet::write(&header, rows),
            ))
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "unknown format `{other}`; use json or csv"
        ))),
    }
}

/// The stickers' caption (`label_caption` in bot-flows' messages, in Chinese), from the
/// conversation files built in.
fn default_caption() -> String {
    static CAPTION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        crate::flow::Flows::embedded()
            .map(|f| {
                f.text(
                    "label_caption",
                    crate::flow::Lang::ZhCn,
                    &serde_json::Value::Null,
                )
            })
            .unwrap_or_default()
    });
    CAPTION.clone()
}

/// `GET /api/assets/labels[?format=svg|pdf][&sheet=a4-3x8][&page=N][&site=…]` (engineers
/// and managers): the QR sticker sheet of the selected assets.
pub async fn labels_sheet(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Query(q): Query<Select>,
) -> Result<Response, ApiError> {
    let sheet_name = q.sheet.as_deref().unwrap_or("a4-3x8");
    let sheet = labels::sheet(sheet_name).ok_or_else(|| {
        let names: Vec<&str> = labels::SHEETS.iter().map(|s| s.name).collect();
        ApiError::BadRequest(format!(
            "unknown sheet `{sheet_name}`; use one of {}",
            names.join(", ")
        ))
    })?;
    let caption = default_caption();
    let labels = s.desk.labels(&caller, &q.filter(), &caption).await?;
    let bad =
        |e: labels::LabelError| ApiError::Desk(crate::desk::DeskError::NotFound(e.to_string()));
    match q.format.as_deref() {
        None | Some("svg") => {
            let pages = labels::svg_pages(&labels, sheet).map_err(bad)?;
            let n = q.page.unwrap_or(1);
            let page = pages.get(n.saturating_sub(1)).cloned().ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "page {n} does not exist; there are {}",
                    pages.len()
                ))
            })?;
            Ok((
                [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
                page,
            )
                .into_response())
        }
        Some("pdf") => {
            let pdf = labels::pdf(&labels, sheet).map_err(bad)?;
            Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "unknown format `{other}`; use svg or pdf"
        ))),
    }
}
