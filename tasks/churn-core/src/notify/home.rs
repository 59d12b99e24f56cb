//! The owner's Slack Home tab (docs/SPEC.md §7): this week's names still open, with the very same
//! rows and buttons as the Monday message (so the outcome handler records a click on either the
//! same way), and what was recorded this month with the value won back.
//!
//! Pure: [`load_home`] reads through the [`HomeSource`] port and [`home_view`] builds the
//! `views.publish` view; [`owner_for_user`] maps a Slack member to an owner by the rules' owner
//! lines. The ports [`HomeSource`], [`OwnerDirectory`] and [`HomeSlack`] are filled by the local
//! SQLite store / the AWS stores, the rules doc, and the Slack Web API.

use std::collections::HashSet;
use std::future::Future;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use crate::model::ListItem;
use crate::notify::message::{OwnerList, plain_text, slack_messages};
use crate::outcome::state::{AuditItem, LostReason, UNDOABLE_ACTIONS};
use crate::ports::PortError;
use crate::reports::summary::money;
use crate::rules::{Channel, OwnerLine};
use crate::run::week::iso_week;

/// Slack's limit on blocks in a Home tab view.
pub const MAX_HOME_BLOCKS: usize = 100;
/// Slack refuses a view larger than this (`view_too_large`); kept under with room to spare.
pub const MAX_VIEW_BYTES: usize = 240 * 1024;
/// Open names shown with their buttons (three blocks each); the rest are counted.
pub const MAX_OPEN_SHOWN: usize = 25;
/// Outcomes of the month listed one per line; the rest are counted.
pub const MAX_RECORDED_SHOWN: usize = 10;
/// How far before the month's first day the lists are read to name this month's outcomes: a
/// name surfaced late last month is often acted on early this one.
pub const LISTS_LOOKBACK_DAYS: i64 = 28;

/// The Home tab's data (port): the send ledger and the audit. `SqliteOutcomeStore` locally,
/// `DynamoDbOutcomeStore` (`cp-runs`, `cp-audit`) on AWS.
pub trait HomeSource: Send + Sync {
    /// The list sent to `owner` (lower-cased email) for each of `weeks` that has one (a ledger
    /// entry `sent` or `recorded`), as `(week, items)`.
    fn owner_lists(
        &self,
        owner: &str,
        weeks: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Vec<ListItem>)>, PortError>> + Send;

    /// The audit items of these customers with `ts >= from_ts` (RFC 3339 UTC strings), any order.
    fn audit_since(
        &self,
        customer_ids: &[String],
        from_ts: &str,
    ) -> impl Future<Output = Result<Vec<AuditItem>, PortError>> + Send;
}

/// The rules doc's owner lines (port): `rules.txt` in the data folder or the rules bucket.
pub trait OwnerDirectory: Send + Sync {
    /// Every owner line of the rules in force.
    fn owner_lines(&self) -> impl Future<Output = Result<Vec<OwnerLine>, PortError>> + Send;
}

/// The Slack calls of the Home tab (port): who a member is, and `views.publish`.
pub trait HomeSlack: Send + Sync {
    /// The member's profile email (`users.info`, needs `users:read.email`); `None` when the
    /// member has none or does not exist.
    fn user_email(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;

    /// The member with this email (`users.lookupByEmail`); `None` when there is none.
    fn user_by_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;

    /// `views.publish`: replaces `user_id`'s Home tab with `view`.
    fn publish_home(
        &self,
        user_id: &str,
        view: &Value,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The owner a Slack member is, by the owner lines: an `owner EMAIL: slack USER_ID` line naming
/// them, else (when `email` is their profile email) an `owner EMAIL: slack` line with that email.
/// `email`/`owner` lines and other members are no owner.
pub fn owner_for_user(lines: &[OwnerLine], user_id: &str, email: Option<&str>) -> Option<String> {
    let user_id = user_id.trim();
    if user_id.is_empty() {
        return None;
    }
    let by_id = lines.iter().find(
        |l| matches!(&l.channel, Channel::Slack { user_id: Some(id) } if id.trim() == user_id),
    );
    if let Some(l) = by_id {
        return Some(l.email.to_lowercase());
    }
    let email = email?.trim().to_lowercase();
    lines
        .iter()
        .find(|l| {
            matches!(l.channel, Channel::Slack { user_id: None }) && l.email.to_lowercase() == email
        })
        .map(|l| l.email.to_lowercase())
}

/// Whether finding `user_id`'s owner needs their profile email: no line names the id, and some
/// `owner EMAIL: slack` line has no id.
pub fn needs_profile_email(lines: &[OwnerLine], user_id: &str) -> bool {
    owner_for_user(lines, user_id, None).is_none()
        && lines
            .iter()
            .any(|l| matches!(l.channel, Channel::Slack { user_id: None }))
}

/// An outcome as the Home tab lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedAction {
    ReachedOut,
    WonBack,
    Lost,
}

impl RecordedAction {
    fn parse(action: &str) -> Option<RecordedAction> {
        match action {
            "reached_out" => Some(RecordedAction::ReachedOut),
            "won_back" => Some(RecordedAction::WonBack),
            "lost" => Some(RecordedAction::Lost),
            _ => None,
        }
    }

    /// The button's label.
    pub fn label(self) -> &'static str {
        match self {
            RecordedAction::ReachedOut => "Reached out",
            RecordedAction::WonBack => "Won back",
            RecordedAction::Lost => "Lost",
        }
    }
}

/// One outcome recorded this month on a name of the owner's lists (not undone).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub customer_id: String,
    /// The name as on the latest list that carried it.
    pub name: String,
    pub action: RecordedAction,
    /// The local date of the write.
    pub date: Option<Date>,
    /// Won back: the recovered value, when one was given.
    pub value: Option<f64>,
    /// Lost: the reason's label.
    pub reason: Option<String>,
    /// The audit `ts` (newest first ordering).
    pub ts: String,
}

/// Everything the Home tab shows, for one owner on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct HomeData {
    /// Lower-cased email.
    pub owner: String,
    /// This ISO week, `2026-W50`.
    pub week: String,
    /// Today, in the business's time zone.
    pub today: Date,
    /// Whether a list went out to the owner this week.
    pub has_list: bool,
    /// Names on this week's list.
    pub listed: usize,
    /// This week's names with no outcome since the week began (undone ones do not count), in
    /// list order.
    pub open: Vec<ListItem>,
    /// This month's outcomes on the owner's names, newest first.
    pub recorded: Vec<Recorded>,
    pub reached: usize,
    pub won_back: usize,
    pub lost: usize,
    /// Sum of the recovered values given with Won back this month.
    pub value_won_back: f64,
}

/// `date`'s local midnight in `tz` as an audit `ts` bound (RFC 3339 UTC with nanoseconds).
fn ts_at(date: Date, tz: &TimeZone) -> String {
    date.to_zoned_datetime(tz.clone())
        .map(|z| format!("{:.9}", z.timestamp()))
        .unwrap_or_default()
}

/// The Monday of `date`'s ISO week.
fn monday_of(date: Date) -> Date {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(jiff::Span::new().days(back))
        .unwrap_or(date)
}

fn first_of_month(date: Date) -> Date {
    date.first_of_month()
}

/// The ISO weeks whose lists are read: from [`LISTS_LOOKBACK_DAYS`] before the month's first day
/// (or the week's Monday, if earlier) through this week; this week first.
pub fn weeks_to_read(today: Date) -> Vec<String> {
    let this = iso_week(today);
    let start = first_of_month(today)
        .checked_sub(jiff::Span::new().days(LISTS_LOOKBACK_DAYS))
        .unwrap_or(today)
        .min(monday_of(today));
    let mut weeks = vec![this.clone()];
    let mut d = monday_of(today);
    while d > start {
        d = d.checked_sub(jiff::Span::new().days(7)).unwrap_or(start);
        let w = iso_week(d);
        if !weeks.contains(&w) {
            weeks.push(w);
        }
    }
    weeks
}

/// Reads and works out an owner's Home for `now` in `tz`.
pub async fn load_home<S: HomeSource>(
    source: &S,
    owner: &str,
    now: jiff::Timestamp,
    tz: &TimeZone,
) -> Result<HomeData, PortError> {
    let today = now.to_zoned_datetime(tz.clone()).date();
    let weeks = weeks_to_read(today);
    let lists = source.owner_lists(owner, &weeks).await?;
    let mut ids: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for (_, items) in &lists {
        for i in items {
            if seen.insert(i.customer_id.clone()) {
                ids.push(i.customer_id.clone());
            }
        }
    }
    let week_start = ts_at(monday_of(today), tz);
    let month_start = ts_at(first_of_month(today), tz);
    let from = week_start.clone().min(month_start.clone());
    let audit = if ids.is_empty() {
        Vec::new()
    } else {
        source.audit_since(&ids, &from).await?
    };
    Ok(home_data(
        owner,
        today,
        tz,
        &weeks[0],
        &lists,
        &audit,
        &week_start,
        &month_start,
    ))
}

/// [`load_home`]'s arithmetic, on what was read.
#[allow(clippy::too_many_arguments)]
fn home_data(
    owner: &str,
    today: Date,
    tz: &TimeZone,
    week: &str,
    lists: &[(String, Vec<ListItem>)],
    audit: &[AuditItem],
    week_start: &str,
    month_start: &str,
) -> HomeData {
    let undone: HashSet<&str> = audit
        .iter()
        .filter(|i| i.action == "undo")
        .filter_map(|i| i.notes.get("undoes").and_then(Value::as_str))
        .collect();
    let standing: Vec<&AuditItem> = audit
        .iter()
        .filter(|i| UNDOABLE_ACTIONS.contains(&i.action.as_str()))
        .filter(|i| !undone.contains(i.ts.as_str()))
        .collect();
    let this_week = lists.iter().find(|(w, _)| w == week).map(|(_, l)| l);
    let mut shown = HashSet::new();
    let open: Vec<ListItem> = this_week
        .map(|items| {
            items
                .iter()
                .filter(|i| {
                    !standing
                        .iter()
                        .any(|a| a.customer_id == i.customer_id && a.ts.as_str() >= week_start)
                })
                .filter(|i| shown.insert(i.customer_id.clone()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // Names from the newest list that carried them (lists come newest week first).
    let name_of = |id: &str| {
        lists
            .iter()
            .flat_map(|(_, l)| l.iter())
            .find(|i| i.customer_id == id)
            .map(|i| {
                if i.name.trim().is_empty() {
                    id.to_string()
                } else {
                    i.name.clone()
                }
            })
            .unwrap_or_else(|| id.to_string())
    };
    let mut recorded: Vec<Recorded> = standing
        .iter()
        .filter(|a| a.ts.as_str() >= month_start)
        .filter_map(|a| {
            let action = RecordedAction::parse(&a.action)?;
            Some(Recorded {
                customer_id: a.customer_id.clone(),
                name: name_of(&a.customer_id),
                action,
                date: a
                    .ts
                    .parse::<jiff::Timestamp>()
                    .ok()
                    .map(|t| t.to_zoned_datetime(tz.clone()).date()),
                value: (action == RecordedAction::WonBack)
                    .then(|| a.notes.get("recovered_value").and_then(Value::as_f64))
                    .flatten(),
                reason: (action == RecordedAction::Lost)
                    .then(|| {
                        a.notes.get("lost_reason").and_then(Value::as_str).map(|r| {
                            LostReason::parse(r).map_or_else(|| r.to_string(), |l| l.label().into())
                        })
                    })
                    .flatten(),
                ts: a.ts.clone(),
            })
        })
        .collect();
    recorded.sort_by(|a, b| b.ts.cmp(&a.ts));
    let count = |k: RecordedAction| recorded.iter().filter(|r| r.action == k).count();
    HomeData {
        owner: owner.to_string(),
        week: week.to_string(),
        today,
        has_list: this_week.is_some(),
        listed: this_week.map_or(0, Vec::len),
        open,
        reached: count(RecordedAction::ReachedOut),
        won_back: count(RecordedAction::WonBack),
        lost: count(RecordedAction::Lost),
        value_won_back: recorded.iter().filter_map(|r| r.value).sum(),
        recorded,
    }
}

fn mrkdwn(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn header(text: &str) -> Value {
    json!({"type": "header", "text": {"type": "plain_text", "text": text}})
}

fn context_plain(text: &str) -> Value {
    json!({"type": "context", "elements": [plain_text(text)]})
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The `views.publish` view of an owner's Home: within 100 blocks and Slack's view size.
///
/// - A header, then this week's open names: each exactly the section, context and actions blocks
///   of the Monday message (`slack_messages`: the same `action_id`s and button values, names as
///   `plain_text`), at most [`MAX_OPEN_SHOWN`], the rest counted.
/// - This month: reached out / won back / lost counts, the value won back, and the latest
///   outcomes one per line (names as `plain_text`).
pub fn home_view(data: &HomeData) -> Value {
    let mut shown = data.open.len().min(MAX_OPEN_SHOWN);
    loop {
        let view = build_view(data, shown);
        if shown == 0 || serde_json::to_vec(&view).map_or(0, |v| v.len()) <= MAX_VIEW_BYTES {
            return view;
        }
        shown -= 1;
    }
}

fn build_view(data: &HomeData, shown: usize) -> Value {
    let mut blocks = vec![header("Your churn list")];
    let open = data.open.len();
    let week_line = if !data.has_list {
        format!(
            "*Week {}* · no list for you this week yet; lists go out on Monday mornings.",
            data.week
        )
    } else if open == 0 {
        format!(
            "*Week {}* · every name on this week's list has an outcome.",
            data.week
        )
    } else {
        format!(
            "*Week {}* · {} of {} {} still open",
            data.week,
            open,
            data.listed,
            if data.listed == 1 { "name" } else { "names" }
        )
    };
    blocks.push(mrkdwn(&week_line));
    if shown > 0 {
        let items = &data.open[..shown];
        let list = OwnerList {
            week: &data.week,
            as_of: "",
            owner: &data.owner,
            items,
            trends: None,
            gone: 0,
        };
        // The Monday message's own rows (skipping each part's header): same buttons, same values.
        for message in slack_messages(&list, "") {
            if let Some(b) = message["blocks"].as_array() {
                blocks.extend(b.iter().skip(1).cloned());
            }
        }
    }
    if open > shown {
        blocks.push(context_plain(&format!(
            "…and {} more on this week's list message.",
            open - shown
        )));
    }
    blocks.push(json!({"type": "divider"}));
    let month = MONTHS[usize::from(data.today.month().unsigned_abs()).saturating_sub(1) % 12];
    blocks.push(header(&format!(
        "This month ({month} {})",
        data.today.year()
    )));
    blocks.push(mrkdwn(&format!(
        "Reached out *{}* · Won back *{}* · Lost *{}*\nValue won back: *{}*",
        data.reached,
        data.won_back,
        data.lost,
        money(data.value_won_back)
    )));
    // Room left for one line per outcome (and a closing count line).
    let room = MAX_HOME_BLOCKS.saturating_sub(blocks.len() + 2);
    let lines = data.recorded.len().min(MAX_RECORDED_SHOWN).min(room);
    if data.recorded.is_empty() {
        blocks.push(context_plain("Nothing recorded yet this month."));
    }
    for r in &data.recorded[..lines] {
        let mut line = format!("{} — {}", one_line(&r.name), r.action.label());
        if let Some(v) = r.value {
            line.push_str(&format!(" (value {})", money(v)));
        }
        if let Some(reason) = &r.reason {
            line.push_str(&format!(" ({reason})"));
        }
        if let Some(d) = r.date {
            line.push_str(&format!(" · {d}"));
        }
        blocks.push(context_plain(&truncate(&line, 3000)));
    }
    if data.recorded.len() > lines {
        blocks.push(context_plain(&format!(
            "…and {} earlier this month.",
            data.recorded.len() - lines
        )));
    }
    json!({"type": "home", "blocks": blocks})
}

/// The Home of a Slack member who is no owner: says so, shows no one's data.
pub fn not_owner_view() -> Value {
    json!({"type": "home", "blocks": [
        header("Churn lists"),
        mrkdwn("This Home tab shows the weekly churn list of an owner who gets it on Slack. You are not an owner reached on Slack in the rules doc, so there is nothing to show you here."),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "Owners are the `owner EMAIL: slack` lines of the rules doc; ask whoever edits it."}]}),
    ]})
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Band;
    use serde_json::Map;

    fn item(id: &str, name: &str) -> ListItem {
        ListItem {
            customer_id: id.into(),
            name: name.into(),
            band: Band::Churning,
            score: 80,
            reason: "Next order is late.".into(),
            breakdown: vec![],
            lifetime_value: None,
            rules_version: "r1".into(),
        }
    }

    fn audit(id: &str, ts: &str, action: &str, notes: Value) -> AuditItem {
        AuditItem {
            customer_id: id.into(),
            ts: ts.into(),
            action: action.into(),
            by_user: "U1".into(),
            before: Map::new(),
            after: Map::new(),
            notes: notes.as_object().cloned().unwrap_or_default(),
        }
    }

    fn line(email: &str, id: Option<&str>) -> OwnerLine {
        OwnerLine {
            email: email.into(),
            channel: Channel::Slack {
                user_id: id.map(str::to_string),
            },
            line: 1,
        }
    }

    #[test]
    fn members_map_to_owners_by_id_then_by_profile_email() {
        let lines = vec![
            line("alex@shop.example", Some("U1")),
            line("sam@shop.example", None),
            OwnerLine {
                email: "jo@shop.example".into(),
                channel: Channel::Email,
                line: 3,
            },
        ];
        assert_eq!(
            owner_for_user(&lines, "U1", None).as_deref(),
            Some("alex@shop.example")
        );
        assert!(!needs_profile_email(&lines, "U1"));
        assert!(needs_profile_email(&lines, "U2"));
        assert_eq!(
            owner_for_user(&lines, "U2", Some("Sam@Shop.Example")).as_deref(),
            Some("sam@shop.example")
        );
        // An email-only owner, or an `slack U1` owner's email on another member: no owner.
        assert_eq!(owner_for_user(&lines, "U3", Some("jo@shop.example")), None);
        assert_eq!(
            owner_for_user(&lines, "U3", Some("alex@shop.example")),
            None
        );
        assert_eq!(owner_for_user(&lines, "", Some("sam@shop.example")), None);
    }

    #[test]
    fn weeks_cover_the_month_and_four_weeks_before() {
        let today: Date = "2026-12-07".parse().unwrap();
        let w = weeks_to_read(today);
        assert_eq!(w[0], "2026-W50");
        assert!(w.contains(&"2026-W49".to_string()));
        // 28 days before 1 December is 3 November (W45).
        assert!(w.contains(&"2026-W45".to_string()), "{w:?}");
        assert!(!w.contains(&"2026-W43".to_string()), "{w:?}");
    }

    #[test]
    fn open_names_and_the_months_outcomes() {
        let tz = TimeZone::UTC;
        let today: Date = "2026-12-09".parse().unwrap();
        let lists = vec![
            (
                "2026-W50".to_string(),
                vec![
                    item("C1", "Harbor"),
                    item("C2", "Maple"),
                    item("C3", "Copper"),
                ],
            ),
            ("2026-W48".to_string(), vec![item("C9", "Old Mill")]),
        ];
        let audit = vec![
            // C1 reached out this week; C2 won back then undone (open again); C9 won back this
            // month with a value; C3 lost last month (still open this week? it was surfaced again).
            audit(
                "C1",
                "2026-12-08T10:00:00.000000000Z",
                "reached_out",
                json!({}),
            ),
            audit(
                "C2",
                "2026-12-08T11:00:00.000000000Z",
                "won_back",
                json!({"recovered_value": 50.0}),
            ),
            audit(
                "C2",
                "2026-12-08T12:00:00.000000000Z",
                "undo",
                json!({"undoes": "2026-12-08T11:00:00.000000000Z"}),
            ),
            audit(
                "C9",
                "2026-12-02T09:00:00.000000000Z",
                "won_back",
                json!({"recovered_value": 1200.0}),
            ),
            audit(
                "C9",
                "2026-11-20T09:00:00.000000000Z",
                "lost",
                json!({"lost_reason": "price"}),
            ),
        ];
        let d = home_data(
            "alex@shop.example",
            today,
            &tz,
            "2026-W50",
            &lists,
            &audit,
            &ts_at(monday_of(today), &tz),
            &ts_at(first_of_month(today), &tz),
        );
        let open: Vec<&str> = d.open.iter().map(|i| i.customer_id.as_str()).collect();
        assert_eq!(open, ["C2", "C3"]);
        assert_eq!((d.listed, d.reached, d.won_back, d.lost), (3, 1, 1, 0));
        assert_eq!(d.value_won_back, 1200.0);
        assert_eq!(d.recorded[0].customer_id, "C1", "newest first");
        assert_eq!(d.recorded[1].name, "Old Mill");
        assert_eq!(d.recorded[1].date, Some("2026-12-02".parse().unwrap()));
    }

    fn data(open: usize, recorded: usize) -> HomeData {
        HomeData {
            owner: "alex@shop.example".into(),
            week: "2026-W50".into(),
            today: "2026-12-09".parse().unwrap(),
            has_list: true,
            listed: open + 1,
            open: (0..open)
                .map(|i| item(&format!("C{i}"), "<!channel> *Harbor*"))
                .collect(),
            recorded: (0..recorded)
                .map(|i| Recorded {
                    customer_id: format!("R{i}"),
                    name: "https://evil.example".into(),
                    action: RecordedAction::WonBack,
                    date: Some("2026-12-02".parse().unwrap()),
                    value: Some(100.0),
                    reason: None,
                    ts: format!("t{i:04}"),
                })
                .collect(),
            reached: 0,
            won_back: recorded,
            lost: 0,
            value_won_back: 100.0 * recorded as f64,
        }
    }

    #[test]
    fn the_view_reuses_the_list_rows_and_fits_slacks_limits() {
        let d = data(2, 3);
        let v = home_view(&d);
        assert_eq!(v["type"], "home");
        let blocks = v["blocks"].as_array().unwrap();
        // The very rows of the Monday message.
        let list = OwnerList {
            week: "2026-W50",
            as_of: "",
            owner: "alex@shop.example",
            items: &d.open,
            trends: None,
            gone: 0,
        };
        let message = &slack_messages(&list, "D1")[0];
        let rows: Vec<&Value> = message["blocks"].as_array().unwrap()[1..].iter().collect();
        for row in &rows {
            assert!(blocks.contains(row), "missing {row}");
        }
        let text = v.to_string();
        assert!(text.contains("Value won back: *300*"), "{text}");
        // Customer-controlled names only ever as plain_text.
        for b in blocks {
            if b.to_string().contains("evil.example") || b.to_string().contains("<!channel>") {
                let t = if b["type"] == "context" {
                    &b["elements"][0]
                } else {
                    &b["text"]
                };
                assert_eq!(t["type"], "plain_text", "{b}");
            }
        }
        // Many names and outcomes: at most 100 blocks, the rest counted.
        let big = home_view(&data(40, 40));
        let n = big["blocks"].as_array().unwrap().len();
        assert!(n <= MAX_HOME_BLOCKS, "{n}");
        assert!(big.to_string().contains("and 15 more"), "{big}");
        assert!(big.to_string().contains("earlier this month"));
    }

    #[test]
    fn a_huge_view_drops_rows_until_it_fits() {
        let mut d = data(25, 0);
        for (n, i) in d.open.iter_mut().enumerate() {
            i.reason = "x".repeat(200);
            i.name = "n".repeat(2500);
            // An id that travels whole in all three buttons.
            i.customer_id = format!("{n}-{}", "c".repeat(1850));
            i.breakdown = vec![crate::model::BreakdownEntry {
                signal: "s".repeat(100),
                points: 10,
                value: None,
                detail: "d".repeat(3000),
                facts: Default::default(),
            }];
        }
        assert!(serde_json::to_vec(&build_view(&d, 25)).unwrap().len() > MAX_VIEW_BYTES);
        let v = home_view(&d);
        assert!(serde_json::to_vec(&v).unwrap().len() <= MAX_VIEW_BYTES);
        assert!(v.to_string().contains("more on this week's list"));
    }

    #[test]
    fn no_list_and_not_an_owner() {
        let mut d = data(0, 0);
        d.has_list = false;
        d.listed = 0;
        let v = home_view(&d).to_string();
        assert!(v.contains("no list for you this week"), "{v}");
        assert!(v.contains("Nothing recorded yet"));
        let n = not_owner_view().to_string();
        assert!(n.contains("not an owner"));
    }
}
