//! `churn p-alive fit --summary CSV [--json]`: fits the BG/NBD model behind `p_alive` (docs/SPEC.md §12)
//! to a per-customer summary file and prints the parameters.

use std::path::Path;

use churn_core::scoring::palive::{Fit, fit, read_summary_csv};
use serde::Serialize;

/// The JSON output: the four parameters and the log-likelihood under exactly these keys, then
/// how many customers and iterations the fit used.
#[derive(Serialize)]
struct FitJson {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
    log_likelihood: f64,
    customers: usize,
    iterations: usize,
}

/// Reads the summary CSV at `path` (columns `frequency`, `recency`, `T`), fits BG/NBD and prints
/// the parameters: pretty JSON with `json`, else a short table.
pub fn fit_summary(path: &Path, json: bool) -> Result<(), String> {
    println!("{}", fit_summary_text(path, json)?);
    Ok(())
}

/// What [`fit_summary`] prints, without the trailing newline.
pub fn fit_summary_text(path: &Path, json: bool) -> Result<String, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let data = read_summary_csv(std::io::BufReader::new(file))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let fitted = fit(&data).map_err(|e| format!("{}: {e}", path.display()))?;
    if json {
        let Fit {
            params,
            log_likelihood,
            iterations,
        } = fitted;
        let out = FitJson {
            r: params.r,
            alpha: params.alpha,
            a: params.a,
            b: params.b,
            log_likelihood,
            customers: data.len(),
            iterations,
        };
        serde_json::to_string_pretty(&out).map_err(|e| format!("cannot write JSON: {e}"))
    } else {
        Ok(table(&fitted, data.len()))
    }
}

fn table(f: &Fit, customers: usize) -> String {
    let p = &f.params;
    format!(
        "BG/NBD fit on {customers} customers ({} iterations)\n\
         \x20 r               {:.4}   purchase rate: shape\n\
         \x20 alpha           {:.4}   purchase rate: scale (in the file's time unit)\n\
         \x20 a               {:.4}   drop-out: beta a\n\
         \x20 b               {:.4}   drop-out: beta b\n\
         \x20 log_likelihood  {:.2}",
        f.iterations, p.r, p.alpha, p.a, p.b, f.log_likelihood
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdnow() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/cdnow_customers_summary.csv")
    }

    #[test]
    fn json_has_the_agreed_keys_and_the_paper_values() {
        let text = fit_summary_text(&cdnow(), true).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (key, want, tol) in [
            ("r", 0.243, 5e-4),
            ("alpha", 4.414, 5e-3),
            ("a", 0.793, 5e-4),
            ("b", 2.426, 5e-3),
            ("log_likelihood", -9582.4, 0.1),
        ] {
            let got = v[key].as_f64().unwrap_or(f64::NAN);
            assert!((got - want).abs() < tol, "{key}: {got}");
        }
        assert_eq!(v["customers"], 2357);
    }

    #[test]
    fn the_table_names_every_parameter() {
        let text = fit_summary_text(&cdnow(), false).unwrap();
        for key in [
            "r ",
            "alpha",
            "a ",
            "b ",
            "log_likelihood",
            "2357 customers",
        ] {
            assert!(text.contains(key), "{text}");
        }
    }

    #[test]
    fn errors_name_the_file() {
        let err = fit_summary_text(Path::new("/nonexistent/summary.csv"), false).unwrap_err();
        assert!(err.contains("/nonexistent/summary.csv"), "{err}");
    }
}
