//! The WeCom door's settings: `[wecom]` in the configuration file (checked by
//! `baoxiu config check`), with the app's Secret, callback Token and EncodingAESKey read
//! only from the environment variables the section names.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::crypto::AesKey;
use crate::doors::DoorError;

/// Days received callbacks are kept unless `[wecom] inbox_days` says otherwise.
pub const DEFAULT_INBOX_DAYS: u32 = 7;
/// The most days `[wecom] inbox_days` may keep callbacks.
pub const MAX_INBOX_DAYS: u32 = 90;

/// WeCom's own server.
pub const DEFAULT_API_URL: &str = "https://qyapi.weixin.qq.com";

/// `[wecom]` in the configuration file. The door is on when the variable `secret_env`
/// names holds the app's Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WecomSettings {
    /// The corporation's id (CorpID, `ww…`): the receive id of every callback.
    pub corp_id: String,
    /// The self-built app's AgentId.
    pub agent_id: i64,
    /// The server API base (`https://qyapi.weixin.qq.com`, or the stand-in).
    pub api_url: String,
    /// Engineer groups' members by WeCom UserID (`{ printer = ["zhangwei", "lina"] }`):
    /// an offer to a group goes to them as one job card; the first tap takes the job.
    pub group_members: BTreeMap<String, Vec<String>>,
    /// Callbacks whose timestamp is further than this from the desk's clock are
    /// refused, in seconds (default 300).
    pub timestamp_window_secs: u64,
    /// Days a received callback (what the member sent, decrypted) is kept in
    /// `wecom_inbox`, 1 to 90 (default 7). WeCom retries within seconds; the record
    /// serves dedupe, crash recovery and looking into a complaint, and holds what people
    /// wrote, so not for long.
    pub inbox_days: u32,
    /// The environment variable holding the app's Secret.
    pub secret_env: String,
    /// The environment variable holding the callback Token.
    pub token_env: String,
    /// The environment variable holding the callback EncodingAESKey (43 characters).
    pub aes_key_env: String,
}

impl Default for WecomSettings {
    fn default() -> Self {
        Self {
            corp_id: String::new(),
            agent_id: 0,
            api_url: DEFAULT_API_URL.into(),
            group_members: BTreeMap::new(),
            timestamp_window_secs: 300,
            inbox_days: DEFAULT_INBOX_DAYS,
            secret_env: "WECOM_SECRET".into(),
            token_env: "WECOM_TOKEN".into(),
            aes_key_env: "WECOM_ENCODING_AES_KEY".into(),
        }
    }
}

impl WecomSettings {
    /// The door's configuration, reading the secrets through `env` (the process
    /// environment, in the service): `None` when the Secret is not set (the door is off).
    pub fn door(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<WecomConfig>, DoorError> {
        let wrong = |key: &str, reason: String| DoorError::Config {
            key: key.to_owned(),
            reason,
        };
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        // Checked with the door off too: `config check` names a mistake before it matters.
        if !(1..=MAX_INBOX_DAYS).contains(&self.inbox_days) {
            return Err(wrong(
                "wecom.inbox_days",
                format!(
                    "{} is not from 1 to {MAX_INBOX_DAYS} (days received callbacks are kept)",
                    self.inbox_days
                ),
            ));
        }
        let Some(secret) = var(&self.secret_env) else {
            return Ok(None);
        };
        let corp_id = self.corp_id.trim().to_owned();
        if corp_id.is_empty() || !corp_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(wrong(
                "wecom.corp_id",
                "the CorpID (letters and digits) is required with the Secret".into(),
            ));
        }
        if self.agent_id <= 0 {
            return Err(wrong(
                "wecom.agent_id",
                "the app's AgentId (a positive number) is required".into(),
            ));
        }
        let token = var(&self.token_env)
            .ok_or_else(|| wrong(&self.token_env, "the callback Token is required".into()))?;
        if token.len() > 32 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(wrong(
                &self.token_env,
                "the callback Token is at most 32 letters and digits".into(),
            ));
        }
        let key = var(&self.aes_key_env).ok_or_else(|| {
            wrong(
                &self.aes_key_env,
                "the callback EncodingAESKey is required".into(),
            )
        })?;
        let key =
            AesKey::from_encoding_key(&key).map_err(|e| wrong(&self.aes_key_env, e.to_string()))?;
        let api_url = self.api_url.trim().trim_end_matches('/').to_owned();
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(wrong(
                "wecom.api_url",
                format!("not an http(s) URL: {api_url}"),
            ));
        }
        if self.timestamp_window_secs < 30 {
            return Err(wrong(
                "wecom.timestamp_window_secs",
                "must be at least 30 seconds".into(),
            ));
        }
        if let Some((group, _)) = self.group_members.iter().find(|(_, m)| m.is_empty()) {
            return Err(wrong(
                "wecom.group_members",
                format!("`{group}` needs at least one UserID"),
            ));
        }
        Ok(Some(WecomConfig {
            corp_id,
            agent_id: self.agent_id,
            api_url,
            secret: SecretString::from(secret),
            token: SecretString::from(token),
            key,
            group_members: self.group_members.clone(),
            timestamp_window: Duration::from_secs(self.timestamp_window_secs),
            answer_within: Duration::from_millis(3_000),
            hold_back: true,
            keep_callbacks: Duration::from_secs(u64::from(self.inbox_days) * 86_400),
        }))
    }
}

/// How the running door reaches WeCom: [`WecomSettings`] with the secrets.
#[derive(Debug, Clone)]
pub struct WecomConfig {
    /// The CorpID.
    pub corp_id: String,
    /// The AgentId.
    pub agent_id: i64,
    /// The server API base.
    pub api_url: String,
    /// The app's Secret (for `gettoken`).
    pub secret: SecretString,
    /// The callback Token (for signatures).
    pub token: SecretString,
    /// The callback AES key.
    pub key: AesKey,
    /// Engineer groups' members, for job cards.
    pub group_members: BTreeMap<String, Vec<String>>,
    /// How far a callback's timestamp may be from the desk's clock.
    pub timestamp_window: Duration,
    /// How long a callback waits for its step before answering without a passive reply
    /// (WeCom retries after 5 s).
    pub answer_within: Duration,
    /// Whether the door keeps WeCom's per-member limits itself (always, against WeCom:
    /// off only against a stand-in without limits, to measure baoxiu alone).
    pub hold_back: bool,
    /// How long received callbacks are kept (`[wecom] inbox_days`).
    pub keep_callbacks: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn env(key: &'static str) -> impl Fn(&str) -> Option<String> {
        move |var| match var {
            "WECOM_SECRET" => Some("s3cret".into()),
            "WECOM_TOKEN" => Some("tok123".into()),
            "WECOM_ENCODING_AES_KEY" => Some(key.into()),
            _ => None,
        }
    }

    fn settings() -> WecomSettings {
        WecomSettings {
            corp_id: "ww0123".into(),
            agent_id: 1000002,
            ..WecomSettings::default()
        }
    }

    #[test]
    fn callbacks_are_kept_a_week_unless_set_from_1_to_90_days() {
        let c = settings().door(env(KEY)).expect("ok").expect("on");
        assert_eq!(c.keep_callbacks, Duration::from_secs(7 * 86_400));
        let mut s = settings();
        s.inbox_days = 30;
        let c = s.door(env(KEY)).expect("ok").expect("on");
        assert_eq!(c.keep_callbacks, Duration::from_secs(30 * 86_400));
        for days in [0, 91] {
            s.inbox_days = days;
            let e = s.door(env(KEY)).unwrap_err().to_string();
            assert!(e.contains("wecom.inbox_days"), "{e}");
            // A mistake is named even while the door is off.
            let e = s.door(|_| None).unwrap_err().to_string();
            assert!(e.contains("wecom.inbox_days"), "{e}");
        }
    }

    #[test]
    fn off_without_a_secret() {
        assert!(settings().door(|_| None).expect("ok").is_none());
    }

    #[test]
    fn a_good_configuration_is_accepted() {
        let c = settings().door(env(KEY)).expect("ok").expect("on");
        assert_eq!(c.corp_id, "ww0123");
        assert_eq!(c.api_url, DEFAULT_API_URL);
    }

    #[test]
    fn the_key_must_be_43_base64_characters() {
        let short = settings().door(env("abc")).unwrap_err().to_string();
        assert!(
            short.contains("WECOM_ENCODING_AES_KEY") && short.contains("43"),
            "{short}"
        );
        let odd = "abcdefghijklmnopqrstuvwxyz0123456789ABCDE-!";
        let e = settings().door(env(odd)).unwrap_err().to_string();
        assert!(e.contains("A-Z"), "{e}");
    }

    #[test]
    fn missing_ids_are_named() {
        let mut s = settings();
        s.corp_id = String::new();
        assert!(
            s.door(env(KEY))
                .unwrap_err()
                .to_string()
                .contains("wecom.corp_id")
        );
        let mut s = settings();
        s.agent_id = 0;
        assert!(
            s.door(env(KEY))
                .unwrap_err()
                .to_string()
                .contains("wecom.agent_id")
        );
        let mut s = settings();
        s.group_members.insert("printer".into(), vec![]);
        assert!(
            s.door(env(KEY))
                .unwrap_err()
                .to_string()
                .contains("printer")
        );
    }
}
