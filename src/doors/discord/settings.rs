//! The Discord door's settings: `[discord]` in the configuration file (checked by
//! `baoxiu config check`), with the bot token read only from the environment variable the
//! section names.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::rest::Patience;
use super::signature;
use crate::doors::DoorError;

/// `[discord]` in the configuration file. The door is on when the variable `token_env`
/// names holds a bot token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordSettings {
    /// The environment variable holding the bot token.
    pub token_env: String,
    /// The application's numeric id (interaction follow-ups and commands need it).
    pub application_id: Option<u64>,
    /// Another REST base (a proxy, the stand-in): requests go to `{api_url}/api/v10/…`.
    pub api_url: Option<String>,
    /// Engineer groups' channels (`{ printer = 1234567890 }`): offers to a group's
    /// engineers are posted there once, as one job card, instead of privately to each.
    pub group_channels: BTreeMap<String, u64>,
    /// The application's public key (hex): with it, `POST /discord/interactions` serves
    /// Discord's HTTP interactions endpoint, every request verified against it.
    pub public_key: Option<String>,
}

impl Default for DiscordSettings {
    fn default() -> Self {
        Self {
            token_env: "DISCORD_BOT_TOKEN".into(),
            application_id: None,
            api_url: None,
            group_channels: BTreeMap::new(),
            public_key: None,
        }
    }
}

impl DiscordSettings {
    /// The door's configuration, reading the token through `env` (the process
    /// environment, in the service): `None` when the token is not set (the door is off).
    pub fn door(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<DiscordConfig>, DoorError> {
        let wrong = |key: &str, reason: String| DoorError::Config {
            key: key.to_owned(),
            reason,
        };
        let Some(token) = env(&self.token_env)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
        else {
            return Ok(None);
        };
        if token.chars().any(char::is_whitespace) {
            return Err(wrong(&self.token_env, "the token contains spaces".into()));
        }
        let application_id = self.application_id.filter(|id| *id > 0).ok_or_else(|| {
            let token = &self.token_env;
            wrong(
                "discord.application_id",
                format!("the application's numeric id is required with {token}"),
            )
        })?;
        let api_url = self.api_url.as_deref().map(str::trim).map(str::to_owned);
        if let Some(url) = &api_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(wrong(
                "discord.api_url",
                format!("not an http(s) URL: {url}"),
            ));
        }
        if let Some((group, _)) = self.group_channels.iter().find(|(_, id)| **id == 0) {
            return Err(wrong(
                "discord.group_channels",
                format!("`{group}` needs a channel id (a positive number)"),
            ));
        }
        let public_key = self
            .public_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(signature::public_key)
            .transpose()
            .map_err(|e| wrong("discord.public_key", e.to_string()))?;
        Ok(Some(DiscordConfig {
            token: SecretString::from(token),
            application_id,
            api_url,
            group_channels: self.group_channels.clone(),
            public_key,
            patience: Patience::default(),
        }))
    }
}

/// How the running door reaches Discord: [`DiscordSettings`] with the token.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// The bot token.
    pub token: SecretString,
    /// The application id.
    pub application_id: u64,
    /// Another REST base (tests, a proxy).
    pub api_url: Option<String>,
    /// Engineer groups' channels for job cards.
    pub group_channels: BTreeMap<String, u64>,
    /// The application's public key: with it, `Discord::interactions_router` serves the
    /// HTTP interactions endpoint.
    pub public_key: Option<ed25519_dalek::VerifyingKey>,
    /// When to defer an interaction, and how to retry a failed call.
    pub patience: Patience,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(var: &str) -> Option<String> {
        (var == "DISCORD_BOT_TOKEN").then(|| "abc.def".to_owned())
    }

    fn settings() -> DiscordSettings {
        DiscordSettings {
            application_id: Some(42),
            ..DiscordSettings::default()
        }
    }

    #[test]
    fn the_door_is_off_without_its_token() {
        assert!(matches!(settings().door(|_| None), Ok(None)));
        let on = settings().door(token).expect("valid").expect("on");
        assert_eq!(on.application_id, 42);
    }

    #[test]
    fn the_door_needs_the_application_id() {
        for missing in [None, Some(0)] {
            let s = DiscordSettings {
                application_id: missing,
                ..settings()
            };
            let e = s.door(token).expect_err("refused").to_string();
            assert!(e.starts_with("discord.application_id: "), "{e}");
            assert!(e.contains("DISCORD_BOT_TOKEN"), "{e}");
        }
    }

    #[test]
    fn mistakes_name_their_setting() {
        let with = |s: DiscordSettings| s.door(token).expect_err("refused").to_string();
        let e = with(DiscordSettings {
            public_key: Some("abc".into()),
            ..settings()
        });
        assert!(e.starts_with("discord.public_key: "), "{e}");
        let e = with(DiscordSettings {
            api_url: Some("ftp://x".into()),
            ..settings()
        });
        assert!(e.starts_with("discord.api_url: "), "{e}");
        let e = with(DiscordSettings {
            group_channels: BTreeMap::from([("printer".to_owned(), 0)]),
            ..settings()
        });
        assert!(e.starts_with("discord.group_channels: "), "{e}");
        let blank_key = DiscordSettings {
            public_key: Some(" ".into()),
            group_channels: BTreeMap::from([("printer".to_owned(), 77)]),
            ..settings()
        };
        let on = blank_key.door(token).expect("valid").expect("on");
        assert!(on.public_key.is_none());
        assert_eq!(on.group_channels.get("printer"), Some(&77));
    }
}
