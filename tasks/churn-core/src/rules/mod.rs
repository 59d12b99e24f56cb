//! The rules doc (docs/SPEC.md §3): a plain-text file a shop owner edits, parsed exactly, with an error
//! for every mistake that names the line, quotes it and says what was expected.

use crate::model::Band;

/// What a signal measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// Whole days from the reference date (last order, or a later win-back) to the as-of date.
    DaysSinceLastOrder,
    /// `days_since_last_order ÷ order_pace_days`; no data when the pace is blank or 0.
    OverdueRatio,
    /// BG/NBD probability the customer is still active (docs/SPEC.md §12).
    PAlive,
    /// A column of the customer list, by normalised header (`support_mood`, `plan`, …).
    Column { normalized: String, display: String },
}

/// One points line of a signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `at least X`: value ≥ X.
    AtLeast(f64),
    /// `at most X`: value ≤ X.
    AtMost(f64),
    /// `is TEXT`: case-insensitive text match (stored lower-cased and trimmed).
    Is(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PointsLine {
    pub test: Test,
    pub points: u32,
    /// 1-based line number in the doc.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub name: String,
    pub about: Option<String>,
    pub measure: Measure,
    pub lines: Vec<PointsLine>,
    pub line: usize,
}

/// The three band cuts (scores), strictly increasing: watch < at-risk < churning, within 1…100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandCuts {
    pub watch: u32,
    pub at_risk: u32,
    pub churning: u32,
}

/// How an owner is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A Slack DM; `user_id` given (`slack U0123ABCD`) or found by email (`slack`).
    Slack {
        user_id: Option<String>,
    },
    Email,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerLine {
    /// Lower-cased email.
    pub email: String,
    pub channel: Channel,
    pub line: usize,
}

/// A parsed, valid rules doc.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub signals: Vec<Signal>,
    pub bands: BandCuts,
    /// `weekly cap`, default 10.
    pub weekly_cap: usize,
    /// `contact pause`, default 21 days.
    pub contact_pause_days: u32,
    /// `holdout: P%`, default 0: the share of each week's listed candidates kept off the lists
    /// (docs/SPEC.md §3; `run::holdout`).
    pub holdout_percent: u32,
    /// `gone after`, default 365 days; `None` for `gone after: never` (docs/SPEC.md §3, the gone rule).
    pub gone_after_days: Option<u32>,
    pub owners: Vec<OwnerLine>,
    /// Content hash of the doc's bytes (`rules_version`).
    pub version: String,
}

/// One mistake in the doc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[error("line {line}: \"{text}\": {message}")]
pub struct RuleError {
    /// 1-based line number (for something missing from the whole doc: the last line + 1).
    pub line: usize,
    /// The line as written (trimmed), or empty for a missing item.
    pub text: String,
    /// What is wrong and what was expected.
    pub message: String,
}

pub const DEFAULT_WEEKLY_CAP: usize = 10;
pub const DEFAULT_CONTACT_PAUSE_DAYS: u32 = 21;
/// A customer silent this long is gone, not at risk, unless the doc says otherwise (`run::gone`).
pub const DEFAULT_GONE_AFTER_DAYS: u32 = 365;
const MAX_GONE_AFTER_DAYS: u64 = 3650;

/// The rules version: the first 12 hex digits of the SHA-256 of the doc's bytes.
pub fn rules_version(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Parses a rules doc. Returns every mistake at once, in line order.
///
/// Accepted beyond the SPEC example (all unambiguous): a `:` after `signal` or at the end of a
/// signal name, `1 point`, `is "TEXT"` in quotes (so the text may hold a `:`), `at risk` /
/// `atrisk` for the at-risk band, `1 day`, and a whole number written `5.0`.
pub fn parse_rules(text: &str) -> Result<Rules, Vec<RuleError>> {
    let version = rules_version(text.as_bytes());
    let normalized = normalize_text(text);
    let mut parser = Parser::default();
    let mut line_count = 0;
    for (index, raw) in normalized.lines().enumerate() {
        line_count = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        parser.line(index + 1, line);
    }
    parser.finish(line_count + 1, version)
}

/// The keywords a line may start with, as listed in error messages.
const EXPECTED_KEYWORDS: &str = "`signal`, `about:`, `measure:`, `at least`, `at most`, `is`, \
     `band`, `weekly cap:`, `contact pause:`, `gone after:`, `holdout:` or `owner`";

/// Keywords for "did you mean …" hints: (how it is written, how it is shown).
const KEYWORDS: [(&str, &str); 12] = [
    ("signal", "signal"),
    ("about", "about:"),
    ("measure", "measure:"),
    ("at least", "at least"),
    ("at most", "at most"),
    ("is", "is"),
    ("band", "band"),
    ("weekly cap", "weekly cap:"),
    ("contact pause", "contact pause:"),
    ("gone after", "gone after:"),
    ("holdout", "holdout:"),
    ("owner", "owner"),
];

const MAX_POINTS: u64 = 100;
const MAX_TOTAL: u32 = 100;
const MAX_WEEKLY_CAP: u64 = 50;
const MAX_CONTACT_PAUSE_DAYS: u64 = 365;

/// Undoes what a Google Docs / Word export does to plain text: BOM, CRLF or CR line ends,
/// non-breaking spaces, curly quotes, the Unicode minus and an en dash used as a minus.
fn normalize_text(text: &str) -> String {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\u{A0}' | '\u{202F}' | '\u{2007}' => out.push(' '),
            '\u{2018}' | '\u{2019}' => out.push('\''),
            '\u{201C}' | '\u{201D}' => out.push('"'),
            '\u{2212}' => out.push('-'),
            // Only before a number: elsewhere an en dash is ordinary punctuation in names.
            '\u{2013}'
                if chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_digit() || *n == '.') =>
            {
                out.push('-')
            }
            // Zero-width characters some exports leave behind.
            '\u{FEFF}' | '\u{200B}' => {}
            _ => out.push(c),
        }
    }
    out
}

/// Normalises a measure name like a list header: lower-case, without spaces, `_` and `-`.
fn normalize_measure(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Lower-cased, with runs of spaces collapsed: two signal names equal under this are the same.
fn name_key(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Matches `words` (ASCII, case-insensitive) at the start of `s`, each ending at a space, a `:`
/// or the end of the line. Returns the rest of the line.
fn match_words<'a>(s: &'a str, words: &[&str]) -> Option<&'a str> {
    let mut rest = s;
    for word in words {
        rest = rest.trim_start();
        let head = rest.get(..word.len())?;
        if !head.eq_ignore_ascii_case(word) {
            return None;
        }
        let after = &rest[word.len()..];
        if !(after.is_empty() || after.starts_with(|c: char| c.is_whitespace() || c == ':')) {
            return None;
        }
        rest = after;
    }
    Some(rest)
}

/// The text after a required `:`, or `None` when the colon is missing.
fn after_colon(rest: &str) -> Option<&str> {
    rest.trim_start().strip_prefix(':').map(str::trim)
}

/// Edit distance counting a swap of two neighbouring letters as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Whether `word` is close enough to `target` to be a typo of it (or `target` without spaces).
fn is_typo_of(word: &str, target: &str) -> bool {
    typo_distance(word, target).is_some()
}

/// The edit distance when `word` is close enough to `target` to be a typo of it.
fn typo_distance(word: &str, target: &str) -> Option<usize> {
    let allowed = match target.chars().count() {
        // `if` for `is`, but not `a` or `i`.
        0..=2 => usize::from(word.chars().count() == target.chars().count()),
        3..=5 => 1,
        _ => 2,
    };
    let distance = edit_distance(word, target);
    (distance <= allowed).then_some(distance)
}

/// "did you mean …" for a line that starts with no known keyword.
fn keyword_suggestion(line: &str) -> Option<&'static str> {
    let lower = line.to_lowercase();
    let mut words = lower
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter(|w| !w.is_empty());
    let first = words.next()?;
    let two = words.next().map(|second| format!("{first} {second}"));
    let mut best: Option<(usize, &'static str)> = None;
    for (keyword, shown) in KEYWORDS {
        let distance = if keyword.contains(' ') {
            // `at leats` or `atleast` for `at least`.
            let joined = two.as_deref().and_then(|t| typo_distance(t, keyword));
            let single = typo_distance(first, &keyword.replace(' ', ""));
            joined.into_iter().chain(single).min()
        } else {
            typo_distance(first, keyword)
        };
        if let Some(d) = distance
            && best.is_none_or(|(b, _)| d < b)
        {
            best = Some((d, shown));
        }
    }
    best.map(|(_, shown)| shown)
}

/// Whether `s` is a plain decimal number: optional sign, digits, optional `.` and digits.
fn is_plain_number(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    digits(int)
        && frac.is_none_or(digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()))
}

/// Reads the number of an `at least` / `at most` test.
fn parse_test_number(raw: &str, keyword: &str) -> Result<f64, String> {
    let s = raw.trim();
    let example = format!("`{keyword} 1.5: 10 points`");
    if s.is_empty() {
        return Err(format!(
            "a number is missing after `{keyword}`: write it like {example}"
        ));
    }
    if is_plain_number(s)
        && let Ok(v) = s.parse::<f64>()
        && v.is_finite()
    {
        return Ok(v);
    }
    if s.contains(',') && is_plain_number(&s.replace(',', ".")) {
        return Err(format!(
            "`{s}` is not a number the rules can read: write decimals with a dot, like `1.5`, \
             and no thousands separators"
        ));
    }
    Err(format!("`{s}` is not a number: write it like {example}"))
}

/// Why a whole number could not be read.
enum WholeError {
    NotNumber,
    Negative,
    Fraction,
}

/// Reads a whole number (`5`, also `5.0`); huge values saturate so range checks reject them.
fn parse_whole(s: &str) -> Result<u64, WholeError> {
    let s = s.trim();
    if !is_plain_number(s) {
        return Err(WholeError::NotNumber);
    }
    let Ok(v) = s.parse::<f64>() else {
        return Err(WholeError::NotNumber);
    };
    if v < 0.0 {
        Err(WholeError::Negative)
    } else if v.fract() != 0.0 {
        Err(WholeError::Fraction)
    } else {
        // Saturating cast: anything huge is out of range anyway.
        Ok(v as u64)
    }
}

/// Reads `N points` (or `1 point`), N a whole number 0…100.
fn parse_points(raw: &str) -> Result<u32, String> {
    let s = raw.trim();
    let hint =
        "write the points as a whole number from 0 to 100 followed by `points`, like `40 points`";
    let Some((number, word)) = s.rsplit_once(char::is_whitespace) else {
        return Err(if s.is_empty() {
            format!("the points are missing after the `:`: {hint}")
        } else if parse_whole(s).is_ok() {
            format!("the word `points` is missing after `{s}`: {hint}")
        } else {
            format!("`{s}` is not a number of points: {hint}")
        });
    };
    let word = word.to_ascii_lowercase();
    if word != "points" && word != "point" {
        return Err(format!("`{s}` is not a number of points: {hint}"));
    }
    match parse_whole(number) {
        Ok(n) if n <= MAX_POINTS => Ok(n as u32),
        Ok(_) => Err(format!(
            "`{s}` is too many: a line gives at most 100 points"
        )),
        Err(WholeError::Negative) => Err(format!(
            "points can't be negative (`{s}`): use a whole number from 0 to 100"
        )),
        Err(WholeError::Fraction) => Err(format!(
            "points must be a whole number (`{s}` has decimals): use a whole number from 0 to 100"
        )),
        Err(WholeError::NotNumber) => Err(format!("`{s}` is not a number of points: {hint}")),
    }
}

/// A loose check, enough to catch a name or a typo where an email address belongs.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '"' | '\''))
}

/// A Slack member id: `U` or `W`, then two or more upper-case letters or digits.
fn is_slack_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('U' | 'W'))
        && s.len() >= 3
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// The measures every doc may name, whatever the list's columns.
pub const BUILTIN_MEASURES: [&str; 3] = ["days_since_last_order", "overdue_ratio", "p_alive"];

/// The customer list's standard columns (docs/SPEC.md §2) a signal may measure.
pub const STANDARD_COLUMNS: [&str; 9] = [
    "last_order_date",
    "order_pace_days",
    "first_order_date",
    "order_count",
    "support_mood",
    "lifetime_value",
    "customer_id",
    "name",
    "owner",
];

/// "did you mean …" for a measure: the candidate (a built-in measure or a column name) that
/// `measure` is a typo of, compared as headers are (ignoring case, spaces, `_` and `-`), the
/// nearest first; `None` when it names one exactly or is close to none.
pub fn suggest_measure<'a>(
    measure: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = normalize_measure(measure);
    if word.is_empty() {
        return None;
    }
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let target = normalize_measure(candidate);
        if target == word {
            return None;
        }
        if let Some(d) = typo_distance(&word, &target)
            && best.is_none_or(|(b, _)| d < b)
        {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn is_builtin(measure: &Measure) -> Option<&'static str> {
    match measure {
        Measure::DaysSinceLastOrder => Some("days_since_last_order"),
        Measure::OverdueRatio => Some("overdue_ratio"),
        Measure::PAlive => Some("p_alive"),
        Measure::Column { .. } => None,
    }
}

/// A points line as read, before the signal-wide checks.
struct RawTest {
    test: Test,
    /// The test as written (`at least 2.0`, `is paused`), for messages.
    shown: String,
    points: Option<u32>,
    line: usize,
    text: String,
}

/// A `signal` block being read.
struct Block {
    /// `None` when the `signal` line had no name (already reported).
    name: Option<String>,
    line: usize,
    text: String,
    about: Option<String>,
    about_line: Option<usize>,
    measure: Option<Measure>,
    /// Line of the first `measure:` line, even an unreadable one (so "no measure" isn't added).
    measure_line: Option<usize>,
    tests: Vec<RawTest>,
}

/// What a signal's tests compare: numbers or text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
}

impl Kind {
    fn of(test: &Test) -> Kind {
        match test {
            Test::Is(_) => Kind::Text,
            Test::AtLeast(_) | Test::AtMost(_) => Kind::Number,
        }
    }
}

/// A top-level setting seen once: where, and its value when it was readable.
struct Seen<T> {
    line: usize,
    text: String,
    value: Option<T>,
}

/// The three bands in the order the doc's errors name them.
const BAND_NAMES: [&str; 3] = ["watch", "at-risk", "churning"];
const BAND_EXAMPLES: [u32; 3] = [25, 50, 75];

#[derive(Default)]
struct Parser {
    errors: Vec<RuleError>,
    current: Option<Block>,
    signals: Vec<Signal>,
    /// Every named signal: (name key, line), for duplicates.
    names: Vec<(String, usize)>,
    /// Every named signal's (name, largest points), for the total check.
    maxima: Vec<(String, u32)>,
    /// Line and text of the first `signal` line.
    first_signal: Option<(usize, String)>,
    bands: [Option<Seen<u32>>; 3],
    cap: Option<Seen<usize>>,
    pause: Option<Seen<u32>>,
    gone: Option<Seen<Option<u32>>>,
    holdout: Option<Seen<u32>>,
    owners: Vec<OwnerLine>,
    /// Every owner line's email and line, for duplicates.
    owner_lines: Vec<(String, usize)>,
}

impl Parser {
    fn error(&mut self, line: usize, text: &str, message: impl Into<String>) {
        self.errors.push(RuleError {
            line,
            text: text.to_string(),
            message: message.into(),
        });
    }

    fn line(&mut self, n: usize, t: &str) {
        if let Some(rest) = match_words(t, &["signal"]) {
            self.signal(n, t, rest);
        } else if let Some(rest) = match_words(t, &["about"]) {
            self.about(n, t, rest);
        } else if let Some(rest) = match_words(t, &["measure"]) {
            self.measure(n, t, rest);
        } else if let Some(rest) = match_words(t, &["at", "least"]) {
            self.test(n, t, rest, "at least");
        } else if let Some(rest) = match_words(t, &["at", "most"]) {
            self.test(n, t, rest, "at most");
        } else if let Some(rest) = match_words(t, &["is"]) {
            self.test(n, t, rest, "is");
        } else if let Some(rest) = match_words(t, &["band"]) {
            self.close();
            self.band(n, t, rest);
        } else if let Some(rest) = match_words(t, &["weekly", "cap"]) {
            self.close();
            self.cap(n, t, rest);
        } else if let Some(rest) = match_words(t, &["contact", "pause"]) {
            self.close();
            self.pause(n, t, rest);
        } else if let Some(rest) = match_words(t, &["gone", "after"]) {
            self.close();
            self.gone(n, t, rest);
        } else if let Some(rest) = match_words(t, &["holdout"]) {
            self.close();
            self.holdout(n, t, rest);
        } else if let Some(rest) = match_words(t, &["owner"]) {
            self.close();
            self.owner(n, t, rest);
        } else {
            let head = t
                .split(|c: char| c.is_whitespace() || c == ':')
                .next()
                .unwrap_or(t);
            let mut message = format!(
                "`{head}` is not something the rules understand: each line starts with \
                 {EXPECTED_KEYWORDS} (notes start with #)"
            );
            if let Some(guess) = keyword_suggestion(t) {
                message = format!("did you mean `{guess}`? {message}");
            }
            self.error(n, t, message);
        }
    }

    fn signal(&mut self, n: usize, t: &str, rest: &str) {
        self.close();
        let rest = rest.trim();
        let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
        let name = rest.strip_suffix(':').unwrap_or(rest).trim();
        if self.first_signal.is_none() {
            self.first_signal = Some((n, t.to_string()));
        }
        let name = if name.is_empty() {
            self.error(
                n,
                t,
                "a signal needs a name after the word `signal`, like `signal overdue`",
            );
            None
        } else {
            let key = name_key(name);
            if let Some(&(_, first)) = self.names.iter().find(|(k, _)| *k == key) {
                self.error(
                    n,
                    t,
                    format!(
                        "there is already a signal called `{name}` (line {first}): \
                         each signal needs its own name"
                    ),
                );
            }
            self.names.push((key, n));
            Some(name.to_string())
        };
        self.current = Some(Block {
            name,
            line: n,
            text: t.to_string(),
            about: None,
            about_line: None,
            measure: None,
            measure_line: None,
            tests: Vec::new(),
        });
    }

    /// Reports a signal line (`about:`, `measure:`, points) found outside any signal.
    fn outside(&mut self, n: usize, t: &str, what: &str) {
        self.error(
            n,
            t,
            format!(
                "{what} belongs under a `signal NAME` line, but this line is not inside a signal \
                 (a `band`, `weekly cap`, `contact pause` or `owner` line ends a signal)"
            ),
        );
    }

    fn about(&mut self, n: usize, t: &str, rest: &str) {
        let Some(text) = after_colon(rest) else {
            self.error(
                n,
                t,
                "a `:` is missing after `about`: write it like `about: next order is late`",
            );
            return;
        };
        let Some(block) = self.current.as_mut() else {
            self.outside(n, t, "an `about:` line");
            return;
        };
        if let Some(first) = block.about_line {
            self.error(
                n,
                t,
                format!("this signal already has an `about:` line (line {first}): keep one"),
            );
            return;
        }
        block.about_line = Some(n);
        // An empty `about:` is harmless: the signal simply has no description.
        block.about = (!text.is_empty()).then(|| text.to_string());
    }

    fn measure(&mut self, n: usize, t: &str, rest: &str) {
        let Some(block) = self.current.as_mut() else {
            self.outside(n, t, "a `measure:` line");
            return;
        };
        let Some(text) = after_colon(rest) else {
            // Counts as the signal's measure line, so "no measure" isn't reported as well.
            block.measure_line.get_or_insert(n);
            self.error(
                n,
                t,
                "a `:` is missing after `measure`: write it like `measure: overdue_ratio`",
            );
            return;
        };
        if let Some(first) = block.measure_line {
            self.error(
                n,
                t,
                format!(
                    "this signal already has a `measure:` line (line {first}): a signal measures \
                     one thing, so split it into two signals"
                ),
            );
            return;
        }
        block.measure_line = Some(n);
        let normalized = normalize_measure(text);
        block.measure = match normalized.as_str() {
            "" => None,
            "dayssincelastorder" => Some(Measure::DaysSinceLastOrder),
            "overdueratio" => Some(Measure::OverdueRatio),
            "palive" => Some(Measure::PAlive),
            _ => {
                if let Some(builtin) = suggest_measure(text, BUILTIN_MEASURES) {
                    // A typo of a built-in measure, not a column anyone would name so.
                    self.error(
                        n,
                        t,
                        format!(
                            "`{text}` is not a measure: did you mean `{builtin}`? (the built-in \
                             measures are `days_since_last_order`, `overdue_ratio` and \
                             `p_alive`; any other name is a column of the customer list)"
                        ),
                    );
                    return;
                }
                Some(Measure::Column {
                    normalized,
                    display: text.to_string(),
                })
            }
        };
        if block.measure.is_none() {
            self.error(
                n,
                t,
                "the measure is missing after `measure:`: name `days_since_last_order`, \
                 `overdue_ratio`, `p_alive` or a column of the customer list, like \
                 `measure: support_mood`",
            );
        }
    }

    fn test(&mut self, n: usize, t: &str, rest: &str, keyword: &str) {
        if self.current.is_none() {
            self.outside(n, t, &format!("an `{keyword}` points line"));
            return;
        }
        let example = match keyword {
            "is" => "`is paused: 20 points`",
            "at most" => "`at most -0.5: 25 points`",
            _ => "`at least 2.0: 40 points`",
        };
        // The points follow the last `:`, so an `is` text may itself hold a `:` (in quotes).
        let Some((value, points)) = rest.rsplit_once(':') else {
            self.error(
                n,
                t,
                format!(
                    "a `:` is missing between the test and the points: write it like {example}"
                ),
            );
            return;
        };
        let value = value.trim();
        // The test and how it is shown in messages; `None` when unreadable (already reported).
        let parsed = if keyword == "is" {
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value)
                .trim();
            if unquoted.is_empty() {
                self.error(
                    n,
                    t,
                    format!("the text to match is missing after `is`: write it like {example}"),
                );
                None
            } else {
                Some((Test::Is(unquoted.to_lowercase()), format!("is {unquoted}")))
            }
        } else {
            match parse_test_number(value, keyword) {
                Ok(x) if keyword == "at most" => {
                    Some((Test::AtMost(x), format!("at most {value}")))
                }
                Ok(x) => Some((Test::AtLeast(x), format!("at least {value}"))),
                Err(message) => {
                    self.error(n, t, message);
                    None
                }
            }
        };
        let points = match parse_points(points) {
            Ok(p) => Some(p),
            Err(message) => {
                self.error(n, t, message);
                None
            }
        };
        if let (Some((test, shown)), Some(block)) = (parsed, self.current.as_mut()) {
            block.tests.push(RawTest {
                test,
                shown,
                points,
                line: n,
                text: t.to_string(),
            });
        }
    }

    /// Ends the current signal: the checks that need all of its lines.
    fn close(&mut self) {
        let Some(block) = self.current.take() else {
            return;
        };
        let label = block
            .name
            .as_deref()
            .map_or("this signal".to_string(), |n| format!("signal `{n}`"));
        if block.measure_line.is_none() {
            self.error(
                block.line,
                &block.text,
                format!(
                    "{label} has no `measure:` line: add one under it, like `measure: overdue_ratio`"
                ),
            );
        }
        if block.tests.is_empty() {
            self.error(
                block.line,
                &block.text,
                format!(
                    "{label} has no points lines: add at least one under it, like \
                     `at least 2.0: 40 points` or `is paused: 20 points`"
                ),
            );
        }
        let builtin = block.measure.as_ref().and_then(is_builtin);
        // Built-in measures are numbers; otherwise the first test decides.
        let kind = if builtin.is_some() {
            Some((Kind::Number, None))
        } else {
            block
                .tests
                .first()
                .map(|t| (Kind::of(&t.test), Some(t.line)))
        };
        let mut lines = Vec::new();
        // The lines above that took values: lowest `at least`, highest `at most`, each `is`.
        let mut least: Option<(f64, usize, &str)> = None;
        let mut most: Option<(f64, usize, &str)> = None;
        let mut texts: Vec<(&str, usize)> = Vec::new();
        for t in &block.tests {
            if let Some((kind, first)) = kind
                && kind != Kind::of(&t.test)
            {
                let message = match (builtin, first) {
                    (Some(m), _) => format!(
                        "`{m}` is a number, so test it with `at least` or `at most`, not `is`"
                    ),
                    (None, Some(first)) if kind == Kind::Number => format!(
                        "this signal tests numbers (`at least` / `at most`, line {first}), so it \
                         can't also test text with `is`: put text tests in a signal of their own"
                    ),
                    (None, first) => format!(
                        "this signal tests text (`is`, line {}), so it can't also test numbers \
                         with `at least` / `at most`: put number tests in a signal of their own",
                        first.unwrap_or(block.line)
                    ),
                };
                self.errors.push(RuleError {
                    line: t.line,
                    text: t.text.clone(),
                    message,
                });
                continue;
            }
            let never = "this line can never give points: lines are tried top to bottom and";
            let covered = match (least, most) {
                (Some((l, ll, ls)), Some((m, ml, ms))) if m >= l => Some(format!(
                    "{never} `{ls}` (line {ll}) and `{ms}` (line {ml}) above already take every \
                     value"
                )),
                _ => None,
            };
            let taken = covered.or_else(|| match &t.test {
                Test::Is(s) => texts.iter().find(|(seen, _)| seen == s).map(|&(_, line)| {
                    format!("{never} `{}` is already on line {line} above", t.shown)
                }),
                Test::AtLeast(x) => least.filter(|l| *x >= l.0).map(|(_, line, shown)| {
                    format!(
                        "{never} every value it accepts is already taken by `{shown}` on line \
                         {line}: put the higher number first"
                    )
                }),
                Test::AtMost(x) => most.filter(|m| *x <= m.0).map(|(_, line, shown)| {
                    format!(
                        "{never} every value it accepts is already taken by `{shown}` on line \
                         {line}: put the lower number first"
                    )
                }),
            });
            if let Some(message) = taken {
                self.errors.push(RuleError {
                    line: t.line,
                    text: t.text.clone(),
                    message,
                });
                continue;
            }
            match &t.test {
                Test::Is(s) => texts.push((s, t.line)),
                Test::AtLeast(x) => {
                    if least.is_none_or(|l| *x < l.0) {
                        least = Some((*x, t.line, &t.shown));
                    }
                }
                Test::AtMost(x) => {
                    if most.is_none_or(|m| *x > m.0) {
                        most = Some((*x, t.line, &t.shown));
                    }
                }
            }
            if let Some(points) = t.points {
                lines.push(PointsLine {
                    test: t.test.clone(),
                    points,
                    line: t.line,
                });
            }
        }
        let Some(name) = block.name else {
            return;
        };
        self.maxima.push((
            name.clone(),
            lines.iter().map(|l| l.points).max().unwrap_or(0),
        ));
        if let Some(measure) = block.measure {
            self.signals.push(Signal {
                name,
                about: block.about,
                measure,
                lines,
                line: block.line,
            });
        }
    }

    fn band(&mut self, n: usize, t: &str, rest: &str) {
        let example = "`band watch: at least 25`";
        let Some((name, value)) = rest.split_once(':') else {
            self.error(
                n,
                t,
                format!("a `:` is missing after the band name: write it like {example}"),
            );
            return;
        };
        let index = match normalize_measure(name).as_str() {
            "watch" => 0,
            "atrisk" => 1,
            "churning" => 2,
            other => {
                let shown = name.trim();
                let message = if other.is_empty() {
                    format!(
                        "the band name is missing: write `churning`, `at-risk` or `watch`, like {example}"
                    )
                } else {
                    format!(
                        "`{shown}` is not a band: the bands are `churning`, `at-risk` and `watch`, \
                         like {example}"
                    )
                };
                self.error(n, t, message);
                return;
            }
        };
        let band = BAND_NAMES[index];
        let band_example = format!("`band {band}: at least {}`", BAND_EXAMPLES[index]);
        let value = match match_words(value, &["at", "least"]) {
            None => {
                self.error(
                    n,
                    t,
                    format!("expected `at least` and a whole number after `band {band}:`, like {band_example}"),
                );
                None
            }
            Some(number) => match parse_whole(number) {
                Ok(v) if (1..=u64::from(MAX_TOTAL)).contains(&v) => Some(v as u32),
                Ok(_) | Err(WholeError::Negative) => {
                    self.error(
                        n,
                        t,
                        format!("a band cut must be a score from 1 to 100, like {band_example}"),
                    );
                    None
                }
                Err(_) => {
                    let number = number.trim();
                    let message = if number.is_empty() {
                        format!(
                            "the score is missing after `at least`: write it like {band_example}"
                        )
                    } else {
                        format!(
                            "`{number}` is not a whole number: a band cut is a score from 1 to 100, \
                             like {band_example}"
                        )
                    };
                    self.error(n, t, message);
                    None
                }
            },
        };
        if let Some(first) = &self.bands[index] {
            let first = first.line;
            self.error(
                n,
                t,
                format!(
                    "the `{band}` band is already set on line {first}: keep one `band {band}` line"
                ),
            );
            return;
        }
        self.bands[index] = Some(Seen {
            line: n,
            text: t.to_string(),
            value,
        });
    }

    fn cap(&mut self, n: usize, t: &str, rest: &str) {
        let example = "`weekly cap: 10`";
        let value = match after_colon(rest) {
            None => {
                self.error(
                    n,
                    t,
                    format!("a `:` is missing after `weekly cap`: write it like {example}"),
                );
                None
            }
            Some(s) => match parse_whole(s) {
                Ok(v) if (1..=MAX_WEEKLY_CAP).contains(&v) => Some(v as usize),
                Ok(_) | Err(WholeError::Negative) => {
                    self.error(
                        n,
                        t,
                        format!("the weekly cap must be a whole number from 1 to 50 (names per owner per week), like {example}"),
                    );
                    None
                }
                Err(_) => {
                    self.error(
                        n,
                        t,
                        format!("`{s}` is not a whole number: the weekly cap is how many names each owner gets per week, from 1 to 50, like {example}"),
                    );
                    None
                }
            },
        };
        if let Some(first) = &self.cap {
            let first = first.line;
            self.error(
                n,
                t,
                format!(
                    "the weekly cap is already set on line {first}: keep one `weekly cap` line"
                ),
            );
            return;
        }
        self.cap = Some(Seen {
            line: n,
            text: t.to_string(),
            value,
        });
    }

    /// The number of days of a `KEY: N days` setting within `range`, or `None` after reporting
    /// what is wrong (`what` names the setting in a sentence).
    #[allow(clippy::too_many_arguments)]
    fn days_value(
        &mut self,
        n: usize,
        t: &str,
        rest: &str,
        key: &str,
        what: &str,
        example: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<u32> {
        let (lo, hi) = (*range.start(), *range.end());
        let Some(s) = after_colon(rest) else {
            self.error(
                n,
                t,
                format!("a `:` is missing after `{key}`: write it like {example}"),
            );
            return None;
        };
        let (number, unit) = match s.rsplit_once(char::is_whitespace) {
            Some((number, unit)) => (number, Some(unit.to_ascii_lowercase())),
            None => (s, None),
        };
        let message = match (parse_whole(number), unit.as_deref()) {
            (Ok(v), Some("day" | "days")) if range.contains(&v) => return Some(v as u32),
            (Ok(_) | Err(WholeError::Negative), Some("day" | "days")) => {
                format!("{what} must be from {lo} to {hi} days, like {example}")
            }
            (Ok(_), None) => {
                format!("the word `days` is missing after the number: write it like {example}")
            }
            (Ok(_), Some(_)) => format!("{what} is counted in days: write it like {example}"),
            (Err(_), _) => format!(
                "`{s}` is not a number of days: write a whole number from {lo} to {hi} and `days`, like {example}"
            ),
        };
        self.error(n, t, message);
        None
    }

    fn pause(&mut self, n: usize, t: &str, rest: &str) {
        let value = self.days_value(
            n,
            t,
            rest,
            "contact pause",
            "the contact pause",
            "`contact pause: 21 days`",
            0..=MAX_CONTACT_PAUSE_DAYS,
        );
        if let Some(first) = &self.pause {
            let first = first.line;
            self.error(n, t, format!("the contact pause is already set on line {first}: keep one `contact pause` line"));
            return;
        }
        self.pause = Some(Seen {
            line: n,
            text: t.to_string(),
            value,
        });
    }

    /// `gone after: N days` or `gone after: never`.
    fn gone(&mut self, n: usize, t: &str, rest: &str) {
        let value = match after_colon(rest) {
            Some(s) if s.eq_ignore_ascii_case("never") => Some(None),
            _ => self
                .days_value(
                    n,
                    t,
                    rest,
                    "gone after",
                    "`gone after`",
                    "`gone after: 365 days` (or `gone after: never`)",
                    1..=MAX_GONE_AFTER_DAYS,
                )
                .map(Some),
        };
        if let Some(first) = &self.gone {
            let first = first.line;
            self.error(
                n,
                t,
                format!("`gone after` is already set on line {first}: keep one `gone after` line"),
            );
            return;
        }
        self.gone = Some(Seen {
            line: n,
            text: t.to_string(),
            value,
        });
    }

    fn holdout(&mut self, n: usize, t: &str, rest: &str) {
        let example = "`holdout: 10%`";
        let max = crate::run::holdout::MAX_HOLDOUT_PERCENT;
        let value = match after_colon(rest) {
            None => {
                self.error(
                    n,
                    t,
                    format!("a `:` is missing after `holdout`: write it like {example}"),
                );
                None
            }
            Some(s) => match s.strip_suffix('%').map(str::trim) {
                None => {
                    self.error(
                        n,
                        t,
                        format!("the holdout is a percentage: write it with `%`, like {example}"),
                    );
                    None
                }
                Some(number) => {
                    match parse_whole(number) {
                        Ok(v) if v <= u64::from(max) => Some(v as u32),
                        Ok(_) | Err(WholeError::Negative) => {
                            self.error(n, t, format!("the holdout must be from 0% to {max}% (the share of each week's listed customers kept off the lists to measure outreach), like {example}"));
                            None
                        }
                        Err(_) => {
                            self.error(n, t, format!("`{number}` is not a whole number: write the holdout like {example}"));
                            None
                        }
                    }
                }
            },
        };
        if let Some(first) = &self.holdout {
            let first = first.line;
            self.error(
                n,
                t,
                format!("the holdout is already set on line {first}: keep one `holdout` line"),
            );
            return;
        }
        self.holdout = Some(Seen {
            line: n,
            text: t.to_string(),
            value,
        });
    }

    fn owner(&mut self, n: usize, t: &str, rest: &str) {
        let example = "`owner alex@example.com: slack U0123ABCD`, `owner sam@example.com: slack` or `owner jo@example.com: email`";
        let Some((email, channel)) = rest.split_once(':') else {
            self.error(
                n,
                t,
                format!("a `:` is missing after the email address: write it like {example}"),
            );
            return;
        };
        let email = email.trim().to_lowercase();
        let mut ok = true;
        if email.is_empty() {
            self.error(
                n,
                t,
                format!("the email address is missing after `owner`: write it like {example}"),
            );
            ok = false;
        } else if !looks_like_email(&email) {
            self.error(
                n,
                t,
                format!(
                    "`{}` is not an email address: write it like {example}",
                    email
                ),
            );
            ok = false;
        }
        let words: Vec<&str> = channel.split_whitespace().collect();
        let expected =
            "expected `slack`, `slack USER_ID` (a Slack member id like U0123ABCD) or `email`";
        let channel = match words.as_slice() {
            [] => {
                self.error(
                    n,
                    t,
                    format!("how to reach this owner is missing after the `:`: {expected}"),
                );
                None
            }
            [word] if word.eq_ignore_ascii_case("slack") => Some(Channel::Slack { user_id: None }),
            [word, id] if word.eq_ignore_ascii_case("slack") => {
                if is_slack_id(id) {
                    Some(Channel::Slack {
                        user_id: Some(id.to_string()),
                    })
                } else {
                    self.error(
                        n,
                        t,
                        format!(
                            "`{id}` is not a Slack member id: it starts with U or W followed by \
                             capital letters and digits, like U0123ABCD (in Slack: the person's \
                             profile, ⋮, Copy member ID); or write just `slack` to find them by email"
                        ),
                    );
                    None
                }
            }
            [word] if word.eq_ignore_ascii_case("email") => Some(Channel::Email),
            [word, ..] => {
                let lower = word.to_lowercase();
                let message = if lower == "slack" || lower == "email" {
                    format!("too many words after `{lower}`: {expected}")
                } else if is_typo_of(&lower, "slack") {
                    format!(
                        "did you mean `slack`? `{word}` is not a way to reach an owner: {expected}"
                    )
                } else if is_typo_of(&lower, "email") || lower == "e-mail" {
                    format!(
                        "did you mean `email`? `{word}` is not a way to reach an owner: {expected}"
                    )
                } else {
                    format!("`{word}` is not a way to reach an owner: {expected}")
                };
                self.error(n, t, message);
                None
            }
        };
        if !email.is_empty() {
            if let Some(&(_, first)) = self.owner_lines.iter().find(|(e, _)| *e == email) {
                self.error(
                    n,
                    t,
                    format!("`{email}` already has an owner line (line {first}): keep one line per owner"),
                );
                return;
            }
            self.owner_lines.push((email.clone(), n));
        }
        if let (true, Some(channel)) = (ok, channel) {
            self.owners.push(OwnerLine {
                email,
                channel,
                line: n,
            });
        }
    }

    /// The checks on the whole doc, then the result.
    fn finish(mut self, end_line: usize, version: String) -> Result<Rules, Vec<RuleError>> {
        self.close();
        match &self.first_signal {
            None => self.error(
                end_line,
                "",
                "the rules have no signals: add one, like `signal overdue` with \
                 `measure: overdue_ratio` and `at least 2.0: 40 points` under it",
            ),
            Some((line, text)) => {
                let total: u32 = self.maxima.iter().map(|(_, m)| m).sum();
                if total > MAX_TOTAL {
                    let parts: Vec<String> = self
                        .maxima
                        .iter()
                        .map(|(name, m)| format!("{name} {m}"))
                        .collect();
                    let (line, text) = (*line, text.clone());
                    self.error(
                        line,
                        &text,
                        format!(
                            "the signals can add up to {total} points ({}); the most allowed is \
                             100: lower some points",
                            parts.join(" + ")
                        ),
                    );
                }
            }
        }
        for (index, band) in BAND_NAMES.iter().enumerate() {
            if self.bands[index].is_none() {
                self.error(
                    end_line,
                    "",
                    format!(
                        "the `{band}` band is missing: add a line like `band {band}: at least {}`",
                        BAND_EXAMPLES[index]
                    ),
                );
            }
        }
        let cut =
            |seen: &Option<Seen<u32>>| seen.as_ref().and_then(|s| s.value.map(|v| (v, s.line)));
        let bands = match (
            cut(&self.bands[0]),
            cut(&self.bands[1]),
            cut(&self.bands[2]),
        ) {
            (Some((watch, wl)), Some((at_risk, al)), Some((churning, cl))) => {
                if watch < at_risk && at_risk < churning {
                    Some(BandCuts {
                        watch,
                        at_risk,
                        churning,
                    })
                } else {
                    // On the last of the three lines: by then the reader has seen all three.
                    let last = [&self.bands[0], &self.bands[1], &self.bands[2]]
                        .into_iter()
                        .flatten()
                        .max_by_key(|s| s.line)
                        .map(|s| (s.line, s.text.clone()));
                    let (line, text) = last.unwrap_or((wl.max(al).max(cl), String::new()));
                    self.error(
                        line,
                        &text,
                        format!(
                            "the band cuts must go up: watch < at-risk < churning (like 25, 50, \
                             75), but here watch is {watch}, at-risk is {at_risk} and churning is \
                             {churning}"
                        ),
                    );
                    None
                }
            }
            _ => None,
        };
        let weekly_cap = match &self.cap {
            Some(seen) => seen.value.unwrap_or(DEFAULT_WEEKLY_CAP),
            None => DEFAULT_WEEKLY_CAP,
        };
        let contact_pause_days = match &self.pause {
            Some(seen) => seen.value.unwrap_or(DEFAULT_CONTACT_PAUSE_DAYS),
            None => DEFAULT_CONTACT_PAUSE_DAYS,
        };
        let holdout_percent = self.holdout.as_ref().and_then(|h| h.value).unwrap_or(0);
        let gone_after_days = match &self.gone {
            Some(seen) => seen.value.unwrap_or(Some(DEFAULT_GONE_AFTER_DAYS)),
            None => Some(DEFAULT_GONE_AFTER_DAYS),
        };
        match bands {
            Some(bands) if self.errors.is_empty() => Ok(Rules {
                signals: self.signals,
                bands,
                weekly_cap,
                contact_pause_days,
                holdout_percent,
                gone_after_days,
                owners: self.owners,
                version,
            }),
            _ => {
                // Stable: errors on one line keep the order they were found in.
                self.errors.sort_by_key(|e| e.line);
                Err(self.errors)
            }
        }
    }
}

impl Rules {
    /// The band for a score.
    /// The highest score the doc can give (each signal's largest points, summed).
    pub fn max_score(&self) -> u32 {
        self.signals
            .iter()
            .map(|s| s.lines.iter().map(|l| l.points).max().unwrap_or(0))
            .sum()
    }

    pub fn band_for(&self, score: u32) -> Band {
        if score >= self.bands.churning {
            Band::Churning
        } else if score >= self.bands.at_risk {
            Band::AtRisk
        } else if score >= self.bands.watch {
            Band::Watch
        } else {
            Band::Steady
        }
    }

    /// The largest possible score: the sum of each signal's largest points.
    pub fn max_total(&self) -> u32 {
        self.signals
            .iter()
            .map(|s| s.lines.iter().map(|l| l.points).max().unwrap_or(0))
            .sum()
    }

    /// How `owner` (lower-cased email) is reached: their owner line, else email.
    pub fn channel_for(&self, owner: &str) -> Channel {
        self.owners
            .iter()
            .find(|o| o.email == owner)
            .map(|o| o.channel.clone())
            .unwrap_or(Channel::Email)
    }

    /// The list columns the signals measure (built-in measures excluded), deduplicated, for the
    /// customer reader.
    pub fn measured_columns(&self) -> Vec<crate::list::customers::MeasuredColumn> {
        let mut out: Vec<crate::list::customers::MeasuredColumn> = Vec::new();
        for s in &self.signals {
            if let Measure::Column {
                normalized,
                display,
            } = &s.measure
            {
                let numeric = s.lines.iter().any(|l| !matches!(l.test, Test::Is(_)));
                if let Some(m) = out.iter_mut().find(|m| &m.column == normalized) {
                    m.numeric |= numeric;
                } else {
                    out.push(crate::list::customers::MeasuredColumn {
                        column: normalized.clone(),
                        display: display.clone(),
                        numeric,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelled_builtin_measure_says_did_you_mean() {
        let doc = "signal overdue\n  measure: overdue_ratoi\n  at least 1.5: 25 points\n\
                   band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";
        let errors = parse_rules(doc).expect_err("a typo of a built-in measure");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 2);
        assert!(
            errors[0].message.contains("did you mean `overdue_ratio`?"),
            "{}",
            errors[0].message
        );
        // A column that is near no built-in stays a column.
        let doc = doc.replace("overdue_ratoi", "support_mood");
        assert!(parse_rules(&doc).is_ok());
    }

    #[test]
    fn measure_suggestions() {
        assert_eq!(
            suggest_measure("Days Since Last Ordr", BUILTIN_MEASURES),
            Some("days_since_last_order")
        );
        assert_eq!(suggest_measure("p_alive", BUILTIN_MEASURES), None);
        assert_eq!(suggest_measure("plan", BUILTIN_MEASURES), None);
        assert_eq!(
            suggest_measure("supprot_mood", STANDARD_COLUMNS),
            Some("support_mood")
        );
    }
    use proptest::prelude::*;

    const SPEC_EXAMPLE: &str = "\
# Churn rules. Lines starting with # are notes. Indentation and blank lines do not matter.

signal overdue
  about: next order is late compared with the customer's usual pace
  measure: overdue_ratio
  at least 2.0: 40 points
  at least 1.5: 25 points
  at least 1.2: 10 points

signal mood
  about: recent support tickets sounded unhappy
  measure: support_mood
  at most -0.5: 25 points
  at most 0: 10 points

signal silent
  about: no order for a long time
  measure: days_since_last_order
  at least 180: 15 points
  at least 90: 5 points

signal plan
  measure: plan
  is paused: 20 points

band churning: at least 75
band at-risk: at least 50
band watch: at least 25

weekly cap: 10
contact pause: 21 days

owner alex@example.com: slack U0123ABCD
owner sam@example.com: slack
owner jo@example.com: email
";

    /// A valid tail (bands) to append to a doc under test.
    const BANDS: &str =
        "band churning: at least 75\nband at-risk: at least 50\nband watch: at least 25\n";

    fn pl(test: Test, points: u32, line: usize) -> PointsLine {
        PointsLine { test, points, line }
    }

    fn errors(doc: &str) -> Vec<RuleError> {
        match parse_rules(doc) {
            Ok(rules) => panic!("expected errors, parsed: {rules:?}"),
            Err(errors) => errors,
        }
    }

    /// Asserts that `doc` has exactly one error, on `line`, whose message contains `phrase`.
    #[track_caller]
    fn one_error(doc: &str, line: usize, phrase: &str) -> RuleError {
        let errs = errors(doc);
        assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
        let e = errs.into_iter().next().expect("one error");
        assert_eq!(e.line, line, "{e:?}");
        assert!(
            e.message.contains(phrase),
            "message {:?} lacks {phrase:?}",
            e.message
        );
        e
    }

    /// A one-signal doc around `body` (the lines under `signal s` / `measure: x`), with bands.
    /// The body starts on line 3.
    fn signal_doc(body: &str) -> String {
        format!("signal s\nmeasure: x\n{body}\n{BANDS}")
    }

    #[test]
    fn spec_example_parses_exactly() {
        let rules = parse_rules(SPEC_EXAMPLE).expect("the SPEC example is valid");
        let expected = Rules {
            signals: vec![
                Signal {
                    name: "overdue".into(),
                    about: Some(
                        "next order is late compared with the customer's usual pace".into(),
                    ),
                    measure: Measure::OverdueRatio,
                    lines: vec![
                        pl(Test::AtLeast(2.0), 40, 6),
                        pl(Test::AtLeast(1.5), 25, 7),
                        pl(Test::AtLeast(1.2), 10, 8),
                    ],
                    line: 3,
                },
                Signal {
                    name: "mood".into(),
                    about: Some("recent support tickets sounded unhappy".into()),
                    measure: Measure::Column {
                        normalized: "supportmood".into(),
                        display: "support_mood".into(),
                    },
                    lines: vec![
                        pl(Test::AtMost(-0.5), 25, 13),
                        pl(Test::AtMost(0.0), 10, 14),
                    ],
                    line: 10,
                },
                Signal {
                    name: "silent".into(),
                    about: Some("no order for a long time".into()),
                    measure: Measure::DaysSinceLastOrder,
                    lines: vec![
                        pl(Test::AtLeast(180.0), 15, 19),
                        pl(Test::AtLeast(90.0), 5, 20),
                    ],
                    line: 16,
                },
                Signal {
                    name: "plan".into(),
                    about: None,
                    measure: Measure::Column {
                        normalized: "plan".into(),
                        display: "plan".into(),
                    },
                    lines: vec![pl(Test::Is("paused".into()), 20, 24)],
                    line: 22,
                },
            ],
            bands: BandCuts {
                watch: 25,
                at_risk: 50,
                churning: 75,
            },
            weekly_cap: 10,
            contact_pause_days: 21,
            holdout_percent: 0,
            gone_after_days: Some(365),
            owners: vec![
                OwnerLine {
                    email: "alex@example.com".into(),
                    channel: Channel::Slack {
                        user_id: Some("U0123ABCD".into()),
                    },
                    line: 33,
                },
                OwnerLine {
                    email: "sam@example.com".into(),
                    channel: Channel::Slack { user_id: None },
                    line: 34,
                },
                OwnerLine {
                    email: "jo@example.com".into(),
                    channel: Channel::Email,
                    line: 35,
                },
            ],
            version: rules_version(SPEC_EXAMPLE.as_bytes()),
        };
        assert_eq!(rules, expected);
        assert_eq!(rules.max_total(), 100);
        assert_eq!(rules.band_for(75), Band::Churning);
        assert_eq!(rules.band_for(24), Band::Steady);
        assert_eq!(rules.channel_for("jo@example.com"), Channel::Email);
    }

    #[test]
    fn google_docs_export_quirks_are_accepted() {
        let doc = SPEC_EXAMPLE
            .replace("at most -0.5", "at most \u{2212}0.5")
            .replace("customer's", "customer\u{2019}s")
            .replace("  measure: plan", "\u{A0}\u{A0}measure:\u{A0}plan")
            .replace("is paused", "is \u{201C}paused\u{201D}")
            .replace("weekly cap: 10", "weekly cap:\u{202F}10")
            .replace('\n', "\r\n");
        let doc = format!("\u{FEFF}{doc}");
        let plain = parse_rules(SPEC_EXAMPLE).expect("valid");
        let rules = parse_rules(&doc).expect("the export is valid");
        assert_eq!(rules.signals, plain.signals);
        assert_eq!(rules.owners, plain.owners);
        assert_ne!(
            rules.version, plain.version,
            "the version hashes the bytes as given"
        );

        let cr = SPEC_EXAMPLE.replace('\n', "\r");
        assert_eq!(
            parse_rules(&cr).expect("CR line ends").signals,
            plain.signals
        );

        let en_dash = SPEC_EXAMPLE.replace("at most -0.5", "at most \u{2013}0.5");
        assert_eq!(
            parse_rules(&en_dash).expect("en dash").signals,
            plain.signals
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_measures_normalised() {
        let doc = "SIGNAL Late Orders\n  About: late\n  MEASURE: Days Since Last Order\n  \
                   AT LEAST 90: 10 Points\n  At Most 5: 1 point\nSignal mood\nmeasure: Support-Mood\n\
                   IS Angry: 5 POINTS\nBAND Churning: AT LEAST 75\nband At Risk: at least 50\n\
                   Band WATCH: At Least 25\nWeekly Cap: 5\nContact Pause: 1 Day\n\
                   OWNER Alex@Example.COM: SLACK\nowner b@example.com: Email\n";
        let rules = parse_rules(doc).expect("valid");
        assert_eq!(rules.signals[0].name, "Late Orders");
        assert_eq!(rules.signals[0].measure, Measure::DaysSinceLastOrder);
        assert_eq!(rules.signals[0].lines[1], pl(Test::AtMost(5.0), 1, 5));
        assert_eq!(
            rules.signals[1].measure,
            Measure::Column {
                normalized: "supportmood".into(),
                display: "Support-Mood".into()
            }
        );
        assert_eq!(rules.signals[1].lines[0].test, Test::Is("angry".into()));
        assert_eq!(
            rules.bands,
            BandCuts {
                watch: 25,
                at_risk: 50,
                churning: 75
            }
        );
        assert_eq!((rules.weekly_cap, rules.contact_pause_days), (5, 1));
        assert_eq!(rules.owners[0].email, "alex@example.com");
        assert_eq!(rules.owners[1].channel, Channel::Email);

        for spelling in ["atrisk", "at risk", "AT-RISK", "at_risk"] {
            let doc = signal_doc("at least 1: 5 points")
                .replace("band at-risk", &format!("band {spelling}"));
            assert_eq!(parse_rules(&doc).expect(spelling).bands.at_risk, 50);
        }
        for (name, measure) in [
            ("p_alive", Measure::PAlive),
            ("Overdue Ratio", Measure::OverdueRatio),
        ] {
            let doc = signal_doc("at most 0.2: 5 points")
                .replace("measure: x", &format!("measure: {name}"));
            assert_eq!(parse_rules(&doc).expect(name).signals[0].measure, measure);
        }
    }

    #[test]
    fn cap_and_pause_default() {
        let rules = parse_rules(&signal_doc("at least 1: 5 points")).expect("valid");
        assert_eq!(rules.weekly_cap, DEFAULT_WEEKLY_CAP);
        assert_eq!(rules.contact_pause_days, DEFAULT_CONTACT_PAUSE_DAYS);
        assert_eq!(rules.weekly_cap, 10);
        assert_eq!(rules.contact_pause_days, 21);
        assert!(rules.owners.is_empty());
    }

    #[test]
    fn small_leniencies() {
        let doc = signal_doc(
            "is \"on hold: waiting\": 5 points\nis 'gone': 1 point\nis maybe: 5.0 points",
        )
        .replace("signal s", "signal: s:");
        let rules = parse_rules(&doc).expect("valid");
        assert_eq!(rules.signals[0].name, "s");
        assert_eq!(
            rules.signals[0].lines[0].test,
            Test::Is("on hold: waiting".into())
        );
        assert_eq!(rules.signals[0].lines[1], pl(Test::Is("gone".into()), 1, 4));
        assert_eq!(rules.signals[0].lines[2].points, 5);
        let rules = parse_rules(&signal_doc("at least 1: 0 points\nabout:")).expect("valid");
        assert_eq!(rules.signals[0].about, None);
    }

    #[test]
    fn rules_version_is_stable_and_sensitive() {
        assert_eq!(rules_version(b""), "e3b0c44298fc");
        let v = rules_version(SPEC_EXAMPLE.as_bytes());
        assert_eq!(v.len(), 12);
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(v, rules_version(SPEC_EXAMPLE.as_bytes()));
        let mut bytes = SPEC_EXAMPLE.as_bytes().to_vec();
        for i in [0, bytes.len() / 2, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert_ne!(rules_version(&bytes), v);
            bytes[i] ^= 1;
        }
        let mut longer = bytes.clone();
        longer.push(b'\n');
        assert_ne!(rules_version(&longer), v);
    }

    #[test]
    fn unknown_keyword_lists_what_is_expected() {
        let e = one_error(
            &signal_doc("at least 1: 5 points\nmore than 3: 5 points"),
            4,
            "`more`",
        );
        for keyword in [
            "`signal`",
            "`about:`",
            "`measure:`",
            "`at least`",
            "`at most`",
            "`is`",
            "`band`",
            "`weekly cap:`",
            "`contact pause:`",
            "`owner`",
        ] {
            assert!(
                e.message.contains(keyword),
                "{keyword} missing from {}",
                e.message
            );
        }
        assert!(!e.message.contains("did you mean"));
        assert_eq!(e.text, "more than 3: 5 points");
    }

    #[test]
    fn unknown_keyword_suggests_a_typo_fix() {
        for (line, guess) in [
            ("singal other", "`signal`"),
            ("mesure: x", "`measure:`"),
            ("abut: x", "`about:`"),
            ("at leats 1: 5 points", "`at least`"),
            ("atleast 1: 5 points", "`at least`"),
            ("at mots 1: 5 points", "`at most`"),
            ("if paused: 5 points", "`is`"),
            ("bands watch: at least 5", "`band`"),
            ("weekly cpa: 5", "`weekly cap:`"),
            ("contact pauses: 5 days", "`contact pause:`"),
            ("owners a@b.co: email", "`owner`"),
        ] {
            let doc = signal_doc(&format!("at least 1: 5 points\n{line}"));
            let errs = errors(&doc);
            let e = errs
                .iter()
                .find(|e| e.line == 4)
                .unwrap_or_else(|| panic!("{line}: {errs:?}"));
            assert!(
                e.message.starts_with(&format!("did you mean {guess}?")),
                "{line}: {}",
                e.message
            );
        }
    }

    #[test]
    fn signal_lines_outside_a_signal() {
        for line in [
            "about: x",
            "measure: x",
            "at least 1: 5 points",
            "at most 1: 5 points",
            "is x: 5 points",
        ] {
            one_error(
                &format!("{line}\nsignal s\nmeasure: x\nat least 1: 5 points\n{BANDS}"),
                1,
                "not inside a signal",
            );
        }
        // A top-level line ends the signal.
        let errs = errors(&format!(
            "signal s\nmeasure: x\nweekly cap: 5\nat least 1: 5 points\n{BANDS}"
        ));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].line == 1 && errs[0].message.contains("no points lines"));
        assert!(errs[1].line == 4 && errs[1].message.contains("not inside a signal"));
    }

    #[test]
    fn signal_name_mistakes() {
        one_error(
            &format!("signal\nmeasure: x\nat least 1: 5 points\n{BANDS}"),
            1,
            "needs a name",
        );
        let doc = format!(
            "{}signal  S\nmeasure: y\nat least 1: 5 points\n",
            signal_doc("at least 1: 5 points")
        );
        let e = one_error(&doc, 7, "already a signal called `S`");
        assert!(e.message.contains("line 1"), "{}", e.message);
        assert_eq!(e.text, "signal  S");
    }

    #[test]
    fn signal_without_measure_or_points() {
        one_error(
            &format!("signal s\nat least 1: 5 points\n{BANDS}"),
            1,
            "no `measure:` line",
        );
        one_error(
            &format!("signal s\nmeasure: x\n{BANDS}"),
            1,
            "no points lines",
        );
        let e = one_error(
            &signal_doc("at least 1: 5 points\nmeasure: y"),
            4,
            "already has a `measure:`",
        );
        assert!(e.message.contains("line 2"), "{}", e.message);
        one_error(
            &signal_doc("at least 1: 5 points\nmeasure:"),
            4,
            "already has a `measure:`",
        );
        one_error(
            &format!("signal s\nmeasure:\nat least 1: 5 points\n{BANDS}"),
            2,
            "measure is missing",
        );
        one_error(
            &format!("signal s\nmeasure x\nat least 1: 5 points\n{BANDS}"),
            2,
            "`:` is missing",
        );
        one_error(
            &signal_doc("at least 1: 5 points\nabout: a\nabout: b"),
            5,
            "already has an `about:`",
        );
    }

    #[test]
    fn bad_numbers_and_points() {
        for (line, phrase) in [
            ("at least abc: 5 points", "`abc` is not a number"),
            ("at least : 5 points", "number is missing"),
            ("at most 1,5: 5 points", "with a dot"),
            ("at least 1.5.2: 5 points", "not a number"),
            ("at least inf: 5 points", "not a number"),
            ("at least 1: 40 pts", "not a number of points"),
            ("at least 1: 40", "the word `points` is missing"),
            ("at least 1:", "points are missing"),
            ("at least 1: -5 points", "can't be negative"),
            ("at least 1: 2.5 points", "whole number"),
            ("at least 1: 101 points", "at most 100 points"),
            (
                "at least 1: 99999999999999999999999 points",
                "at most 100 points",
            ),
            ("at least 1 40 points", "`:` is missing"),
            ("is : 5 points", "text to match is missing"),
            ("is \"\": 5 points", "text to match is missing"),
        ] {
            one_error(
                &signal_doc(&format!("at least 9: 1 point\n{line}")),
                4,
                phrase,
            );
        }
        // Both halves wrong: both reported, on the same line.
        let errs = errors(&signal_doc("at least 9: 1 point\nat least x: y points"));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs.iter().all(|e| e.line == 4));
    }

    #[test]
    fn lines_that_can_never_give_points() {
        for (body, line, phrase) in [
            (
                "at least 1.2: 10 points\nat least 1.5: 25 points",
                4,
                "`at least 1.2` on line 3",
            ),
            (
                "at least 1.2: 10 points\nat least 1.2: 25 points",
                4,
                "already taken",
            ),
            (
                "at most 0.5: 10 points\nat most 0: 25 points",
                4,
                "`at most 0.5` on line 3",
            ),
            (
                "at least 2: 1 point\nat most 3: 1 point\nat least 0: 5 points",
                5,
                "every value",
            ),
            (
                "at least 2: 1 point\nat most 3: 1 point\nat most -9: 5 points",
                5,
                "every value",
            ),
            (
                "at least 2: 1 point\nat most 2: 1 point\nat least 1: 5 points",
                5,
                "every value",
            ),
            (
                "is a: 1 point\nis b: 1 point\nis A: 5 points",
                5,
                "`is A` is already on line 3",
            ),
        ] {
            one_error(&signal_doc(body), line, phrase);
        }
        // Not overlapping: fine.
        let rules = parse_rules(&signal_doc("at least 2: 9 points\nat most 1: 3 points\nat least 1.5: 1 point\nat most 1.2: 2 points"))
            .expect("every line reachable");
        assert_eq!(rules.signals[0].lines.len(), 4);
    }

    #[test]
    fn mixed_and_misused_tests() {
        one_error(
            &signal_doc("at least 1: 5 points\nis x: 5 points"),
            4,
            "can't also test text",
        );
        one_error(
            &signal_doc("is x: 5 points\nat most 1: 5 points"),
            4,
            "can't also test numbers",
        );
        for measure in ["days_since_last_order", "overdue_ratio", "p_alive"] {
            let doc = signal_doc("is x: 5 points\nat least 1: 5 points")
                .replace("measure: x", &format!("measure: {measure}"));
            one_error(&doc, 3, &format!("`{measure}` is a number"));
        }
    }

    #[test]
    fn total_over_100_names_each_signal() {
        let doc =
            format!("{SPEC_EXAMPLE}\nsignal extra\nmeasure: y\nis x: 10 points\nis z: 15 points\n");
        let e = one_error(&doc, 3, "the signals can add up to 115 points");
        assert!(
            e.message
                .contains("(overdue 40 + mood 25 + silent 15 + plan 20 + extra 15)"),
            "{}",
            e.message
        );
        assert!(e.message.contains("the most allowed is 100"));
        assert_eq!(e.text, "signal overdue");
    }

    #[test]
    fn band_mistakes() {
        let base = signal_doc("at least 1: 5 points");
        for (from, to, phrase) in [
            (
                "band watch: at least 25",
                "band danger: at least 25",
                "`danger` is not a band",
            ),
            (
                "band watch: at least 25",
                "band watch: 25",
                "expected `at least`",
            ),
            (
                "band watch: at least 25",
                "band watch at least 25",
                "`:` is missing",
            ),
            (
                "band watch: at least 25",
                "band watch: at least 0",
                "from 1 to 100",
            ),
            (
                "band watch: at least 25",
                "band watch: at least 101",
                "from 1 to 100",
            ),
            (
                "band watch: at least 25",
                "band watch: at least 2.5",
                "not a whole number",
            ),
            (
                "band watch: at least 25",
                "band watch: at least lots",
                "not a whole number",
            ),
            (
                "band watch: at least 25",
                "band : at least 25",
                "band name is missing",
            ),
        ] {
            let doc = base.replace(from, to);
            let errs = errors(&doc);
            let e = errs
                .iter()
                .find(|e| e.line == 6)
                .unwrap_or_else(|| panic!("{to}: {errs:?}"));
            assert!(e.message.contains(phrase), "{to}: {}", e.message);
        }
        let e = one_error(
            &format!("{base}band watch: at least 30\n"),
            7,
            "already set on line 6",
        );
        assert!(e.message.contains("`watch`"));
        let e = one_error(&base.replace("at least 25", "at least 60"), 6, "must go up");
        assert!(
            e.message
                .contains("watch is 60, at-risk is 50 and churning is 75"),
            "{}",
            e.message
        );
        one_error(&base.replace("at least 50", "at least 75"), 6, "must go up");
        // A cut no score can reach is allowed.
        assert!(parse_rules(&base).is_ok());
    }

    #[test]
    fn missing_bands_point_past_the_last_line() {
        let doc = "signal s\nmeasure: x\nat least 1: 5 points\nband at-risk: at least 50\n\n";
        let errs = errors(doc);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs.iter().all(|e| e.line == 6 && e.text.is_empty()));
        assert!(
            errs[0]
                .message
                .contains("add a line like `band watch: at least 25`")
        );
        assert!(
            errs[1]
                .message
                .contains("add a line like `band churning: at least 75`")
        );

        let errs = errors("");
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs.iter().all(|e| e.line == 1));
        assert!(errs[0].message.contains("no signals"));
    }

    #[test]
    fn gone_after_line() {
        let base = signal_doc("at least 1: 5 points");
        assert_eq!(
            parse_rules(&base).unwrap().gone_after_days,
            Some(DEFAULT_GONE_AFTER_DAYS)
        );
        let r = parse_rules(&format!("{base}gone after: 90 days\n")).unwrap();
        assert_eq!(r.gone_after_days, Some(90));
        let r = parse_rules(&format!("{base}Gone After: Never\n")).unwrap();
        assert_eq!(r.gone_after_days, None);
        for (line, phrase) in [
            ("gone after: 0 days", "from 1 to 3650"),
            ("gone after: 4000 days", "from 1 to 3650"),
            ("gone after: 90", "the word `days` is missing"),
            ("gone after: 2 years", "counted in days"),
            ("gone after: soon", "not a number of days"),
            ("gone after 90 days", "`:` is missing"),
        ] {
            one_error(&format!("{base}{line}\n"), 7, phrase);
        }
        one_error(
            &format!("{base}gone after: never\ngone after: 9 days\n"),
            8,
            "already set on line 7",
        );
    }

    #[test]
    fn cap_and_pause_mistakes() {
        let base = signal_doc("at least 1: 5 points");
        for (line, phrase) in [
            ("weekly cap: ten", "`ten` is not a whole number"),
            ("weekly cap: 0", "from 1 to 50"),
            ("weekly cap: 51", "from 1 to 50"),
            ("weekly cap: -3", "from 1 to 50"),
            ("weekly cap: 2.5", "not a whole number"),
            ("weekly cap 5", "`:` is missing"),
            ("contact pause: 21", "the word `days` is missing"),
            ("contact pause: 3 weeks", "counted in days"),
            ("contact pause: 366 days", "from 0 to 365"),
            ("contact pause: -1 days", "from 0 to 365"),
            ("contact pause: soon days", "not a number of days"),
            ("contact pause: 1.5 days", "not a number of days"),
            ("contact pause 21 days", "`:` is missing"),
        ] {
            one_error(&format!("{base}{line}\n"), 7, phrase);
        }
        one_error(
            &format!("{base}weekly cap: 5\nweekly cap: 6\n"),
            8,
            "already set on line 7",
        );
        one_error(
            &format!("{base}contact pause: 0 days\ncontact pause: 1 day\n"),
            8,
            "already set on line 7",
        );
        let rules =
            parse_rules(&format!("{base}contact pause: 0 days\nweekly cap: 50\n")).expect("valid");
        assert_eq!((rules.contact_pause_days, rules.weekly_cap), (0, 50));
    }

    #[test]
    fn holdout_line() {
        let base = signal_doc("at least 1: 5 points");
        assert_eq!(parse_rules(&base).expect("valid").holdout_percent, 0);
        for (line, want) in [
            ("holdout: 10%", 10),
            ("Holdout: 0 %", 0),
            ("holdout:50%", 50),
            ("holdout: 30.0%", 30),
        ] {
            let rules = parse_rules(&format!("{base}{line}\n")).expect(line);
            assert_eq!(rules.holdout_percent, want, "{line}");
        }
        for (line, phrase) in [
            ("holdout: 10", "write it with `%`"),
            ("holdout: 51%", "from 0% to 50%"),
            ("holdout: -5%", "from 0% to 50%"),
            ("holdout: 2.5%", "not a whole number"),
            ("holdout: lots%", "not a whole number"),
            ("holdout 10%", "`:` is missing"),
        ] {
            one_error(&format!("{base}{line}\n"), 7, phrase);
        }
        one_error(
            &format!("{base}holdout: 5%\nholdout: 6%\n"),
            8,
            "already set on line 7",
        );
        one_error(&format!("{base}holdot: 5%\n"), 7, "did you mean `holdout:`");
    }

    #[test]
    fn owner_mistakes() {
        let base = signal_doc("at least 1: 5 points");
        for (line, phrase) in [
            ("owner alex: slack", "`alex` is not an email address"),
            ("owner : slack", "email address is missing"),
            ("owner a@b.co: phone", "`phone` is not a way to reach"),
            ("owner a@b.co: slak", "did you mean `slack`?"),
            ("owner a@b.co:", "is missing after the `:`"),
            ("owner a@b.co: slack @alex", "not a Slack member id"),
            ("owner a@b.co: slack u0123abcd", "not a Slack member id"),
            ("owner a@b.co: slack U1", "not a Slack member id"),
            ("owner a@b.co: slack U0123 x", "too many words"),
            ("owner a@b.co: email a@b.co", "too many words"),
            ("owner a@b.co slack", "`:` is missing"),
        ] {
            let e = one_error(&format!("{base}{line}\n"), 7, phrase);
            if phrase.contains("reach") || phrase.contains("too many") {
                assert!(e.message.contains("`slack USER_ID`"), "{}", e.message);
            }
        }
        one_error(
            &format!("{base}owner A@b.co: email\nowner a@B.co: slack\n"),
            8,
            "already has an owner line (line 7)",
        );
        let rules = parse_rules(&format!("{base}owner a@b.co: slack W12\n")).expect("valid");
        assert_eq!(
            rules.owners[0].channel,
            Channel::Slack {
                user_id: Some("W12".into())
            }
        );
    }

    #[test]
    fn several_mistakes_are_all_reported_in_line_order() {
        let doc = "\
signal overdue
  measure: overdue_ratio
  at least 1.2: 10 points
  at least 1.5: 25 points
signal mood
  mesure: support_mood
  at most abc: 5 points
band churning: at least 75
band at-risk: at least 500
weekly cap: lots
owner nobody: slack
";
        let errs = errors(doc);
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 5, 6, 7, 9, 10, 11, 12], "{errs:#?}");
        assert!(errs[0].message.contains("never give points"));
        assert!(errs[1].message.contains("no `measure:`"));
        assert!(errs[2].message.contains("no points lines"));
        assert!(errs[3].message.contains("did you mean `measure:`"));
        assert!(errs[8].message.contains("band watch"));
        for e in &errs {
            assert!(e.to_string().starts_with(&format!("line {}: ", e.line)));
        }
    }

    /// A line from a small grammar of plausible (and plausibly wrong) rules lines.
    fn plausible_line() -> impl Strategy<Value = String> {
        let number = prop_oneof![
            (-5i32..300).prop_map(|n| n.to_string()),
            (-300i32..300).prop_map(|n| format!("{:.1}", f64::from(n) / 100.0)),
            Just("abc".to_string()),
            Just("\u{2212}0.5".to_string()),
        ];
        let points = prop_oneof![
            (0u32..60).prop_map(|n| format!("{n} points")),
            (0u32..200).prop_map(|n| format!("{n} point")),
            Just("40 pts".to_string()),
            Just("-5 points".to_string()),
        ];
        let word = prop_oneof![
            Just("overdue"),
            Just("mood"),
            Just("plan"),
            Just("Days Since Last Order"),
            Just("p_alive"),
            Just("paused"),
            Just(""),
        ];
        prop_oneof![
            word.clone().prop_map(|w| format!("signal {w}")),
            word.clone().prop_map(|w| format!("measure: {w}")),
            word.clone().prop_map(|w| format!("about: {w}")),
            (number.clone(), points.clone()).prop_map(|(n, p)| format!("at least {n}: {p}")),
            (number.clone(), points.clone()).prop_map(|(n, p)| format!("at most {n}: {p}")),
            (word.clone(), points).prop_map(|(w, p)| format!("  is {w}: {p}")),
            (
                prop_oneof![
                    Just("watch"),
                    Just("at-risk"),
                    Just("churning"),
                    Just("danger")
                ],
                0u32..120
            )
                .prop_map(|(b, n)| format!("band {b}: at least {n}")),
            (0u32..60).prop_map(|n| format!("weekly cap: {n}")),
            (0u32..400).prop_map(|n| format!("contact pause: {n} days")),
            (
                word,
                prop_oneof![
                    Just("slack"),
                    Just("slack U0123ABCD"),
                    Just("email"),
                    Just("fax")
                ]
            )
                .prop_map(|(w, c)| format!("owner {w}@example.com: {c}")),
            Just("# a note".to_string()),
            Just(String::new()),
            "[ -~]{0,20}",
        ]
    }

    /// A doc that is valid by construction: signals with falling `at least` cuts, points adding
    /// up to at most 100, bands in order.
    fn valid_doc() -> impl Strategy<Value = (String, Vec<Vec<(u32, u32)>>, BandCuts)> {
        let signal = proptest::collection::vec((0u32..500, 0u32..20), 1..4);
        (proptest::collection::vec(signal, 1..5), 1u32..99, 1u32..99, 1u32..99).prop_filter_map(
            "bands must differ",
            |(signals, a, b, c)| {
                let mut cuts = [a, b, c + 1];
                cuts.sort_unstable();
                if cuts[0] == cuts[1] || cuts[1] == cuts[2] {
                    return None;
                }
                let mut doc = String::new();
                let mut expected = Vec::new();
                for (i, lines) in signals.iter().enumerate() {
                    doc.push_str(&format!("signal s{i}\n  measure: col{i}\n"));
                    let mut lines = lines.clone();
                    lines.sort_unstable_by_key(|l| std::cmp::Reverse(l.0));
                    lines.dedup_by_key(|l| l.0);
                    for (cut, points) in &lines {
                        doc.push_str(&format!("  at least {cut}: {points} points\n"));
                    }
                    expected.push(lines);
                }
                let bands = BandCuts { watch: cuts[0], at_risk: cuts[1], churning: cuts[2] };
                doc.push_str(&format!(
                    "band watch: at least {}\nband at-risk: at least {}\nband churning: at least {}\n",
                    bands.watch, bands.at_risk, bands.churning
                ));
                Some((doc, expected, bands))
            },
        )
    }

    /// The invariants every parsed doc keeps.
    fn check_invariants(rules: &Rules) {
        assert!(rules.max_total() <= 100);
        assert!(1 <= rules.bands.watch);
        assert!(rules.bands.watch < rules.bands.at_risk);
        assert!(rules.bands.at_risk < rules.bands.churning);
        assert!(rules.bands.churning <= 100);
        assert!((1..=50).contains(&rules.weekly_cap));
        assert!(rules.contact_pause_days <= 365);
        assert!(rules.signals.iter().all(|s| !s.lines.is_empty()));
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(text in any::<String>()) {
            if let Ok(rules) = parse_rules(&text) {
                check_invariants(&rules);
            }
        }

        #[test]
        fn plausible_docs_parse_or_report_in_order(
            lines in proptest::collection::vec(plausible_line(), 0..40),
            crlf in any::<bool>(),
        ) {
            let doc = lines.join(if crlf { "\r\n" } else { "\n" });
            match parse_rules(&doc) {
                Ok(rules) => check_invariants(&rules),
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    prop_assert!(errors.windows(2).all(|w| w[0].line <= w[1].line));
                    prop_assert!(errors.iter().all(|e| e.line >= 1 && e.line <= lines.len() + 1));
                    prop_assert!(errors.iter().all(|e| !e.message.is_empty()));
                }
            }
        }

        #[test]
        fn valid_docs_parse_as_written((doc, expected, bands) in valid_doc()) {
            let total: u32 = expected.iter().map(|l| l.iter().map(|p| p.1).max().unwrap_or(0)).sum();
            match parse_rules(&doc) {
                Ok(rules) => {
                    prop_assert!(total <= 100);
                    check_invariants(&rules);
                    prop_assert_eq!(rules.bands, bands);
                    let got: Vec<Vec<(u32, u32)>> = rules
                        .signals
                        .iter()
                        .map(|s| {
                            s.lines
                                .iter()
                                .map(|l| match l.test {
                                    Test::AtLeast(x) => (x as u32, l.points),
                                    _ => (u32::MAX, l.points),
                                })
                                .collect()
                        })
                        .collect();
                    prop_assert_eq!(got, expected);
                }
                Err(errors) => {
                    prop_assert!(total > 100, "unexpected errors: {:?}", errors);
                    prop_assert_eq!(errors.len(), 1);
                    let phrase = format!("add up to {total} points");
                    prop_assert!(errors[0].message.contains(&phrase));
                }
            }
        }
    }
}
