//! The asset register: a filtered list, adding and editing a device (the fields of the
//! import's columns), a status change, a device's history, and its QR stickers as a PDF
//! — the desk calls of `/api/assets` and `baoxiu assets labels`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{done, manager, manager_form, refused};
use crate::console::pages::{L, Me, Note};
use crate::console::{Console, Inner, Person, failed, urlencode};
use crate::desk::{Asset, AssetDetail, AssetFields, AssetFilter, DeskError};
use crate::domain::asset::{AssetStatus, COLUMNS};
use crate::flow::Lang;

/// Assets listed at most.
const SHOWN: usize = 200;

/// The sticker sheet the console prints on (the command line offers the others).
const SHEET: &str = "a4-3x8";

/// `templates/console/admin_assets.html`.
#[derive(Template)]
#[template(path = "console/admin_assets.html")]
pub struct AssetsPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Done or refused.
    pub note: Note,
    /// The filters as given.
    pub filter: AssetQuery,
    /// The same filters as a query string (for the labels link).
    pub query: String,
    /// The list (at most [`SHOWN`]).
    pub assets: Vec<Asset>,
    /// More were selected than shown.
    pub more: bool,
    /// One device opened: its detail.
    pub open: Option<AssetDetail>,
    /// The form's fields in the import's column order, with their values.
    pub form: Vec<(&'static str, String)>,
    /// Statuses.
    pub statuses: Vec<&'static str>,
}

/// `?status=&site=&warranty_before=&done=`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AssetQuery {
    /// Status (empty: any).
    #[serde(default)]
    pub status: String,
    /// Site (empty: any).
    #[serde(default)]
    pub site: String,
    /// Warranty ending on or before (YYYY-MM-DD; empty: any).
    #[serde(default)]
    pub warranty_before: String,
    /// What was just done.
    #[serde(default)]
    done: String,
}

impl AssetQuery {
    fn filter(&self) -> Result<AssetFilter, DeskError> {
        let status = match self.status.trim() {
            "" => None,
            s => Some(
                AssetStatus::parse(s)
                    .ok_or_else(|| DeskError::BadValue(format!("unknown status `{s}`")))?,
            ),
        };
        let warranty =
            match self.warranty_before.trim() {
                "" => None,
                d => Some(d.parse().map_err(|_| {
                    DeskError::BadValue(format!("`{d}` is not a date (YYYY-MM-DD)"))
                })?),
            };
        Ok(AssetFilter {
            site: Some(self.site.trim().to_owned()).filter(|s| !s.is_empty()),
            status,
            warranty_until_before: warranty,
            ..AssetFilter::default()
        })
    }

    fn query(&self) -> String {
        format!(
            "status={}&site={}&warranty_before={}",
            urlencode(self.status.trim()),
            urlencode(self.site.trim()),
            urlencode(self.warranty_before.trim())
        )
    }
}

fn values(asset: Option<&Asset>) -> Vec<(&'static str, String)> {
    let row = asset.map(|a| a.record.to_row()).unwrap_or_default();
    COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name, row.get(i).cloned().unwrap_or_default()))
        .collect()
}

async fn render(
    c: &Inner,
    person: &Person,
    status: StatusCode,
    mut note: Note,
    q: AssetQuery,
    open: Option<AssetDetail>,
) -> Response {
    let l = person.l();
    let mut status = status;
    let mut assets = match q.filter() {
        Ok(f) => match c.desk.assets(&person.caller(), &f).await {
            Ok(list) => list,
            Err(e) => return failed(&e, l),
        },
        Err(e) => {
            (status, note) = refused(c, person, &e);
            Vec::new()
        }
    };
    let more = assets.len() > SHOWN;
    assets.truncate(SHOWN);
    crate::console::page(
        status,
        &AssetsPage {
            l,
            me: person.me(),
            note,
            query: q.query(),
            filter: q,
            assets,
            more,
            form: values(open.as_ref().map(|d| &d.asset)),
            open,
            statuses: AssetStatus::ALL.iter().map(|s| s.as_str()).collect(),
        },
    )
}

/// `GET /desk/admin/assets?status=&site=&warranty_before=`.
pub(in crate::console) async fn assets(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<AssetQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(Some(q.done.clone()));
    render(c, &person, StatusCode::OK, note, q, None).await
}

/// `GET /desk/admin/assets/{tag}`: the device, its history and its edit form.
pub(in crate::console) async fn asset(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    Query(q): Query<AssetQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let note = Note::done(Some(q.done.clone()));
    match c.desk.asset(&person.caller(), &tag).await {
        Ok(d) => {
            render(
                c,
                &person,
                StatusCode::OK,
                note,
                AssetQuery::default(),
                Some(d),
            )
            .await
        }
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            render(c, &person, status, note, AssetQuery::default(), None).await
        }
    }
}

/// `POST /desk/admin/assets`: adds or replaces a device (the fields of the import).
pub(in crate::console) async fn save(
    State(console): State<Console>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (person, f) = match manager_form(c, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let fields: AssetFields = COLUMNS
        .iter()
        .map(|col| (col.name.to_owned(), f.get(col.name).to_owned()))
        .collect();
    saved(c, &person, &fields).await
}

async fn saved(c: &Inner, person: &Person, fields: &AssetFields) -> Response {
    let caller = person.caller();
    match c.desk.save_asset(&caller, fields).await {
        Ok((a, _)) => done(
            &format!("/desk/admin/assets/{}", urlencode(&a.record.tag)),
            &a.record.tag,
        ),
        Err(e) => {
            let (status, note) = refused(c, person, &e);
            let tag = fields.get("tag").map_or("", String::as_str);
            let open = c.desk.asset(&caller, tag).await.ok();
            render(c, person, status, note, AssetQuery::default(), open).await
        }
    }
}

/// `POST /desk/admin/assets/{tag}/status`: the same record with another status.
pub(in crate::console) async fn set_status(
    State(console): State<Console>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let c = &console.inner;
    let (person, f) = match manager_form(c, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let detail = match c.desk.asset(&person.caller(), &tag).await {
        Ok(d) => d,
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            return render(c, &person, status, note, AssetQuery::default(), None).await;
        }
    };
    let mut fields: AssetFields = values(Some(&detail.asset))
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    fields.insert("status".to_owned(), f.get("status").to_owned());
    saved(c, &person, &fields).await
}

/// `GET /desk/admin/assets/labels.pdf?…`: QR stickers of the selected devices (A4, 3 × 8).
pub(in crate::console) async fn labels(
    State(console): State<Console>,
    headers: HeaderMap,
    Query(q): Query<AssetQuery>,
) -> Response {
    let c = &console.inner;
    let person = match manager(c, &headers, None).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let caption = c
        .flows
        .text("label_caption", Lang::ZhCn, &serde_json::Value::Null);
    let made = async {
        let filter = q.filter()?;
        let labels = c.desk.labels(&person.caller(), &filter, &caption).await?;
        let sheet = crate::labels::sheet(SHEET)
            .ok_or_else(|| DeskError::BadValue(format!("no sheet {SHEET}")))?;
        crate::labels::pdf(&labels, sheet).map_err(|e| DeskError::BadValue(e.to_string()))
    };
    match made.await {
        Ok(bytes) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"baoxiu-labels.pdf\""),
            );
            r
        }
        Err(e) => {
            let (status, note) = refused(c, &person, &e);
            render(c, &person, status, note, q, None).await
        }
    }
}
