//! Score history (docs/SPEC.md §5, §10): what one weekly entry is, how a listed customer's score
//! moved ("up 25 in 3 weeks"), and the one-line sparkline `churn explain` shows. Pure: the
//! stores (`score_history` in `churn.db`, `cp-history` on AWS) only keep and return entries.

use std::collections::BTreeMap;

use jiff::civil::{Date, ISOWeekDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::model::Band;
use crate::run::week::days_between;

/// How long an entry is kept: two years (DynamoDB TTL on AWS; pruned by the weekly run locally).
pub const RETENTION_DAYS: i64 = 731;

/// How far back the trend on a list row looks: the oldest comparable entry within this many
/// weeks is the starting point.
pub const TREND_WEEKS: u32 = 4;

/// One customer's score in one weekly run (docs/SPEC.md §10 `explain --json` `history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// ISO week id, `2026-W48`.
    pub week: String,
    pub score: u32,
    pub band: Band,
    /// The rules that produced the score.
    pub rules_version: String,
}

/// How a listed customer's score moved: `delta` points over `weeks` weeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trend {
    pub delta: i64,
    pub weeks: u32,
}

impl Trend {
    /// `up 25 in 3 weeks`, `down 4 in 1 week`, `no change in 2 weeks`.
    pub fn sentence(&self) -> String {
        let weeks = if self.weeks == 1 {
            "1 week".to_string()
        } else {
            format!("{} weeks", self.weeks)
        };
        match self.delta {
            0 => format!("no change in {weeks}"),
            d if d > 0 => format!("up {d} in {weeks}"),
            d => format!("down {} in {weeks}", d.unsigned_abs()),
        }
    }
}

/// Trends of listed customers, by customer id (what the engine passes to the messages).
pub type Trends = BTreeMap<String, Trend>;

/// The Monday of an ISO week id (`2026-W48`), or `None` when it is not one.
pub fn week_monday(week: &str) -> Option<Date> {
    let (y, w) = week.split_once("-W")?;
    if y.len() != 4 || w.len() != 2 {
        return None;
    }
    ISOWeekDate::new(y.parse().ok()?, w.parse().ok()?, Weekday::Monday)
        .ok()
        .map(|d| d.date())
}

/// Whole weeks from week `from` to week `to` (negative when `to` is earlier); `None` for a
/// malformed id.
pub fn weeks_between(from: &str, to: &str) -> Option<i64> {
    Some(days_between(week_monday(from)?, week_monday(to)?) / 7)
}

/// The ISO week ids of the `n` weeks before `week`, newest first (what to fetch for a trend).
pub fn previous_weeks(week: &str, n: u32) -> Vec<String> {
    let Some(monday) = week_monday(week) else {
        return Vec::new();
    };
    (1..=i64::from(n))
        .filter_map(|i| monday.checked_sub(jiff::Span::new().weeks(i)).ok())
        .map(crate::run::week::iso_week)
        .collect()
}

/// How `score` in `week` moved from the oldest entry of `history` that is earlier than `week`,
/// at most [`TREND_WEEKS`] before it, and scored by the same rules (`rules_version`): scores
/// under other rules are not comparable. `None` when there is no such entry.
pub fn trend(
    history: &[HistoryEntry],
    week: &str,
    score: u32,
    rules_version: &str,
) -> Option<Trend> {
    history
        .iter()
        .filter(|e| e.rules_version == rules_version)
        .filter_map(|e| {
            let w = weeks_between(&e.week, week)?;
            (1..=i64::from(TREND_WEEKS)).contains(&w).then_some((w, e))
        })
        .max_by_key(|(w, _)| *w)
        .map(|(w, e)| Trend {
            delta: i64::from(score) - i64::from(e.score),
            weeks: w as u32,
        })
}

/// The trends of a shortlist's customers that have one, from their stored `histories` (by id).
pub fn plan_trends(
    items: &[crate::model::ListItem],
    histories: &rustc_hash::FxHashMap<String, Vec<HistoryEntry>>,
    week: &str,
    rules_version: &str,
) -> Trends {
    items
        .iter()
        .filter_map(|i| {
            let h = histories.get(&i.customer_id)?;
            Some((
                i.customer_id.clone(),
                trend(h, week, i.score, rules_version)?,
            ))
        })
        .collect()
}

/// Puts this week's entry into a customer's history (oldest first), replacing an entry of the
/// same week: a rerun of a week keeps one entry.
pub fn upsert(history: &mut Vec<HistoryEntry>, entry: HistoryEntry) {
    history.retain(|e| e.week != entry.week);
    history.push(entry);
    history.sort_by(|a, b| a.week.cmp(&b.week));
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per entry, oldest first, on a fixed 0–100 scale (so two customers' lines
/// compare): `▁▃▆█`. Empty for no history.
pub fn sparkline(history: &[HistoryEntry]) -> String {
    history
        .iter()
        .map(|e| BARS[(e.score.min(100) as usize * (BARS.len() - 1) + 50) / 100])
        .collect()
}

/// What `churn explain` says about the change since the customer was last listed: the entry
/// of the week of `surfaced` (the last listing), and the points since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinceListed {
    /// The week the customer was last listed.
    pub week: String,
    /// The score then.
    pub score: u32,
    /// Points since (positive: riskier now).
    pub delta: i64,
}

/// The change since the last listing (`surfaced`, the state's `surfaced_date`), when that week
/// has a history entry.
pub fn since_listed(
    history: &[HistoryEntry],
    surfaced: Option<Date>,
    score: u32,
) -> Option<SinceListed> {
    let week = crate::run::week::iso_week(surfaced?);
    let e = history.iter().find(|e| e.week == week)?;
    Some(SinceListed {
        week,
        score: e.score,
        delta: i64::from(score) - i64::from(e.score),
    })
}

/// When an entry written for `as_of` expires, in Unix seconds (the DynamoDB TTL attribute).
pub fn expires_at(as_of: Date) -> i64 {
    crate::run::week::day_number(as_of).saturating_add(RETENTION_DAYS) * 86_400
}

/// The oldest week kept when the run is in `week` (older entries are pruned locally).
pub fn oldest_kept_week(week: &str) -> Option<String> {
    let monday = week_monday(week)?;
    monday
        .checked_sub(jiff::Span::new().days(RETENTION_DAYS))
        .ok()
        .map(crate::run::week::iso_week)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(week: &str, score: u32, v: &str) -> HistoryEntry {
        HistoryEntry {
            week: week.into(),
            score,
            band: Band::Watch,
            rules_version: v.into(),
        }
    }

    #[test]
    fn sentences() {
        assert_eq!(
            Trend {
                delta: 25,
                weeks: 3
            }
            .sentence(),
            "up 25 in 3 weeks"
        );
        assert_eq!(
            Trend {
                delta: -4,
                weeks: 1
            }
            .sentence(),
            "down 4 in 1 week"
        );
        assert_eq!(
            Trend { delta: 0, weeks: 2 }.sentence(),
            "no change in 2 weeks"
        );
    }

    #[test]
    fn weeks_cross_years_and_refuse_garbage() {
        assert_eq!(weeks_between("2026-W52", "2027-W02"), Some(3));
        assert_eq!(weeks_between("2020-W53", "2021-W01"), Some(1));
        assert_eq!(weeks_between("2026-W48", "2026-W45"), Some(-3));
        assert_eq!(weeks_between("2026-48", "2026-W45"), None);
        assert_eq!(weeks_between("2026-W54", "2026-W45"), None);
        assert_eq!(
            week_monday("2026-W48"),
            Some(jiff::civil::date(2026, 11, 23))
        );
        assert_eq!(
            previous_weeks("2027-W01", 2),
            vec!["2026-W53".to_string(), "2026-W52".to_string()]
        );
    }

    #[test]
    fn trend_starts_at_the_oldest_comparable_entry_in_the_window() {
        let h = vec![
            e("2026-W43", 5, "v1"),  // five weeks back: outside the window
            e("2026-W45", 40, "v1"), // the start
            e("2026-W46", 50, "v1"),
            e("2026-W47", 55, "v1"),
            e("2026-W48", 99, "v1"), // this week's own entry (a rerun) is not a start
        ];
        assert_eq!(
            trend(&h, "2026-W48", 65, "v1"),
            Some(Trend {
                delta: 25,
                weeks: 3
            })
        );
        // A rules edit makes older scores incomparable.
        let mut edited = h.clone();
        edited[1].rules_version = "v0".into();
        assert_eq!(
            trend(&edited, "2026-W48", 65, "v1"),
            Some(Trend {
                delta: 15,
                weeks: 2
            })
        );
        assert_eq!(trend(&h, "2026-W48", 65, "v2"), None);
        assert_eq!(trend(&[], "2026-W48", 65, "v1"), None);
        assert_eq!(trend(&h[..1], "2026-W48", 65, "v1"), None);
        // A missed week counts as a week.
        assert_eq!(
            trend(&[e("2026-W46", 70, "v1")], "2026-W48", 60, "v1"),
            Some(Trend {
                delta: -10,
                weeks: 2
            })
        );
    }

    #[test]
    fn upsert_replaces_the_same_week_and_keeps_order() {
        let mut h = vec![e("2026-W46", 1, "v"), e("2026-W48", 2, "v")];
        upsert(&mut h, e("2026-W47", 3, "v"));
        upsert(&mut h, e("2026-W48", 4, "v"));
        let weeks: Vec<(&str, u32)> = h.iter().map(|e| (e.week.as_str(), e.score)).collect();
        assert_eq!(weeks, [("2026-W46", 1), ("2026-W47", 3), ("2026-W48", 4)]);
    }

    #[test]
    fn sparkline_uses_a_fixed_scale() {
        let h = [
            e("a", 0, "v"),
            e("b", 50, "v"),
            e("c", 100, "v"),
            e("d", 250, "v"),
            e("e", 7, "v"),
        ];
        assert_eq!(sparkline(&h), "▁▅██▁");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn since_listed_needs_that_weeks_entry() {
        let h = vec![e("2026-W45", 48, "v"), e("2026-W47", 60, "v")];
        let s = since_listed(&h, Some(jiff::civil::date(2026, 11, 3)), 73).unwrap();
        assert_eq!((s.week.as_str(), s.score, s.delta), ("2026-W45", 48, 25));
        assert_eq!(
            since_listed(&h, Some(jiff::civil::date(2026, 11, 10)), 73),
            None
        );
        assert_eq!(since_listed(&h, None, 73), None);
    }

    #[test]
    fn retention_is_two_years() {
        let d = jiff::civil::date(2026, 11, 23);
        assert_eq!(
            expires_at(d),
            "2028-11-23T00:00:00Z"
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_second()
        );
        assert_eq!(oldest_kept_week("2026-W48").as_deref(), Some("2024-W47"));
    }
}
