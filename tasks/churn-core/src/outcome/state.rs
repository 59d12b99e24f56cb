//! Customer state and outcomes (docs/SPEC.md §4–5): the contact pause, lost and won back, reactivation,
//! and undo — as pure functions from the state before to the change to write.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::Band;
use crate::run::week::days_between;

/// `active` or `lost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    Lost,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Lost => "lost",
        }
    }
}

/// One customer's live state (`cp-state`, or the local database's `customer_state`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CustomerState {
    pub customer_id: String,
    pub score: Option<u32>,
    pub band: Option<Band>,
    pub reason: Option<String>,
    pub surfaced_date: Option<Date>,
    pub last_contact: Option<Date>,
    pub status: Status,
    pub owner: Option<String>,
    pub won_back_date: Option<Date>,
    pub lost_date: Option<Date>,
    pub lost_reason: Option<String>,
    pub rules_version: Option<String>,
}

/// The fields an outcome or undo may change, by their stored names.
pub const OUTCOME_FIELDS: [&str; 5] = [
    "last_contact",
    "won_back_date",
    "status",
    "lost_date",
    "lost_reason",
];

impl CustomerState {
    pub fn new(customer_id: &str) -> Self {
        CustomerState {
            customer_id: customer_id.to_string(),
            ..Default::default()
        }
    }

    /// Whether the customer is inside the contact pause on `as_of`: the as-of date minus the latest
    /// of `surfaced_date`, `last_contact` and `won_back_date` is less than `pause_days`.
    pub fn is_paused(&self, as_of: Date, pause_days: u32) -> bool {
        let latest = [self.surfaced_date, self.last_contact, self.won_back_date]
            .into_iter()
            .flatten()
            .max();
        latest.is_some_and(|d| days_between(d, as_of) < i64::from(pause_days))
    }

    /// Whether an order dated `last_order` brings a lost customer back (an order after `lost_date`).
    pub fn reactivated_by(&self, last_order: Option<Date>) -> bool {
        self.status == Status::Lost
            && match (last_order, self.lost_date) {
                (Some(order), Some(lost)) => order > lost,
                _ => false,
            }
    }

    /// A field's value as stored in audit `before`/`after` (dates as `YYYY-MM-DD`, absent as null).
    pub fn field(&self, name: &str) -> Value {
        let date = |d: Option<Date>| d.map_or(Value::Null, |d| Value::String(d.to_string()));
        let text = |t: &Option<String>| t.clone().map_or(Value::Null, Value::String);
        match name {
            "last_contact" => date(self.last_contact),
            "won_back_date" => date(self.won_back_date),
            "lost_date" => date(self.lost_date),
            "surfaced_date" => date(self.surfaced_date),
            "status" => Value::String(self.status.as_str().into()),
            "lost_reason" => text(&self.lost_reason),
            "reason" => text(&self.reason),
            "rules_version" => text(&self.rules_version),
            "owner" => text(&self.owner),
            "score" => self.score.map_or(Value::Null, Value::from),
            "band" => self
                .band
                .map_or(Value::Null, |b| Value::String(b.as_str().into())),
            _ => Value::Null,
        }
    }

    /// Sets a field from an audit value. Unknown names or malformed values are an error, never
    /// silently ignored.
    pub fn set_field(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let date = |v: &Value| -> Result<Option<Date>, String> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => s
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("bad date `{s}` for {name}")),
                _ => Err(format!("bad value for {name}")),
            }
        };
        let text = |v: &Value| -> Result<Option<String>, String> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                _ => Err(format!("bad value for {name}")),
            }
        };
        match name {
            "last_contact" => self.last_contact = date(value)?,
            "won_back_date" => self.won_back_date = date(value)?,
            "lost_date" => self.lost_date = date(value)?,
            "surfaced_date" => self.surfaced_date = date(value)?,
            "lost_reason" => self.lost_reason = text(value)?,
            "reason" => self.reason = text(value)?,
            "rules_version" => self.rules_version = text(value)?,
            "owner" => self.owner = text(value)?,
            "status" => {
                self.status = match value.as_str() {
                    Some("lost") => Status::Lost,
                    Some("active") | None => Status::Active,
                    Some(other) => return Err(format!("bad status `{other}`")),
                }
            }
            "score" => self.score = value.as_u64().map(|s| s as u32),
            "band" => self.band = value.as_str().and_then(Band::parse),
            _ => return Err(format!("unknown field `{name}`")),
        }
        Ok(())
    }
}

/// Why a customer was marked lost (the Lost modal's picker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LostReason {
    Price,
    Service,
    Competitor,
    Closed,
    Other,
}

impl LostReason {
    pub const ALL: [LostReason; 5] = [
        LostReason::Price,
        LostReason::Service,
        LostReason::Competitor,
        LostReason::Closed,
        LostReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LostReason::Price => "price",
            LostReason::Service => "service",
            LostReason::Competitor => "competitor",
            LostReason::Closed => "closed",
            LostReason::Other => "other",
        }
    }

    /// Words for people ("switched to a competitor").
    pub fn label(self) -> &'static str {
        match self {
            LostReason::Price => "price",
            LostReason::Service => "service",
            LostReason::Competitor => "switched to a competitor",
            LostReason::Closed => "closed business",
            LostReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<LostReason> {
        LostReason::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// What an owner recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    ReachedOut,
    WonBack {
        value: Option<f64>,
    },
    Lost {
        reason: LostReason,
        note: Option<String>,
    },
}

impl Outcome {
    /// The audit `action` name.
    pub fn action(&self) -> &'static str {
        match self {
            Outcome::ReachedOut => "reached_out",
            Outcome::WonBack { .. } => "won_back",
            Outcome::Lost { .. } => "lost",
        }
    }
}

/// The largest recovered value a Won back may record (docs/SPEC.md §5).
pub const MAX_RECOVERED_VALUE: f64 = 1_000_000_000.0;

/// What to tell someone whose recovered value was refused (Slack form, email page, command line).
pub const RECOVERED_VALUE_RULE: &str = "Write an amount from 0 to 1,000,000,000 with at most two \
     decimals, like 1200 or $1,200.00, or leave it empty.";

/// Reads a Won back's recovered value (money as in docs/SPEC.md §2): empty is `None`; otherwise
/// a number from 0 to 1,000,000,000 with at most two decimals, or [`RECOVERED_VALUE_RULE`].
pub fn parse_recovered_value(raw: &str) -> Result<Option<f64>, &'static str> {
    match crate::list::values::parse_number(raw) {
        Ok(None) => Ok(None),
        Ok(Some(n)) if n.is_finite() && (0.0..=MAX_RECOVERED_VALUE).contains(&n) => {
            let cents = n * 100.0;
            if (cents - cents.round()).abs() < 1e-6 * cents.abs().max(1.0) {
                Ok(Some(n))
            } else {
                Err(RECOVERED_VALUE_RULE)
            }
        }
        _ => Err(RECOVERED_VALUE_RULE),
    }
}

/// Audit actions that an undo can revert.
pub const UNDOABLE_ACTIONS: [&str; 3] = ["reached_out", "won_back", "lost"];

/// A change to write: the new state, and the audit item's `before`, `after` and `notes` (only the
/// fields the action changed).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub action: &'static str,
    pub state: CustomerState,
    pub before: Map<String, Value>,
    pub after: Map<String, Value>,
    pub notes: Map<String, Value>,
}

impl Change {
    /// Whether the change alters anything (a repeated identical action may not).
    pub fn is_noop(&self) -> bool {
        self.before == self.after
    }
}

fn diff(
    before: &CustomerState,
    after: CustomerState,
    action: &'static str,
    notes: Map<String, Value>,
) -> Change {
    let mut b = Map::new();
    let mut a = Map::new();
    for f in OUTCOME_FIELDS {
        let (x, y) = (before.field(f), after.field(f));
        if x != y {
            b.insert(f.to_string(), x);
            a.insert(f.to_string(), y);
        }
    }
    Change {
        action,
        state: after,
        before: b,
        after: a,
        notes,
    }
}

/// Applies an outcome recorded on `today` (docs/SPEC.md §5).
pub fn apply_outcome(state: &CustomerState, outcome: &Outcome, today: Date) -> Change {
    let mut next = state.clone();
    let mut notes = Map::new();
    match outcome {
        Outcome::ReachedOut => next.last_contact = Some(today),
        Outcome::WonBack { value } => {
            next.won_back_date = Some(today);
            next.status = Status::Active;
            if let Some(v) = value {
                notes.insert("recovered_value".into(), Value::from(*v));
            }
        }
        Outcome::Lost { reason, note } => {
            next.status = Status::Lost;
            next.lost_date = Some(today);
            next.lost_reason = Some(reason.as_str().to_string());
            notes.insert("lost_reason".into(), Value::from(reason.as_str()));
            if let Some(n) = note.as_ref().filter(|n| !n.trim().is_empty()) {
                notes.insert("note".into(), Value::from(n.trim()));
            }
        }
    }
    diff(state, next, outcome.action(), notes)
}

/// A lost customer whose newer order brings them back: `status = active` (audited `reactivated`).
pub fn reactivate(state: &CustomerState, last_order: Date) -> Change {
    let mut next = state.clone();
    next.status = Status::Active;
    let mut notes = Map::new();
    notes.insert(
        "last_order_date".into(),
        Value::from(last_order.to_string()),
    );
    diff(state, next, "reactivated", notes)
}

/// A name surfaced on a sent list (docs/SPEC.md §4 record): its surfaced date, band, score, reason, rules
/// version and owner, and the `surfaced` audit item's before/after and notes.
pub fn surfaced(
    before: &CustomerState,
    item: &crate::model::ListItem,
    owner: &str,
    as_of: Date,
    week: &str,
    via: &str,
) -> Change {
    let mut after = before.clone();
    after.surfaced_date = Some(as_of);
    after.band = Some(item.band);
    after.score = Some(item.score);
    after.reason = Some(item.reason.clone());
    after.rules_version = Some(item.rules_version.clone());
    after.owner = Some(owner.to_string());
    let mut b = Map::new();
    let mut a = Map::new();
    for f in ["surfaced_date", "band", "score", "reason", "rules_version"] {
        b.insert(f.into(), before.field(f));
        a.insert(f.into(), after.field(f));
    }
    let mut notes = Map::new();
    notes.insert("week".into(), Value::from(week));
    notes.insert(
        "rules_version".into(),
        Value::from(item.rules_version.clone()),
    );
    notes.insert("via".into(), Value::from(via));
    Change {
        action: "surfaced",
        state: after,
        before: b,
        after: a,
        notes,
    }
}

/// An audit item as the domain reads it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditItem {
    pub customer_id: String,
    /// Unique, sortable timestamp.
    pub ts: String,
    pub action: String,
    pub by_user: String,
    pub before: Map<String, Value>,
    pub after: Map<String, Value>,
    pub notes: Map<String, Value>,
}

/// Why an undo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UndoRefused {
    #[error("there is no outcome to undo for customer {0}")]
    NothingToUndo(String),
    #[error("there is no outcome of {ts} to undo for customer {customer_id}")]
    NotFound { customer_id: String, ts: String },
    #[error("the {action} of {ts} was already undone; nothing changed")]
    AlreadyUndone { action: String, ts: String },
    #[error(
        "cannot undo the {action} of {ts}: {field} was changed afterwards ({by}); record the right outcome instead"
    )]
    ChangedSince {
        action: String,
        ts: String,
        field: String,
        by: String,
    },
}

/// The `ts` of every outcome that an `undo` item in `history` names.
fn undone_ts(history: &[AuditItem]) -> Vec<&str> {
    history
        .iter()
        .filter(|i| i.action == "undo")
        .filter_map(|i| i.notes.get("undoes")?.as_str())
        .collect()
}

/// The `ts` of the customer's latest outcome that is not undone yet (what the command line's
/// `churn outcome ID undo` targets), or `None`.
pub fn latest_undoable(history: &[AuditItem]) -> Option<&str> {
    let undone = undone_ts(history);
    history
        .iter()
        .rev()
        .find(|i| UNDOABLE_ACTIONS.contains(&i.action.as_str()) && !undone.contains(&i.ts.as_str()))
        .map(|i| i.ts.as_str())
}

/// Plans an undo of the customer's latest outcome not yet undone (the command line's
/// `churn outcome ID undo`), through [`plan_undo_of`].
pub fn plan_undo(state: &CustomerState, history: &[AuditItem]) -> Result<Change, UndoRefused> {
    let ts = latest_undoable(history)
        .ok_or_else(|| UndoRefused::NothingToUndo(state.customer_id.clone()))?
        .to_string();
    plan_undo_of(state, history, &ts)
}

/// Plans the undo of the one outcome whose audit `ts` is `ts` (docs/SPEC.md §5): the Undo button
/// and the email Undo link carry it. `history` is the customer's audit items in `ts` order.
/// An outcome already undone is refused with [`UndoRefused::AlreadyUndone`] (a second delivery
/// of the same Undo changes nothing, and never reaches an older outcome); so is a `ts` that is not
/// one of the customer's outcomes. Refuses when a later write that still stands, or the current
/// state, changed a field the outcome set.
pub fn plan_undo_of(
    state: &CustomerState,
    history: &[AuditItem],
    ts: &str,
) -> Result<Change, UndoRefused> {
    let undone = undone_ts(history);
    let not_found = || UndoRefused::NotFound {
        customer_id: state.customer_id.clone(),
        ts: ts.to_string(),
    };
    let pos = history
        .iter()
        .position(|i| i.ts == ts && i.customer_id == state.customer_id)
        .ok_or_else(not_found)?;
    let target = &history[pos];
    if !UNDOABLE_ACTIONS.contains(&target.action.as_str()) {
        return Err(not_found());
    }
    if undone.contains(&ts) {
        return Err(UndoRefused::AlreadyUndone {
            action: target.action.clone(),
            ts: target.ts.clone(),
        });
    }
    for later in &history[pos + 1..] {
        // Undo items, and later outcomes that were themselves undone, no longer stand.
        if later.action == "undo" || undone.contains(&later.ts.as_str()) {
            continue;
        }
        if let Some(field) = target.after.keys().find(|f| later.after.contains_key(*f)) {
            return Err(UndoRefused::ChangedSince {
                action: target.action.clone(),
                ts: target.ts.clone(),
                field: field.clone(),
                by: format!("{} by {} at {}", later.action, later.by_user, later.ts),
            });
        }
    }
    for (field, value) in &target.after {
        if &state.field(field) != value {
            return Err(UndoRefused::ChangedSince {
                action: target.action.clone(),
                ts: target.ts.clone(),
                field: field.clone(),
                by: "a later write".into(),
            });
        }
    }
    let mut next = state.clone();
    for (field, value) in &target.before {
        // Fields come from our own audit items; a malformed one is refused, not half-applied.
        if next.set_field(field, value).is_err() {
            return Err(UndoRefused::ChangedSince {
                action: target.action.clone(),
                ts: target.ts.clone(),
                field: field.clone(),
                by: "an unreadable audit value".into(),
            });
        }
    }
    let mut notes = Map::new();
    notes.insert("undoes".into(), Value::from(target.ts.clone()));
    notes.insert("undone_action".into(), Value::from(target.action.clone()));
    Ok(Change {
        action: "undo",
        state: next,
        before: target.after.clone(),
        after: target.before.clone(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn item(ts: &str, c: &Change) -> AuditItem {
        AuditItem {
            customer_id: c.state.customer_id.clone(),
            ts: ts.into(),
            action: c.action.into(),
            by_user: "sam".into(),
            before: c.before.clone(),
            after: c.after.clone(),
            notes: c.notes.clone(),
        }
    }

    #[test]
    fn pause_counts_from_the_latest_contact() {
        let mut s = CustomerState::new("C1");
        let monday = date(2026, 11, 23);
        assert!(!s.is_paused(monday, 21));
        s.surfaced_date = Some(date(2026, 11, 16));
        assert!(s.is_paused(monday, 21));
        s.surfaced_date = Some(date(2026, 11, 2));
        assert!(
            !s.is_paused(monday, 21),
            "exactly 21 days later is outside the pause"
        );
        s.last_contact = Some(date(2026, 11, 3));
        assert!(s.is_paused(monday, 21));
        s.won_back_date = Some(date(2026, 11, 22));
        assert!(s.is_paused(monday, 2));
        assert!(!s.is_paused(monday, 0), "a zero pause never pauses");
    }

    #[test]
    fn lost_then_later_order_reactivates() {
        let s = CustomerState::new("C1");
        let lost = apply_outcome(
            &s,
            &Outcome::Lost {
                reason: LostReason::Price,
                note: Some(" too dear ".into()),
            },
            date(2026, 11, 20),
        );
        assert_eq!(lost.state.status, Status::Lost);
        assert_eq!(lost.after.get("status"), Some(&Value::from("lost")));
        assert_eq!(lost.notes.get("note"), Some(&Value::from("too dear")));
        assert!(!lost.state.reactivated_by(Some(date(2026, 11, 20))));
        assert!(lost.state.reactivated_by(Some(date(2026, 11, 21))));
        let back = reactivate(&lost.state, date(2026, 11, 21));
        assert_eq!(back.state.status, Status::Active);
        assert_eq!(back.after.len(), 1);
    }

    #[test]
    fn undo_restores_only_what_the_outcome_changed() {
        let s = CustomerState::new("C1");
        let reached = apply_outcome(&s, &Outcome::ReachedOut, date(2026, 11, 23));
        let history = vec![item("t1", &reached)];
        let undo = plan_undo(&reached.state, &history).unwrap();
        assert_eq!(undo.state.last_contact, None);
        assert_eq!(undo.notes.get("undoes"), Some(&Value::from("t1")));
        // After the undo, the same outcome is no longer undoable.
        let history2 = vec![item("t1", &reached), item("t2", &undo)];
        assert!(matches!(
            plan_undo(&undo.state, &history2),
            Err(UndoRefused::NothingToUndo(_))
        ));
    }

    #[test]
    fn undo_refuses_when_a_later_write_changed_the_field() {
        let s = CustomerState::new("C1");
        let lost = apply_outcome(
            &s,
            &Outcome::Lost {
                reason: LostReason::Closed,
                note: None,
            },
            date(2026, 11, 20),
        );
        let back = reactivate(&lost.state, date(2026, 11, 22));
        let history = vec![item("t1", &lost), item("t2", &back)];
        let err = plan_undo(&back.state, &history).unwrap_err();
        assert!(
            err.to_string().contains("status was changed afterwards"),
            "{err}"
        );
        // The latest undoable outcome is the lost one; a reached-out after it on other fields is fine.
        let reached = apply_outcome(&lost.state, &Outcome::ReachedOut, date(2026, 11, 21));
        let history = vec![item("t1", &lost), item("t2", &reached)];
        let undo = plan_undo(&reached.state, &history).unwrap();
        assert_eq!(undo.notes.get("undoes"), Some(&Value::from("t2")));
        assert_eq!(undo.state.status, Status::Lost);
    }

    #[test]
    fn the_same_undo_twice_undoes_one_outcome_and_never_an_older_one() {
        let s = CustomerState::new("C1");
        let reached = apply_outcome(&s, &Outcome::ReachedOut, date(2026, 11, 20));
        let won = apply_outcome(
            &reached.state,
            &Outcome::WonBack { value: None },
            date(2026, 11, 23),
        );
        let mut history = vec![item("t1", &reached), item("t2", &won)];
        let undo = plan_undo_of(&won.state, &history, "t2").unwrap();
        assert_eq!(undo.notes.get("undoes"), Some(&Value::from("t2")));
        assert_eq!(undo.state.won_back_date, None);
        assert_eq!(undo.state.last_contact, Some(date(2026, 11, 20)));
        history.push(item("t3", &undo));
        // The same Undo delivered again: refused as already undone, the reached-out stays.
        assert_eq!(
            plan_undo_of(&undo.state, &history, "t2"),
            Err(UndoRefused::AlreadyUndone {
                action: "won_back".into(),
                ts: "t2".into()
            })
        );
        assert!(matches!(
            plan_undo_of(&undo.state, &history, "t9"),
            Err(UndoRefused::NotFound { .. })
        ));
        assert!(
            matches!(
                plan_undo_of(&undo.state, &history, "t3"),
                Err(UndoRefused::NotFound { .. })
            ),
            "an undo is not itself undoable"
        );
        // The command line's undo takes the latest outcome not yet undone: the reached-out.
        assert_eq!(latest_undoable(&history), Some("t1"));
        let older = plan_undo(&undo.state, &history).unwrap();
        assert_eq!(older.notes.get("undoes"), Some(&Value::from("t1")));
        assert_eq!(older.state.last_contact, None);
    }

    #[test]
    fn a_later_outcome_that_was_undone_does_not_block_an_undo() {
        let s = CustomerState::new("C1");
        let first = apply_outcome(&s, &Outcome::ReachedOut, date(2026, 11, 20));
        let second = apply_outcome(&first.state, &Outcome::ReachedOut, date(2026, 11, 23));
        let mut history = vec![item("t1", &first), item("t2", &second)];
        assert!(matches!(
            plan_undo_of(&second.state, &history, "t1"),
            Err(UndoRefused::ChangedSince { .. })
        ));
        let undo2 = plan_undo_of(&second.state, &history, "t2").unwrap();
        history.push(item("t3", &undo2));
        let undo1 = plan_undo_of(&undo2.state, &history, "t1").unwrap();
        assert_eq!(undo1.state.last_contact, None);
    }

    #[test]
    fn recovered_value_is_bounded_with_two_decimals() {
        assert_eq!(parse_recovered_value("  "), Ok(None));
        assert_eq!(parse_recovered_value("$1,200.00"), Ok(Some(1200.0)));
        assert_eq!(parse_recovered_value("0"), Ok(Some(0.0)));
        assert_eq!(parse_recovered_value("19.99"), Ok(Some(19.99)));
        assert_eq!(
            parse_recovered_value("1,000,000,000"),
            Ok(Some(1_000_000_000.0))
        );
        assert_eq!(
            parse_recovered_value("999999999.99"),
            Ok(Some(999_999_999.99))
        );
        for bad in [
            "1000000000.01",
            "1e12",
            "-5",
            "12.345",
            "0.001",
            "lots",
            "NaN",
            "inf",
            "1e400",
        ] {
            assert_eq!(
                parse_recovered_value(bad),
                Err(RECOVERED_VALUE_RULE),
                "{bad}"
            );
        }
    }

    #[test]
    fn won_back_sets_date_value_and_active() {
        let mut s = CustomerState::new("C1");
        s.status = Status::Lost;
        let c = apply_outcome(
            &s,
            &Outcome::WonBack {
                value: Some(1200.0),
            },
            date(2026, 11, 23),
        );
        assert_eq!(c.state.status, Status::Active);
        assert_eq!(c.state.won_back_date, Some(date(2026, 11, 23)));
        assert_eq!(c.notes.get("recovered_value"), Some(&Value::from(1200.0)));
        assert_eq!(
            c.after.keys().collect::<Vec<_>>(),
            vec!["status", "won_back_date"]
        );
    }
}
