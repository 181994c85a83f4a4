//! The registers in the conversation: who a chat caller is when they are not a reporter
//! yet (the staff directory, and `[intake] strangers` for everybody else), and what a
//! report started from a QR sticker says about the device.

use super::{Chat, ChatError, Person, Role, resolve_lang};
use crate::desk::{Admission, Asset, DirectoryEntry, Reporter};
use crate::flow::{Flows, Incoming, Lang, Outgoing};

/// The line a report from a QR sticker starts with: the device found (its questions are
/// skipped), or the tag the register does not have (the report goes on without it).
pub(super) fn device_note(
    flows: &Flows,
    asset: &Option<Asset>,
    unknown_tag: &Option<String>,
    lang: Lang,
) -> Option<Outgoing> {
    let (key, note) = match (asset, unknown_tag) {
        (Some(a), _) => {
            let r = &a.record;
            let mut note = r.tag.clone();
            if let Some(m) = &r.model {
                note.push_str(&format!(" · {m}"));
            }
            let at = r.location();
            if !at.is_empty() {
                note.push_str(&format!(" · {at}"));
            }
            ("asset_found", note)
        }
        (None, Some(tag)) => ("asset_unknown", tag.clone()),
        (None, None) => return None,
    };
    let vars = serde_json::json!({ "note": note });
    Some(Outgoing::Text(flows.text(key, lang, &vars)))
}

impl Chat {
    /// A new reporter for a caller who is nobody yet: one the directory knows (by its
    /// name there) or a welcome stranger (by their door's name), speaking their door's
    /// language, which later notifications use.
    pub(super) async fn new_reporter(
        &self,
        person: &Person,
        entry: Option<DirectoryEntry>,
    ) -> Result<Reporter, ChatError> {
        let name = entry.map_or_else(|| person.name.clone(), |e| e.person.name);
        let lang = person.language.as_deref().map(Lang::from_code);
        let r = self
            .desk
            .new_reporter(
                &person.channel,
                &person.external_id,
                &name,
                lang.map(|l| l.as_code()),
            )
            .await?;
        // Made by a concurrent first contact, it may not have the language yet.
        self.with_door_language(person, r).await
    }

    /// A reporter who has not chosen a language takes their door's, which later
    /// notifications use.
    pub(super) async fn with_door_language(
        &self,
        person: &Person,
        r: Reporter,
    ) -> Result<Reporter, ChatError> {
        match &person.language {
            Some(code) if r.language.is_none() => {
                let lang = Lang::from_code(code);
                Ok(self.desk.set_language(&r, lang.as_code()).await?)
            }
            _ => Ok(r),
        }
    }

    /// What a stranger who may not simply report is told (nothing of them is stored):
    /// refused politely, or asked for the service contract's number — which, when right,
    /// makes them a reporter and starts their report.
    pub(super) async fn stranger(
        &self,
        person: &Person,
        admission: Admission,
        input: &Incoming,
    ) -> Result<Vec<Outgoing>, ChatError> {
        let lang = resolve_lang(None, person.language.as_deref());
        let text = |key: &str| Outgoing::Text(self.text(key, lang));
        match admission {
            Admission::Welcome(_) => Ok(vec![]),
            Admission::Refused => Ok(vec![text("stranger_refused")]),
            Admission::AskContractNumber => {
                let typed = match input {
                    Incoming::Text(t) => Some(t.as_str()),
                    _ => None,
                };
                if !typed.is_some_and(|t| self.desk.is_contract_number(t)) {
                    return Ok(vec![text("stranger_contract_number")]);
                }
                let r = self.new_reporter(person, None).await?;
                let role = Role::Reporter(r);
                let (more, started) = self.command(person, &role, lang, "start", "").await?;
                if let Some(conv) = &started {
                    self.save(person, Some(conv), None).await?;
                }
                let mut replies = vec![text("stranger_admitted")];
                replies.extend(more);
                Ok(replies)
            }
        }
    }
}
