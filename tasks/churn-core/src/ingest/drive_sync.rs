//! drive-sync's decisions (docs/SPEC.md §2, §3, §8): whether a Drive file changed since the last sync,
//! the validation report mirrored beside the sheet, whether a rules doc may be published, and
//! what the admin is told — once per bad version, and what a newly published version changes.

use serde::{Deserialize, Serialize};

use crate::list::customers::{BadRow, CustomerReader, ListError, ReadOptions, ReadSummary};
use crate::rules::{RuleError, Rules, parse_rules};

/// What drive-sync remembers about one Drive file between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMemo {
    /// The Drive `version` last mirrored (or published, for the rules doc).
    pub synced_version: Option<String>,
    /// A rules doc version that failed validation (not published).
    pub refused_version: Option<String>,
    /// The bad version the admin was last told about.
    pub notified_version: Option<String>,
}

impl FileMemo {
    /// Whether Drive's `version` is one not handled yet (neither mirrored nor refused).
    pub fn is_new(&self, version: &str) -> bool {
        self.synced_version.as_deref() != Some(version)
            && self.refused_version.as_deref() != Some(version)
    }
}

/// The report mirrored beside the sheet (`customers.report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetReport {
    /// The Drive version the mirror was exported from.
    pub source_version: String,
    /// Whether the scorer may run on it (docs/SPEC.md §2's stop rules).
    pub ok: bool,
    pub rows: u64,
    pub good: u64,
    pub bad: u64,
    pub bad_rows: Vec<BadRow>,
    /// Why the list stops a run, when it does.
    pub error: Option<String>,
    /// The first tab holds something other than the customer list (Drive exports only it).
    pub not_first_tab: bool,
}

/// Reads the exported sheet as the scorer will and reports what it finds.
pub fn check_sheet(csv: &[u8], opts: ReadOptions, source_version: &str) -> SheetReport {
    let mut report = SheetReport {
        source_version: source_version.to_string(),
        ok: false,
        rows: 0,
        good: 0,
        bad: 0,
        bad_rows: Vec::new(),
        error: None,
        not_first_tab: false,
    };
    let mut reader = match CustomerReader::new(csv, opts, &[]) {
        Ok(r) => r,
        Err(e) => {
            if matches!(e, ListError::MissingColumn(_) | ListError::Empty) {
                report.not_first_tab = true;
                let header = first_line(csv);
                report.error = Some(format!(
                    "the sheet's first tab does not hold the customer list ({e}; its first row is \"{header}\"). Drive exports only the first tab: move the customer tab to the first position"
                ));
            } else {
                report.error = Some(e.to_string());
            }
            return report;
        }
    };
    while let Some(row) = reader.next_row() {
        if let Err(bad) = row {
            report.bad_rows.push(bad);
        }
    }
    match reader.finish() {
        Ok(ReadSummary {
            rows, good, bad, ..
        }) => {
            (report.rows, report.good, report.bad) = (rows, good, bad);
            report.ok = true;
        }
        Err(e) => {
            report.bad = report.bad_rows.len() as u64;
            report.error = Some(e.to_string());
        }
    }
    report
}

fn first_line(csv: &[u8]) -> String {
    let text = String::from_utf8_lossy(csv);
    let line = text
        .trim_start_matches('\u{feff}')
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    line.chars().take(120).collect()
}

/// A message to the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminNotice {
    pub subject: String,
    pub text: String,
}

/// What to do with an exported rules doc.
#[derive(Debug, Clone, PartialEq)]
pub enum RulesDecision {
    /// Valid: publish it, remember the version, tell the admin what changes.
    Publish {
        rules: Box<Rules>,
        notice: AdminNotice,
    },
    /// Invalid: keep the last good one; `notice` is `Some` only the first time this Drive
    /// version is seen bad.
    Refuse {
        errors: Vec<RuleError>,
        notice: Option<AdminNotice>,
    },
}

/// Validates the rules doc exported at Drive `version`; `previous` is the text in force.
pub fn decide_rules(
    text: &str,
    version: &str,
    memo: &FileMemo,
    previous: Option<&str>,
) -> RulesDecision {
    match parse_rules(text) {
        Ok(rules) => {
            let before = previous.and_then(|p| parse_rules(p).ok());
            let notice = published_notice(&rules, before.as_ref(), version);
            RulesDecision::Publish {
                rules: Box::new(rules),
                notice,
            }
        }
        Err(errors) => {
            let notice = (memo.notified_version.as_deref() != Some(version)).then(|| {
                let mut body = format!(
                    "The rules doc (Drive version {version}) has {} problem{} and was not published; the last good rules stay in force until it is fixed.\n\n",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                );
                for e in &errors {
                    body.push_str(&format!("{e}\n"));
                }
                AdminNotice {
                    subject: format!("Churn rules not published: {} problem(s)", errors.len()),
                    text: body,
                }
            });
            RulesDecision::Refuse { errors, notice }
        }
    }
}

fn published_notice(new: &Rules, old: Option<&Rules>, version: &str) -> AdminNotice {
    let mut text = format!(
        "A new rules doc (Drive version {version}, rules version {}) is now in force: {} signals, bands watch {} / at-risk {} / churning {}, weekly cap {}, contact pause {} days, {} owner lines.\n",
        new.version,
        new.signals.len(),
        new.bands.watch,
        new.bands.at_risk,
        new.bands.churning,
        new.weekly_cap,
        new.contact_pause_days,
        new.owners.len()
    );
    if let Some(old) = old {
        let mut changes = Vec::new();
        let names = |r: &Rules| -> Vec<String> {
            r.signals.iter().map(|s| s.name.to_lowercase()).collect()
        };
        let (on, nn) = (names(old), names(new));
        for n in nn.iter().filter(|n| !on.contains(n)) {
            changes.push(format!("signal added: {n}"));
        }
        for n in on.iter().filter(|n| !nn.contains(n)) {
            changes.push(format!("signal removed: {n}"));
        }
        for s in &new.signals {
            if let Some(o) = old
                .signals
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&s.name))
            {
                let same = o.measure == s.measure
                    && o.lines.len() == s.lines.len()
                    && o.lines
                        .iter()
                        .zip(&s.lines)
                        .all(|(a, b)| a.test == b.test && a.points == b.points);
                if !same {
                    changes.push(format!("signal changed: {}", s.name.to_lowercase()));
                }
            }
        }
        if old.bands != new.bands {
            changes.push(format!(
                "bands: watch {} → {}, at-risk {} → {}, churning {} → {}",
                old.bands.watch,
                new.bands.watch,
                old.bands.at_risk,
                new.bands.at_risk,
                old.bands.churning,
                new.bands.churning
            ));
        }
        if old.weekly_cap != new.weekly_cap {
            changes.push(format!(
                "weekly cap {} → {}",
                old.weekly_cap, new.weekly_cap
            ));
        }
        if old.contact_pause_days != new.contact_pause_days {
            changes.push(format!(
                "contact pause {} → {} days",
                old.contact_pause_days, new.contact_pause_days
            ));
        }
        if old.owners != new.owners {
            changes.push(format!(
                "owner lines: {} → {}",
                old.owners.len(),
                new.owners.len()
            ));
        }
        if changes.is_empty() {
            text.push_str("Nothing that scores or routes changed (wording or notes only).\n");
        } else {
            text.push_str("Changes since the previous rules:\n");
            for c in changes {
                text.push_str(&format!("- {c}\n"));
            }
        }
    }
    AdminNotice {
        subject: format!("Churn rules updated (version {})", new.version),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "signal silent\n  measure: days_since_last_order\n  at least 90: 30 points\n\nband churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";

    #[test]
    fn memo_knows_handled_versions() {
        let mut m = FileMemo::default();
        assert!(m.is_new("7"));
        m.synced_version = Some("7".into());
        assert!(!m.is_new("7") && m.is_new("8"));
        m.refused_version = Some("8".into());
        assert!(!m.is_new("8"));
    }

    #[test]
    fn sheet_report_and_first_tab_detection() {
        let r = check_sheet(
            b"\xef\xbb\xbfcustomer_id,name,owner,last_order_date\r\nC1,A,a@x.example,2026-01-01\r\nC2,B,b@x.example,not a date\r\nC3,C,,\r\nC4,D,,\r\nC5,E,,\r\n",
            ReadOptions::default(),
            "41",
        );
        assert!(r.ok, "{r:?}");
        assert_eq!((r.rows, r.good, r.bad), (5, 4, 1));
        assert_eq!(r.bad_rows[0].line, 3);
        let r = check_sheet(b"sku,qty\nA,1\n", ReadOptions::default(), "42");
        assert!(!r.ok && r.not_first_tab);
        assert!(r.error.unwrap().contains("\"sku,qty\""));
        // Too many bad rows: a report that stops the run, not a first-tab problem.
        let r = check_sheet(
            b"customer_id,name,owner,last_order_date\nC1,A,,x\nC2,B,,y\n",
            ReadOptions::default(),
            "43",
        );
        assert!(!r.ok && !r.not_first_tab && r.bad == 2);
    }

    #[test]
    fn bad_rules_are_refused_and_the_admin_told_once_per_version() {
        let bad = "signal silent\n  measure: days_since_last_order\n  at least ninety: 30 points\n";
        let mut memo = FileMemo::default();
        let RulesDecision::Refuse { errors, notice } = decide_rules(bad, "9", &memo, None) else {
            panic!()
        };
        let notice = notice.expect("first time: told");
        assert!(notice.text.contains("line 3"), "{}", notice.text);
        assert!(!errors.is_empty());
        memo.notified_version = Some("9".into());
        let RulesDecision::Refuse { notice, .. } = decide_rules(bad, "9", &memo, None) else {
            panic!()
        };
        assert!(notice.is_none(), "same bad version: not told again");
        let RulesDecision::Refuse { notice, .. } = decide_rules(bad, "10", &memo, None) else {
            panic!()
        };
        assert!(notice.is_some(), "a new bad version is told");
    }

    #[test]
    fn a_published_version_says_what_changes() {
        let new = RULES
            .replace("30 points", "40 points")
            .replace("weekly", "x")
            + "weekly cap: 5\n";
        let RulesDecision::Publish { notice, .. } =
            decide_rules(&new, "11", &FileMemo::default(), Some(RULES))
        else {
            panic!()
        };
        assert!(
            notice.text.contains("signal changed: silent"),
            "{}",
            notice.text
        );
        assert!(notice.text.contains("weekly cap 10 → 5"), "{}", notice.text);
        let RulesDecision::Publish { notice, .. } = decide_rules(
            &format!("# a note\n{RULES}"),
            "12",
            &FileMemo::default(),
            Some(RULES),
        ) else {
            panic!()
        };
        assert!(
            notice
                .text
                .contains("Nothing that scores or routes changed")
        );
    }
}
