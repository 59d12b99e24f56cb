//! Support mood (docs/SPEC.md §8 mood-reader): one ticket's label (sour / flat / happy = −1 / 0 / +1),
//! blended into `support_mood` as an exponential moving average, and the customer found by the
//! sender's address in the list's `email` column.

use crate::list::csv_sheet::{Sheet, SheetError};
use crate::list::values::parse_number;

/// The weight of the newest ticket in the moving average.
pub const EMA_WEIGHT: f64 = 0.4;

/// One ticket's mood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MoodLabel {
    Sour,
    Flat,
    Happy,
}

impl MoodLabel {
    /// The three labels, in the order models are offered them.
    pub const ALL: [MoodLabel; 3] = [MoodLabel::Sour, MoodLabel::Flat, MoodLabel::Happy];

    pub fn as_str(self) -> &'static str {
        match self {
            MoodLabel::Sour => "sour",
            MoodLabel::Flat => "flat",
            MoodLabel::Happy => "happy",
        }
    }

    /// −1, 0 or +1.
    pub fn value(self) -> f64 {
        match self {
            MoodLabel::Sour => -1.0,
            MoodLabel::Flat => 0.0,
            MoodLabel::Happy => 1.0,
        }
    }

    /// Exactly `sour`, `flat` or `happy` (any case, surrounding white space ignored); anything
    /// else is refused.
    pub fn parse(s: &str) -> Option<MoodLabel> {
        let t = s.trim();
        MoodLabel::ALL
            .into_iter()
            .find(|l| t.eq_ignore_ascii_case(l.as_str()))
    }
}

/// `new = 0.4 × label + 0.6 × old`; the first ticket is the label. Kept in −1 … +1 and rounded to
/// two decimals (what the sheet shows).
pub fn blend(old: Option<f64>, label: MoodLabel) -> f64 {
    let v = match old {
        Some(old) => EMA_WEIGHT * label.value() + (1.0 - EMA_WEIGHT) * old.clamp(-1.0, 1.0),
        None => label.value(),
    };
    (v.clamp(-1.0, 1.0) * 100.0).round() / 100.0
}

/// The mood as written into the sheet: two decimals.
pub fn format_mood(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

/// Labels a ticket without a model: counts words that usually mean an unhappy or a happy
/// customer. The local mode's labeller (no Bedrock on a laptop): crude but deterministic, so a
/// run can be repeated and checked. A tie, or no signal word, is `flat`.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeywordLabeller;

const SOUR_WORDS: &[&str] = &[
    "angry",
    "annoyed",
    "awful",
    "broken",
    "cancel",
    "complain",
    "complaint",
    "disappointed",
    "disappointing",
    "frustrated",
    "frustrating",
    "furious",
    "horrible",
    "late",
    "never",
    "refund",
    "ridiculous",
    "terrible",
    "unacceptable",
    "unhappy",
    "upset",
    "useless",
    "waiting",
    "worst",
    "wrong",
    "still not",
    "fed up",
    "switch to",
    "leaving",
];
const HAPPY_WORDS: &[&str] = &[
    "amazing",
    "appreciate",
    "awesome",
    "brilliant",
    "delighted",
    "excellent",
    "fantastic",
    "glad",
    "great",
    "happy",
    "love",
    "lovely",
    "perfect",
    "pleased",
    "recommend",
    "thank you",
    "thanks so much",
    "wonderful",
];

impl KeywordLabeller {
    pub fn label(&self, text: &str) -> MoodLabel {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .collect();
        let joined = words.join(" ");
        let count = |list: &[&str]| -> usize {
            list.iter()
                .map(|k| {
                    if k.contains(' ') {
                        joined.matches(k).count()
                    } else {
                        words.iter().filter(|w| *w == k).count()
                    }
                })
                .sum()
        };
        let (sour, happy) = (count(SOUR_WORDS), count(HAPPY_WORDS));
        match sour.cmp(&happy) {
            std::cmp::Ordering::Greater => MoodLabel::Sour,
            std::cmp::Ordering::Less => MoodLabel::Happy,
            std::cmp::Ordering::Equal => MoodLabel::Flat,
        }
    }
}

/// Who a ticket belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// One customer has this address.
    Customer {
        customer_id: String,
        /// Which candidate matched (for logs: the position, never the address).
        by: usize,
        /// The sheet's `support_mood` cell, if any.
        mood: Option<f64>,
    },
    /// No customer has any of the addresses.
    Unmatched,
    /// Several customers share the first address that matched: not guessed.
    Ambiguous { count: usize },
}

/// Why a lookup could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Sheet(#[from] SheetError),
    #[error("customer {customer_id}'s support_mood cell is not a number: {reason}")]
    BadMood { customer_id: String, reason: String },
}

/// Finds the customer whose `email` cell equals one of `candidates` (ignoring case), trying the
/// candidates in order.
pub fn find_customer(sheet: &Sheet<'_>, candidates: &[&str]) -> Result<Match, LookupError> {
    let id_col = sheet.require("customer_id")?;
    let email_col = sheet.require("email")?;
    let mood_col = sheet.column("support_mood");
    for (by, addr) in candidates.iter().enumerate() {
        let addr = addr.trim();
        if addr.is_empty() {
            continue;
        }
        let hits: Vec<_> = sheet
            .rows()
            .filter(|r| sheet.cell(r, email_col).eq_ignore_ascii_case(addr))
            .filter(|r| !sheet.cell(r, id_col).is_empty())
            .collect();
        match hits.as_slice() {
            [] => continue,
            [row] => {
                let customer_id = sheet.cell(row, id_col);
                let mood = match mood_col {
                    Some(c) => {
                        parse_number(&sheet.cell(row, c)).map_err(|e| LookupError::BadMood {
                            customer_id: customer_id.clone(),
                            reason: e.to_string(),
                        })?
                    }
                    None => None,
                };
                return Ok(Match::Customer {
                    customer_id,
                    by,
                    mood,
                });
            }
            many => return Ok(Match::Ambiguous { count: many.len() }),
        }
    }
    Ok(Match::Unmatched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_as_specified() {
        assert_eq!(blend(None, MoodLabel::Sour), -1.0);
        assert_eq!(blend(Some(0.5), MoodLabel::Sour), -0.1);
        assert_eq!(blend(Some(-1.0), MoodLabel::Happy), -0.2);
        assert_eq!(blend(Some(0.0), MoodLabel::Flat), 0.0);
        assert_eq!(blend(Some(9.0), MoodLabel::Happy), 1.0);
        assert_eq!(format_mood(-0.1), "-0.10");
        assert_eq!(format_mood(-0.0), "0.00");
    }

    #[test]
    fn labels_parse_strictly() {
        assert_eq!(MoodLabel::parse(" Happy "), Some(MoodLabel::Happy));
        assert_eq!(MoodLabel::parse("very happy"), None);
        assert_eq!(MoodLabel::parse("angry"), None);
    }

    #[test]
    fn keyword_labeller() {
        let k = KeywordLabeller;
        assert_eq!(
            k.label("This is unacceptable, still waiting. Refund!"),
            MoodLabel::Sour
        );
        assert_eq!(
            k.label("Thank you, the new version is great"),
            MoodLabel::Happy
        );
        assert_eq!(
            k.label("Please update my billing address."),
            MoodLabel::Flat
        );
    }

    #[test]
    fn finds_by_candidates_in_order() {
        let csv = b"customer_id,email,support_mood\nC1,Ann@X.example,0.5\nC2,bob@x.example,\nC3,dup@x.example,\nC4,dup@x.example,\n";
        let s = Sheet::new(csv).unwrap();
        assert_eq!(
            find_customer(&s, &["nobody@x.example", "ann@x.example"]).unwrap(),
            Match::Customer {
                customer_id: "C1".into(),
                by: 1,
                mood: Some(0.5)
            }
        );
        assert_eq!(
            find_customer(&s, &["BOB@x.example"]).unwrap(),
            Match::Customer {
                customer_id: "C2".into(),
                by: 0,
                mood: None
            }
        );
        assert_eq!(
            find_customer(&s, &["dup@x.example"]).unwrap(),
            Match::Ambiguous { count: 2 }
        );
        assert_eq!(
            find_customer(&s, &["z@x.example"]).unwrap(),
            Match::Unmatched
        );
    }
}
