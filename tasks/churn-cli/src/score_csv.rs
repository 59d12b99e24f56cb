//! `churn score … --csv` (docs/SPEC.md §10): every customer's score as CSV with a header —
//! `customer_id,name,score,band` and one column per signal with its points, in input order. Bad
//! rows go to stderr, as `score` prints them. A cell a spreadsheet would run as a formula (one
//! starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'` (OWASP's
//! advice for CSV injection): names and ids are the customers' text.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use churn_core::scoring::score::Scorer;

use crate::commands::ScoreInput;
use crate::error::CliError;

/// One CSV cell: quoted when it must be, formula-like text defused.
pub fn cell(value: &str) -> String {
    let v = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) || v.starts_with(' ') || v.ends_with(' ') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// Prints the scores as CSV.
pub fn score_csv(
    customers: &Path,
    rules_path: &Path,
    as_of: Option<String>,
    data: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    let ScoreInput {
        rules,
        mut reader,
        as_of,
        p_alive,
        ..
    } = ScoreInput::open(customers, rules_path, as_of, data)?;
    let scorer = Scorer::new(&rules, as_of).with_p_alive(p_alive);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let io = CliError::output;
    let mut header = String::from("customer_id,name,score,band");
    for s in &rules.signals {
        header.push(',');
        header.push_str(&cell(&s.name));
    }
    writeln!(out, "{header}").map_err(io)?;
    let mut bad = Vec::new();
    while let Some(row) = reader.next_row() {
        let row = match row {
            Ok(r) => r,
            Err(b) => {
                bad.push(b);
                continue;
            }
        };
        let mut results = Vec::with_capacity(rules.signals.len());
        let s = scorer.score(&row, Default::default(), &mut results);
        write!(
            out,
            "{},{},{},{}",
            cell(row.customer_id),
            cell(row.name),
            s.score,
            s.band
        )
        .map_err(io)?;
        for (points, _) in &results {
            write!(out, ",{points}").map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    let finish = reader.finish();
    out.flush().map_err(io)?;
    for b in &bad {
        eprintln!("bad row, line {}: {}", b.line, b.reason);
    }
    match finish {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(CliError(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("C1"), "C1");
        assert_eq!(cell("Harbor, Co"), "\"Harbor, Co\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("a\nb"), "\"a\nb\"");
    }
}
