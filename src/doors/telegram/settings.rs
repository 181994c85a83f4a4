//! The Telegram door's settings: `[telegram]` in the configuration file (checked by
//! `baoxiu config check`), with the secrets — the bot token and the webhook secret — read
//! only from the environment variables the section names.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::flood::{FloodLimits, TELEGRAM_LIMITS};
use crate::doors::DoorError;

/// `[telegram]` in the configuration file. The door is on when the variable `token_env`
/// names holds a bot token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// The environment variable holding the bot token from @BotFather.
    pub token_env: String,
    /// Another Bot API server (a self-hosted one, or tgsim); Telegram's when unset.
    pub api_url: Option<String>,
    /// Receive updates by webhook at this public URL (it must route to
    /// `POST /telegram/webhook`); long polling when unset.
    pub webhook_url: Option<String>,
    /// The environment variable holding the secret Telegram sends with every webhook
    /// POST (required with a webhook URL).
    pub webhook_secret_env: String,
    /// Telegram's flood limits applied before sending; off only for load tests against a
    /// server without limits.
    pub flood_limits: bool,
    /// Engineer groups' Telegram group chats (`{ printer = -1001234 }`): offers to a
    /// group's engineers are posted there once, as one job card, instead of privately.
    pub group_chats: BTreeMap<String, i64>,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        Self {
            token_env: "TELEGRAM_BOT_TOKEN".into(),
            api_url: None,
            webhook_url: None,
            webhook_secret_env: "TELEGRAM_WEBHOOK_SECRET".into(),
            flood_limits: true,
            group_chats: BTreeMap::new(),
        }
    }
}

impl TelegramSettings {
    /// The door's configuration, reading the secrets through `env` (the process
    /// environment, in the service): `None` when the token is not set (the door is off).
    pub fn door(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TelegramConfig>, DoorError> {
        let env = |var: &str| env(var).filter(|v| !v.trim().is_empty());
        let Some(token) = env(&self.token_env) else {
            return Ok(None);
        };
        let url = |key: &'static str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| {
                    Url::parse(v.trim()).map_err(|e| DoorError::Config {
                        key: key.into(),
                        reason: format!("`{v}` is not a URL ({e})"),
                    })
                })
                .transpose()
        };
        let config = TelegramConfig {
            token: SecretString::from(token.trim().to_owned()),
            api_url: url("telegram.api_url", &self.api_url)?,
            webhook_url: url("telegram.webhook_url", &self.webhook_url)?,
            webhook_secret: env(&self.webhook_secret_env).map(SecretString::from),
            limits: self.flood_limits.then_some(TELEGRAM_LIMITS),
            group_chats: self.group_chats.clone(),
            photo_fetch_every: Some(super::photos::EVERY),
        };
        config.validate(self)?;
        Ok(Some(config))
    }
}

/// How the running door reaches Telegram: [`TelegramSettings`] with its secrets.
#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// The bot token.
    pub token: SecretString,
    /// Another Bot API server (tests, a self-hosted server); Telegram's by default.
    pub api_url: Option<Url>,
    /// Receive updates by webhook at this public URL; long polling when `None`.
    pub webhook_url: Option<Url>,
    /// The secret Telegram sends with every webhook POST (required with a webhook URL).
    pub webhook_secret: Option<SecretString>,
    /// Flood limits applied before sending ([`TELEGRAM_LIMITS`] by default; `None`
    /// switches them off — only for load tests against a server without limits).
    pub limits: Option<FloodLimits>,
    /// Engineer groups' Telegram group chats.
    pub group_chats: BTreeMap<String, i64>,
    /// How often reporters' photos are fetched into their tickets (`None`: never in the
    /// background — tests call `Telegram::fetch_photos` themselves).
    pub photo_fetch_every: Option<Duration>,
}

impl TelegramConfig {
    /// A configuration for long polling with Telegram's limits.
    pub fn new(token: impl Into<String>) -> TelegramConfig {
        TelegramConfig {
            token: SecretString::from(token.into()),
            api_url: None,
            webhook_url: None,
            webhook_secret: None,
            limits: Some(TELEGRAM_LIMITS),
            group_chats: BTreeMap::new(),
            photo_fetch_every: Some(super::photos::EVERY),
        }
    }

    /// Checks the settings fit together and Telegram's rules; a mistake names the
    /// setting (or the variable of a secret) as `names` calls it.
    pub fn validate(&self, names: &TelegramSettings) -> Result<(), DoorError> {
        let wrong = |key: &str, reason: String| DoorError::Config {
            key: key.to_owned(),
            reason,
        };
        let token = self.token.expose_secret();
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err(wrong(
                &names.token_env,
                "the bot token is empty or contains spaces".into(),
            ));
        }
        if let Some(secret) = &self.webhook_secret {
            let s = secret.expose_secret();
            let ok = (1..=256).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(wrong(
                    &names.webhook_secret_env,
                    format!(
                        "must be 1–256 characters of A-Z, a-z, 0-9, _ and - (got {} characters)",
                        s.chars().count()
                    ),
                ));
            }
        }
        if self.webhook_url.is_some() && self.webhook_secret.is_none() {
            return Err(wrong(
                &names.webhook_secret_env,
                "is required with telegram.webhook_url (webhook POSTs are verified with it)".into(),
            ));
        }
        if let Some((group, id)) = self.group_chats.iter().find(|(_, id)| **id >= 0) {
            return Err(wrong(
                "telegram.group_chats",
                format!("`{group} = {id}` is not a group chat id (they are negative)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |var| pairs.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_door_is_off_without_its_token() {
        let settings = TelegramSettings::default();
        assert!(matches!(settings.door(env(&[])), Ok(None)));
        assert!(matches!(
            settings.door(env(&[("TELEGRAM_BOT_TOKEN", " ")])),
            Ok(None)
        ));
        let on = settings
            .door(env(&[("TELEGRAM_BOT_TOKEN", "123:ABC")]))
            .expect("valid")
            .expect("on");
        assert_eq!(on.token.expose_secret(), "123:ABC");
        assert_eq!(on.limits, Some(TELEGRAM_LIMITS));
    }

    #[test]
    fn webhook_secrets_are_validated() {
        let settings = TelegramSettings {
            webhook_url: Some("https://bx.example/telegram/webhook".into()),
            ..TelegramSettings::default()
        };
        let with = |secret: &str| {
            settings.door(env(&[
                ("TELEGRAM_BOT_TOKEN", "123:ABC"),
                ("TELEGRAM_WEBHOOK_SECRET", secret),
            ]))
        };
        assert!(with("good_Secret-1").is_ok());
        for bad in ["has space".to_owned(), "ümlaut".to_owned(), "x".repeat(257)] {
            let e = with(&bad).expect_err(&bad);
            assert!(e.to_string().starts_with("TELEGRAM_WEBHOOK_SECRET"), "{e}");
        }
        let e = settings
            .door(env(&[("TELEGRAM_BOT_TOKEN", "123:ABC")]))
            .expect_err("a webhook needs its secret");
        assert!(e.to_string().contains("telegram.webhook_url"), "{e}");
    }

    #[test]
    fn mistakes_name_their_setting() {
        let token = env(&[("TELEGRAM_BOT_TOKEN", "123:ABC")]);
        let bad_url = TelegramSettings {
            api_url: Some("not a url".into()),
            ..TelegramSettings::default()
        };
        let e = bad_url.door(&token).expect_err("bad URL");
        assert!(
            e.to_string().starts_with("telegram.api_url: `not a url`"),
            "{e}"
        );
        let positive = TelegramSettings {
            group_chats: BTreeMap::from([("printer".to_owned(), 1234)]),
            ..TelegramSettings::default()
        };
        let e = positive.door(&token).expect_err("not a group");
        assert!(e.to_string().starts_with("telegram.group_chats"), "{e}");
    }
}
