//! `churn score`: every customer's score, band and breakdown, in docs/SPEC.md §10's JSON shape.

use crate::util::*;

#[test]
fn score_json_has_the_documented_shape_in_input_order() {
    let list =
        format!("{SMALL_LIST}C7,Bad Date,alex@shop.example,c7@cust.example,32/13/2026,30,,\n");
    let dir = folder(&list, SMALL_RULES, None);
    let c = dir.path().join("customers.csv");
    let r = dir.path().join("rules.txt");
    let j = run_json(&[
        "score",
        "--customers",
        c.to_str().unwrap(),
        "--rules",
        r.to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, vec!["customers", "errors"]);
    let ids: Vec<_> = j["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["C1", "C2", "C3", "C4", "C5", "C6"]);
    let c1 = &j["customers"][0];
    let keys: Vec<_> = c1.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, vec!["band", "breakdown", "customer_id", "score"]);
    assert_eq!(c1["score"], 90);
    assert_eq!(c1["band"], "churning");
    assert_eq!(c1["breakdown"][0]["signal"], "overdue");
    assert_eq!(c1["breakdown"][0]["value"], 2.77);
    assert_eq!(
        c1["breakdown"][0]["detail"],
        "2.8× the usual pace: 83 days since the last order, usually every 30 days"
    );
    let c4 = &j["customers"][3];
    assert_eq!(c4["breakdown"][1]["value"], serde_json::Value::Null);
    assert_eq!(c4["breakdown"][1]["detail"], "no data");
    assert_eq!(j["customers"][4]["band"], "steady");
    let errors = j["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["line"], 8);
    assert!(errors[0]["reason"].as_str().unwrap().contains("32/13/2026"));
    // Scores add up.
    for c in j["customers"].as_array().unwrap() {
        let sum: u64 = c["breakdown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["points"].as_u64().unwrap())
            .sum();
        assert_eq!(c["score"].as_u64().unwrap(), sum);
    }
}

#[test]
fn score_uses_the_data_folders_date_order_and_time_zone() {
    let list = "customer_id,name,owner,last_order_date,order_pace_days\n\
                C1,A,a@shop.example,09/01/2026,30\n\
                C2,B,a@shop.example,2026-09-30T20:00:00Z,30\n";
    let rules = "signal silent\n  measure: days_since_last_order\n  at least 1: 1 point\n\
                 band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";
    let dir = folder(
        list,
        rules,
        Some("timezone = \"Asia/Singapore\"\ndate_order = \"month-first\"\n"),
    );
    let c = dir.path().join("customers.csv");
    let r = dir.path().join("rules.txt");
    let d = dir.path().to_str().unwrap();
    let j = run_json(&[
        "score",
        "--customers",
        c.to_str().unwrap(),
        "--rules",
        r.to_str().unwrap(),
        "--as-of",
        "2026-10-02",
        "--data",
        d,
    ]);
    // 09/01 month-first is 1 September: 31 days; 20:00 UTC on 30 Sep is 1 Oct in Singapore: 1 day.
    assert_eq!(j["customers"][0]["breakdown"][0]["value"], 31.0);
    assert_eq!(j["customers"][1]["breakdown"][0]["value"], 1.0);
    let j = run_json(&[
        "score",
        "--customers",
        c.to_str().unwrap(),
        "--rules",
        r.to_str().unwrap(),
        "--as-of",
        "2026-10-02",
    ]);
    assert_eq!(
        j["customers"][0]["breakdown"][0]["value"], 266.0,
        "day-first: 9 January"
    );
    assert_eq!(j["customers"][1]["breakdown"][0]["value"], 2.0, "UTC");
}

#[test]
fn score_with_invalid_rules_exits_non_zero_and_prints_every_error() {
    let dir = folder(
        SMALL_LIST,
        "signal x\nband churning: at least 75\nweekly cap: 0\n",
        None,
    );
    let out = run(&[
        "score",
        "--customers",
        dir.path().join("customers.csv").to_str().unwrap(),
        "--rules",
        dir.path().join("rules.txt").to_str().unwrap(),
        "--json",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("line 1:") && err.contains("line 3:"), "{err}");
}

#[test]
fn score_json_escapes_ids_and_text_values() {
    let list = "customer_id,name,owner,plan\n\"C\"\"1\\\",A,a@shop.example,\"pa\"\"used\ttab\"\n";
    let rules = "signal plan\n  measure: plan\n  is paused: 30 points\n\
                 band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";
    let dir = folder(list, rules, None);
    let c = dir.path().join("customers.csv");
    let r = dir.path().join("rules.txt");
    let j = run_json(&[
        "score",
        "--customers",
        c.to_str().unwrap(),
        "--rules",
        r.to_str().unwrap(),
        "--as-of",
        "2026-11-23",
    ]);
    assert_eq!(j["customers"][0]["customer_id"], "C\"1\\");
    assert_eq!(j["customers"][0]["breakdown"][0]["value"], "pa\"used\ttab");
    assert_eq!(
        j["customers"][0]["breakdown"][0]["detail"],
        "plan pa\"used\ttab"
    );
}

#[test]
fn score_csv_prints_a_header_and_one_row_per_customer_in_input_order() {
    let list = format!(
        "{SMALL_LIST}C7,Bad Date,alex@shop.example,c7@cust.example,32/13/2026,30,,\n\
         =HYPERLINK(\"http://x\"),\"Harbor, \"\"Co\"\"\",alex@shop.example,c8@cust.example,2026-09-01,30,,\n"
    );
    let dir = folder(&list, SMALL_RULES, None);
    let c = dir.path().join("customers.csv");
    let r = dir.path().join("rules.txt");
    let args = [
        "score",
        "--customers",
        c.to_str().unwrap(),
        "--rules",
        r.to_str().unwrap(),
        "--as-of",
        "2026-11-23",
        "--csv",
    ];
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "customer_id,name,score,band,overdue,mood");
    assert_eq!(lines[1], "C1,Harbor Bakery,90,churning,60,30");
    assert_eq!(lines[4], "C4,Sunny Books,60,at-risk,60,0");
    assert_eq!(lines[5], "C5,Cedar Salon,0,steady,0,0");
    // A formula-like id is defused and quoted; the name's comma and quotes survive.
    assert_eq!(
        lines[7],
        "\"'=HYPERLINK(\"\"http://x\"\")\",\"Harbor, \"\"Co\"\"\",60,at-risk,60,0"
    );
    assert_eq!(lines.len(), 8, "the bad row is not a CSV row: {text}");
    assert!(
        stderr(&out).contains("bad row, line 8:"),
        "{}",
        stderr(&out)
    );
    // --csv and --json are one or the other.
    let mut both = args.to_vec();
    both.push("--json");
    assert_eq!(run(&both).status.code(), Some(2));
}
