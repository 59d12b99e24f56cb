//! Scores where owners work (docs/SPEC.md §10, §4.9): after the Monday run, `churn_score`,
//! `churn_band` and `churn_reason` go into the customer list — the sheet on AWS, `customers.csv`
//! locally — only into those of the columns the list already has, rows found by customer id in
//! the table read just before writing. Which cells change is decided here, once, for both.
//!
//! `churn_reason` is the reason sent this week for a customer on a list that went out this week,
//! and empty for everyone else: it answers "why is this customer on my list", and a stale reason
//! beside a fresh score would mislead (`churn explain` gives anyone's breakdown).

use rustc_hash::FxHashMap;

use crate::list::values::normalize_header;
use crate::model::Band;

/// The columns written, when the list has them.
pub const SCORE_COLUMNS: [&str; 3] = ["churn_score", "churn_band", "churn_reason"];

/// One cell to write: a row index of the table given (0 = the first row after the header) and a
/// column index.
/// What writing the scores into the owners' list did (the weekly report's `list_scores` locally,
/// the run report's `sheet` on AWS).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScoresWritten {
    /// The score columns the list has (none: nothing is written).
    pub columns: Vec<String>,
    /// Cells written (only those whose value changed).
    pub cells: usize,
    /// Why nothing was written, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreCell {
    pub row: usize,
    pub col: usize,
    pub value: String,
}

/// What is written for one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerScore {
    pub score: u32,
    pub band: Band,
}

/// The cells to change: for each row whose `customer_id` has a score, each score column the
/// header has, when its value differs from the cell's (a rerun changes nothing). Rows without a
/// score (bad rows, blank ids) are left alone. `None` when the header has none of the columns,
/// or no `customer_id` column: nothing is written and no column is ever added.
pub fn score_cells(
    header: &[String],
    rows: &[Vec<String>],
    scores: &FxHashMap<String, CustomerScore>,
    reasons: &FxHashMap<String, String>,
) -> Option<Vec<ScoreCell>> {
    let col = |name: &str| {
        let want = normalize_header(name);
        header.iter().position(|h| normalize_header(h) == want)
    };
    let id_col = col("customer_id")?;
    let targets: Vec<(usize, usize)> = SCORE_COLUMNS
        .iter()
        .enumerate()
        .filter_map(|(k, name)| col(name).map(|c| (k, c)))
        .collect();
    if targets.is_empty() {
        return None;
    }
    let mut cells = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let Some(id) = row.get(id_col).map(|c| c.trim()) else {
            continue;
        };
        let Some(s) = scores.get(id) else { continue };
        for &(k, c) in &targets {
            let value = match k {
                0 => s.score.to_string(),
                1 => s.band.as_str().to_string(),
                _ => reasons.get(id).cloned().unwrap_or_default(),
            };
            if row.get(c).map_or("", String::as_str) != value {
                cells.push(ScoreCell {
                    row: r,
                    col: c,
                    value,
                });
            }
        }
    }
    Some(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    fn scores() -> FxHashMap<String, CustomerScore> {
        [("C1", 72, Band::AtRisk), ("C2", 10, Band::Steady)]
            .into_iter()
            .map(|(id, score, band)| (id.to_string(), CustomerScore { score, band }))
            .collect()
    }

    #[test]
    fn only_existing_columns_and_only_changed_cells() {
        let header = row(&["Customer ID", "name", "Churn Band", "churn-score"]);
        let rows = vec![
            row(&["C2", "Bo", "steady", "3"]),
            row(&[" C1 ", "Al"]),
            row(&["C9", "unknown", "", ""]),
            row(&[]),
        ];
        let reasons = FxHashMap::from_iter([("C1".to_string(), "quiet".to_string())]);
        let cells = score_cells(&header, &rows, &scores(), &reasons).unwrap();
        assert_eq!(
            cells,
            vec![
                ScoreCell {
                    row: 0,
                    col: 3,
                    value: "10".into()
                },
                ScoreCell {
                    row: 1,
                    col: 3,
                    value: "72".into()
                },
                ScoreCell {
                    row: 1,
                    col: 2,
                    value: "at-risk".into()
                },
            ]
        );
    }

    #[test]
    fn reasons_only_for_listed_customers_and_cleared_otherwise() {
        let header = row(&["customer_id", "churn_reason"]);
        let rows = vec![row(&["C1", ""]), row(&["C2", "old reason"])];
        let reasons = FxHashMap::from_iter([("C1".to_string(), "quiet".to_string())]);
        let cells = score_cells(&header, &rows, &scores(), &reasons).unwrap();
        assert_eq!(
            cells,
            vec![
                ScoreCell {
                    row: 0,
                    col: 1,
                    value: "quiet".into()
                },
                ScoreCell {
                    row: 1,
                    col: 1,
                    value: String::new()
                },
            ]
        );
    }

    #[test]
    fn a_list_without_the_columns_is_never_given_them() {
        let header = row(&["customer_id", "name", "churn"]);
        assert_eq!(
            score_cells(
                &header,
                &[row(&["C1", "a"])],
                &scores(),
                &FxHashMap::default()
            ),
            None
        );
        let no_id = row(&["name", "churn_score"]);
        assert_eq!(
            score_cells(
                &no_id,
                &[row(&["C1", "a"])],
                &scores(),
                &FxHashMap::default()
            ),
            None
        );
    }
}
