//! The Monday message (docs/SPEC.md §7): Slack Block Kit (split to Slack's limits) and the email body.

use std::collections::HashSet;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model::{BreakdownEntry, Facts, ListItem};
use crate::notify::links::{LINK_VALID_DAYS, LinkAction, LinkClaims, LinkSigner};
use crate::notify::reason::escape_slack;
use crate::scoring::history::Trends;

/// Slack's limit on blocks per message.
pub const MAX_BLOCKS: usize = 50;
/// Slack's limit on a section's or context element's text.
pub const MAX_TEXT_CHARS: usize = 3000;
/// Slack's limit on a header's text.
pub const MAX_HEADER_CHARS: usize = 150;
/// Slack's limit on a button's `value`.
pub const MAX_BUTTON_VALUE_CHARS: usize = 2000;
/// Slack's limit on `action_id` and `block_id`.
pub const MAX_ID_CHARS: usize = 255;
/// Slack's limit on a button's text.
pub const MAX_BUTTON_TEXT_CHARS: usize = 75;

/// Customers per Slack message: one header plus three blocks each must fit in 50 blocks.
pub const CUSTOMERS_PER_MESSAGE: usize = (MAX_BLOCKS - 1) / 3;

/// The three outcome buttons / links, in the order shown.
const ACTIONS: [(LinkAction, &str); 3] = [
    (LinkAction::ReachedOut, "Reached out"),
    (LinkAction::WonBack, "Won back"),
    (LinkAction::Lost, "Lost"),
];

/// Longer fields are replaced by their [`short_hash`] in a button value that would otherwise
/// exceed 2,000 characters.
const VALUE_FIELD_MAX_CHARS: usize = 64;

/// Ids longer than this use `h:{short_hash(id)}` as their actions `block_id`.
const BLOCK_ID_FIELD_MAX_CHARS: usize = 200;

/// Budget for the (escaped) reason in a section; 5× the 200-character reason, so a valid reason
/// is never cut even if every character is `&`.
const REASON_BUDGET_CHARS: usize = 1200;

/// An owner's list for one week.
#[derive(Debug, Clone)]
pub struct OwnerList<'a> {
    /// ISO week id, `2026-W48`.
    pub week: &'a str,
    /// The run's local date, `2026-11-23`.
    pub as_of: &'a str,
    /// Owner email (lower-cased).
    pub owner: &'a str,
    pub items: &'a [ListItem],
    /// How each customer's score moved, by id (a list sent before history has none).
    pub trends: Option<&'a Trends>,
    /// Customers left off as gone (the gone rule, docs/SPEC.md §3): said at the end, never named.
    pub gone: usize,
}

impl OwnerList<'_> {
    /// ` (up 25 in 3 weeks)` for a customer with a trend, else empty.
    fn trend_text(&self, customer_id: &str) -> String {
        self.trends
            .and_then(|t| t.get(customer_id))
            .map(|t| format!(" ({})", t.sentence()))
            .unwrap_or_default()
    }
}

/// One email, ready for SES or the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailBody {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The `chat.postMessage` bodies for a list: `{"channel", "text", "blocks"}` each, every message
/// within 50 blocks, every text within its limit, every button value within 2,000 characters.
/// Per customer: a section (name, band, score, reason), a context line (the breakdown) and an
/// actions block with Reached out / Won back / Lost (`action_id`s `reached_out`, `won_back`,
/// `lost`; `value` a small JSON `{"c": customer_id, "w": week, "v": rules_version}`).
///
/// - An empty list gives no messages.
/// - The first message starts with a header `Week 2026-W48 · 7 customers to look at`; a long
///   list is split by whole customers ([`CUSTOMERS_PER_MESSAGE`] each), and every further message
///   starts with `Week 2026-W48 · continued (2 of 3)`.
/// - Names, reasons and breakdowns are customer-controlled or model-written: they go out as
///   `plain_text` (`emoji: false`), which Slack shows as typed — a name like
///   `https://evil.example/login` is not linked, `*URGENT*` is not bold, `<!channel>` mentions
///   no one. The section reads `{name} — {band} · score {score}` then the reason on a new line.
/// - The actions `block_id` is `c:{customer_id}`, or `h:{short_hash(customer_id)}` for ids over
///   200 characters; a repeated id in one message gets a `:2`, `:3`… suffix.
/// - Button values: when the JSON (with room for an Undo's `"t"`) would exceed 2,000
///   characters, the week and rules version, when over 64 characters, are replaced by their
///   [`short_hash`] (`"wh"`, `"vh"`); the customer id stays whole whenever it then fits (ids of
///   up to about 1,900 characters), else it too becomes `"ch"`, which the handler resolves by
///   hashing the ids on the week's sent lists (`OutcomeStore::listed_ids`).
pub fn slack_messages(list: &OwnerList<'_>, channel: &str) -> Vec<Value> {
    if list.items.is_empty() {
        return Vec::new();
    }
    let chunks: Vec<&[ListItem]> = list.items.chunks(CUSTOMERS_PER_MESSAGE).collect();
    let parts = chunks.len();
    let count = count_phrase(list.items.len());
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let (header, fallback) = if i == 0 {
                (
                    format!("Week {} · {count}", one_line(list.week)),
                    format!("Churn list for week {}: {count}", one_line(list.week)),
                )
            } else {
                (
                    format!(
                        "Week {} · continued ({} of {parts})",
                        one_line(list.week),
                        i + 1
                    ),
                    format!(
                        "Churn list for week {}: {count} (continued, {} of {parts})",
                        one_line(list.week),
                        i + 1
                    ),
                )
            };
            let mut blocks = vec![json!({
                "type": "header",
                "text": {"type": "plain_text", "text": truncate_chars(&header, MAX_HEADER_CHARS)},
            })];
            let mut block_ids = HashSet::new();
            for item in *chunk {
                let trend = list.trend_text(&item.customer_id);
                blocks.extend(customer_blocks(item, list.week, &trend, &mut block_ids));
            }
            if i + 1 == parts
                && let Some(note) = gone_note(list.gone)
            {
                blocks.push(json!({
                    "type": "context",
                    "elements": [plain_text(&note)],
                }));
            }
            json!({
                "channel": channel,
                "text": escape_within(&fallback, MAX_TEXT_CHARS),
                "blocks": blocks,
                "metadata": list_metadata(list.week, list.owner, i + 1, parts),
            })
        })
        .collect()
}

/// The line saying how many customers were left off as gone (docs/SPEC.md §3), if any.
pub fn gone_note(gone: usize) -> Option<String> {
    match gone {
        0 => None,
        1 => Some(
            "1 more customer has been silent so long they count as gone (the rules' `gone after`), so \
             they are not on this list. Mark them Lost if they are gone for good."
                .into(),
        ),
        n => Some(format!(
            "{n} more customers have been silent so long they count as gone (the rules' `gone \
             after`), so they are not on this list. Mark them Lost if they are gone for good."
        )),
    }
}

/// [`email`] with a note at the top of both parts (a Slack fallback, or a takeover's "an earlier
/// attempt may already have arrived").
pub fn email_with_note(
    list: &OwnerList<'_>,
    signer: &LinkSigner,
    base_url: &str,
    now: i64,
    note: Option<&str>,
) -> EmailBody {
    let mut body = email(list, signer, base_url, now);
    if let Some(n) = note.map(str::trim).filter(|n| !n.is_empty()) {
        let n = one_line(n);
        body.text = format!("({n}.)\n\n{}", body.text);
        body.html = body.html.replacen(
            "<p>Hello,</p>",
            &format!(
                "<p style=\"color:#8a4b00\">({}.)</p>\n<p>Hello,</p>",
                html_escape(&n)
            ),
            1,
        );
    }
    body
}

/// The Slack message metadata `event_type` every list message carries (docs/SPEC.md §4).
pub const LIST_METADATA_EVENT: &str = "churn_weekly_list";

/// The metadata of part `part` (1-based) of `parts` of (week, owner)'s list: how a run that takes
/// over a crashed sender's claim finds, with `conversations.history`, what is already posted.
pub fn list_metadata(week: &str, owner: &str, part: usize, parts: usize) -> Value {
    json!({
        "event_type": LIST_METADATA_EVENT,
        "event_payload": {"week": week, "owner": owner, "part": part, "parts": parts},
    })
}

/// The part number (1-based) when `metadata` marks a message of (week, owner)'s list.
pub fn list_metadata_part(metadata: &Value, week: &str, owner: &str) -> Option<usize> {
    if metadata.get("event_type")?.as_str()? != LIST_METADATA_EVENT {
        return None;
    }
    let p = metadata.get("event_payload")?;
    let same =
        p.get("week")?.as_str()? == week && p.get("owner")?.as_str()?.eq_ignore_ascii_case(owner);
    let part = p.get("part")?.as_u64()?;
    (same && part >= 1).then_some(part as usize)
}

/// The section, context and actions blocks of one customer.
fn customer_blocks(
    item: &ListItem,
    week: &str,
    trend: &str,
    block_ids: &mut HashSet<String>,
) -> [Value; 3] {
    let head_tail = format!(" — {} · score {}{trend}\n", item.band, item.score);
    let reason = truncate_chars(&one_line(&item.reason), REASON_BUDGET_CHARS);
    // name + head_tail + reason ≤ 3000.
    let name_budget =
        MAX_TEXT_CHARS.saturating_sub(head_tail.chars().count() + reason.chars().count());
    let name = truncate_chars(&display_name(item), name_budget);
    // Customer-controlled text (names, text columns, the reason) goes out as plain_text, which
    // Slack neither links nor formats nor parses for mentions (docs/SPEC.md §7).
    let section = json!({
        "type": "section",
        "text": plain_text(&format!("{name}{head_tail}{reason}")),
    });

    let context = json!({
        "type": "context",
        "elements": [plain_text(&truncate_chars(
            &breakdown_line(&item.breakdown),
            MAX_TEXT_CHARS
        ))],
    });

    let value = button_value(&item.customer_id, week, &item.rules_version);
    let buttons: Vec<Value> = ACTIONS
        .iter()
        .map(|(action, label)| {
            let mut b = json!({
                "type": "button",
                "text": {"type": "plain_text", "text": label},
                "action_id": action.as_str(),
                "value": value,
            });
            match action {
                LinkAction::WonBack => b["style"] = json!("primary"),
                LinkAction::Lost => b["style"] = json!("danger"),
                LinkAction::ReachedOut | LinkAction::Undo => {}
            }
            b
        })
        .collect();
    let actions = json!({
        "type": "actions",
        "block_id": unique_block_id(&item.customer_id, block_ids),
        "elements": buttons,
    });
    [section, context, actions]
}

/// A `plain_text` text object (emoji codes shown as typed): customer-controlled text in Block Kit.
pub fn plain_text(text: &str) -> Value {
    json!({"type": "plain_text", "text": text, "emoji": false})
}

/// `c:{id}` (or `h:{hash}` for long ids), made unique within one message.
fn unique_block_id(customer_id: &str, taken: &mut HashSet<String>) -> String {
    let base = if customer_id.chars().count() <= BLOCK_ID_FIELD_MAX_CHARS {
        format!("c:{customer_id}")
    } else {
        format!("h:{}", short_hash(customer_id))
    };
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{base}:{n}");
        n += 1;
    }
    taken.insert(id.clone());
    id
}

/// The button value `{"c": customer_id, "w": week, "v": rules_version}`, within 2,000
/// characters (see [`slack_messages`] for the hashed form).
fn button_value(customer_id: &str, week: &str, rules_version: &str) -> String {
    let full = ButtonValue {
        c: Some(customer_id),
        w: Some(week),
        v: Some(rules_version),
        ..ButtonValue::default()
    };
    let full = full.to_json();
    if full.chars().count() + UNDO_TS_ROOM <= MAX_BUTTON_VALUE_CHARS {
        return full;
    }
    let short = |f: &str| f.chars().count() <= VALUE_FIELD_MAX_CHARS;
    let (ch, wh, vh) = (
        short_hash(customer_id),
        short_hash(week),
        short_hash(rules_version),
    );
    // The week and rules version are hashed first: the customer id is what the handler needs,
    // so it stays whole whenever it fits (with room for an Undo's `"t"`).
    let without_id = ButtonValue {
        c: Some(customer_id),
        w: short(week).then_some(week),
        wh: (!short(week)).then_some(wh.as_str()),
        v: short(rules_version).then_some(rules_version),
        vh: (!short(rules_version)).then_some(vh.as_str()),
        ..ButtonValue::default()
    };
    let value = without_id.to_json();
    if value.chars().count() + UNDO_TS_ROOM <= MAX_BUTTON_VALUE_CHARS {
        return value;
    }
    ButtonValue {
        c: None,
        ch: Some(ch.as_str()),
        ..without_id
    }
    .to_json()
}

/// Room kept in a button value for the `,"t":"<audit ts>"` an Undo adds.
const UNDO_TS_ROOM: usize = 48;

/// A button value; a struct (not a map) so the keys keep their order: `c`, `w`, `v`.
#[derive(Default, serde::Serialize)]
struct ButtonValue<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ch: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    w: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wh: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vh: Option<&'a str>,
}

impl ButtonValue<'_> {
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings serialises")
    }
}

/// A short, stable reference to a long string: the first 16 bytes of its SHA-256, as 32
/// lower-case hex digits. Used in block ids and button values for pathological ids.
pub fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The name to show: the customer's name, or its id when the name is blank.
fn display_name(item: &ListItem) -> String {
    let name = one_line(item.name.trim());
    if name.trim().is_empty() {
        one_line(&item.customer_id)
    } else {
        name
    }
}

/// The breakdown in one plain line:
/// `overdue 40 (2.1×: 64 days since the last order, usually every 30 days) · mood 25 (sour)`.
fn breakdown_line(breakdown: &[BreakdownEntry]) -> String {
    if breakdown.is_empty() {
        return "no breakdown".to_string();
    }
    breakdown
        .iter()
        .map(|e| {
            let detail = e.detail.trim();
            let detail = match &e.facts {
                Facts::Overdue { ratio, .. } if ratio.is_finite() => {
                    let r = format!("{ratio:.1}×");
                    if detail.is_empty() {
                        r
                    } else if detail.starts_with(&r) {
                        detail.to_string()
                    } else {
                        format!("{r}: {detail}")
                    }
                }
                Facts::NoData if detail.is_empty() => "no data".to_string(),
                _ => detail.to_string(),
            };
            if detail.is_empty() {
                format!("{} {}", e.signal, e.points)
            } else {
                format!("{} {} ({detail})", e.signal, e.points)
            }
        })
        .map(|s| one_line(&s))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `7 customers to look at` / `1 customer to look at`.
fn count_phrase(n: usize) -> String {
    match n {
        0 => "no customers to look at".to_string(),
        1 => "1 customer to look at".to_string(),
        n => format!("{n} customers to look at"),
    }
}

/// Replaces control characters (newlines included) with spaces, so user text stays on its line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// At most `max` characters, cut with `…`.
fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

/// Slack-escapes `raw` into at most `max` characters, cutting with `…` between escapes (never
/// inside an `&amp;`).
fn escape_within(raw: &str, max: usize) -> String {
    let full = escape_slack(raw);
    if full.chars().count() <= max {
        return full;
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    let mut buf = [0u8; 4];
    for c in raw.chars() {
        let piece = escape_slack(c.encode_utf8(&mut buf));
        let len = piece.chars().count();
        if used + len + 1 > max {
            break;
        }
        out.push_str(&piece);
        used += len;
    }
    out.push('…');
    out
}

/// Checks a `chat.postMessage` body against Slack's limits: 1–50 blocks; header ≤ 150
/// characters; section and context texts ≤ 3,000; button text ≤ 75, `value` ≤ 2,000,
/// `action_id` ≤ 255 and unique within its block; `block_id` ≤ 255 and unique within the
/// message; a `channel` and a fallback `text`. Only the block types this crate sends (and
/// `divider`) are accepted.
pub fn validate_message(body: &Value) -> Result<(), String> {
    let obj = body.as_object().ok_or("the body is not a JSON object")?;
    match obj.get("channel").and_then(Value::as_str) {
        Some(c) if !c.is_empty() => {}
        _ => return Err("`channel` is missing or empty".into()),
    }
    let text = obj
        .get("text")
        .and_then(Value::as_str)
        .ok_or("the fallback `text` is missing")?;
    check_len("fallback text", text, MAX_TEXT_CHARS)?;
    let blocks = obj
        .get("blocks")
        .and_then(Value::as_array)
        .ok_or("`blocks` is missing or not an array")?;
    if blocks.is_empty() || blocks.len() > MAX_BLOCKS {
        return Err(format!(
            "{} blocks; a message needs 1 to {MAX_BLOCKS}",
            blocks.len()
        ));
    }
    let mut block_ids = HashSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let at = |what: &str| format!("block {i}: {what}");
        let kind = block
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| at("no `type`"))?;
        if let Some(id) = block.get("block_id") {
            let id = id
                .as_str()
                .ok_or_else(|| at("`block_id` is not a string"))?;
            check_len(&at("block_id"), id, MAX_ID_CHARS)?;
            if id.is_empty() || !block_ids.insert(id) {
                return Err(at(&format!("`block_id` {id:?} is empty or repeated")));
            }
        }
        match kind {
            "header" => {
                let t = text_of(block.get("text")).ok_or_else(|| at("header without text"))?;
                if block.pointer("/text/type").and_then(Value::as_str) != Some("plain_text") {
                    return Err(at("header text must be plain_text"));
                }
                check_len(&at("header"), t, MAX_HEADER_CHARS)?;
            }
            "section" => {
                let t = text_of(block.get("text")).ok_or_else(|| at("section without text"))?;
                check_len(&at("section text"), t, MAX_TEXT_CHARS)?;
            }
            "context" => {
                let elements = block
                    .get("elements")
                    .and_then(Value::as_array)
                    .ok_or_else(|| at("context without elements"))?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err(at("a context needs 1 to 10 elements"));
                }
                for e in elements {
                    let t = text_of(Some(e)).ok_or_else(|| at("context element without text"))?;
                    check_len(&at("context text"), t, MAX_TEXT_CHARS)?;
                }
            }
            "actions" => {
                let elements = block
                    .get("elements")
                    .and_then(Value::as_array)
                    .ok_or_else(|| at("actions without elements"))?;
                if elements.is_empty() || elements.len() > 25 {
                    return Err(at("an actions block needs 1 to 25 elements"));
                }
                let mut action_ids = HashSet::new();
                for e in elements {
                    if e.get("type").and_then(Value::as_str) != Some("button") {
                        return Err(at("only buttons are expected in actions"));
                    }
                    let t = text_of(e.get("text")).ok_or_else(|| at("button without text"))?;
                    check_len(&at("button text"), t, MAX_BUTTON_TEXT_CHARS)?;
                    let id = e
                        .get("action_id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| at("button without action_id"))?;
                    check_len(&at("action_id"), id, MAX_ID_CHARS)?;
                    if id.is_empty() || !action_ids.insert(id) {
                        return Err(at(&format!("`action_id` {id:?} is empty or repeated")));
                    }
                    if let Some(v) = e.get("value") {
                        let v = v
                            .as_str()
                            .ok_or_else(|| at("button value is not a string"))?;
                        check_len(&at("button value"), v, MAX_BUTTON_VALUE_CHARS)?;
                    }
                    if let Some(style) = e.get("style")
                        && !matches!(style.as_str(), Some("primary" | "danger"))
                    {
                        return Err(at("button style must be primary or danger"));
                    }
                }
            }
            "divider" => {}
            other => return Err(at(&format!("unexpected block type {other:?}"))),
        }
    }
    Ok(())
}

/// The `text` of a text object (`{"type": …, "text": …}`).
fn text_of(obj: Option<&Value>) -> Option<&str> {
    obj?.get("text")?.as_str()
}

fn check_len(what: &str, s: &str, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if s.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if n > max {
        return Err(format!("{what} is {n} characters; at most {max}"));
    }
    Ok(())
}

/// The email: the same list as HTML (escaped) and plain text, each action a signed link
/// `{base_url}/o/{token}` valid for 14 days from `now` (unix seconds). The output depends only
/// on the inputs.
pub fn email(list: &OwnerList<'_>, signer: &LinkSigner, base_url: &str, now: i64) -> EmailBody {
    let base = base_url.trim_end_matches('/');
    let expires = now.saturating_add(LINK_VALID_DAYS * 86_400);
    let week = one_line(list.week);
    let count = count_phrase(list.items.len());
    let subject = format!("Churn list for week {week}: {count}");
    let intro = format!(
        "Your churn list for week {week} (as of {}): {count}. These customers look like they \
         may be slipping away; each line says why.",
        one_line(list.as_of)
    );
    let footer = [
        format!(
            "These links expire in {LINK_VALID_DAYS} days. Opening a link asks you to confirm \
             before anything is recorded."
        ),
        "Nothing was sent to the customers on this list.".to_string(),
    ];

    let mut text = format!("Hello,\n\n{intro}\n");
    let mut rows = String::new();
    for (n, item) in list.items.iter().enumerate() {
        let name = display_name(item);
        let reason = one_line(&item.reason);
        let breakdown = breakdown_line(&item.breakdown);
        let links: Vec<(&str, String)> = ACTIONS
            .iter()
            .map(|(action, label)| {
                let token = signer.sign(&LinkClaims {
                    customer_id: item.customer_id.clone(),
                    action: *action,
                    owner: list.owner.to_string(),
                    expires,
                });
                (*label, format!("{base}/o/{token}"))
            })
            .collect();

        let trend = list.trend_text(&item.customer_id);
        let trend_html = list
            .trends
            .and_then(|t| t.get(&item.customer_id))
            .map(|t| {
                format!(
                    "<br><span style=\"color:#666;font-size:12px;white-space:nowrap\">{}</span>",
                    html_escape(&t.sentence())
                )
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "\n{}. {name} — {} · score {}{trend}\n   {reason}\n   Breakdown: {breakdown}\n",
            n + 1,
            item.band,
            item.score
        ));
        for (label, url) in &links {
            text.push_str(&format!("   {label}: {url}\n"));
        }

        let anchors: Vec<String> = links
            .iter()
            .map(|(label, url)| {
                format!(
                    "<a href=\"{}\" style=\"color:#1a5fb4\">{}</a>",
                    html_escape(url),
                    html_escape(label)
                )
            })
            .collect();
        rows.push_str(&format!(
            "<tr>\
             <td style=\"{TD}\"><strong>{}</strong></td>\
             <td style=\"{TD}\">{}</td>\
             <td style=\"{TD};text-align:right\">{}{}</td>\
             <td style=\"{TD}\">{}<br><span style=\"color:#666;font-size:12px\">{}</span></td>\
             <td style=\"{TD};white-space:nowrap\">{}</td>\
             </tr>\n",
            html_escape(&name),
            html_escape(item.band.as_str()),
            item.score,
            trend_html,
            html_escape(&reason),
            html_escape(&breakdown),
            anchors.join(" · ")
        ));
    }
    let gone = gone_note(list.gone);
    if let Some(note) = &gone {
        text.push_str(&format!("\n{note}\n"));
    }
    text.push_str("\n--\n");
    for line in &footer {
        text.push_str(line);
        text.push('\n');
    }

    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"font-family:Arial,Helvetica,sans-serif;color:#222;font-size:14px\">\n\
         <p>Hello,</p>\n<p>{intro}</p>\n\
         <table style=\"border-collapse:collapse;width:100%;max-width:900px\">\n\
         <tr><th style=\"{TH}\">Customer</th><th style=\"{TH}\">Band</th>\
         <th style=\"{TH}\">Score</th><th style=\"{TH}\">Why</th><th style=\"{TH}\">Record</th></tr>\n\
         {rows}</table>\n{gone}\
         <p style=\"color:#666;font-size:12px\">{f0}<br>{f1}</p>\n</body></html>\n",
        gone = gone.map_or(String::new(), |n| format!("<p>{}</p>\n", html_escape(&n))),
        title = html_escape(&subject),
        intro = html_escape(&intro),
        f0 = html_escape(&footer[0]),
        f1 = html_escape(&footer[1]),
    );
    EmailBody {
        subject,
        html,
        text,
    }
}

/// Inline style of a table cell / header cell.
const TD: &str = "padding:6px 8px;border-bottom:1px solid #ddd;vertical-align:top";
const TH: &str = "padding:6px 8px;border-bottom:2px solid #999;text-align:left";

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Band, Fact};
    use crate::notify::links::LinkError;

    const WEEK: &str = "2026-W48";
    const NOW: i64 = 1_764_000_000;

    fn breakdown() -> Vec<BreakdownEntry> {
        vec![
            BreakdownEntry {
                signal: "overdue".into(),
                points: 40,
                value: Some(Fact::Number(2.13)),
                detail: "64 days since the last order, usually every 30 days".into(),
                facts: Facts::Overdue {
                    ratio: 64.0 / 30.0,
                    days: 64,
                    pace: 30.0,
                },
            },
            BreakdownEntry {
                signal: "mood".into(),
                points: 25,
                value: Some(Fact::Number(-0.45)),
                detail: "sour".into(),
                facts: Facts::Mood {
                    mood: -0.45,
                    label: "sour".into(),
                },
            },
            BreakdownEntry {
                signal: "silent".into(),
                points: 0,
                value: None,
                detail: String::new(),
                facts: Facts::NoData,
            },
        ]
    }

    fn item(i: usize) -> ListItem {
        ListItem {
            customer_id: format!("C-{i}"),
            name: format!("Customer {i}"),
            band: if i.is_multiple_of(2) {
                Band::Churning
            } else {
                Band::AtRisk
            },
            score: 65,
            reason: "Next order is late: 2.1× the usual pace (64 days since the last order, \
                     usually 30); support mood sour."
                .into(),
            breakdown: breakdown(),
            lifetime_value: None,
            rules_version: "r-7f3a".into(),
        }
    }

    fn items(n: usize) -> Vec<ListItem> {
        (1..=n).map(item).collect()
    }

    fn list(items: &[ListItem]) -> OwnerList<'_> {
        OwnerList {
            week: WEEK,
            as_of: "2026-11-23",
            owner: "dana@example.com",
            items,
            trends: None,
            gone: 0,
        }
    }

    fn blocks(m: &Value) -> &Vec<Value> {
        m["blocks"].as_array().unwrap()
    }

    /// Customer ids in message order, read back from the button values.
    fn customers_in(m: &Value) -> Vec<String> {
        blocks(m)
            .iter()
            .filter(|b| b["type"] == "actions")
            .map(|b| {
                let v: Value =
                    serde_json::from_str(b["elements"][0]["value"].as_str().unwrap()).unwrap();
                v["c"].as_str().unwrap().to_string()
            })
            .collect()
    }

    #[test]
    fn three_customers_one_message() {
        let its = items(3);
        let msgs = slack_messages(&list(&its), "D123");
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        validate_message(m).unwrap();
        assert_eq!(m["channel"], "D123");
        assert_eq!(
            list_metadata_part(
                &m["metadata"],
                "2026-W48",
                &m["metadata"]["event_payload"]["owner"]
                    .as_str()
                    .unwrap()
                    .to_uppercase()
            ),
            Some(1),
            "every message carries its list's metadata"
        );
        assert_eq!(list_metadata_part(&m["metadata"], "2026-W47", "x"), None);
        assert_eq!(
            m["text"],
            "Churn list for week 2026-W48: 3 customers to look at"
        );
        let b = blocks(m);
        assert_eq!(b.len(), 1 + 3 * 3);
        assert_eq!(b[0]["type"], "header");
        assert_eq!(b[0]["text"]["type"], "plain_text");
        assert_eq!(
            b[0]["text"]["text"],
            "Week 2026-W48 · 3 customers to look at"
        );
        let kinds: Vec<&str> = b[1..].iter().map(|x| x["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["section", "context", "actions"].repeat(3));

        assert_eq!(b[1]["text"]["type"], "plain_text");
        assert_eq!(
            b[1]["text"]["text"],
            "Customer 1 — at-risk · score 65\nNext order is late: 2.1× the usual pace (64 \
             days since the last order, usually 30); support mood sour."
        );
        assert_eq!(b[2]["elements"][0]["type"], "plain_text");
        assert_eq!(
            b[2]["elements"][0]["text"],
            "overdue 40 (2.1×: 64 days since the last order, usually every 30 days) · mood 25 \
             (sour) · silent 0 (no data)"
        );
        let actions = &b[3];
        assert_eq!(actions["block_id"], "c:C-1");
        let buttons = actions["elements"].as_array().unwrap();
        let ids: Vec<&str> = buttons
            .iter()
            .map(|x| x["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["reached_out", "won_back", "lost"]);
        let labels: Vec<&str> = buttons
            .iter()
            .map(|x| x["text"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["Reached out", "Won back", "Lost"]);
        assert!(buttons[0].get("style").is_none());
        assert_eq!(buttons[1]["style"], "primary");
        assert_eq!(buttons[2]["style"], "danger");
        assert_eq!(customers_in(m), ["C-1", "C-2", "C-3"]);
    }

    #[test]
    fn button_value_parses_back() {
        let its = items(1);
        let m = &slack_messages(&list(&its), "D1")[0];
        let raw = blocks(m)[3]["elements"][1]["value"].as_str().unwrap();
        assert_eq!(raw, r#"{"c":"C-1","w":"2026-W48","v":"r-7f3a"}"#);
        let v: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(v, json!({"c": "C-1", "w": WEEK, "v": "r-7f3a"}));
        assert_eq!(
            m["text"],
            "Churn list for week 2026-W48: 1 customer to look at"
        );
    }

    #[test]
    fn repeated_customer_gets_unique_block_ids() {
        let its = vec![item(1), item(1), item(1)];
        let m = &slack_messages(&list(&its), "D1")[0];
        validate_message(m).unwrap();
        let ids: Vec<&str> = blocks(m)
            .iter()
            .filter_map(|b| b.get("block_id").and_then(Value::as_str))
            .collect();
        assert_eq!(ids, ["c:C-1", "c:C-1:2", "c:C-1:3"]);
    }

    #[test]
    fn the_gone_are_counted_at_the_end_never_named() {
        // 20 names: two messages; the note closes the last one, within 50 blocks.
        let items = items(20);
        let mut l = list(&items);
        l.gone = 3;
        let msgs = slack_messages(&l, "D1");
        assert_eq!(msgs.len(), 2);
        let last = blocks(&msgs[1]);
        assert!(last.len() <= 50);
        let note = last.last().unwrap();
        assert_eq!(note["type"], "context");
        assert!(
            note["elements"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("3 more customers have been silent"),
            "{note}"
        );
        assert!(
            !blocks(&msgs[0])
                .iter()
                .any(|b| b["type"] == "context" && b.to_string().contains("count as gone"))
        );
        let e = email(&l, &signer(), "https://x.example", 0);
        assert!(e.text.contains("3 more customers have been silent"));
        assert!(e.html.contains("3 more customers have been silent"));
        // None gone: no note.
        let none = slack_messages(&list(&items), "D1");
        assert!(!none[1].to_string().contains("count as gone"));
        assert!(
            !email(&list(&items), &signer(), "https://x.example", 0)
                .text
                .contains("count as gone")
        );
        assert_eq!(
            gone_note(1).unwrap()[..32],
            *"1 more customer has been silent "
        );
    }

    #[test]
    fn empty_list_sends_nothing() {
        assert!(slack_messages(&list(&[]), "D1").is_empty());
    }

    #[test]
    fn forty_customers_split_by_whole_customers() {
        let its = items(40);
        let msgs = slack_messages(&list(&its), "D1");
        assert_eq!(msgs.len(), 3);
        let mut seen = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            validate_message(m).unwrap();
            let b = blocks(m);
            assert!(b.len() <= MAX_BLOCKS);
            assert_eq!((b.len() - 1) % 3, 0);
            let header = b[0]["text"]["text"].as_str().unwrap();
            if i == 0 {
                assert_eq!(header, "Week 2026-W48 · 40 customers to look at");
            } else {
                assert_eq!(
                    header,
                    format!("Week 2026-W48 · continued ({} of 3)", i + 1)
                );
                assert_eq!(
                    m["text"],
                    format!(
                        "Churn list for week 2026-W48: 40 customers to look at (continued, {} \
                         of 3)",
                        i + 1
                    )
                );
            }
            // Each customer's three blocks stay together.
            for triple in b[1..].chunks(3) {
                let id = triple[2]["block_id"].as_str().unwrap();
                let name = triple[0]["text"]["text"].as_str().unwrap();
                assert_eq!(
                    format!("Customer {}", &id[4..]),
                    name.split(" —").next().unwrap()
                );
            }
            seen.extend(customers_in(m));
        }
        let expected: Vec<String> = (1..=40).map(|i| format!("C-{i}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn split_boundaries() {
        for (n, parts) in [(16, 1), (17, 2), (32, 2), (33, 3)] {
            let its = items(n);
            let msgs = slack_messages(&list(&its), "D1");
            assert_eq!(msgs.len(), parts, "{n}");
            assert_eq!(blocks(&msgs[0]).len(), 1 + 3 * n.min(16));
            for m in &msgs {
                validate_message(m).unwrap();
            }
        }
    }

    #[test]
    fn hostile_text_stays_within_limits_and_is_escaped() {
        let unit = "<!channel> & <@U123> 🙂 \"quoted\" 'single' <http://x.example|click> *b* ";
        let mut name = unit.repeat(80);
        name.truncate(name.char_indices().nth(5000).unwrap().0);
        assert_eq!(name.chars().count(), 5000);
        let mut it = item(1);
        it.name = name.clone() + "\n<!here>";
        it.customer_id = format!("<!channel>{}", "é".repeat(3000));
        it.reason = "Sour & <!everyone> late".into();
        it.breakdown[1].detail = unit.repeat(100);
        it.rules_version = "v<1>".into();
        let its = vec![it.clone(), it];
        let msgs = slack_messages(&list(&its), "D1");
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        validate_message(m).unwrap();
        let body = m.to_string();
        // Customer text is plain_text: shown as typed, never parsed for mentions or links.
        assert!(!body.contains("mrkdwn"), "no customer text in mrkdwn");
        let b = blocks(m);
        let section = b[1]["text"]["text"].as_str().unwrap();
        assert!(section.chars().count() <= MAX_TEXT_CHARS);
        assert_eq!(b[1]["text"]["type"], "plain_text");
        assert!(section.starts_with("<!channel> & <@U123> 🙂 \"quoted\""));
        assert!(section.contains("… — at-risk · score 65\nSour & <!everyone> late"));
        assert!(!section.contains('\n') || section.matches('\n').count() == 1);
        let context = b[2]["elements"][0]["text"].as_str().unwrap();
        assert_eq!(context.chars().count(), MAX_TEXT_CHARS);
        assert!(context.ends_with('…'));
        // Long ids use a hashed block_id and button value; both stay unique and parse back.
        let id0 = b[3]["block_id"].as_str().unwrap();
        let id1 = b[6]["block_id"].as_str().unwrap();
        assert_ne!(id0, id1);
        assert!(id0.starts_with("h:"));
        let v: Value =
            serde_json::from_str(b[3]["elements"][0]["value"].as_str().unwrap()).unwrap();
        assert_eq!(v["ch"], short_hash(&its[0].customer_id));
        assert_eq!(v["w"], WEEK);
        assert_eq!(v["v"], "v<1>");
        assert!(v.get("c").is_none());
    }

    #[test]
    fn escaping_never_splits_an_entity() {
        let s = escape_within(&"&".repeat(1000), 14);
        assert_eq!(s, "&amp;&amp;…");
        assert_eq!(escape_within("a<b", 10), "a&lt;b");
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
    }

    #[test]
    fn long_ids_stay_whole_in_button_values_when_they_fit() {
        let mut it = item(1);
        it.customer_id = format!("C-{}", "x".repeat(298));
        it.rules_version = "r".repeat(2000);
        let its = vec![it.clone()];
        let m = &slack_messages(&list(&its), "D1")[0];
        validate_message(m).unwrap();
        let actions = &blocks(m)[3];
        assert!(actions["block_id"].as_str().unwrap().starts_with("h:"));
        let v: Value =
            serde_json::from_str(actions["elements"][0]["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            v["c"],
            it.customer_id.as_str(),
            "the 300-character id is whole"
        );
        assert_eq!(v["vh"], short_hash(&it.rules_version));
        // An id that cannot fit becomes `ch`.
        it.customer_id = "y".repeat(1990);
        let its = vec![it.clone()];
        let m = &slack_messages(&list(&its), "D1")[0];
        validate_message(m).unwrap();
        let v: Value =
            serde_json::from_str(blocks(m)[3]["elements"][0]["value"].as_str().unwrap()).unwrap();
        assert_eq!(v["ch"], short_hash(&it.customer_id));
        assert!(v.get("c").is_none());
    }

    #[test]
    fn customer_text_reaches_slack_as_plain_text() {
        let mut it = item(1);
        it.name = "https://evil.example/login *URGENT*".into();
        it.reason = "Sour & late".into();
        it.breakdown[1].detail = "<!here> _x_ www.evil.example".into();
        let its = vec![it];
        let m = &slack_messages(&list(&its), "D1")[0];
        validate_message(m).unwrap();
        let (section, context) = (&blocks(m)[1], &blocks(m)[2]);
        assert_eq!(section["text"]["type"], "plain_text");
        assert_eq!(section["text"]["emoji"], false);
        assert_eq!(
            section["text"]["text"],
            "https://evil.example/login *URGENT* — at-risk · score 65\nSour & late"
        );
        assert_eq!(context["elements"][0]["type"], "plain_text");
        assert!(
            context["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("<!here> _x_ www.evil.example")
        );
        // The row's name reads back as typed (the modals show it).
        assert_eq!(
            crate::notify::slack::row_name(blocks(m), "C-1").as_deref(),
            Some("https://evil.example/login *URGENT*")
        );
    }

    #[test]
    fn validate_message_catches_violations() {
        let its = items(2);
        let good = slack_messages(&list(&its), "D1").remove(0);
        validate_message(&good).unwrap();

        let mut m = good.clone();
        m["blocks"] = json!(vec![json!({"type": "divider"}); 51]);
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"][0]["text"]["text"] = json!("x".repeat(151));
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"][1]["text"]["text"] = json!("x".repeat(3001));
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"][2]["elements"][0]["text"] = json!("x".repeat(3001));
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"][6]["block_id"] = m["blocks"][3]["block_id"].clone();
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"][3]["block_id"] = json!("b".repeat(256));
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"][3]["elements"][0]["value"] = json!("v".repeat(2001));
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"][3]["elements"][0]["action_id"] = json!("a".repeat(256));
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"][3]["elements"][1]["action_id"] = json!("reached_out");
        assert!(validate_message(&m).is_err());

        let mut m = good.clone();
        m["blocks"] = json!([]);
        assert!(validate_message(&m).is_err());

        assert!(validate_message(&json!("not an object")).is_err());
        let mut m = good;
        m.as_object_mut().unwrap().remove("text");
        assert!(validate_message(&m).is_err());
    }

    fn signer() -> LinkSigner {
        LinkSigner::new(b"email link secret")
    }

    #[test]
    fn rows_with_a_trend_say_how_the_score_moved() {
        use crate::scoring::history::{Trend, Trends};
        let items = items(2);
        let trends: Trends = [(
            items[1].customer_id.clone(),
            Trend {
                delta: 25,
                weeks: 3,
            },
        )]
        .into_iter()
        .collect();
        let list = OwnerList {
            trends: Some(&trends),
            ..list(&items)
        };
        let sections: Vec<String> = blocks(&slack_messages(&list, "D1")[0])
            .iter()
            .filter(|b| b["type"] == "section")
            .map(|b| b["text"]["text"].as_str().unwrap().to_string())
            .collect();
        assert!(!sections[0].contains(" in "), "{}", sections[0]);
        assert!(
            sections[1].contains(" · score ") && sections[1].contains(" (up 25 in 3 weeks)\n"),
            "{}",
            sections[1]
        );
        let mail = email(&list, &signer(), "https://o.example", 0);
        assert!(mail.text.contains(" (up 25 in 3 weeks)\n"), "{}", mail.text);
        assert_eq!(mail.text.matches(" weeks)").count(), 1);
        assert!(
            mail.html.contains(">up 25 in 3 weeks</span>"),
            "{}",
            mail.html
        );
    }

    fn tokens_in(text: &str, base: &str) -> Vec<String> {
        let prefix = format!("{base}/o/");
        text.split_whitespace()
            .filter_map(|w| w.strip_prefix(&prefix))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn email_text_and_links() {
        let its = items(3);
        let e = email(&list(&its), &signer(), "https://h.example/", NOW);
        assert_eq!(
            e.subject,
            "Churn list for week 2026-W48: 3 customers to look at"
        );
        assert!(e.text.starts_with("Hello,\n"));
        assert!(e.text.contains("1. Customer 1 — at-risk · score 65\n"));
        assert!(e.text.contains("Next order is late: 2.1×"));
        assert!(e.text.contains("Breakdown: overdue 40 (2.1×: 64 days"));
        assert!(e.text.contains("expire in 14 days"));
        assert!(
            e.text
                .contains("asks you to confirm before anything is recorded")
        );
        assert!(e.text.contains("Nothing was sent to the customers"));
        assert!(!e.text.contains("h.example//o/"));

        let tokens = tokens_in(&e.text, "https://h.example");
        assert_eq!(tokens.len(), 9);
        let expires = NOW + LINK_VALID_DAYS * 86_400;
        for (i, t) in tokens.iter().enumerate() {
            let c = signer().verify(t, NOW).unwrap();
            assert_eq!(c.customer_id, format!("C-{}", i / 3 + 1));
            assert_eq!(c.action, ACTIONS[i % 3].0);
            assert_eq!(c.owner, "dana@example.com");
            assert_eq!(c.expires, expires);
            assert_eq!(signer().verify(t, expires + 1), Err(LinkError::Expired));
            // Every text link is also an anchor in the HTML.
            assert!(
                e.html
                    .contains(&format!("href=\"https://h.example/o/{t}\""))
            );
        }
        // Deterministic for the same inputs.
        assert_eq!(e, email(&list(&its), &signer(), "https://h.example", NOW));
    }

    #[test]
    fn email_html_escapes_user_text() {
        let mut it = item(1);
        it.name = "<script>alert('x')</script> & \"Co\"".into();
        it.reason = "Sour <b>&</b>".into();
        it.breakdown[1].detail = "<img src=x onerror=y>".into();
        let its = vec![it];
        let e = email(&list(&its), &signer(), "https://h.example", NOW);
        assert!(!e.html.contains("<script>"));
        assert!(!e.html.contains("<img"));
        assert!(!e.html.contains("<b>"));
        assert!(
            e.html
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;")
        );
        assert!(e.html.contains("Sour &lt;b&gt;&amp;&lt;/b&gt;"));
        assert!(e.html.contains("<table"));
        // Plain text keeps the name as written, on one line.
        assert!(
            e.text
                .contains("1. <script>alert('x')</script> & \"Co\" — at-risk")
        );
    }

    #[test]
    fn email_name_cannot_forge_lines() {
        let mut it = item(1);
        it.name = "Acme\n   Lost: https://evil.example/o/x".into();
        let its = vec![it];
        let e = email(&list(&its), &signer(), "https://h.example", NOW);
        assert!(!e.text.contains("\n   Lost: https://evil"));
        assert_eq!(tokens_in(&e.text, "https://h.example").len(), 3);
    }

    #[test]
    fn html_escape_covers_five_characters() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
