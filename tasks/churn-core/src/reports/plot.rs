//! A dependency-free SVG line chart of the backtest's weekly catch rate and precision, for the
//! rules as sent, the rules uncapped and the baseline. The output depends only on the report.

use std::fmt::Write as _;

use crate::reports::backtest::{BacktestReport, Rates};

const W: f64 = 860.0;
const H: f64 = 440.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// One line: its label, colour, dash pattern and how to read it from a week's rates.
struct Series {
    label: &'static str,
    colour: &'static str,
    dash: &'static str,
    pick: fn(&crate::reports::backtest::WeekPoint) -> &Rates,
    catch: bool,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart as an SVG document.
pub fn svg(report: &BacktestReport) -> String {
    let series = [
        Series {
            label: "Catch rate, rules (sent)",
            colour: "#1f77b4",
            dash: "",
            pick: |w| &w.sent,
            catch: true,
        },
        Series {
            label: "Catch rate, rules (uncapped)",
            colour: "#1f77b4",
            dash: "6 4",
            pick: |w| &w.uncapped,
            catch: true,
        },
        Series {
            label: "Catch rate, baseline",
            colour: "#7f7f7f",
            dash: "",
            pick: |w| &w.baseline,
            catch: true,
        },
        Series {
            label: "Precision, rules (sent)",
            colour: "#d62728",
            dash: "",
            pick: |w| &w.sent,
            catch: false,
        },
        Series {
            label: "Precision, rules (uncapped)",
            colour: "#d62728",
            dash: "6 4",
            pick: |w| &w.uncapped,
            catch: false,
        },
        Series {
            label: "Precision, baseline",
            colour: "#7f7f7f",
            dash: "2 3",
            pick: |w| &w.baseline,
            catch: false,
        },
    ];
    let n = report.weekly.len();
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let x = |i: usize| {
        LEFT + if n > 1 {
            pw * i as f64 / (n - 1) as f64
        } else {
            pw / 2.0
        }
    };
    let y = |v: f64| TOP + ph * (1.0 - v.clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n",
        esc(&format!(
            "Backtest {} … {}: catch rate and precision by week ({}-day horizon)",
            report.from, report.to, report.horizon_days
        ))
    );
    // Grid and y axis: 0 … 100% every 20%.
    for k in 0..=5 {
        let v = k as f64 / 5.0;
        let yy = y(v);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#e5e5e5\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}%</text>",
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0,
            k * 20
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"black\"/>\
         <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>",
        TOP + ph,
        TOP + ph,
        LEFT + pw,
        TOP + ph
    );
    // X labels: about eight Mondays.
    let step = n.div_ceil(8).max(1);
    for (i, w) in report.weekly.iter().enumerate() {
        if i % step == 0 || i + 1 == n {
            let xx = x(i);
            let _ = writeln!(
                s,
                "<line x1=\"{xx:.1}\" y1=\"{:.1}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\
                 <text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                TOP + ph,
                TOP + ph + 5.0,
                TOP + ph + 20.0,
                w.monday
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">Monday</text>\
         <text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">share of customer-weeks</text>",
        LEFT + pw / 2.0,
        H - 14.0,
        TOP + ph / 2.0
    );
    for (k, se) in series.iter().enumerate() {
        // A week with nothing to measure (no churners, no flags) breaks the line.
        let mut d = String::new();
        let mut pen_down = false;
        for (i, w) in report.weekly.iter().enumerate() {
            let r = (se.pick)(w);
            match if se.catch { r.catch_rate } else { r.precision } {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        y(v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let dash = if se.dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{}\"", se.dash)
        };
        if !d.is_empty() {
            let _ = writeln!(
                s,
                "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>",
                d.trim_end(),
                se.colour
            );
        }
        let ly = TOP + 10.0 + 22.0 * k as f64;
        let lx = LEFT + pw + 16.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            lx + 28.0,
            se.colour,
            lx + 34.0,
            ly + 4.0,
            esc(se.label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::orders::{CustomerKey, Order};
    use crate::reports::backtest::{BacktestInput, BacktestOptions, build_input, run};
    use crate::rules::parse_rules;
    use jiff::civil::date;

    #[test]
    fn the_chart_has_axes_lines_and_a_legend_and_is_deterministic() {
        let rules = parse_rules(
            "signal silent\nmeasure: days_since_last_order\nat least 60: 60 points\nband churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n",
        )
        .unwrap();
        let mut orders = Vec::new();
        for k in 0..60 {
            let d = date(2026, 1, 5) + jiff::Span::new().days(7 * k);
            orders.push(Order {
                order_id: None,
                customer_key: CustomerKey::Id("B".into()),
                date: d,
                amount: None,
            });
        }
        orders.push(Order {
            order_id: None,
            customer_key: CustomerKey::Id("A".into()),
            date: date(2026, 2, 2),
            amount: None,
        });
        let input: BacktestInput = build_input(&orders, None, &rules);
        let rep = run(&input, &rules, &BacktestOptions::default()).unwrap();
        let a = svg(&rep);
        assert_eq!(a, svg(&rep));
        assert!(a.starts_with("<svg") && a.ends_with("</svg>\n"));
        assert_eq!(a.matches("<path").count(), 6);
        assert!(a.contains("Precision, baseline") && a.contains("100%") && a.contains("Monday"));
    }
}
