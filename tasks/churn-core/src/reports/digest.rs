//! The Friday digest (docs/SPEC.md §9): the watch band, the week's outcomes so far and the customers who
//! came back on their own, as plain tables — a Slack message for the business's own channel and
//! a text version. No model; the same inputs always give the same output.
//!
//! The week runs from Monday 00:00 to the end of the as-of day, in the business's time zone.
//! Outcomes later undone are left out (as in the monthly counts).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::model::Band;
use crate::notify::reason::escape_slack;
use crate::outcome::state::{AuditItem, CustomerState, LostReason, Status, UNDOABLE_ACTIONS};
use crate::reports::summary::money;
use crate::run::week::iso_week;

/// Watch-band rows shown by default; the rest are counted ("and 40 more").
pub const DEFAULT_MAX_WATCH_ROWS: usize = 300;
/// Longest name or owner shown in a table cell, in characters.
const MAX_CELL_CHARS: usize = 32;
/// Blocks per message: Slack's 50, less the header each part carries.
const BODY_BLOCKS_PER_MESSAGE: usize = crate::notify::message::MAX_BLOCKS - 1;

/// What the digest shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestOptions {
    /// At most this many watch-band rows (highest scores first).
    pub max_watch_rows: usize,
}

impl Default for DigestOptions {
    fn default() -> Self {
        DigestOptions {
            max_watch_rows: DEFAULT_MAX_WATCH_ROWS,
        }
    }
}

/// A customer in the watch band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchRow {
    pub customer_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub score: Option<u32>,
}

/// An outcome recorded this week (and not undone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRow {
    /// Local date it was recorded.
    pub date: Date,
    pub customer_id: String,
    pub name: String,
    /// `reached_out`, `won_back` or `lost`.
    pub action: String,
    pub by_user: String,
    /// Recovered value for Won back, the reason for Lost.
    pub detail: Option<String>,
    /// The audit item's `ts` (unique; orders the rows).
    pub ts: String,
}

/// A lost customer whose newer order brought them back this week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReturnRow {
    pub date: Date,
    pub customer_id: String,
    pub name: String,
    pub last_order_date: Option<String>,
    pub ts: String,
}

/// The week's digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    /// ISO week of the as-of date (`2026-W48`).
    pub week: String,
    /// The Monday the week starts.
    pub from: Date,
    /// The as-of date (the digest covers `from` to the end of this day).
    pub to: Date,
    /// Everyone in the watch band: score descending, then customer id.
    pub watch_total: usize,
    /// The rows shown (at most `max_watch_rows`).
    pub watch: Vec<WatchRow>,
    /// In the order they were recorded.
    pub outcomes: Vec<OutcomeRow>,
    /// In the order they came back.
    pub came_back: Vec<ReturnRow>,
}

/// A date or time zone the digest cannot place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the digest week of {0} cannot be placed in the time zone")]
pub struct WindowError(pub Date);

/// The Monday of `as_of`'s ISO week.
pub fn week_start(as_of: Date) -> Date {
    let back = i64::from(as_of.weekday().to_monday_zero_offset());
    as_of.checked_sub(Span::new().days(back)).unwrap_or(as_of)
}

/// The audit window `[from, to)` as `ts` strings (RFC 3339 UTC with nanoseconds, the audit's own
/// format): Monday 00:00 local to the start of the day after `as_of`, local.
pub fn audit_window(as_of: Date, tz: &TimeZone) -> Result<(String, String), WindowError> {
    let start = week_start(as_of);
    let next = as_of.tomorrow().map_err(|_| WindowError(as_of))?;
    let at = |d: Date| {
        d.to_zoned_datetime(tz.clone())
            .map(|z| format!("{:.9}", z.timestamp()))
            .map_err(|_| WindowError(as_of))
    };
    Ok((at(start)?, at(next)?))
}

/// Builds the digest for the week of `as_of`. `states` may hold anyone (only the watch band,
/// not lost, is listed); `audit` the items of [`audit_window`] (others are ignored); `name` gives
/// a customer's display name from the list (the id is shown when the list does not have them).
pub fn build_digest<'a>(
    as_of: Date,
    tz: &TimeZone,
    states: impl IntoIterator<Item = &'a CustomerState>,
    audit: &[AuditItem],
    name: impl Fn(&str) -> Option<String>,
    options: &DigestOptions,
) -> Result<Digest, WindowError> {
    let (from_ts, to_ts) = audit_window(as_of, tz)?;
    let display = |id: &str| {
        name(id)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| id.to_string())
    };

    let mut watch: Vec<WatchRow> = states
        .into_iter()
        .filter(|s| s.band == Some(Band::Watch) && s.status != Status::Lost)
        .map(|s| WatchRow {
            customer_id: s.customer_id.clone(),
            name: display(&s.customer_id),
            owner: s.owner.clone(),
            score: s.score,
        })
        .collect();
    watch.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    let watch_total = watch.len();
    watch.truncate(options.max_watch_rows);

    let mut week: Vec<&AuditItem> = audit
        .iter()
        .filter(|i| i.ts.as_str() >= from_ts.as_str() && i.ts.as_str() < to_ts.as_str())
        .collect();
    week.sort_by(|a, b| (&a.ts, &a.customer_id).cmp(&(&b.ts, &b.customer_id)));
    let undone: Vec<(&str, &str)> = week
        .iter()
        .filter(|i| i.action == "undo")
        .filter_map(|i| Some((i.customer_id.as_str(), i.notes.get("undoes")?.as_str()?)))
        .collect();
    let local_date = |ts: &str| {
        ts.parse::<Timestamp>()
            .map(|t| t.to_zoned_datetime(tz.clone()).date())
            .unwrap_or(as_of)
    };
    let mut outcomes = Vec::new();
    let mut came_back = Vec::new();
    for i in week {
        if UNDOABLE_ACTIONS.contains(&i.action.as_str()) {
            if undone.contains(&(i.customer_id.as_str(), i.ts.as_str())) {
                continue;
            }
            outcomes.push(OutcomeRow {
                date: local_date(&i.ts),
                customer_id: i.customer_id.clone(),
                name: display(&i.customer_id),
                action: i.action.clone(),
                by_user: i.by_user.clone(),
                detail: outcome_detail(i),
                ts: i.ts.clone(),
            });
        } else if i.action == "reactivated" {
            came_back.push(ReturnRow {
                date: local_date(&i.ts),
                customer_id: i.customer_id.clone(),
                name: display(&i.customer_id),
                last_order_date: i
                    .notes
                    .get("last_order_date")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                ts: i.ts.clone(),
            });
        }
    }
    Ok(Digest {
        week: iso_week(as_of),
        from: week_start(as_of),
        to: as_of,
        watch_total,
        watch,
        outcomes,
        came_back,
    })
}

/// Display names of the `wanted` customers, and every customer email (no message may go to
/// one), in one pass over the list. Bad rows are skipped: the digest only needs names.
pub fn names_and_emails<R: std::io::Read>(
    mut reader: crate::list::customers::CustomerReader<R>,
    wanted: &rustc_hash::FxHashSet<&str>,
) -> (
    rustc_hash::FxHashMap<String, String>,
    crate::run::scan::CustomerEmails,
) {
    let mut names = rustc_hash::FxHashMap::default();
    let mut emails = crate::run::scan::CustomerEmails::default();
    while let Some(row) = reader.next_row() {
        if let Ok(row) = row {
            emails.insert(row.email);
            if wanted.contains(row.customer_id) {
                names.insert(row.customer_id.to_string(), row.name.to_string());
            }
        }
    }
    (names, emails)
}

fn outcome_detail(i: &AuditItem) -> Option<String> {
    match i.action.as_str() {
        "won_back" => i
            .notes
            .get("recovered_value")
            .and_then(Value::as_f64)
            .map(|v| format!("value {}", money(v))),
        "lost" => {
            let r = i.notes.get("lost_reason").and_then(Value::as_str)?;
            Some(LostReason::parse(r).map_or_else(|| r.to_string(), |l| l.label().to_string()))
        }
        _ => None,
    }
}

fn action_label(action: &str) -> &str {
    match action {
        "reached_out" => "Reached out",
        "won_back" => "Won back",
        "lost" => "Lost",
        other => other,
    }
}

fn short_date(d: Date) -> String {
    d.strftime("%a %-d %b").to_string()
}

/// One table: a title, column names and rows of cells (raw text; escaped when rendered).
struct Table {
    title: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Said instead of the table when it has no rows.
    empty: &'static str,
    /// A line under the table (e.g. "and 40 more").
    footer: Option<String>,
}

/// Cell text on one line, at most `MAX_CELL_CHARS`, with no backticks (they would end Slack's
/// code block).
fn cell(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() || c == '`' { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() <= MAX_CELL_CHARS {
        return clean.to_string();
    }
    let mut out: String = clean.chars().take(MAX_CELL_CHARS - 1).collect();
    out.push('…');
    out
}

impl Table {
    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        w
    }

    fn line(cells: &[String], widths: &[usize]) -> String {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                let pad = widths[i] - c.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_string()
    }

    fn header_line(&self, widths: &[usize]) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
        Table::line(&cols, widths)
    }

    fn lines(&self) -> Vec<String> {
        let widths = self.widths();
        self.rows.iter().map(|r| Table::line(r, &widths)).collect()
    }
}

impl Digest {
    fn title(&self) -> String {
        format!(
            "Churn digest, week {} ({} to {})",
            self.week,
            short_date(self.from),
            short_date(self.to)
        )
    }

    /// One line for notifications and logs (counts only, no names).
    pub fn headline(&self) -> String {
        if self.is_empty() {
            return format!("{}: a quiet week, nothing to report.", self.title());
        }
        format!(
            "{}: {} in the watch band, {} outcome{} recorded, {} came back on their own.",
            self.title(),
            self.watch_total,
            self.outcomes.len(),
            if self.outcomes.len() == 1 { "" } else { "s" },
            self.came_back.len()
        )
    }

    /// Nobody in the watch band, no outcome, nobody came back.
    pub fn is_empty(&self) -> bool {
        self.watch_total == 0 && self.outcomes.is_empty() && self.came_back.is_empty()
    }

    fn tables(&self) -> Vec<Table> {
        let more = self.watch_total - self.watch.len();
        vec![
            Table {
                title: format!("Watch band ({})", self.watch_total),
                columns: vec!["Customer", "Owner", "Score"],
                rows: self
                    .watch
                    .iter()
                    .map(|r| {
                        vec![
                            cell(&r.name),
                            cell(r.owner.as_deref().unwrap_or("-")),
                            r.score.map_or("-".into(), |s| s.to_string()),
                        ]
                    })
                    .collect(),
                empty: "Nobody is in the watch band.",
                footer: (more > 0).then(|| format!("…and {more} more with lower scores.")),
            },
            Table {
                title: format!("Outcomes this week ({})", self.outcomes.len()),
                columns: vec!["Date", "Customer", "Outcome", "By", "Detail"],
                rows: self
                    .outcomes
                    .iter()
                    .map(|r| {
                        vec![
                            short_date(r.date),
                            cell(&r.name),
                            action_label(&r.action).to_string(),
                            cell(&r.by_user),
                            cell(r.detail.as_deref().unwrap_or("")),
                        ]
                    })
                    .collect(),
                empty: "No outcomes recorded this week.",
                footer: None,
            },
            Table {
                title: format!("Came back on their own ({})", self.came_back.len()),
                columns: vec!["Date", "Customer", "Last order"],
                rows: self
                    .came_back
                    .iter()
                    .map(|r| {
                        vec![
                            short_date(r.date),
                            cell(&r.name),
                            r.last_order_date.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect(),
                empty: "Nobody came back on their own this week.",
                footer: None,
            },
        ]
    }

    /// The plain-text version (terminal, logs of a dry run, email).
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.title());
        if self.is_empty() {
            out.push_str("\nA quiet week: nobody in the watch band, no outcomes recorded, nobody came back on their own.\n");
            return out;
        }
        for t in self.tables() {
            out.push_str(&format!("\n{}\n", t.title));
            if t.rows.is_empty() {
                out.push_str(&format!("  {}\n", t.empty));
                continue;
            }
            let widths = t.widths();
            out.push_str(&format!("  {}\n", t.header_line(&widths)));
            for l in t.lines() {
                out.push_str(&format!("  {l}\n"));
            }
            if let Some(f) = &t.footer {
                out.push_str(&format!("  {f}\n"));
            }
        }
        out
    }

    /// The `chat.postMessage` bodies (`{"channel", "text", "blocks"}`), in order: a header, then
    /// per table a title section and the table in monospaced sections of at most 3,000
    /// characters (the column names repeated in each); at most 50 blocks a message, split into
    /// parts ("part 2 of 3") when longer.
    pub fn slack_messages(&self, channel: &str) -> Vec<Value> {
        let section =
            |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
        // Table text holds names and other customer text: escaped, fenced (not formatted) and
        // `verbatim` (Slack does not auto-link URLs or names in it).
        let table = |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": true}});
        let mut body: Vec<Value> = Vec::new();
        if self.is_empty() {
            body.push(section(
                "A quiet week: nobody in the watch band, no outcomes recorded, nobody came back on their own."
                    .into(),
            ));
        } else {
            for t in self.tables() {
                body.push(section(format!("*{}*", escape_slack(&t.title))));
                if t.rows.is_empty() {
                    body.push(section(format!("_{}_", t.empty)));
                    continue;
                }
                let widths = t.widths();
                let head = escape_slack(&t.header_line(&widths));
                let fence = |lines: &[String]| format!("```\n{head}\n{}\n```", lines.join("\n"));
                let mut chunk: Vec<String> = Vec::new();
                for l in t.lines() {
                    let l = escape_slack(&l);
                    chunk.push(l);
                    if fence(&chunk).chars().count() > crate::notify::message::MAX_TEXT_CHARS {
                        let l = chunk.pop().unwrap_or_default();
                        body.push(table(fence(&chunk)));
                        chunk = vec![l];
                    }
                }
                if !chunk.is_empty() {
                    body.push(table(fence(&chunk)));
                }
                if let Some(f) = &t.footer {
                    body.push(section(format!("_{}_", escape_slack(f))));
                }
            }
        }
        let parts: Vec<&[Value]> = body.chunks(BODY_BLOCKS_PER_MESSAGE).collect();
        let n = parts.len();
        let headline = self.headline();
        parts
            .into_iter()
            .enumerate()
            .map(|(i, blocks)| {
                let title = if n > 1 {
                    format!("{} (part {} of {n})", self.title(), i + 1)
                } else {
                    self.title()
                };
                let mut all = vec![json!({
                    "type": "header",
                    "text": {"type": "plain_text", "text": title, "emoji": false}
                })];
                all.extend(blocks.iter().cloned());
                json!({
                    "channel": channel,
                    "text": if n > 1 { format!("{headline} (part {} of {n})", i + 1) } else { headline.clone() },
                    "blocks": all,
                    "unfurl_links": false,
                    "unfurl_media": false
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::validate_message;
    use jiff::civil::date;
    use serde_json::Map;

    fn tz() -> TimeZone {
        TimeZone::get("Asia/Singapore").unwrap()
    }

    fn item(id: &str, ts: &str, action: &str, notes: Value) -> AuditItem {
        AuditItem {
            customer_id: id.into(),
            ts: ts.into(),
            action: action.into(),
            by_user: "sam".into(),
            before: Map::new(),
            after: Map::new(),
            notes: notes.as_object().cloned().unwrap_or_default(),
        }
    }

    fn watch(id: &str, score: u32) -> CustomerState {
        CustomerState {
            band: Some(Band::Watch),
            score: Some(score),
            owner: Some("ana@shop.example".into()),
            ..CustomerState::new(id)
        }
    }

    #[test]
    fn week_runs_from_monday_local() {
        assert_eq!(week_start(date(2026, 11, 27)), date(2026, 11, 23));
        assert_eq!(week_start(date(2026, 11, 23)), date(2026, 11, 23));
        assert_eq!(week_start(date(2026, 11, 29)), date(2026, 11, 23));
        let (from, to) = audit_window(date(2026, 11, 27), &tz()).unwrap();
        // Monday 00:00 in Singapore is Sunday 16:00 UTC.
        assert_eq!(from, "2026-11-22T16:00:00.000000000Z");
        assert_eq!(to, "2026-11-27T16:00:00.000000000Z");
    }

    #[test]
    fn lists_watch_band_this_weeks_outcomes_and_returns() {
        let mut lost = watch("C9", 40);
        lost.status = Status::Lost;
        let states = vec![
            watch("C2", 35),
            watch("C1", 35),
            watch("C3", 48),
            lost,
            CustomerState {
                band: Some(Band::AtRisk),
                ..CustomerState::new("C4")
            },
        ];
        let audit = vec![
            // Last week (Friday in Singapore): not this week's.
            item(
                "C5",
                "2026-11-20T03:00:00.000000000Z",
                "won_back",
                json!({}),
            ),
            // Sunday 23:30 Singapore: still last week.
            item(
                "C5",
                "2026-11-22T15:30:00.000000000Z",
                "lost",
                json!({"lost_reason": "price"}),
            ),
            item(
                "C6",
                "2026-11-23T01:00:00.000000000Z",
                "reached_out",
                json!({}),
            ),
            item(
                "C7",
                "2026-11-24T02:00:00.000000000Z",
                "won_back",
                json!({"recovered_value": 1200.0}),
            ),
            item(
                "C8",
                "2026-11-24T03:00:00.000000000Z",
                "lost",
                json!({"lost_reason": "competitor"}),
            ),
            item(
                "C6",
                "2026-11-25T01:00:00.000000000Z",
                "reached_out",
                json!({}),
            ),
            item(
                "C6",
                "2026-11-25T01:05:00.000000000Z",
                "undo",
                json!({"undoes": "2026-11-25T01:00:00.000000000Z"}),
            ),
            item(
                "C10",
                "2026-11-26T05:00:00.000000000Z",
                "reactivated",
                json!({"last_order_date": "2026-11-25"}),
            ),
            item(
                "run:2026-W48",
                "2026-11-23T00:10:00.000000000Z",
                "score_refresh",
                json!({}),
            ),
        ];
        let names = |id: &str| (id != "C8").then(|| format!("Name {id}"));
        let d = build_digest(
            date(2026, 11, 27),
            &tz(),
            &states,
            &audit,
            names,
            &DigestOptions::default(),
        )
        .unwrap();
        assert_eq!(d.week, "2026-W48");
        let ids: Vec<&str> = d.watch.iter().map(|r| r.customer_id.as_str()).collect();
        assert_eq!(ids, ["C3", "C1", "C2"]);
        let outcomes: Vec<(&str, &str)> = d
            .outcomes
            .iter()
            .map(|r| (r.customer_id.as_str(), r.action.as_str()))
            .collect();
        assert_eq!(
            outcomes,
            [("C6", "reached_out"), ("C7", "won_back"), ("C8", "lost")]
        );
        assert_eq!(d.outcomes[0].date, date(2026, 11, 23));
        assert_eq!(d.outcomes[1].detail.as_deref(), Some("value 1,200"));
        assert_eq!(
            d.outcomes[2].detail.as_deref(),
            Some("switched to a competitor")
        );
        assert_eq!(
            d.outcomes[2].name, "C8",
            "the id stands in for a name the list lacks"
        );
        assert_eq!(d.came_back.len(), 1);
        assert_eq!(
            d.came_back[0].last_order_date.as_deref(),
            Some("2026-11-25")
        );
        let text = d.text();
        assert!(text.contains("Watch band (3)"), "{text}");
        assert!(text.contains("Name C3"), "{text}");
        assert!(!text.contains("C5"), "{text}");
        let msgs = d.slack_messages("#churn");
        assert_eq!(msgs.len(), 1);
        validate_message(&msgs[0]).unwrap();
        assert!(
            !msgs[0]["text"].as_str().unwrap().contains("Name"),
            "the fallback text has counts only"
        );
        // Sections holding names are verbatim (never auto-linked) and fenced (never formatted).
        let with_names: Vec<&Value> = msgs[0]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| {
                b["text"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Name C3"))
            })
            .collect();
        assert!(!with_names.is_empty());
        for b in with_names {
            assert_eq!(b["text"]["verbatim"], true, "{b}");
            assert!(b["text"]["text"].as_str().unwrap().starts_with("```"));
        }
    }

    #[test]
    fn long_digest_is_split_within_slack_limits() {
        let states: Vec<CustomerState> = (0..4000)
            .map(|i| watch(&format!("C{i:05}"), 30 + (i % 20)))
            .collect();
        let names = |id: &str| {
            Some(format!(
                "Customer <{id}> & Sons, a rather long trading name Ltd"
            ))
        };
        let d = build_digest(
            date(2026, 11, 27),
            &tz(),
            &states,
            &[],
            names,
            &DigestOptions {
                max_watch_rows: usize::MAX,
            },
        )
        .unwrap();
        let msgs = d.slack_messages("C0123");
        assert!(msgs.len() >= 2, "{} messages", msgs.len());
        let mut rows = 0;
        for (i, m) in msgs.iter().enumerate() {
            validate_message(m).unwrap_or_else(|e| panic!("message {i}: {e}"));
            let header = m["blocks"][0]["text"]["text"].as_str().unwrap();
            assert!(
                header.ends_with(&format!("(part {} of {})", i + 1, msgs.len())),
                "{header}"
            );
            for b in m["blocks"].as_array().unwrap() {
                let t = b["text"]["text"].as_str().unwrap();
                if t.starts_with("```") {
                    assert!(
                        t.contains("&lt;C") && !t.contains("<C"),
                        "names are escaped"
                    );
                    rows += t.lines().count() - 3;
                }
            }
        }
        assert_eq!(
            rows, 4000,
            "every row once, column names repeated per block"
        );
        // The cap keeps a channel readable.
        let capped = build_digest(
            date(2026, 11, 27),
            &tz(),
            &states,
            &[],
            |_| None,
            &DigestOptions::default(),
        )
        .unwrap();
        assert_eq!((capped.watch.len(), capped.watch_total), (300, 4000));
        assert!(capped.text().contains("…and 3700 more"));
    }

    #[test]
    fn empty_week_says_so() {
        let d = build_digest(
            date(2026, 11, 27),
            &tz(),
            &[],
            &[],
            |_| None,
            &DigestOptions::default(),
        )
        .unwrap();
        assert!(d.is_empty());
        assert!(d.text().contains("A quiet week"));
        let msgs = d.slack_messages("#churn");
        assert_eq!(msgs.len(), 1);
        validate_message(&msgs[0]).unwrap();
        assert!(
            msgs[0]["blocks"][1]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("quiet week")
        );
    }

    #[test]
    fn backticks_and_newlines_stay_inside_the_cell() {
        assert_eq!(cell("a```b\nc"), "a   b c");
        assert_eq!(cell(&"x".repeat(40)).chars().count(), MAX_CELL_CHARS);
    }
}
