//! One customer's breakdown and reason (`churn explain`).

use std::path::Path;

use churn_core::list::customers::CustomerReader;
use churn_core::model::BreakdownEntry;
use churn_core::outcome::state::Status;
use churn_core::ports::Reasoner;
use churn_core::run::week::{iso_week, resolve_as_of};
use churn_core::scoring::history::{HistoryEntry, SinceListed, since_listed, sparkline};
use churn_core::scoring::score::{Prior, Scorer};
use serde::Serialize;

use crate::config::Settings;
use crate::store::SqliteStore;
use crate::weekly::{WeeklyError, customers_path, load_rules, open_list, resolve_owner};

/// What `explain` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub customer_id: String,
    pub name: String,
    pub owner: Option<String>,
    pub line: u64,
    pub as_of: String,
    pub week: String,
    pub score: u32,
    pub band: churn_core::Band,
    pub reason: String,
    pub breakdown: Vec<BreakdownEntry>,
    pub status: String,
    pub paused: bool,
    pub surfaced_date: Option<String>,
    pub last_contact: Option<String>,
    pub won_back_date: Option<String>,
    pub rules_version: String,
    /// One entry per weekly run that scored the customer, oldest first (docs/SPEC.md §10).
    pub history: Vec<HistoryEntry>,
    /// The change since the customer was last listed, when that week has a history entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_listed: Option<SinceListed>,
}

impl Explanation {
    /// `History: ▃▅▆ (2026-W46 → 2026-W48) · now 73, up 25 since last listed (2026-W45)`, or
    /// `None` before the first weekly run.
    pub fn history_line(&self) -> Option<String> {
        let (first, last) = (self.history.first()?, self.history.last()?);
        let span = if first.week == last.week {
            first.week.clone()
        } else {
            format!("{} → {}", first.week, last.week)
        };
        let mut line = format!("History: {} ({span})", sparkline(&self.history));
        match &self.since_listed {
            Some(s) => {
                let moved = match s.delta {
                    0 => "unchanged".to_string(),
                    d if d > 0 => format!("up {d}"),
                    d => format!("down {}", d.unsigned_abs()),
                };
                line.push_str(&format!(
                    " · now {}, {moved} since last listed ({}, score {})",
                    self.score, s.week, s.score
                ));
            }
            None if self.surfaced_date.is_none() => line.push_str(" · never listed"),
            None => {}
        }
        Some(line)
    }
}

/// Explains one customer, or `Ok(None)` when the id is not in the list (or its row is bad).
pub fn explain(
    dir: &Path,
    customer_id: &str,
    as_of: Option<&str>,
    rules_path: Option<&Path>,
    reasoner: &dyn Reasoner,
) -> Result<Option<Explanation>, WeeklyError> {
    let settings = Settings::load(dir)?;
    let rules_path = rules_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("rules.txt"));
    let (rules, _) = load_rules(&rules_path)?;
    let as_of = resolve_as_of(as_of, &settings.tz, jiff::Timestamp::now())?;
    let store = SqliteStore::open_read_only(dir)?;
    let state = store.get_state(customer_id)?;
    let (file, _) = open_list(&customers_path(dir))?;
    let mut reader = CustomerReader::new(file, settings.read_options(), &rules.measured_columns())?;
    let params = crate::weekly::p_alive_model(&customers_path(dir), &settings, &rules, as_of)?;
    let scorer = Scorer::new(&rules, as_of).with_p_alive(params);
    while let Some(row) = reader.next_row() {
        let Ok(row) = row else { continue };
        if row.customer_id != customer_id {
            continue;
        }
        let mut buf = Vec::new();
        let score = scorer.score(
            &row,
            Prior {
                won_back_date: state.won_back_date,
            },
            &mut buf,
        );
        let breakdown = scorer.breakdown(&buf);
        let reason = reasoner.reason(&breakdown);
        let d = |d: Option<jiff::civil::Date>| d.map(|d| d.to_string());
        let history = store.history(customer_id)?;
        return Ok(Some(Explanation {
            customer_id: customer_id.to_string(),
            name: row.name.to_string(),
            owner: resolve_owner(row.owner, settings.fallback_owner.as_deref()),
            line: row.line,
            as_of: as_of.to_string(),
            week: iso_week(as_of),
            score: score.score,
            band: score.band,
            reason,
            breakdown,
            status: if state.status == Status::Lost && !state.reactivated_by(row.last_order_date) {
                "lost".into()
            } else {
                "active".into()
            },
            paused: state.is_paused(as_of, rules.contact_pause_days),
            surfaced_date: d(state.surfaced_date),
            last_contact: d(state.last_contact),
            won_back_date: d(state.won_back_date),
            rules_version: rules.version.clone(),
            since_listed: since_listed(&history, state.surfaced_date, score.score),
            history,
        }));
    }
    Ok(None)
}
