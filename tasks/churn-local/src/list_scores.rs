//! Scores where owners work, locally (docs/SPEC.md §10): after a real Monday run, `churn_score`,
//! `churn_band` and `churn_reason` go into `customers.csv` — only into those of the columns it
//! already has, rows found by customer id in the bytes read just before writing, every other byte
//! unchanged, written to a temporary file and renamed. A file that changed between that read and
//! the write is refused and left as it is. Which cells change is `churn_core::scoring::score_cells`.

use std::path::Path;

use churn_core::list::csv_cells::{CellEdit, CsvCells};
use churn_core::list::values::normalize_header;
use churn_core::run::LedgerStatus;
use churn_core::scoring::score_cells::{CustomerScore, SCORE_COLUMNS, ScoresWritten, score_cells};
use rustc_hash::FxHashMap;

use crate::files::write_atomic;
use crate::store::{SqliteStore, StoreError};

/// Why the list was not written.
#[derive(Debug, thiserror::Error)]
pub enum ListScoresError {
    #[error("{path} could not be read or written: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} changed while the scores were being written into it; nothing was written (run `churn weekly` again to write them)"
    )]
    Changed { path: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reasons of the lists sent in `week` (sent or recorded ledger entries), by customer id.
pub fn sent_reasons(
    store: &SqliteStore,
    week: &str,
) -> Result<FxHashMap<String, String>, StoreError> {
    let mut out = FxHashMap::default();
    for e in store.ledger(week)?.into_values() {
        if e.status == LedgerStatus::Sending {
            continue;
        }
        for item in e.list {
            out.insert(item.customer_id, item.reason);
        }
    }
    Ok(out)
}

/// Writes the stored scores (the run just made) and `week`'s sent reasons into the list at
/// `path`.
pub fn write_list_scores(
    path: &Path,
    store: &SqliteStore,
    week: &str,
) -> Result<ScoresWritten, ListScoresError> {
    let scores = store.scores()?;
    let reasons = sent_reasons(store, week)?;
    write_scores_into(path, &scores, &reasons, || {})
}

/// [`write_list_scores`] with the scores given; `before_write` runs between the read and the
/// write (tests change the file there).
pub fn write_scores_into(
    path: &Path,
    scores: &FxHashMap<String, CustomerScore>,
    reasons: &FxHashMap<String, String>,
    before_write: impl FnOnce(),
) -> Result<ScoresWritten, ListScoresError> {
    let io = |source| ListScoresError::Io {
        path: path.display().to_string(),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let cells = CsvCells::scan(&bytes);
    let Some(header_rec) = (0..cells.len()).find(|&r| !cells.is_blank(r)) else {
        return Ok(ScoresWritten::default());
    };
    let header = cells.record(header_rec);
    // Only the id and score columns of each record are read: a big list stays small in memory.
    let wanted: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            let h = normalize_header(h);
            ["customer_id"]
                .iter()
                .chain(&SCORE_COLUMNS)
                .any(|c| normalize_header(c) == h)
        })
        .map(|(i, _)| i)
        .collect();
    let small_header: Vec<String> = wanted.iter().map(|&i| header[i].clone()).collect();
    let records: Vec<usize> = (header_rec + 1..cells.len())
        .filter(|&r| !cells.is_blank(r))
        .collect();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|&r| {
            wanted
                .iter()
                .map(|&f| cells.field(r, f).unwrap_or_default())
                .collect()
        })
        .collect();
    let Some(plan) = score_cells(&small_header, &rows, scores, reasons) else {
        return Ok(ScoresWritten::default());
    };
    let columns = small_header
        .iter()
        .filter(|h| {
            let h = normalize_header(h);
            SCORE_COLUMNS.iter().any(|c| normalize_header(c) == h)
        })
        .cloned()
        .collect();
    let mut out = ScoresWritten {
        columns,
        cells: plan.len(),
        error: None,
    };
    if plan.is_empty() {
        return Ok(out);
    }
    let edits: Vec<CellEdit> = plan
        .into_iter()
        .map(|c| CellEdit {
            record: records[c.row],
            field: wanted[c.col],
            value: c.value,
        })
        .collect();
    let new = cells.apply(&edits);
    before_write();
    // Someone saved the list meanwhile: their edit wins, and the scores wait for the next run.
    if std::fs::read(path).map_err(io)? != bytes {
        return Err(ListScoresError::Changed {
            path: path.display().to_string(),
        });
    }
    write_atomic(path, &new).map_err(io)?;
    out.cells = edits.len();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use churn_core::Band;

    fn scores() -> FxHashMap<String, CustomerScore> {
        [("C1", 72, Band::AtRisk), ("C2", 10, Band::Steady)]
            .into_iter()
            .map(|(id, score, band)| (id.to_string(), CustomerScore { score, band }))
            .collect()
    }

    #[test]
    fn writes_only_the_score_cells_and_keeps_every_other_byte() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("customers.csv");
        let src = "\u{feff}customer_id,name,Churn Score,note,churn_band\r\n\r\nC2,\"Bo, \"\"B\"\"\",,\"a\nb\",\r\nC1,Al,5,x\r\nC3,bad row,1,,\r\n";
        std::fs::write(&p, src).unwrap();
        let reasons = FxHashMap::default();
        let r = write_scores_into(&p, &scores(), &reasons, || {}).unwrap();
        assert_eq!(r.columns, ["Churn Score", "churn_band"]);
        assert_eq!(r.cells, 4);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "\u{feff}customer_id,name,Churn Score,note,churn_band\r\n\r\nC2,\"Bo, \"\"B\"\"\",10,\"a\nb\",steady\r\nC1,Al,72,x,at-risk\r\nC3,bad row,1,,\r\n"
        );
        // Again: nothing to change, the file is untouched.
        let before = std::fs::metadata(&p).unwrap().modified().unwrap();
        assert_eq!(
            write_scores_into(&p, &scores(), &reasons, || {})
                .unwrap()
                .cells,
            0
        );
        assert_eq!(std::fs::metadata(&p).unwrap().modified().unwrap(), before);
    }

    #[test]
    fn a_list_without_the_columns_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("customers.csv");
        std::fs::write(&p, "customer_id,name\nC1,Al\n").unwrap();
        let r = write_scores_into(&p, &scores(), &FxHashMap::default(), || {}).unwrap();
        assert_eq!(r, ScoresWritten::default());
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "customer_id,name\nC1,Al\n"
        );
    }

    #[test]
    fn a_file_changed_meanwhile_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("customers.csv");
        std::fs::write(&p, "customer_id,churn_score\nC1,\n").unwrap();
        let e = write_scores_into(&p, &scores(), &FxHashMap::default(), || {
            std::fs::write(&p, "customer_id,churn_score\nC1,\nC2,\n").unwrap();
        })
        .unwrap_err();
        assert!(matches!(e, ListScoresError::Changed { .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "customer_id,churn_score\nC1,\nC2,\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
