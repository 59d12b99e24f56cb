//! DynamoDB item <-> domain conversions for `cp-state` and `cp-audit` (`docs/aws-design.md`,
//! Tables). An absent attribute is no value.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use churn_core::model::Band;
use churn_core::outcome::state::{AuditItem, CustomerState, Status};
use jiff::civil::Date;
use serde_json::{Map, Value};

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

/// The stored attribute for a state field given as an audit value: `score` is a number, every
/// other field a string; null is "remove the attribute".
pub(crate) fn field_attr(name: &str, value: &Value) -> Option<AttributeValue> {
    match value {
        Value::Null => None,
        Value::Number(num) if name == "score" => Some(n(num)),
        Value::String(text) => Some(s(text.clone())),
        other => Some(s(other.to_string())),
    }
}

/// A `cp-state` item as a [`CustomerState`]; `Err` names the unreadable attribute.
pub(crate) fn state_from_item(item: &Item) -> Result<CustomerState, String> {
    let customer_id = get_s(item, "customer_id")
        .ok_or("customer_id missing")?
        .to_string();
    let text = |name: &str| get_s(item, name).map(str::to_string);
    let date = |name: &str| -> Result<Option<Date>, String> {
        get_s(item, name)
            .map(|v| v.parse().map_err(|_| format!("{name} is not a date")))
            .transpose()
    };
    let score = match item.get("score") {
        None => None,
        Some(v) => Some(
            v.as_n()
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or("score is not a whole number")?,
        ),
    };
    let band = match get_s(item, "band") {
        None => None,
        Some(b) => Some(Band::parse(b).ok_or("band is not a band")?),
    };
    let status = match get_s(item, "status") {
        None | Some("active") => Status::Active,
        Some("lost") => Status::Lost,
        Some(_) => return Err("status is neither active nor lost".into()),
    };
    Ok(CustomerState {
        customer_id,
        score,
        band,
        reason: text("reason"),
        surfaced_date: date("surfaced_date")?,
        last_contact: date("last_contact")?,
        status,
        owner: text("owner"),
        won_back_date: date("won_back_date")?,
        lost_date: date("lost_date")?,
        lost_reason: text("lost_reason"),
        rules_version: text("rules_version"),
    })
}

/// Whether the customer's state matters to scoring or the pause (surfaced, contacted, won back
/// or lost): the same filter as the SQLite store's `load_prior`.
pub(crate) fn state_matters(item: &Item) -> bool {
    item.contains_key("surfaced_date")
        || item.contains_key("last_contact")
        || item.contains_key("won_back_date")
        || get_s(item, "status") == Some("lost")
}

/// Attributes the score refresh itself writes; an item with nothing else can be replaced whole.
pub(crate) const SCORE_ATTRS: [&str; 5] = ["customer_id", "score", "band", "owner", "updated_at"];

pub(crate) fn json_object(item: &Item, name: &str) -> Result<Map<String, Value>, String> {
    match get_s(item, name) {
        None => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(format!("{name} is not a JSON object")),
        },
    }
}

pub(crate) fn audit_from_item(item: &Item) -> Result<AuditItem, String> {
    let req = |name: &str| {
        get_s(item, name)
            .map(str::to_string)
            .ok_or_else(|| format!("{name} missing"))
    };
    Ok(AuditItem {
        customer_id: req("customer_id")?,
        ts: req("ts")?,
        action: req("action")?,
        by_user: req("by_user")?,
        before: json_object(item, "before")?,
        after: json_object(item, "after")?,
        notes: json_object(item, "notes")?,
    })
}

/// A `cp-audit` item.
pub(crate) fn audit_item(
    customer_id: &str,
    ts: &str,
    action: &str,
    by_user: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    notes: &Map<String, Value>,
) -> Item {
    let json = |m: &Map<String, Value>| s(Value::Object(m.clone()).to_string());
    HashMap::from([
        ("customer_id".to_string(), s(customer_id)),
        ("ts".to_string(), s(ts)),
        ("action".to_string(), s(action)),
        ("by_user".to_string(), s(by_user)),
        ("before".to_string(), json(before)),
        ("after".to_string(), json(after)),
        ("notes".to_string(), json(notes)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_item_attributes() {
        let mut st = CustomerState::new("C1");
        st.score = Some(55);
        st.band = Some(Band::AtRisk);
        st.status = Status::Lost;
        st.lost_date = Some(jiff::civil::date(2026, 11, 20));
        let mut item: Item = HashMap::from([("customer_id".into(), s("C1"))]);
        for f in ["score", "band", "status", "lost_date", "reason"] {
            if let Some(v) = field_attr(f, &st.field(f)) {
                item.insert(f.into(), v);
            }
        }
        assert_eq!(item.get("score"), Some(&n(55)));
        assert!(!item.contains_key("reason"));
        assert_eq!(state_from_item(&item).unwrap(), st);
        assert!(state_matters(&item));
        item.insert("status".into(), s("gone"));
        assert!(state_from_item(&item).unwrap_err().contains("status"));
    }
}
