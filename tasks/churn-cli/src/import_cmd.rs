//! `churn import-orders FILE [--data DIR] [--json]`: order-import locally (docs/SPEC.md §8, §10).

use std::io::Write;
use std::path::Path;

use churn_local::import_orders::{ImportReport, import_orders};

/// Imports `file` into the data folder `dir` and prints what changed.
pub fn run(dir: &Path, file: &Path, by_user: &str, json: bool) -> Result<(), String> {
    let r = import_orders(dir, file, by_user).map_err(|e| e.to_string())?;
    let out = if json {
        serde_json::to_string_pretty(&r).map_err(|e| format!("cannot write JSON: {e}"))? + "\n"
    } else {
        text(&r)
    };
    // A closed pipe (`| head`) is not an error: the import is already done.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}

fn text(r: &ImportReport) -> String {
    let mut s = format!(
        "{} ({}): {} orders, {} ignored (cancelled, voided, failed or refunded), {} matched to the list\n",
        r.file,
        r.format.label(),
        r.orders,
        r.ignored_orders,
        r.matched_orders
    );
    if r.customers_changed == 0 {
        s.push_str("Nothing to change in customers.csv.\n");
    } else {
        s.push_str(&format!(
            "Changed {} cells for {} customers in customers.csv:\n",
            r.cells_changed, r.customers_changed
        ));
        for c in &r.changes {
            let cells: Vec<String> = c
                .cells
                .iter()
                .map(|x| {
                    let b = if x.before.is_empty() {
                        "blank"
                    } else {
                        &x.before
                    };
                    let a = if x.after.is_empty() {
                        "blank"
                    } else {
                        &x.after
                    };
                    format!("{} {b} → {a}", x.column)
                })
                .collect();
            s.push_str(&format!("  {}: {}\n", c.customer_id, cells.join(", ")));
        }
    }
    if !r.unknown_customers.is_empty() {
        s.push_str(&format!(
            "{} customers in the file are not in the list:\n",
            r.unknown_customers.len()
        ));
        for u in &r.unknown_customers {
            s.push_str(&format!("  {} ({} orders)\n", u.key, u.orders));
        }
    }
    for e in &r.errors {
        s.push_str(&format!("  line {}: {}\n", e.line, e.reason));
    }
    s
}
