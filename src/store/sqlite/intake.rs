//! The reads a fault report makes on the reporter's path, on direct read connections
//! (see `direct.rs` for why): the staff directory's entry at `/report`, the device a
//! typed or scanned tag names, and the knowledge base's candidates after the description.
//! The SQL is the one PostgreSQL runs; only reading the rows differs.

use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, Row};

use super::SqliteStore;
use super::direct::{bind_numbered, parse_time};
use crate::domain::knowledge::MAX_CANDIDATES;
use crate::store::assets::{ASSET_BY_TAG, AssetRow};
use crate::store::knowledge::{Article, CandidateQuery};
use crate::store::params::Param;
use crate::store::people::{DirectoryEntry, IDENTITIES_OF, PERSON_BY_IDENTITY, PersonRow, entry};
use crate::store::{Asset, StoreError};

impl SqliteStore {
    /// As `Store::person_by_identity`.
    pub(in crate::store) async fn person_by_identity(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        self.readers.read(|db| {
            let row: Option<PersonRow> = db
                .prepare_cached(PERSON_BY_IDENTITY)?
                .query_row([channel, external_id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })
                .optional()?;
            let Some(row) = row else { return Ok(None) };
            let ids = db
                .prepare_cached(IDENTITIES_OF)?
                .query_map([row.0], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<(String, String)>, _>>()?;
            Ok(Some(entry(row, ids)))
        })
    }

    /// As `Store::asset`.
    pub(in crate::store) async fn asset(&self, tag: &str) -> Result<Option<Asset>, StoreError> {
        self.readers.read(|db| {
            let row = db
                .prepare_cached(ASSET_BY_TAG)?
                .query_row([tag], |r| Ok(asset_row(r)))
                .optional()?;
            row.transpose()?.map(TryInto::try_into).transpose()
        })
    }

    /// Runs a knowledge-base candidate query (`$1` drafts, the texts, then the limit).
    pub(in crate::store) async fn run_candidates(
        &self,
        query: &CandidateQuery,
        drafts: bool,
    ) -> Result<Vec<Article>, StoreError> {
        self.readers.read(|db| candidates(db, query, drafts))
    }
}

fn candidates(
    db: &Connection,
    query: &CandidateQuery,
    drafts: bool,
) -> Result<Vec<Article>, StoreError> {
    let mut texts: Vec<Param<'_>> = query
        .texts
        .iter()
        .map(|t| Param::Text(Some(t.as_str().into())))
        .collect();
    if let (Some(table), [Param::Text(Some(terms))]) = (query.matching, texts.as_slice()) {
        // Only table names of `candidate_query` are built into the text.
        let ids: Vec<i64> = db
            .prepare_cached(&format!("SELECT rowid FROM {table} WHERE {table} MATCH ?1"))?
            .query_map([terms.as_ref()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let json = serde_json::to_string(&ids)
            .map_err(|e| StoreError::Corrupt(format!("article ids: {e}")))?;
        texts = vec![Param::Text(Some(json.into()))];
    }
    let mut stmt = db.prepare_cached(&query.sql)?;
    let params: Vec<Param<'_>> = std::iter::once(Param::Bool(drafts))
        .chain(texts)
        .chain([Param::Int(Some(MAX_CANDIDATES))])
        .collect();
    bind_numbered(&mut stmt, &params)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(article(r)?);
    }
    Ok(out)
}

fn article(r: &Row<'_>) -> Result<Article, StoreError> {
    let time = |name: &str| -> Result<_, StoreError> { parse_time(&r.get::<_, String>(name)?) };
    let maybe_time = |name: &str| -> Result<_, StoreError> {
        r.get::<_, Option<String>>(name)?
            .map(|t| parse_time(&t))
            .transpose()
    };
    Ok(Article {
        id: r.get("id")?,
        status: r.get("status")?,
        category: r.get("category")?,
        title: r.get("title")?,
        symptom: r.get("symptom")?,
        cause: r.get("cause")?,
        solution: r.get("solution")?,
        keywords: r.get("keywords")?,
        ticket_id: r.get("ticket_id")?,
        ticket: r.get("ticket")?,
        uses: r.get("uses")?,
        version: r.get("version")?,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
        published_at: maybe_time("published_at")?,
        retired_at: maybe_time("retired_at")?,
    })
}

fn asset_row(r: &Row<'_>) -> Result<AssetRow, StoreError> {
    let date = |name: &str| -> Result<Option<NaiveDate>, StoreError> {
        r.get::<_, Option<String>>(name)?
            .map(|d| {
                NaiveDate::parse_from_str(&d, "%F")
                    .map_err(|_| StoreError::Corrupt(format!("date `{d}`")))
            })
            .transpose()
    };
    Ok(AssetRow {
        tag: r.get("tag")?,
        kind: r.get("kind")?,
        model: r.get("model")?,
        serial: r.get("serial")?,
        ip: r.get("ip")?,
        mac: r.get("mac")?,
        site: r.get("site")?,
        building: r.get("building")?,
        room: r.get("room")?,
        owner: r.get("owner")?,
        department: r.get("department")?,
        purchased_on: date("purchased_on")?,
        warranty_until: date("warranty_until")?,
        status: r.get("status")?,
        notes: r.get("notes")?,
        replacement_advised_at: r
            .get::<_, Option<String>>("replacement_advised_at")?
            .map(|t| parse_time(&t))
            .transpose()?,
        created_at: parse_time(&r.get::<_, String>("created_at")?)?,
        updated_at: parse_time(&r.get::<_, String>("updated_at")?)?,
    })
}
