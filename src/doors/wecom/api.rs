//! WeCom's server API: the access token (fetched with CorpID + Secret, cached until
//! shortly before it expires, one refresh at a time however many senders wait for it,
//! refreshed once when WeCom calls it invalid or expired and the call repeated) and the
//! calls the door makes.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::time::Instant;

/// A token is renewed this long before WeCom says it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Errcodes that mean "get a new token": invalid, expired, invalid credential.
const TOKEN_ERRORS: [i64; 3] = [40014, 42001, 40001];
/// Errcodes that mean "busy, try later": system busy, frequency limits.
const BUSY_ERRORS: [i64; 3] = [-1, 45009, 45033];

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// WeCom is busy or a frequency limit was hit: back off and try later.
    #[error("WeCom is busy (errcode {0})")]
    Busy(i64),
    /// WeCom refused the call.
    #[error("WeCom refused the call: errcode {0}: {1}")]
    Refused(i64, String),
    /// The network or the server failed.
    #[error("WeCom could not be reached: {0}")]
    Network(String),
}

/// The client of one app's API.
pub(super) struct Api {
    http: reqwest::Client,
    base: String,
    corp_id: String,
    secret: SecretString,
    /// The cached token and when to stop using it.
    token: std::sync::Mutex<Option<(String, Instant)>>,
    /// Held while a token is fetched: one refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
}

impl Api {
    pub(super) fn new(base: &str, corp_id: &str, secret: SecretString) -> Api {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Api {
            http,
            base: base.to_owned(),
            corp_id: corp_id.to_owned(),
            secret,
            token: std::sync::Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<String> {
        crate::doors::lock(&self.token)
            .as_ref()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    /// A valid token: the cached one, or a new one (fetched once for all waiting).
    /// `stale` is a token WeCom just refused: it is not handed out again.
    async fn token(&self, stale: Option<&str>) -> Result<String, ApiError> {
        let usable = |t: &String| stale != Some(t.as_str());
        if let Some(t) = self.cached().filter(usable) {
            return Ok(t);
        }
        let _one = self.refreshing.lock().await;
        // Another sender may have refreshed while this one waited.
        if let Some(t) = self.cached().filter(usable) {
            return Ok(t);
        }
        let url = format!("{}/cgi-bin/gettoken", self.base);
        let answer: Value = self
            .http
            .get(url)
            .query(&[
                ("corpid", self.corp_id.as_str()),
                ("corpsecret", self.secret.expose_secret()),
            ])
            .send()
            .await
            .map_err(network)?
            .json()
            .await
            .map_err(network)?;
        checked(&answer)?;
        let token = answer["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Refused(0, "no access_token".into()))?
            .to_owned();
        let expires = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(7200));
        let until = Instant::now() + expires.saturating_sub(RENEW_BEFORE);
        *crate::doors::lock(&self.token) = Some((token.clone(), until));
        tracing::debug!("wecom: access token refreshed");
        Ok(token)
    }

    /// POSTs `body` to `path` with the token; the answer. A refused token is renewed once
    /// and the call repeated.
    pub(super) async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call(path, |http, url| http.post(url).json(body)).await
    }

    /// GETs `path` with the token and `query`; the JSON answer.
    pub(super) async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        self.call(path, |http, url| http.get(url).query(query))
            .await
    }

    /// GETs `path` for bytes (`media/get`): an error comes as JSON instead.
    pub(super) async fn get_bytes(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<u8>, ApiError> {
        let mut stale: Option<String> = None;
        loop {
            let token = self.token(stale.as_deref()).await?;
            let url = format!("{}/cgi-bin/{path}", self.base);
            let r = self
                .http
                .get(url)
                .query(&[("access_token", token.as_str())])
                .query(query)
                .send()
                .await
                .map_err(network)?;
            let json = r
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("json"));
            let bytes = r.bytes().await.map_err(network)?;
            if !json {
                return Ok(bytes.to_vec());
            }
            let answer: Value = serde_json::from_slice(&bytes).map_err(network)?;
            match checked(&answer) {
                Err(ApiError::Refused(code, _))
                    if TOKEN_ERRORS.contains(&code) && stale.is_none() =>
                {
                    stale = Some(token);
                }
                Err(e) => return Err(e),
                Ok(()) => return Err(ApiError::Refused(0, "no media in the answer".into())),
            }
        }
    }

    async fn call(
        &self,
        path: &str,
        request: impl Fn(&reqwest::Client, String) -> reqwest::RequestBuilder,
    ) -> Result<Value, ApiError> {
        let mut stale: Option<String> = None;
        loop {
            let token = self.token(stale.as_deref()).await?;
            let url = format!("{}/cgi-bin/{path}", self.base);
            let answer: Value = request(&self.http, url)
                .query(&[("access_token", token.as_str())])
                .send()
                .await
                .map_err(network)?
                .json()
                .await
                .map_err(network)?;
            match checked(&answer) {
                // Once: a second refusal of a fresh token is WeCom's final word.
                Err(ApiError::Refused(code, _))
                    if TOKEN_ERRORS.contains(&code) && stale.is_none() =>
                {
                    tracing::info!(errcode = code, "wecom: token refused, renewing it");
                    stale = Some(token);
                }
                Err(e) => return Err(e),
                Ok(()) => return Ok(answer),
            }
        }
    }
}

/// WeCom's answer as a result: errcode 0 (or none) is success.
fn checked(answer: &Value) -> Result<(), ApiError> {
    match answer["errcode"].as_i64().unwrap_or(0) {
        0 => Ok(()),
        code if BUSY_ERRORS.contains(&code) => Err(ApiError::Busy(code)),
        code => Err(ApiError::Refused(
            code,
            answer["errmsg"].as_str().unwrap_or_default().to_owned(),
        )),
    }
}

fn network(e: impl std::fmt::Display) -> ApiError {
    ApiError::Network(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_are_sorted_into_busy_refused_and_fine() {
        assert_eq!(checked(&serde_json::json!({"errcode": 0})), Ok(()));
        assert_eq!(checked(&serde_json::json!({})), Ok(()));
        for busy in BUSY_ERRORS {
            assert_eq!(
                checked(&serde_json::json!({"errcode": busy})),
                Err(ApiError::Busy(busy))
            );
        }
        assert_eq!(
            checked(&serde_json::json!({"errcode": 42001, "errmsg": "expired"})),
            Err(ApiError::Refused(42001, "expired".into()))
        );
    }
}
