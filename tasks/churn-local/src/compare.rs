//! What-if (`churn weekly --rules NEW --compare`): who would enter or leave this week's lists
//! under an edited rules doc, and why. Both runs are dry runs: nothing is written.

use std::path::Path;

use churn_core::ports::Reasoner;
use serde::Serialize;

use crate::weekly::{CustomerOut, WeeklyError, WeeklyOptions, WeeklyReport, run_weekly};

/// One customer whose place on a list changes.
#[derive(Debug, Clone, Serialize)]
pub struct Move {
    pub customer_id: String,
    pub name: String,
    /// Band and score under the rules in force (`None`: not a candidate, or below the cap).
    pub before: Option<Standing>,
    /// Band and score under the new rules.
    pub after: Option<Standing>,
    /// Why, in words.
    pub why: String,
}

/// A customer's standing under one rules doc.
#[derive(Debug, Clone, Serialize)]
pub struct Standing {
    pub band: churn_core::Band,
    pub score: u32,
    pub reason: String,
    /// Position on the owner's list (1 = first).
    pub position: usize,
}

/// One owner's changes.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerChanges {
    pub owner: String,
    pub entering: Vec<Move>,
    pub leaving: Vec<Move>,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub week: String,
    pub as_of: String,
    pub rules_version_before: String,
    pub rules_version_after: String,
    pub owners: Vec<OwnerChanges>,
    pub entering: usize,
    pub leaving: usize,
}

fn standing(list: &[CustomerOut], id: &str) -> Option<Standing> {
    list.iter().position(|c| c.customer_id == id).map(|i| {
        let c = &list[i];
        Standing {
            band: c.band,
            score: c.score,
            reason: c.reason.clone(),
            position: i + 1,
        }
    })
}

/// Compares this week's lists under the folder's rules with those under `new_rules`.
pub fn compare_rules(
    dir: &Path,
    new_rules: &Path,
    as_of: Option<String>,
    owners: Vec<String>,
    reasoner: &(dyn Reasoner + Sync),
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Comparison, WeeklyError> {
    let base = WeeklyOptions {
        as_of,
        dry_run: true,
        owners,
        ignore_ledger: true,
        ..WeeklyOptions::default()
    };
    let before = run_weekly(dir, &base, reasoner, progress)?;
    let after = run_weekly(
        dir,
        &WeeklyOptions {
            rules_path: Some(new_rules.to_path_buf()),
            ..base
        },
        reasoner,
        progress,
    )?;
    Ok(diff(&before, &after))
}

fn diff(before: &WeeklyReport, after: &WeeklyReport) -> Comparison {
    let mut names: Vec<&str> = before
        .owners
        .iter()
        .chain(&after.owners)
        .map(|o| o.owner.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let empty: Vec<CustomerOut> = Vec::new();
    let list = |r: &'_ WeeklyReport, owner: &str| -> Vec<CustomerOut> {
        r.owners
            .iter()
            .find(|o| o.owner == owner)
            .map_or_else(|| empty.clone(), |o| o.customers.clone())
    };
    let mut owners = Vec::new();
    for owner in names {
        let (old, new) = (list(before, owner), list(after, owner));
        let entering: Vec<Move> = new
            .iter()
            .filter(|c| !old.iter().any(|o| o.customer_id == c.customer_id))
            .map(|c| {
                let after = standing(&new, &c.customer_id);
                Move {
                    customer_id: c.customer_id.clone(),
                    name: c.name.clone(),
                    before: None,
                    why: format!(
                        "now {} with {} points: {}",
                        c.band,
                        c.score,
                        c.breakdown
                            .iter()
                            .filter(|b| b.points > 0)
                            .map(|b| format!("{} {}", b.signal, b.points))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    after,
                }
            })
            .collect();
        let leaving: Vec<Move> = old
            .iter()
            .filter(|c| !new.iter().any(|n| n.customer_id == c.customer_id))
            .map(|c| Move {
                customer_id: c.customer_id.clone(),
                name: c.name.clone(),
                before: standing(&old, &c.customer_id),
                after: None,
                why: format!(
                    "was {} with {} points; under the new rules not at-risk or churning, or below the weekly cap",
                    c.band, c.score
                ),
            })
            .collect();
        if !entering.is_empty() || !leaving.is_empty() {
            owners.push(OwnerChanges {
                owner: owner.to_string(),
                entering,
                leaving,
            });
        }
    }
    Comparison {
        week: after.week.clone(),
        as_of: after.as_of.clone(),
        rules_version_before: before.rules_version.clone(),
        rules_version_after: after.rules_version.clone(),
        entering: owners.iter().map(|o| o.entering.len()).sum(),
        leaving: owners.iter().map(|o| o.leaving.len()).sum(),
        owners,
    }
}
