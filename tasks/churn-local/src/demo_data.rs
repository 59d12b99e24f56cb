//! `churn demo-data`: a realistic synthetic data folder, the same for the same seed on every
//! machine (its own small generator, so no dependency's algorithm change can alter the demo).

use std::io::{BufWriter, Write};
use std::path::Path;

use churn_core::run::week::day_number;
use jiff::civil::Date;

use crate::files::write_atomic;

/// What to make.
#[derive(Debug, Clone)]
pub struct DemoDataOptions {
    pub customers: usize,
    pub owners: usize,
    pub seed: u64,
    /// The Monday the data is "as of".
    pub as_of: Date,
}

/// What was made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoDataSummary {
    pub customers: usize,
    pub owners: Vec<String>,
    pub messy_rows: usize,
    pub as_of: String,
}

/// SplitMix64: tiny, fast, and fixed forever (a seed always gives the same folder).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub(crate) const OWNER_NAMES: &[&str] = &[
    "alex", "sam", "jo", "priya", "mei", "tomas", "lena", "omar", "kofi", "ines", "yuki", "dara",
];
pub(crate) const SHOP_DOMAIN: &str = "northwind.example";
const ADMIN: &str = "ops@northwind.example";

const FIRST: &[&str] = &[
    "Harbor",
    "Maple",
    "Blue Door",
    "Copper",
    "Golden",
    "Little",
    "Old Town",
    "Riverside",
    "Sunny",
    "Green Leaf",
    "Corner",
    "Silver",
    "Hilltop",
    "Lantern",
    "Juniper",
    "Saffron",
    "Cedar",
    "Bright",
    "North Star",
    "Willow",
    "Kettle",
    "Orchard",
];
const SECOND: &[&str] = &[
    "Bakery",
    "Cafe",
    "Deli",
    "Florist",
    "Books",
    "Pharmacy",
    "Grocer",
    "Bistro",
    "Studio",
    "Salon",
    "Hardware",
    "Tea House",
    "Kitchen",
    "Market",
    "Dental",
    "Gym",
    "Print Shop",
    "Pet Supplies",
    "Yoga",
    "Bike Shop",
    "Noodle Bar",
    "Wine Cellar",
];
const SUFFIX: &[&str] = &[
    "", "", "", " & Co", " Ltd", " Pte Ltd", " LLC", " (East)", " (West)",
];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The demo rules doc: docs/SPEC.md §3's example with this folder's owners.
pub fn demo_rules(owners: &[String]) -> String {
    let mut s = String::from(
        "# Churn rules for Northwind Supply. Lines starting with # are notes.\n\
         # Each signal gives points; a customer's score is the sum (at most 100).\n\n\
         signal overdue\n  about: next order is late compared with the customer's usual pace\n  measure: overdue_ratio\n  \
         at least 2.0: 40 points\n  at least 1.5: 25 points\n  at least 1.2: 10 points\n\n\
         signal mood\n  about: recent support tickets sounded unhappy\n  measure: support_mood\n  \
         at most -0.5: 25 points\n  at most 0: 10 points\n\n\
         signal silent\n  about: no order for a long time\n  measure: days_since_last_order\n  \
         at least 180: 15 points\n  at least 90: 5 points\n\n\
         signal plan\n  measure: plan\n  is paused: 20 points\n\n\
         band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n\n\
         weekly cap: 10\ncontact pause: 21 days\n\n",
    );
    for (i, o) in owners.iter().enumerate() {
        let line = match i % 3 {
            0 => format!("owner {o}: slack U0{:07}", 1_234_567 + i * 1_111),
            1 => format!("owner {o}: slack"),
            _ => format!("owner {o}: email"),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

fn fmt_date(rng: &mut Rng, d: Date) -> String {
    match rng.below(20) {
        0 => format!(
            "{} {} {}",
            d.day(),
            MONTHS[d.month() as usize - 1],
            d.year()
        ),
        1 => format!("{:02}/{:02}/{}", d.day(), d.month(), d.year()),
        2 => format!("{}T09:30:00+08:00", d),
        _ => d.to_string(),
    }
}

fn fmt_money(rng: &mut Rng, v: f64) -> String {
    let whole = v.trunc() as i64;
    let cents = ((v - v.trunc()) * 100.0).round() as i64 % 100;
    let grouped = |sep: char| {
        let s = whole.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    };
    match rng.below(10) {
        0 => format!("${}.{:02}", grouped(','), cents),
        1 => format!("SGD {}", grouped(',')),
        2 => format!("{},{:02} €", grouped('.'), cents),
        _ => format!("{whole}.{cents:02}"),
    }
}

fn add_days(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap_or(d)
}

/// Writes `customers.csv`, `rules.txt`, `voice.txt` and `config.toml` into `out`.
pub fn write_demo_data(out: &Path, opts: &DemoDataOptions) -> std::io::Result<DemoDataSummary> {
    std::fs::create_dir_all(out)?;
    let mut rng = Rng(opts.seed ^ 0x00C0_FFEE);
    let owners: Vec<String> = (0..opts.owners.max(1))
        .map(|i| {
            let base = OWNER_NAMES[i % OWNER_NAMES.len()];
            if i < OWNER_NAMES.len() {
                format!("{base}@{SHOP_DOMAIN}")
            } else {
                format!("{base}{}@{SHOP_DOMAIN}", i / OWNER_NAMES.len() + 1)
            }
        })
        .collect();

    let tmp = tempfile::NamedTempFile::new_in(out)?;
    let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
    writeln!(
        w,
        "customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value,plan,first_order_date,order_count"
    )?;
    let messy = opts.customers >= 50;
    let mut messy_rows = 0;
    let _ = day_number(opts.as_of);
    for i in 1..=opts.customers {
        let id = format!("C{i:07}");
        let name = format!(
            "{} {}{}",
            rng.pick(FIRST),
            rng.pick(SECOND),
            rng.pick(SUFFIX)
        );
        let owner = &owners[rng.below(owners.len())];
        let slug: String = name
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(14)
            .collect();
        let email = format!("{slug}{i}@mail.example");
        let pace = *rng.pick(&[7.0, 14.0, 14.0, 21.0, 30.0, 30.0, 30.0, 45.0, 60.0, 90.0]);
        // Planted profile: how overdue, how unhappy.
        let roll = rng.unit();
        let (ratio, mood, paused) = if roll < 0.58 {
            (
                rng.range(0.1, 1.15),
                if rng.unit() < 0.5 {
                    None
                } else {
                    Some(rng.range(-0.2, 0.9))
                },
                rng.unit() < 0.02,
            )
        } else if roll < 0.76 {
            (
                rng.range(1.2, 1.9),
                if rng.unit() < 0.4 {
                    None
                } else {
                    Some(rng.range(-0.3, 0.4))
                },
                rng.unit() < 0.05,
            )
        } else if roll < 0.90 {
            (
                rng.range(1.6, 2.6),
                Some(rng.range(-0.8, 0.0)),
                rng.unit() < 0.15,
            )
        } else if roll < 0.97 {
            (
                rng.range(2.0, 4.5),
                Some(rng.range(-1.0, -0.5)),
                rng.unit() < 0.6,
            )
        } else {
            (rng.range(4.0, 12.0), None, rng.unit() < 0.3)
        };
        let days = (ratio * pace).round() as i64;
        let last = add_days(opts.as_of, -days.max(0));
        let count = 2 + rng.below(40) as i64;
        let first = add_days(last, -((count - 1) as f64 * pace) as i64);
        let ltv = (count as f64) * rng.range(20.0, 600.0);
        let plan = if paused {
            "paused"
        } else if rng.unit() < 0.05 {
            ""
        } else {
            "active"
        };
        let mut owner_cell = owner.clone();
        let mut last_cell = fmt_date(&mut rng, last);
        let mut ltv_cell = fmt_money(&mut rng, ltv);
        let mut id_cell = id.clone();
        let mut name_cell = name.clone();
        if messy && i % 31 == 13 {
            messy_rows += 1;
            match (i / 31) % 7 {
                0 => owner_cell = String::new(),
                1 => owner_cell = "Sales team".into(),
                2 => last_cell = "31/02/2026".into(),
                3 => name_cell = format!("{name}, \"the one by the station\""),
                4 => name_cell = format!("{name}\n(2nd floor)"),
                5 => ltv_cell = "N/A".into(),
                _ => id_cell = format!("C{:07}", i - 1),
            }
        }
        let mood_cell = mood.map(|m| format!("{m:.2}")).unwrap_or_default();
        write_csv_row(
            &mut w,
            &[
                &id_cell,
                &name_cell,
                &owner_cell,
                &email,
                &last_cell,
                &format!("{pace}"),
                &mood_cell,
                &ltv_cell,
                plan,
                &first.to_string(),
                &count.to_string(),
            ],
        )?;
        if messy && i % 101 == 50 {
            // Sheets exports keep blank rows people leave between blocks.
            writeln!(w, ",,,,,,,,,,")?;
        }
    }
    w.flush()?;
    drop(w);
    tmp.as_file().sync_all()?;
    tmp.persist(out.join("customers.csv"))
        .map_err(|e| e.error)?;

    write_atomic(&out.join("rules.txt"), demo_rules(&owners).as_bytes())?;
    write_atomic(
        &out.join("voice.txt"),
        b"Warm, direct, no jargon. We know these customers by name; write as a colleague would.\n",
    )?;
    let config = format!(
        "# Settings for this data folder (all optional).\ntimezone = \"Asia/Singapore\"\nfallback_owner = \"{ADMIN}\"\ndate_order = \"day-first\"\n\
         outcome_url = \"http://localhost:8080\"\n# The as-of date `churn demo` uses, so the demo prints the same lists every time.\ndemo_as_of = \"{}\"\n",
        opts.as_of
    );
    write_atomic(&out.join("config.toml"), config.as_bytes())?;
    Ok(DemoDataSummary {
        customers: opts.customers,
        owners,
        messy_rows,
        as_of: opts.as_of.to_string(),
    })
}

fn write_csv_row(w: &mut impl Write, cells: &[&str]) -> std::io::Result<()> {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        if c.contains([',', '"', '\n', '\r']) {
            w.write_all(b"\"")?;
            w.write_all(c.replace('"', "\"\"").as_bytes())?;
            w.write_all(b"\"")?;
        } else {
            w.write_all(c.as_bytes())?;
        }
    }
    w.write_all(b"\n")
}
