//! Service-account auth: the OAuth 2.0 JWT bearer flow (RFC 7523) with an RS256-signed
//! assertion, the access token cached until shortly before it expires.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::GoogleError;

/// Scopes drive-sync and order-import need: read Drive files, read and write Sheets values.
pub const SCOPES: &str =
    "https://www.googleapis.com/auth/drive.readonly https://www.googleapis.com/auth/spreadsheets";

/// The grant type of the JWT bearer flow.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The fields of a service-account key file (JSON, as Google Cloud downloads it) this uses.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    // The private key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &"<redacted>")
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

impl ServiceAccountKey {
    /// Parses the key file's JSON (e.g. the `google_service_account` field of the secret `cp/keys`).
    pub fn from_json(json: &str) -> Result<ServiceAccountKey, GoogleError> {
        serde_json::from_str(json)
            .map_err(|e| GoogleError::Credentials(format!("not a service-account key file: {e}")))
    }
}

/// Signs assertions and keeps the current access token.
pub struct TokenSource {
    key: ServiceAccountKey,
    signer: RsaKeyPair,
    scopes: String,
    /// A token is refreshed this long before Google says it expires.
    margin: Duration,
    cached: Mutex<Option<(String, Instant)>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct TokenErrorReply {
    error: String,
    #[serde(default)]
    error_description: String,
}

impl TokenSource {
    /// A token source for `key` and `scopes` (space-separated).
    pub fn new(key: ServiceAccountKey, scopes: &str) -> Result<TokenSource, GoogleError> {
        let der = pem_to_der(&key.private_key)?;
        let signer = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| GoogleError::Credentials(format!("the private key is unusable: {e}")))?;
        Ok(TokenSource {
            key,
            signer,
            scopes: scopes.to_string(),
            margin: Duration::from_secs(300),
            cached: Mutex::new(None),
            rng: SystemRandom::new(),
        })
    }

    /// Refreshes this long before expiry (default 5 minutes).
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// Forgets the cached token (after a 401).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// The signed assertion: `iss`, `scope`, `aud` = the token endpoint, `iat`, `exp` = iat + 1 h.
    pub fn assertion(&self, now_unix: u64) -> Result<String, GoogleError> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key.private_key_id {
            header["kid"] = kid.clone().into();
        }
        let claims = serde_json::json!({
            "iss": self.key.client_email,
            "scope": self.scopes,
            "aud": self.key.token_uri,
            "iat": now_unix,
            "exp": now_unix + 3600,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.signer.public().modulus_len()];
        self.signer
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| GoogleError::Credentials("signing the assertion failed".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    pub async fn token(&self, http: &reqwest::Client) -> Result<String, GoogleError> {
        let mut cached = self.cached.lock().await;
        if let Some((t, until)) = &*cached
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = self.assertion(now)?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER)
            .append_pair("assertion", &assertion)
            .finish();
        let mut attempt = 0;
        let reply = loop {
            attempt += 1;
            let sent = http
                .post(&self.key.token_uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => break r,
                Ok(r)
                    if (r.status().as_u16() == 429 || r.status().is_server_error())
                        && attempt < crate::MAX_ATTEMPTS =>
                {
                    tokio::time::sleep(crate::backoff(attempt, &r)).await;
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    let (error, description) = match serde_json::from_str::<TokenErrorReply>(&text)
                    {
                        Ok(e) => (e.error, e.error_description),
                        Err(_) => (format!("HTTP {status}"), String::new()),
                    };
                    return Err(GoogleError::Auth {
                        status,
                        error,
                        description,
                    });
                }
                Err(e) if attempt < crate::MAX_ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "google token request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
                Err(e) => return Err(GoogleError::Http(e.to_string())),
            }
        };
        let t: TokenReply = reply
            .json()
            .await
            .map_err(|e| GoogleError::BadResponse(format!("token reply: {e}")))?;
        let life = Duration::from_secs(t.expires_in).saturating_sub(self.margin);
        *cached = Some((t.access_token.clone(), Instant::now() + life));
        Ok(t.access_token)
    }
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, GoogleError> {
    let b64: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    if !pem.contains("BEGIN PRIVATE KEY") {
        return Err(GoogleError::Credentials(
            "the private key must be a PKCS#8 PEM (BEGIN PRIVATE KEY), as Google issues it".into(),
        ));
    }
    STANDARD
        .decode(b64)
        .map_err(|e| GoogleError::Credentials(format!("the private key is not valid PEM: {e}")))
}
