//! The asset register at the desk: managers import, export and edit it; engineers and
//! managers read it with each device's history. Reports are matched to it (typed tags and
//! IPs, normalised), and a device with repeat faults is flagged to the managers once.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::people::{Imported, manager_actor, may_read_registers};
use super::{Desk, DeskError, managers};
use crate::domain::asset::{
    self, AssetRecord, REPEAT_WINDOW, needs_replacement_advice, normalise_tag, qr_link,
};
use crate::domain::intake::Device;
use crate::domain::sheet::{Row, decode, write};
use crate::domain::ticket::{Caller, Ticket};
use crate::store::{
    Asset, AssetFilter, NewOutboxMessage, NewRegisterEvent, Recipient, RegisterEvent,
};

/// One ticket in a device's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetFault {
    /// Ticket number.
    pub ticket: String,
    /// Reported at.
    pub reported_at: DateTime<Utc>,
    /// Status now.
    pub status: String,
    /// Category.
    pub category: String,
    /// The reporter's words (first 120 characters).
    pub summary: String,
    /// The repair: the engineer's cause and solution, once resolved.
    pub cause: Option<String>,
    /// The solution (parts replaced are recorded here by the engineer).
    pub solution: Option<String>,
    /// A loaner lent meanwhile, if any.
    pub loaner: Option<String>,
    /// When it was lent.
    pub loaner_issued_at: Option<DateTime<Utc>>,
    /// When it came back.
    pub loaner_returned_at: Option<DateTime<Utc>>,
}

impl From<&Ticket> for AssetFault {
    fn from(t: &Ticket) -> AssetFault {
        AssetFault {
            ticket: t.number.as_str().to_owned(),
            reported_at: t.created_at,
            status: t.status.as_str().to_owned(),
            category: t.intake.category.clone(),
            summary: t.intake.description.as_str().chars().take(120).collect(),
            cause: t.cause.as_ref().map(|c| c.as_str().to_owned()),
            solution: t.solution.as_ref().map(|s| s.as_str().to_owned()),
            loaner: t.loaner.as_ref().map(|n| n.as_str().to_owned()),
            loaner_issued_at: t.loaner_issued_at,
            loaner_returned_at: t.loaner_returned_at,
        }
    }
}

/// A device with its history (see [`Desk::asset`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetDetail {
    /// The device.
    #[serde(flatten)]
    pub asset: Asset,
    /// Where its sticker's QR code leads.
    pub report_link: String,
    /// Faults reported in the last 90 days.
    pub faults_90_days: i64,
    /// Every ticket reported with its tag (newest first, at most 200): repairs, solutions,
    /// loaners issued and returned.
    pub history: Vec<AssetFault>,
    /// Changes to its record (newest first).
    pub changes: Vec<RegisterEvent>,
}

/// One line of the asset report (plan 000: age, faults, advice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetReportLine {
    /// Tag.
    pub tag: String,
    /// Kind.
    pub kind: String,
    /// Model.
    pub model: Option<String>,
    /// Where.
    pub location: String,
    /// Department.
    pub department: Option<String>,
    /// Whole years since purchase.
    pub age_years: Option<u32>,
    /// Warranty end.
    pub warranty_until: Option<NaiveDate>,
    /// Days left on the warranty (negative: ended that long ago).
    pub warranty_days_left: Option<i64>,
    /// Faults in the last 90 days.
    pub faults_90_days: i64,
    /// `replace`, `out_of_warranty` or `keep`.
    pub advice: &'static str,
}

/// A single asset as the REST API sends it: the CSV's columns as JSON strings, checked as
/// an imported row is.
pub type AssetFields = std::collections::BTreeMap<String, String>;

impl Desk {
    /// Adds or updates the assets of a CSV file by tag (UTF-8 with or without a BOM, or
    /// GBK). Every row is checked first: a bad one refuses the file with its line number
    /// and nothing changes. Managers only.
    pub async fn import_assets(&self, caller: &Caller, file: &[u8]) -> Result<Imported, DeskError> {
        let actor = manager_actor(caller, "import assets")?;
        let text = decode(file).map_err(|e| DeskError::BadValue(e.to_string()))?;
        let records = asset::parse_sheet(&text).map_err(|e| DeskError::BadValue(e.to_string()))?;
        let event = NewRegisterEvent {
            register: "assets",
            subject: String::new(),
            at: self.now(),
            actor,
            action: "import",
            note: Some(format!("{} assets", records.len())),
        };
        let new = self.store.upsert_assets(&records, &event).await?;
        tracing::info!(assets = records.len(), new, "assets imported");
        Ok(Imported {
            rows: records.len(),
            new,
            updated: records.len() as u64 - new,
        })
    }

    /// Adds or replaces one asset (fields named as the CSV's columns); the asset, and
    /// whether it is new. Managers only.
    pub async fn save_asset(
        &self,
        caller: &Caller,
        fields: &AssetFields,
    ) -> Result<(Asset, bool), DeskError> {
        let actor = manager_actor(caller, "change assets")?;
        let known: Vec<&str> = asset::COLUMNS.iter().map(|c| c.name).collect();
        if let Some(bad) = fields.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(DeskError::BadValue(format!(
                "unknown field `{bad}`; the fields are: {}",
                known.join(", ")
            )));
        }
        let row = Row {
            line: 1,
            cells: known
                .iter()
                .map(|k| {
                    fields
                        .get(*k)
                        .map_or_else(String::new, |v| v.trim().to_owned())
                })
                .collect(),
        };
        let record = AssetRecord::from_row(&row).map_err(|e| {
            // A single record has no lines: say what is wrong, not where.
            let text = e.to_string();
            DeskError::BadValue(
                text.trim_start_matches("line 1: ")
                    .trim_end_matches("; nothing was imported")
                    .to_owned(),
            )
        })?;
        let existed = self.store.asset(&record.tag).await?.is_some();
        let event = NewRegisterEvent {
            register: "assets",
            subject: record.tag.clone(),
            at: self.now(),
            actor,
            action: if existed { "update" } else { "create" },
            note: None,
        };
        self.store
            .upsert_assets(std::slice::from_ref(&record), &event)
            .await?;
        let saved = self
            .store
            .asset(&record.tag)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("asset {}", record.tag)))?;
        Ok((saved, !existed))
    }

    /// The assets a filter selects (engineers and managers), by tag.
    pub async fn assets(
        &self,
        caller: &Caller,
        filter: &AssetFilter,
    ) -> Result<Vec<Asset>, DeskError> {
        may_read_registers(caller)?;
        let mut filter = filter.clone();
        filter.tag_prefix = filter.tag_prefix.map(|p| normalise_tag(&p));
        Ok(self.store.assets(&filter).await?)
    }

    /// The assets a filter selects as a CSV file Excel opens as is (UTF-8 with a BOM,
    /// formula-safe cells), in the import's columns: export, edit, import again.
    pub async fn export_assets(
        &self,
        caller: &Caller,
        filter: &AssetFilter,
    ) -> Result<Vec<u8>, DeskError> {
        let assets = self.assets(caller, filter).await?;
        let header: Vec<&str> = asset::COLUMNS.iter().map(|c| c.name).collect();
        Ok(write(&header, assets.iter().map(|a| a.record.to_row())))
    }

    /// One device with its history (engineers and managers). The tag is matched as typed
    /// (case, full-width characters and spaces do not matter).
    pub async fn asset(&self, caller: &Caller, tag: &str) -> Result<AssetDetail, DeskError> {
        may_read_registers(caller)?;
        let tag = normalise_tag(tag);
        let asset = self
            .store
            .asset(&tag)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("asset {tag}")))?;
        let since = self.now() - REPEAT_WINDOW;
        let (tickets, changes, faults) = tokio::join!(
            self.store.asset_tickets(&tag, 200),
            self.store.register_events("assets", &tag, 100),
            self.store.asset_faults_since(&tag, since),
        );
        Ok(AssetDetail {
            report_link: self.asset_link(&tag),
            faults_90_days: faults?,
            history: tickets?.iter().map(AssetFault::from).collect(),
            changes: changes?,
            asset,
        })
    }

    /// The last `n` faults reported on a device, newest first (a job card shows three).
    pub async fn recent_faults(&self, tag: &str, n: i64) -> Result<Vec<AssetFault>, DeskError> {
        Ok(self
            .store
            .asset_tickets(&normalise_tag(tag), n)
            .await?
            .iter()
            .map(AssetFault::from)
            .collect())
    }

    /// The QR stickers of the selected assets (engineers and managers): each with its
    /// link, `caption` and a detail line (model and location).
    pub async fn labels(
        &self,
        caller: &Caller,
        filter: &AssetFilter,
        caption: &str,
    ) -> Result<Vec<crate::labels::Label>, DeskError> {
        Ok(self
            .assets(caller, filter)
            .await?
            .into_iter()
            .map(|a| {
                let r = a.record;
                let detail = [r.model.clone().unwrap_or_default(), r.location()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · ");
                crate::labels::Label {
                    link: self.asset_link(&r.tag),
                    tag: r.tag,
                    caption: caption.to_owned(),
                    detail,
                }
            })
            .collect())
    }

    /// Where the QR code on `tag`'s sticker leads (`[assets] qr`).
    pub fn asset_link(&self, tag: &str) -> String {
        let r = &self.policy.registers;
        qr_link(
            r.qr,
            &self.policy.web.public_url,
            r.telegram_bot.as_deref(),
            tag,
        )
    }

    /// Plan 000's asset report (engineers and managers): each selected device's age,
    /// warranty, faults in the last 90 days and the advice (replace after repeat faults or
    /// at `[assets] replace_after_years`; out of warranty; keep). With `warranty_within`
    /// days, only devices whose warranty ends within that many days from today (or has
    /// ended) are listed, soonest first.
    pub async fn asset_report(
        &self,
        caller: &Caller,
        filter: &AssetFilter,
        warranty_within: Option<u32>,
    ) -> Result<Vec<AssetReportLine>, DeskError> {
        let now = self.now();
        let today = now
            .with_timezone(&self.policy.calendar.time_zone())
            .date_naive();
        let mut filter = filter.clone();
        if let Some(days) = warranty_within {
            filter.warranty_until_before = Some(today + chrono::Duration::days(i64::from(days)));
        }
        let assets = self.assets(caller, &filter).await?;
        // One query for every device's recent faults, not one per device.
        let counts: std::collections::HashMap<String, i64> = self
            .store
            // The range is half-open: a second past now takes in a report filed just now.
            .repeat_faults(now - REPEAT_WINDOW, now + chrono::Duration::seconds(1), 1)
            .await?
            .into_iter()
            .collect();
        let mut lines: Vec<AssetReportLine> = assets
            .into_iter()
            .map(|a| {
                let r = a.record;
                let faults = counts.get(&r.tag).copied().unwrap_or(0);
                let age = r.purchased_on.map(|p| asset::age_years(p, today));
                AssetReportLine {
                    location: r.location(),
                    advice: asset::advice(
                        age,
                        r.warranty_until,
                        faults >= asset::REPEAT_FAULTS,
                        today,
                        self.policy.registers.replace_after_years,
                    ),
                    warranty_days_left: r.warranty_until.map(|w| (w - today).num_days()),
                    age_years: age,
                    faults_90_days: faults,
                    tag: r.tag,
                    kind: r.kind,
                    model: r.model,
                    department: r.department,
                    warranty_until: r.warranty_until,
                }
            })
            .collect();
        if warranty_within.is_some() {
            lines.sort_by_key(|l| (l.warranty_until, l.tag.clone()));
        }
        Ok(lines)
    }

    /// The registered device a report names ([`ReportForm::device`]): by its tag, else
    /// by its IP. Kept for [`Desk::check_repeat_faults`] once the report is filed.
    pub(super) async fn find_device(&self, device: &Device) -> Result<Option<Asset>, DeskError> {
        Ok(match (&device.asset_tag, &device.ip) {
            (Some(tag), _) => self.store.asset(tag.as_str()).await?,
            (None, Some(ip)) => self.store.asset_by_ip(&ip.to_string()).await?,
            (None, None) => None,
        })
    }

    /// After a report on a registered device (`asset`, as [`Desk::find_device`] found
    /// it) is filed: a device with [`asset::REPEAT_FAULTS`] faults in 90 days is marked
    /// for replacement advice and the managers are told, once (its own transaction,
    /// guarded, so racing reports or instances tell them once). Only registered devices
    /// get advice, so a tag nobody registered costs no count.
    pub(super) async fn check_repeat_faults(
        &self,
        t: &Ticket,
        asset: &Asset,
    ) -> Result<(), DeskError> {
        let tag = asset.record.tag.clone();
        let now = self.now();
        let faults = self
            .store
            .asset_faults_since(&tag, now - REPEAT_WINDOW)
            .await?;
        if !needs_replacement_advice(faults, asset.replacement_advised_at, now) {
            return Ok(());
        }
        let roster = self.store.roster().await?;
        let a = &asset.record;
        let payload = json!({
            "ticket": t.number.as_str(),
            "site": a.site,
            "room": a.room,
            "category": t.intake.category,
            "note": format!("{} {}", a.tag, a.model.clone().unwrap_or_default()).trim().to_owned(),
            "summary": faults.to_string(),
        });
        let outbox: Vec<NewOutboxMessage> = managers(&roster.engineers)
            .map(|e| NewOutboxMessage {
                to: Recipient::Engineer(e.id),
                event: "asset_repeat_faults".into(),
                payload: payload.clone(),
                not_before: self.not_before(Recipient::Engineer(e.id), t.priority, &roster, now),
            })
            .collect();
        let event = NewRegisterEvent {
            register: "assets",
            subject: tag.clone(),
            at: now,
            actor: crate::store::Actor {
                kind: "system",
                id: None,
                name: "baoxiu".into(),
            },
            action: "replacement_advised",
            note: Some(format!(
                "{faults} faults in 90 days, the latest {}",
                t.number.as_str()
            )),
        };
        let queued = !outbox.is_empty();
        if self
            .store
            .advise_replacement(&tag, t.id, now - REPEAT_WINDOW, &event, &outbox)
            .await?
            && queued
        {
            self.signal.notify_one();
            tracing::info!(asset = %tag, faults, "repeat faults: replacement advised");
        }
        Ok(())
    }
}
