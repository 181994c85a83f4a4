//! The staff directory at the desk: managers import the client's staff list (replacing the
//! directory, all or nothing); engineers and managers read it; the conversation service
//! asks who a chat caller is, whether a stranger may report, and what a new report can
//! start with ("never ask twice").

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Desk, DeskError};
use crate::domain::asset::{QrTarget, tag_from_start};
use crate::domain::people::{StrangerPolicy, is_contract_number, parse_sheet};
use crate::domain::sheet::decode;
use crate::domain::ticket::Caller;
use crate::store::{Actor, Asset, DirectoryEntry, NewRegisterEvent, Reporter};

/// The registers' rules, from `[intake]` and `[assets]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistersPolicy {
    /// What strangers are told.
    pub strangers: StrangerPolicy,
    /// Contract numbers a stranger may give.
    pub contract_numbers: Vec<String>,
    /// Where stickers' QR codes lead.
    pub qr: QrTarget,
    /// The Telegram bot's username (for `qr = "telegram"`).
    pub telegram_bot: Option<String>,
    /// Replacement is advised from this age, in years.
    pub replace_after_years: u32,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// Rows imported.
    pub rows: usize,
    /// Of which new (for assets; the directory is replaced whole, so all of its rows).
    pub new: u64,
    /// Of which updated.
    pub updated: u64,
}

/// Whether a chat caller nobody knows yet may report (see [`Desk::admission`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// In the staff directory (their name there), or strangers are allowed (`None`).
    Welcome(Option<DirectoryEntry>),
    /// A stranger, who must give the contract number first.
    AskContractNumber,
    /// A stranger, refused.
    Refused,
}

/// What a new fault report starts with (see [`Desk::report_start`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportStart {
    /// Answers already known, by the fault report's answer keys (`department`, `phone`,
    /// `site`, `building`, `room`, `device`, `device_model`): their questions are skipped.
    pub known: BTreeMap<String, String>,
    /// The device a QR code named, if the register has it.
    pub asset: Option<Asset>,
    /// The tag a QR code named that the register does not have.
    pub unknown_tag: Option<String>,
}

/// Who changes a register: managers (and the desk) only.
pub(super) fn manager_actor(caller: &Caller, what: &str) -> Result<Actor, DeskError> {
    match caller {
        Caller::Desk { name } => Ok(Actor {
            kind: "desk",
            id: None,
            name: name.clone(),
        }),
        Caller::Engineer(e) if caller.is_manager() => Ok(Actor {
            kind: "engineer",
            id: Some(e.id.to_string()),
            name: e.name.clone(),
        }),
        _ => Err(DeskError::Forbidden(format!("only managers can {what}"))),
    }
}

/// Engineers (to find a person or a device for a job) and managers read the registers;
/// reporters do not.
pub(super) fn may_read_registers(caller: &Caller) -> Result<(), DeskError> {
    if matches!(caller, Caller::Engineer(_)) || caller.is_manager() {
        Ok(())
    } else {
        Err(DeskError::Forbidden(
            "only engineers and managers can read the registers".into(),
        ))
    }
}

impl Desk {
    /// Replaces the staff directory with a CSV file (UTF-8 with or without a BOM, or
    /// GBK). Every row is checked first: a bad one refuses the file with its line number
    /// and nothing changes. Managers only.
    pub async fn import_people(&self, caller: &Caller, file: &[u8]) -> Result<Imported, DeskError> {
        let actor = manager_actor(caller, "import the staff directory")?;
        let text = decode(file).map_err(|e| DeskError::BadValue(e.to_string()))?;
        let people = parse_sheet(&text).map_err(|e| DeskError::BadValue(e.to_string()))?;
        let event = NewRegisterEvent {
            register: "people",
            subject: String::new(),
            at: self.now(),
            actor,
            action: "import",
            note: Some(format!("{} people", people.len())),
        };
        self.store.replace_people(&people, &event).await?;
        tracing::info!(people = people.len(), "staff directory imported");
        Ok(Imported {
            rows: people.len(),
            new: people.len() as u64,
            updated: 0,
        })
    }

    /// The staff directory (engineers and managers).
    pub async fn people(&self, caller: &Caller) -> Result<Vec<DirectoryEntry>, DeskError> {
        may_read_registers(caller)?;
        Ok(self.store.people().await?)
    }

    /// Whether a chat caller who is not a reporter yet may become one: known to the
    /// directory, or as `[intake] strangers` says.
    pub async fn admission(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Admission, DeskError> {
        if let Some(entry) = self.store.person_by_identity(channel, external_id).await? {
            return Ok(Admission::Welcome(Some(entry)));
        }
        Ok(match self.policy.registers.strangers {
            StrangerPolicy::Allow => Admission::Welcome(None),
            StrangerPolicy::AskContractNumber => Admission::AskContractNumber,
            StrangerPolicy::Refuse => Admission::Refused,
        })
    }

    /// Whether `typed` is the service contract's number (`[intake] contract_numbers`).
    pub fn is_contract_number(&self, typed: &str) -> bool {
        is_contract_number(typed, &self.policy.registers.contract_numbers)
    }

    /// What a new fault report by `reporter` (writing on `channel` as `external_id`)
    /// starts with: their remembered department and phone, the directory's entry for them
    /// (department, phone, usual location), and, from a QR code's `asset_TAG`, the device
    /// with its model and location (which win over the usual location: the fault is where
    /// the device is).
    pub async fn report_start(
        &self,
        reporter: &Reporter,
        channel: &str,
        external_id: &str,
        qr_tag: Option<&str>,
    ) -> Result<ReportStart, DeskError> {
        let mut start = ReportStart::default();
        fn put(known: &mut BTreeMap<String, String>, key: &str, v: &Option<String>) {
            if let Some(v) = v.as_ref().filter(|v| !v.trim().is_empty()) {
                known.insert(key.to_owned(), v.clone());
            }
        }
        if let Some(entry) = self.store.person_by_identity(channel, external_id).await? {
            let p = entry.person;
            for (key, v) in [
                ("department", &p.department),
                ("phone", &p.phone),
                ("site", &p.site),
                ("building", &p.building),
                ("room", &p.room),
            ] {
                put(&mut start.known, key, v);
            }
        }
        // What the reporter last told us is newer than the directory's list.
        put(&mut start.known, "department", &reporter.department);
        put(&mut start.known, "phone", &reporter.phone);
        if let Some(raw) = qr_tag.map(str::trim).filter(|t| !t.is_empty()) {
            let tag = tag_from_start(raw);
            match self.store.asset(&tag).await? {
                Some(asset) => {
                    let a = &asset.record;
                    start.known.insert("device".into(), a.tag.clone());
                    put(&mut start.known, "device_model", &a.model);
                    if a.site.is_some() {
                        for key in ["site", "building", "room"] {
                            start.known.remove(key);
                        }
                        put(&mut start.known, "site", &a.site);
                        put(&mut start.known, "building", &a.building);
                        put(&mut start.known, "room", &a.room);
                    }
                    start.asset = Some(asset);
                }
                // Said back as given (capped: a start parameter is anybody's text).
                None => start.unknown_tag = Some(tag.chars().take(32).collect()),
            }
        }
        Ok(start)
    }
}
