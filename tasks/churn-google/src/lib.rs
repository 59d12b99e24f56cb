//! Google adapters: a service account's access token ([`auth`]), Drive v3 `files.get` and
//! `files.export`, Sheets v4 `values.get` and `values.batchUpdate`. Base URLs are settable so the
//! tests can point them at a local Google-like server.
//!
//! Retries: 429, 5xx and Drive's `rateLimitExceeded`/`userRateLimitExceeded` 403s with
//! exponential backoff (honouring `Retry-After`); a 401 refreshes the token once. Every other
//! answer is a typed error naming what Google said.

pub mod auth;

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

pub use auth::{SCOPES, ServiceAccountKey, TokenSource};

/// Attempts per request (the first try and three retries).
pub(crate) const MAX_ATTEMPTS: u32 = 4;

/// Drive's export limit: larger exports are refused with `exportSizeLimitExceeded`.
pub const EXPORT_LIMIT_BYTES: usize = 10 * 1024 * 1024;

/// What went wrong talking to Google.
#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    #[error("Google service-account credentials: {0}")]
    Credentials(String),
    #[error("Google refused the service account's token request ({status} {error}: {description})")]
    Auth {
        status: u16,
        error: String,
        description: String,
    },
    #[error(
        "Google denied access ({reason}: {message}); share the file with the service account's email as a viewer (editor for the sheet)"
    )]
    Forbidden { reason: String, message: String },
    #[error(
        "the file is too large for Drive to export (limit 10 MB, Google: {0}); split the sheet or trim the doc"
    )]
    ExportTooLarge(String),
    #[error("Google has no such file or range ({0})")]
    NotFound(String),
    #[error("Google kept answering {status} after {attempts} attempts ({message})")]
    Unavailable {
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("Google answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("could not reach Google: {0}")]
    Http(String),
    #[error("Google's reply was not what the API documents: {0}")]
    BadResponse(String),
}

/// Where the APIs live (the real ones by default).
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `https://www.googleapis.com` (Drive v3 under `/drive/v3`).
    pub drive: String,
    /// `https://sheets.googleapis.com` (Sheets v4 under `/v4`).
    pub sheets: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            drive: "https://www.googleapis.com".into(),
            sheets: "https://sheets.googleapis.com".into(),
        }
    }
}

/// A Drive file's identity and version (`files.get?fields=id,name,mimeType,version,modifiedTime`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMeta {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub mime_type: String,
    /// Drive's monotonically increasing version (an int64 sent as a string).
    pub version: String,
    #[serde(default)]
    pub modified_time: String,
}

/// The Drive and Sheets client.
#[derive(Debug)]
pub struct GoogleClient {
    http: reqwest::Client,
    tokens: TokenSource,
    endpoints: Endpoints,
}

/// Google's error body: `{"error": {"code", "message", "status", "errors": [{"reason", …}]}}`.
fn error_parts(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let e = &v["error"];
    let message = e["message"].as_str().unwrap_or("").to_string();
    let reason = e["errors"][0]["reason"]
        .as_str()
        .or_else(|| e["status"].as_str())
        .unwrap_or("")
        .to_string();
    let message = if message.is_empty() {
        body.chars().take(200).collect()
    } else {
        message
    };
    (reason, message)
}

/// How long to wait before retry `attempt` (1-based): `Retry-After` if Google sent one (capped
/// at 30 s), else 0.5 s, 1 s, 2 s …
pub(crate) fn backoff(attempt: u32, r: &reqwest::Response) -> Duration {
    if let Some(secs) = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Duration::from_secs(secs.min(30));
    }
    Duration::from_millis(500 << (attempt - 1).min(5))
}

impl GoogleClient {
    /// A client for the service account `key` on `endpoints`.
    pub fn new(key: ServiceAccountKey, endpoints: Endpoints) -> Result<GoogleClient, GoogleError> {
        // rustls is built without a default provider (Cargo.toml, `reqwest`): ring is installed
        // as the process's provider (Err only when one already is).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| GoogleError::Http(e.to_string()))?;
        Ok(GoogleClient {
            http,
            tokens: TokenSource::new(key, SCOPES)?,
            endpoints,
        })
    }

    /// Replaces the token source (tests set a shorter refresh margin).
    pub fn with_tokens(mut self, tokens: TokenSource) -> Self {
        self.tokens = tokens;
        self
    }

    /// Sends a request built by `build` with a bearer token, retrying as the module says.
    async fn send(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, GoogleError> {
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let token = self.tokens.token(&self.http).await?;
            let r = match build(&self.http).bearer_auth(&token).send().await {
                Ok(r) => r,
                Err(e) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(what, attempt, error = %e, "google request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
                    continue;
                }
                Err(e) => return Err(GoogleError::Http(e.to_string())),
            };
            let status = r.status().as_u16();
            if r.status().is_success() {
                return Ok(r);
            }
            if status == 401 && !refreshed {
                // The token was revoked or expired early: one fresh token, one more try.
                refreshed = true;
                self.tokens.invalidate().await;
                attempt -= 1;
                continue;
            }
            let retryable = status == 429 || r.status().is_server_error();
            let wait = backoff(attempt, &r);
            let body = r.text().await.unwrap_or_default();
            let (reason, message) = error_parts(&body);
            let rate_403 = status == 403
                && matches!(
                    reason.as_str(),
                    "rateLimitExceeded" | "userRateLimitExceeded"
                );
            if (retryable || rate_403) && attempt < MAX_ATTEMPTS {
                tracing::warn!(
                    what,
                    status,
                    attempt,
                    "google throttled or failed; retrying"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(match status {
                _ if retryable || rate_403 => GoogleError::Unavailable {
                    status,
                    attempts: attempt,
                    message,
                },
                401 => GoogleError::Auth {
                    status,
                    error: reason,
                    description: message,
                },
                403 if reason == "exportSizeLimitExceeded" => GoogleError::ExportTooLarge(message),
                403 => GoogleError::Forbidden { reason, message },
                404 => GoogleError::NotFound(message),
                _ => GoogleError::Status { status, message },
            });
        }
    }

    /// Drive `files.get` with the fields drive-sync compares.
    pub async fn file_meta(&self, file_id: &str) -> Result<FileMeta, GoogleError> {
        let url = with_query(
            &format!("{}/drive/v3/files/{}", self.endpoints.drive, enc(file_id)),
            &[
                ("fields", "id,name,mimeType,version,modifiedTime"),
                ("supportsAllDrives", "true"),
            ],
        );
        let r = self.send("files.get", |h| h.get(&url)).await?;
        r.json()
            .await
            .map_err(|e| GoogleError::BadResponse(format!("files.get: {e}")))
    }

    /// Drive `files.export` as `mime_type` (`text/csv`: the sheet's first tab; `text/plain`: a
    /// doc). A reply over the 10 MB limit is refused like Drive refuses it.
    pub async fn export(&self, file_id: &str, mime_type: &str) -> Result<Vec<u8>, GoogleError> {
        let url = with_query(
            &format!(
                "{}/drive/v3/files/{}/export",
                self.endpoints.drive,
                enc(file_id)
            ),
            &[("mimeType", mime_type)],
        );
        let r = self.send("files.export", |h| h.get(&url)).await?;
        let bytes = r
            .bytes()
            .await
            .map_err(|e| GoogleError::Http(e.to_string()))?;
        if bytes.len() > EXPORT_LIMIT_BYTES {
            return Err(GoogleError::ExportTooLarge(format!(
                "{} bytes",
                bytes.len()
            )));
        }
        Ok(bytes.to_vec())
    }

    /// Sheets `values.get` of `range` (A1 notation; no sheet name = the first tab), formatted
    /// values as text; rows may be shorter than the widest one (Sheets drops trailing blanks).
    pub async fn values_get(
        &self,
        spreadsheet_id: &str,
        range: &str,
    ) -> Result<Vec<Vec<String>>, GoogleError> {
        let url = with_query(
            &format!(
                "{}/v4/spreadsheets/{}/values/{}",
                self.endpoints.sheets,
                enc(spreadsheet_id),
                enc(range)
            ),
            &[("majorDimension", "ROWS")],
        );
        let r = self.send("values.get", |h| h.get(&url)).await?;
        let v: Value = r
            .json()
            .await
            .map_err(|e| GoogleError::BadResponse(format!("values.get: {e}")))?;
        let Some(rows) = v.get("values") else {
            // An empty range has no `values` at all.
            return Ok(Vec::new());
        };
        let rows = rows
            .as_array()
            .ok_or_else(|| GoogleError::BadResponse("values.get: `values` is not a list".into()))?;
        rows.iter()
            .map(|row| {
                row.as_array()
                    .ok_or_else(|| {
                        GoogleError::BadResponse("values.get: a row is not a list".into())
                    })
                    .map(|cells| {
                        cells
                            .iter()
                            .map(|c| match c {
                                Value::String(s) => s.clone(),
                                Value::Null => String::new(),
                                other => other.to_string(),
                            })
                            .collect()
                    })
            })
            .collect()
    }

    /// Sheets `values.batchUpdate` with `valueInputOption=RAW` (the text is stored as typed, never
    /// parsed as a formula): one request for every `(A1 range, value)`. Returns
    /// `totalUpdatedCells`.
    pub async fn values_batch_update(
        &self,
        spreadsheet_id: &str,
        cells: &[(String, String)],
    ) -> Result<u64, GoogleError> {
        let url = format!(
            "{}/v4/spreadsheets/{}/values:batchUpdate",
            self.endpoints.sheets,
            enc(spreadsheet_id)
        );
        let data: Vec<Value> = cells
            .iter()
            .map(|(range, value)| {
                serde_json::json!({"range": range, "majorDimension": "ROWS", "values": [[value]]})
            })
            .collect();
        let body = serde_json::json!({"valueInputOption": "RAW", "data": data});
        let r = self
            .send("values.batchUpdate", |h| h.post(&url).json(&body))
            .await?;
        let v: Value = r
            .json()
            .await
            .map_err(|e| GoogleError::BadResponse(format!("values.batchUpdate: {e}")))?;
        Ok(v["totalUpdatedCells"].as_u64().unwrap_or(0))
    }
}

/// `url?k=v&…`, form-encoded.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{url}?{q}")
}

/// A path segment, percent-encoded.
fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The A1 name of a cell: `col` and `row` from 0 (`(0, 0)` → `A1`, `(27, 4)` → `AB5`).
pub fn a1(col: usize, row: usize) -> String {
    let mut c = col + 1;
    let mut letters = Vec::new();
    while c > 0 {
        let r = (c - 1) % 26;
        letters.push(b'A' + r as u8);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!(
        "{}{}",
        String::from_utf8(letters).unwrap_or_default(),
        row + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1_names() {
        assert_eq!(a1(0, 0), "A1");
        assert_eq!(a1(25, 9), "Z10");
        assert_eq!(a1(26, 0), "AA1");
        assert_eq!(a1(27, 4), "AB5");
        assert_eq!(a1(701, 0), "ZZ1");
        assert_eq!(a1(702, 0), "AAA1");
    }

    #[test]
    fn google_error_bodies() {
        let body = r#"{"error":{"errors":[{"domain":"global","reason":"exportSizeLimitExceeded","message":"This file is too large to be exported."}],"code":403,"message":"This file is too large to be exported."}}"#;
        assert_eq!(
            error_parts(body),
            (
                "exportSizeLimitExceeded".into(),
                "This file is too large to be exported.".into()
            )
        );
        let body = r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(error_parts(body).0, "PERMISSION_DENIED");
        assert_eq!(error_parts("<html>oops</html>").1, "<html>oops</html>");
    }
}
