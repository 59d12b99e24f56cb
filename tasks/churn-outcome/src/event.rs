//! Lambda Function URL events (payload format 2.0) to and from [`Request`] / [`Response`], with
//! plain `serde_json` (no events crate).

use serde_json::{Map, Value, json};

use crate::{Request, Response};

/// Reads a Function URL event: `requestContext.http.method`, `rawPath`, `headers`, `body`,
/// `isBase64Encoded`.
pub fn request_from_function_url(event: &Value) -> Result<Request, String> {
    let method = event
        .pointer("/requestContext/http/method")
        .and_then(Value::as_str)
        .ok_or("not a Function URL event: no requestContext.http.method")?;
    let path = event
        .get("rawPath")
        .and_then(Value::as_str)
        .or_else(|| {
            event
                .pointer("/requestContext/http/path")
                .and_then(Value::as_str)
        })
        .ok_or("not a Function URL event: no rawPath")?;
    let headers = event
        .get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let body = event
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body,
        is_base64: event
            .get("isBase64Encoded")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// The Function URL response object.
pub fn response_to_function_url(resp: &Response) -> Value {
    let headers: Map<String, Value> = resp
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "statusCode": resp.status,
        "headers": headers,
        "body": resp.body,
        "isBase64Encoded": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_function_url_event() {
        let e = json!({
            "version": "2.0", "rawPath": "/slack/interactions", "rawQueryString": "",
            "headers": {"X-Slack-Signature": "v0=ab", "content-type": "application/x-www-form-urlencoded"},
            "requestContext": {"http": {"method": "POST", "path": "/slack/interactions"}},
            "body": "cGF5bG9hZD0x", "isBase64Encoded": true
        });
        let r = request_from_function_url(&e).unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/slack/interactions")
        );
        assert_eq!(r.header("x-slack-signature"), Some("v0=ab"));
        assert!(r.is_base64);
        assert_eq!(r.body, b"cGF5bG9hZD0x");
        assert!(request_from_function_url(&json!({"rawPath": "/"})).is_err());
    }

    #[test]
    fn writes_a_function_url_response() {
        let r = Response {
            status: 401,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: String::new(),
        };
        let v = response_to_function_url(&r);
        assert_eq!(v["statusCode"], 401);
        assert_eq!(v["headers"]["content-type"], "text/plain");
        assert_eq!(v["isBase64Encoded"], false);
    }
}
