//! Behaves like Google's APIs as a service account uses them: the OAuth 2.0 token endpoint (JWT
//! bearer grant, signature checked with the test key's public key, every claim and the form
//! encoding checked), Drive v3 `files.get` and `files.export`, Sheets v4 `values.get` and
//! `values.batchUpdate`, with Google's JSON shapes and error bodies. It can be told to answer the
//! next requests with 401, 403, 429 (+Retry-After) or 500.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::Method;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};

use crate::http::{Req, Resp, form_decode, json, percent_decode, serve};

pub const CLIENT_EMAIL: &str = "churn-sync@churn-test.iam.gserviceaccount.com";
pub const SPREADSHEET: &str = "1SheetIdCustomers";
pub const SHEET_MIME: &str = "application/vnd.google-apps.spreadsheet";
pub const DOC_MIME: &str = "application/vnd.google-apps.document";

/// One Drive file.
#[derive(Debug, Clone)]
pub struct FakeFile {
    pub name: String,
    pub mime: String,
    pub version: u64,
    pub modified: String,
    pub content: Vec<u8>,
}

/// A forced answer for the next API request.
#[derive(Debug, Clone)]
pub struct Forced {
    pub status: u16,
    pub reason: &'static str,
    pub retry_after: Option<&'static str>,
}

/// Everything the fake knows and saw.
#[derive(Debug, Default)]
pub struct State {
    pub token_uri: String,
    pub expires_in: u64,
    pub tokens: HashMap<String, Instant>,
    pub token_requests: u32,
    pub files: HashMap<String, FakeFile>,
    /// The spreadsheet's first tab.
    pub sheet: Vec<Vec<String>>,
    pub forced: VecDeque<Forced>,
    /// `METHOD path` of every API request (not token requests).
    pub log: Vec<String>,
    pub batch_updates: Vec<Value>,
}

pub struct Fake {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
}

impl Fake {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn force(&self, status: u16, reason: &'static str, retry_after: Option<&'static str>) {
        self.with(|s| {
            s.forced.push_back(Forced {
                status,
                reason,
                retry_after,
            })
        });
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.with(|s| s.log.iter().filter(|l| l.starts_with(prefix)).count())
    }
}

pub fn public_key() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        // The key pair lives with the churn-google tests, which also sign with its private half.
        "/../churn-google/tests/data/TEST-ONLY-service-account-public-key.der"
    ))
    .unwrap()
}

pub async fn start() -> Fake {
    let state = Arc::new(Mutex::new(State {
        expires_in: 3599,
        ..Default::default()
    }));
    let s2 = state.clone();
    let pk = Arc::new(public_key());
    let addr = serve(move |req| {
        let state = s2.clone();
        let pk = pk.clone();
        async move { handle(&state, &pk, req) }
    })
    .await;
    state.lock().unwrap().token_uri = format!("http://{addr}/token");
    Fake { addr, state }
}

fn google_error(status: u16, reason: &str, message: &str) -> Value {
    let code_status = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    };
    json!({"error": {
        "errors": [{"domain": "global", "reason": reason, "message": message}],
        "code": status,
        "message": message,
        "status": code_status,
    }})
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn handle(state: &Mutex<State>, pk: &[u8], req: Req) -> Resp {
    if req.path == "/token" {
        return token(state, pk, &req);
    }
    let mut s = state.lock().unwrap();
    s.log.push(format!("{} {}", req.method, req.path));
    if let Some(f) = s.forced.pop_front() {
        let headers: Vec<(&str, &str)> = f
            .retry_after
            .map(|r| vec![("retry-after", r)])
            .unwrap_or_default();
        return json(
            f.status,
            &google_error(f.status, f.reason, "forced by the test"),
            &headers,
        );
    }
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string));
    let valid = bearer
        .as_ref()
        .and_then(|t| s.tokens.get(t))
        .is_some_and(|until| Instant::now() < *until);
    if !valid {
        return json(
            401,
            &google_error(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            ),
            &[(
                "www-authenticate",
                "Bearer realm=\"https://accounts.google.com/\"",
            )],
        );
    }
    let query = form_decode(req.query.as_deref().unwrap_or(""));
    let path = req.path.clone();
    if let Some(rest) = path.strip_prefix("/drive/v3/files/") {
        if req.method != Method::GET {
            return json(405, &google_error(405, "methodNotAllowed", "method"), &[]);
        }
        let (id, export) = match rest.strip_suffix("/export") {
            Some(id) => (percent_decode(id), true),
            None => (percent_decode(rest), false),
        };
        let Some(f) = s.files.get(&id).cloned() else {
            return json(
                404,
                &google_error(404, "notFound", &format!("File not found: {id}.")),
                &[],
            );
        };
        if export {
            let want = query.get("mimeType").map(String::as_str).unwrap_or("");
            let ok = matches!(
                (f.mime.as_str(), want),
                (SHEET_MIME, "text/csv") | (DOC_MIME, "text/plain")
            );
            if !ok {
                return json(
                    400,
                    &google_error(
                        400,
                        "badRequest",
                        "The requested conversion is not supported.",
                    ),
                    &[],
                );
            }
            if f.content.len() > 10 * 1024 * 1024 {
                return json(
                    403,
                    &google_error(
                        403,
                        "exportSizeLimitExceeded",
                        "This file is too large to be exported.",
                    ),
                    &[],
                );
            }
            return hyper::Response::builder()
                .status(200)
                .header("content-type", want)
                .body(http_body_util::Full::new(hyper::body::Bytes::from(
                    f.content,
                )))
                .unwrap();
        }
        let Some(fields) = query.get("fields") else {
            // Without `fields` Drive v3 returns only id, name, mimeType, kind: no version.
            return json(
                200,
                &json!({"kind": "drive#file", "id": id, "name": f.name, "mimeType": f.mime}),
                &[],
            );
        };
        let all = json!({
            "kind": "drive#file", "id": id, "name": f.name, "mimeType": f.mime,
            "version": f.version.to_string(), "modifiedTime": f.modified,
        });
        let mut out = serde_json::Map::new();
        for k in fields.split(',') {
            if let Some(v) = all.get(k.trim()) {
                out.insert(k.trim().to_string(), v.clone());
            }
        }
        return json(200, &Value::Object(out), &[]);
    }
    let Some(rest) = path.strip_prefix(&format!("/v4/spreadsheets/{SPREADSHEET}/")) else {
        return json(
            404,
            &google_error(404, "notFound", "Requested entity was not found."),
            &[],
        );
    };
    if rest == "values:batchUpdate" && req.method == Method::POST {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return json(
                400,
                &google_error(400, "badRequest", "Invalid JSON payload received."),
                &[],
            );
        };
        match body["valueInputOption"].as_str() {
            Some("RAW" | "USER_ENTERED") => {}
            _ => {
                return json(
                    400,
                    &google_error(
                        400,
                        "badRequest",
                        "Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED",
                    ),
                    &[],
                );
            }
        }
        let Some(data) = body["data"].as_array() else {
            return json(
                400,
                &google_error(400, "badRequest", "data is required"),
                &[],
            );
        };
        let mut responses = Vec::new();
        for d in data {
            let range = d["range"].as_str().unwrap_or("");
            let Some((col, row)) = parse_a1(range.rsplit('!').next().unwrap_or("")) else {
                return json(
                    400,
                    &google_error(
                        400,
                        "badRequest",
                        &format!("Unable to parse range: {range}"),
                    ),
                    &[],
                );
            };
            let Some(v) = d["values"][0][0].as_str() else {
                return json(
                    400,
                    &google_error(400, "badRequest", "values must be [[string]]"),
                    &[],
                );
            };
            while s.sheet.len() <= row {
                s.sheet.push(Vec::new());
            }
            let r = &mut s.sheet[row];
            while r.len() <= col {
                r.push(String::new());
            }
            r[col] = v.to_string();
            responses.push(
                json!({"spreadsheetId": SPREADSHEET, "updatedRange": format!("Sheet1!{range}"),
                "updatedRows": 1, "updatedColumns": 1, "updatedCells": 1}),
            );
        }
        s.batch_updates.push(body.clone());
        return json(
            200,
            &json!({"spreadsheetId": SPREADSHEET, "totalUpdatedRows": responses.len(),
                "totalUpdatedColumns": responses.len(), "totalUpdatedCells": responses.len(),
                "totalUpdatedSheets": 1, "responses": responses}),
            &[],
        );
    }
    if let Some(range) = rest.strip_prefix("values/")
        && req.method == Method::GET
    {
        let range = percent_decode(range);
        // Sheets trims trailing empty cells and rows.
        let mut rows: Vec<Vec<String>> = s
            .sheet
            .iter()
            .map(|r| {
                let mut r = r.clone();
                while r.last().is_some_and(String::is_empty) {
                    r.pop();
                }
                r
            })
            .collect();
        while rows.last().is_some_and(Vec::is_empty) {
            rows.pop();
        }
        let mut out = json!({"range": format!("Sheet1!{range}"), "majorDimension": "ROWS"});
        if !rows.is_empty() {
            out["values"] = json!(rows);
        }
        return json(200, &out, &[]);
    }
    json(
        404,
        &google_error(404, "notFound", "Requested entity was not found."),
        &[],
    )
}

/// `E12` → (4, 11).
fn parse_a1(a1: &str) -> Option<(usize, usize)> {
    let letters: String = a1.chars().take_while(char::is_ascii_uppercase).collect();
    let digits = &a1[letters.len()..];
    if letters.is_empty() || digits.is_empty() {
        return None;
    }
    let col = letters
        .bytes()
        .fold(0usize, |acc, b| acc * 26 + usize::from(b - b'A' + 1));
    let row: usize = digits.parse().ok()?;
    (row >= 1).then_some((col - 1, row - 1))
}

fn token_error(error: &str, description: &str) -> Resp {
    json(
        400,
        &json!({"error": error, "error_description": description}),
        &[],
    )
}

fn token(state: &Mutex<State>, pk: &[u8], req: &Req) -> Resp {
    let mut s = state.lock().unwrap();
    s.token_requests += 1;
    if req.method != Method::POST
        || !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        return token_error("invalid_request", "Expected a form-encoded POST.");
    }
    let body = String::from_utf8_lossy(&req.body).to_string();
    let form = form_decode(&body);
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return token_error("unsupported_grant_type", "Invalid grant_type.");
    }
    let Some(assertion) = form.get("assertion") else {
        return token_error("invalid_request", "Missing required parameter: assertion");
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return token_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
        );
    }
    let decode = |p: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
    };
    let (Some(header), Some(claims), Ok(sig)) = (
        decode(parts[0]),
        decode(parts[1]),
        URL_SAFE_NO_PAD.decode(parts[2]),
    ) else {
        return token_error("invalid_grant", "Invalid JWT: not base64url JSON.");
    };
    if header["alg"] != "RS256" || header["typ"] != "JWT" {
        return token_error("invalid_grant", "Invalid JWT header.");
    }
    let signed = format!("{}.{}", parts[0], parts[1]);
    if UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pk)
        .verify(signed.as_bytes(), &sig)
        .is_err()
    {
        return token_error("invalid_grant", "Invalid JWT Signature.");
    }
    if claims["iss"] != CLIENT_EMAIL {
        return token_error("invalid_grant", "Invalid issuer.");
    }
    if claims["aud"] != s.token_uri.as_str() {
        return token_error(
            "invalid_grant",
            "Invalid JWT: audience is not the token endpoint.",
        );
    }
    let scope = claims["scope"].as_str().unwrap_or("");
    let scopes: Vec<&str> = scope.split(' ').collect();
    if !scopes.contains(&"https://www.googleapis.com/auth/drive.readonly")
        || !scopes.contains(&"https://www.googleapis.com/auth/spreadsheets")
    {
        return token_error(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return token_error("invalid_grant", "Invalid JWT: iat and exp are required.");
    };
    let now = now_unix();
    if (iat - now).abs() > 300 || exp <= now || exp - iat > 3600 {
        return token_error(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    let n = s.token_requests;
    let t = format!("ya29.fake-token-{n}");
    let life = s.expires_in;
    s.tokens
        .insert(t.clone(), Instant::now() + Duration::from_secs(life));
    json(
        200,
        &json!({"access_token": t, "expires_in": life, "token_type": "Bearer"}),
        &[],
    )
}
