//! Message metadata on the Slack-like server, called as Slack's Web API is called:
//! `chat.postMessage` takes an optional `metadata` (`event_type` + `event_payload`), and
//! `conversations.history` returns it only when asked with `include_all_metadata=true`.

use serde_json::{Value, json};

use crate::slack_server::SlackServer;

const TOKEN: &str = "xoxb-test-metadata";
const CHANNEL: &str = "C0METADATA";

fn client() -> reqwest::Client {
    churn_delivery::http::client_builder().build().unwrap()
}

/// `chat.postMessage` with a JSON body, as the notifier sends it.
async fn post(server: &SlackServer, body: &Value) -> Value {
    client()
        .post(format!("{}chat.postMessage", server.base_url))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `conversations.history` as a form POST with `fields` besides the channel.
async fn history(server: &SlackServer, fields: &[(&str, &str)]) -> Value {
    let mut form = vec![("channel", CHANNEL)];
    form.extend_from_slice(fields);
    client()
        .post(format!("{}conversations.history", server.base_url))
        .bearer_auth(TOKEN)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn message(text: &str) -> Value {
    json!({
        "channel": CHANNEL,
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    })
}

fn with_metadata(text: &str, metadata: Value) -> Value {
    let mut m = message(text);
    m["metadata"] = metadata;
    m
}

fn messages(v: &Value) -> &Vec<Value> {
    assert_eq!(v["ok"], true, "{v}");
    v["messages"].as_array().unwrap()
}

#[tokio::test]
async fn metadata_is_stored_and_read_back_only_with_include_all_metadata() {
    let server = SlackServer::start(TOKEN).await;
    server.add_channel(CHANNEL);
    let meta = json!({
        "event_type": "churn_list_posted",
        "event_payload": {"week": "2026-W48", "owner": "alex@example.com", "part": 1}
    });

    let first = post(&server, &with_metadata("first", meta.clone())).await;
    assert_eq!(first["ok"], true, "{first}");
    let second = post(&server, &message("second")).await;
    assert_eq!(second["ok"], true, "{second}");
    let (ts1, ts2) = (
        first["ts"].as_str().unwrap().to_string(),
        second["ts"].as_str().unwrap().to_string(),
    );

    // Stored with the message.
    assert_eq!(server.message(CHANNEL, &ts1).unwrap()["metadata"], meta);
    assert_eq!(server.message(CHANNEL, &ts2).unwrap().get("metadata"), None);

    // Without include_all_metadata (or with it false): newest first, no metadata anywhere.
    for fields in [&[][..], &[("include_all_metadata", "false")][..]] {
        let got = history(&server, fields).await;
        let msgs = messages(&got);
        let ts: Vec<&str> = msgs.iter().map(|m| m["ts"].as_str().unwrap()).collect();
        assert_eq!(ts, [ts2.as_str(), ts1.as_str()]);
        assert!(
            msgs.iter().all(|m| m.get("metadata").is_none()),
            "{fields:?}: {got}"
        );
    }

    // With include_all_metadata=true: the message posted with metadata carries it, the other not.
    let got = history(&server, &[("include_all_metadata", "true")]).await;
    let msgs = messages(&got);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["ts"], ts2.as_str());
    assert!(msgs[0].get("metadata").is_none(), "{got}");
    assert_eq!(msgs[1]["ts"], ts1.as_str());
    assert_eq!(msgs[1]["metadata"], meta);
    assert_eq!(msgs[1]["text"], "first");

    // Narrowed to one message (oldest = latest = ts, inclusive, limit 1), read as a GET query.
    let got: Value = client()
        .get(format!(
            "{}conversations.history?channel={CHANNEL}&oldest={ts1}&latest={ts1}\
             &inclusive=true&limit=1&include_all_metadata=true",
            server.base_url
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let msgs = messages(&got);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["ts"], ts1.as_str());
    assert_eq!(msgs[0]["metadata"], meta);
    assert_eq!(got["has_more"], false);
}

#[tokio::test]
async fn metadata_without_event_type_or_payload_is_refused() {
    let server = SlackServer::start(TOKEN).await;
    server.add_channel(CHANNEL);
    for bad in [
        json!({"event_payload": {"week": "2026-W48"}}),
        json!({"event_type": "churn_list_posted"}),
        json!({}),
        json!("not json"),
    ] {
        let got = post(&server, &with_metadata("bad", bad.clone())).await;
        assert_eq!(
            got,
            json!({"ok": false, "error": "invalid_metadata_format"}),
            "{bad}"
        );
    }
    // Nothing was posted or stored.
    assert!(server.posted().is_empty());
    let got = history(&server, &[("include_all_metadata", "true")]).await;
    assert!(messages(&got).is_empty(), "{got}");

    // The same metadata as JSON text (as form posts send it) is accepted and stored as an object.
    let meta = json!({"event_type": "churn_list_posted", "event_payload": {"part": 2}});
    let ok = post(&server, &with_metadata("text", json!(meta.to_string()))).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let got = history(&server, &[("include_all_metadata", "true")]).await;
    assert_eq!(messages(&got)[0]["metadata"], meta);
}
