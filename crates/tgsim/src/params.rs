//! Bot API method parameters from any of the encodings Telegram accepts: query
//! string, JSON body, url-encoded form or multipart form (with file uploads).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// An error answer of the Bot API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct ApiError {
    /// HTTP status and `error_code`.
    pub code: u16,
    /// `description`, e.g. `Bad Request: message is too long`.
    pub description: String,
    /// `parameters.retry_after` for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// 400 with `Bad Request: {msg}`.
    pub fn bad_request(msg: impl std::fmt::Display) -> Self {
        Self::new(400, format!("Bad Request: {msg}"))
    }

    /// 401 Unauthorized (wrong token).
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized")
    }

    /// 403 with `Forbidden: {msg}`.
    pub fn forbidden(msg: impl std::fmt::Display) -> Self {
        Self::new(403, format!("Forbidden: {msg}"))
    }

    /// 404 Not Found (unknown method or path).
    pub fn not_found() -> Self {
        Self::new(404, "Not Found")
    }

    /// 409 with `Conflict: {msg}`.
    pub fn conflict(msg: impl std::fmt::Display) -> Self {
        Self::new(409, format!("Conflict: {msg}"))
    }

    /// 429 with `retry_after` seconds.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self {
            code: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
        }
    }

    fn new(code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    /// The response body Telegram sends for this error.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"ok": false, "error_code": self.code, "description": self.description});
        if let Some(n) = self.retry_after {
            v["parameters"] = json!({"retry_after": n});
        }
        v
    }
}

/// An uploaded file part.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub(crate) bytes: Vec<u8>,
}

/// How a method names a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChatRef {
    Id(i64),
    Username(String),
}

/// Parameters of one Bot API call, merged from all sources.
#[derive(Debug, Default)]
pub(crate) struct Params {
    map: Map<String, Value>,
    uploads: HashMap<String, Upload>,
}

impl Params {
    /// Parameters from a JSON object.
    pub(crate) fn from_map(map: Map<String, Value>) -> Self {
        Self {
            map,
            uploads: HashMap::new(),
        }
    }

    /// Adds a plain string parameter (query string, form field); earlier ones win,
    /// except that body parameters are added before query ones by the caller.
    pub(crate) fn insert_str(&mut self, key: String, value: String) {
        self.map.entry(key).or_insert(Value::String(value));
    }

    /// Adds a file part.
    pub(crate) fn insert_upload(&mut self, key: String, bytes: Vec<u8>) {
        self.uploads.insert(key, Upload { bytes });
    }

    /// An uploaded file part by field name.
    pub(crate) fn upload(&self, key: &str) -> Option<&Upload> {
        self.uploads.get(key)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A parameter as text: strings as they are, numbers and booleans printed.
    pub(crate) fn str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }

    /// An integer parameter; a non-integer is a 400 as with Telegram.
    pub(crate) fn i64(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid {key} specified"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {key} specified"))),
            Some(_) => Err(ApiError::bad_request(format!("invalid {key} specified"))),
        }
    }

    /// A boolean parameter (absent = false).
    pub(crate) fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            _ => false,
        }
    }

    /// A JSON-typed parameter: an object or array as is, or a string holding JSON (as
    /// form and multipart encodings carry it).
    pub(crate) fn json(&self, key: &str) -> Result<Option<Value>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|e| e.to_string()),
            Some(v) => Ok(Some(v.clone())),
        }
    }

    /// `chat_id`: an integer or `@username`.
    pub(crate) fn chat(&self) -> Result<ChatRef, ApiError> {
        match self.get("chat_id") {
            None => Err(ApiError::bad_request("chat_id is empty")),
            Some(Value::String(s)) if s.starts_with('@') => {
                Ok(ChatRef::Username(s[1..].to_owned()))
            }
            Some(_) => self
                .i64("chat_id")
                .map_err(|_| ApiError::bad_request("chat not found"))?
                .map(ChatRef::Id)
                .ok_or_else(|| ApiError::bad_request("chat_id is empty")),
        }
    }
}
