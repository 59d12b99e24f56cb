//! Reading the cell values people put in spreadsheets: dates, money and numbers (docs/SPEC.md §2), and
//! header names.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// Which numeric date form a list uses: `23/11/2026` (day first) or `11/23/2026` (month first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateOrder {
    #[default]
    DayFirst,
    MonthFirst,
}

/// Why a cell could not be read. The message is shown to a shop owner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

/// Normalises a header (or a measure name) for matching: lower-case, with spaces, `_` and `-`
/// removed (`Last Order Date` = `last_order_date`).
///
/// Any Unicode white space (the non-breaking space of a Google Docs export included) counts as a
/// space; a stray byte-order mark or zero-width space is dropped too.
pub fn normalize_header(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            !(c.is_whitespace() || c == '_' || c == '-' || c == '\u{feff}' || c == '\u{200b}')
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Quotes a cell for a message: one line, at most 40 characters.
pub(crate) fn quote_cell(s: &str) -> String {
    const MAX: usize = 40;
    let mut out = String::with_capacity(s.len().min(MAX * 4) + 4);
    out.push('"');
    for (n, c) in s.chars().enumerate() {
        if n == MAX {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// Dates

/// Why a date cell was refused (turned into a message by `date_error`).
enum DateWhy {
    NotADate,
    TwoDigitYear,
}

fn date_error(cell: &str, why: DateWhy, order: DateOrder) -> ValueError {
    let numeric = match order {
        DateOrder::DayFirst => "23/11/2026",
        DateOrder::MonthFirst => "11/23/2026",
    };
    let q = quote_cell(cell.trim());
    ValueError(match why {
        DateWhy::NotADate => {
            format!("{q} is not a date (expected 2026-11-23, 23 Nov 2026 or {numeric})")
        }
        DateWhy::TwoDigitYear => {
            format!("{q} has a two-digit year; write the year in full (e.g. {numeric})")
        }
    })
}

/// Reads a date cell. Blank (after trimming) is `Ok(None)`. Accepts ISO `2026-11-23`, ISO
/// date-time (with `Z` or an offset: converted to its date in `tz`; without: its own date),
/// `23 Nov 2026` (also `23 November 2026`), and the numeric form in `order`.
///
/// Also accepted, because spreadsheets write them: `23-Nov-2026`, `Nov 23, 2026`, a leading
/// weekday (`Mon, 23 Nov 2026`), year-first `2026/11/23`, and a numeric date followed by a time
/// of day (`23/11/2026 10:00`, taken as its own date). Two-digit years are refused: `01/02/03`
/// has too many readings.
pub fn parse_date(s: &str, order: DateOrder, tz: &TimeZone) -> Result<Option<Date>, ValueError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    parse_date_inner(t, order, tz)
        .map(Some)
        .map_err(|why| date_error(s, why, order))
}

/// The ISO `YYYY-MM-DD` form of a whole cell, without any allocation. `None` when the cell has
/// another shape; `Some(Err)` for an impossible date such as `2026-02-31`.
#[inline]
pub(crate) fn parse_iso_date_fast(b: &[u8]) -> Option<Result<Date, ()>> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits_value(&b[0..4])?;
    let m = digits_value(&b[5..7])?;
    let d = digits_value(&b[8..10])?;
    Some(make_date(y, m, d).ok_or(()))
}

/// The value of a short run of ASCII digits; `None` if any byte is not a digit.
#[inline]
fn digits_value(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn make_date(y: u32, m: u32, d: u32) -> Option<Date> {
    let y = i16::try_from(y).ok()?;
    let m = i8::try_from(m).ok()?;
    let d = i8::try_from(d).ok()?;
    Date::new(y, m, d).ok()
}

fn parse_date_inner(t: &str, order: DateOrder, tz: &TimeZone) -> Result<Date, DateWhy> {
    let b = t.as_bytes();
    if let Some(r) = parse_iso_date_fast(b) {
        return r.map_err(|()| DateWhy::NotADate);
    }
    // ISO date-time: `2026-11-23T10:00:00Z`, `…+08:00`, `2026-11-23 10:00:00`.
    if b.len() > 10 && parse_iso_date_fast(&b[..10]).is_some() {
        if !matches!(b[10], b'T' | b't' | b' ') {
            return Err(DateWhy::NotADate);
        }
        // With an offset it names an instant: take that instant's date where the shop is.
        if let Ok(ts) = t.parse::<Timestamp>() {
            return Ok(tz.to_datetime(ts).date());
        }
        return t
            .parse::<DateTime>()
            .map(|dt| dt.date())
            .map_err(|_| DateWhy::NotADate);
    }
    if b.first().is_some_and(u8::is_ascii_digit)
        && let Some(r) = parse_numeric_date(t, order)
    {
        return r;
    }
    parse_text_date(t)
}

/// `23/11/2026`, `23.11.2026`, `23-11-2026`, `2026/11/23`, optionally followed by a time of day.
/// `None` when the cell is not of this shape (so the month-name form can be tried).
fn parse_numeric_date(t: &str, order: DateOrder) -> Option<Result<Date, DateWhy>> {
    let (date, time) = match t.split_once(char::is_whitespace) {
        Some((d, rest)) => (d, rest.trim()),
        None => (t, ""),
    };
    let sep = date.bytes().find(|b| matches!(b, b'/' | b'.' | b'-'))?;
    let parts: Vec<&str> = date.split(sep as char).collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    if !time.is_empty() && !looks_like_time(time) {
        return Some(Err(DateWhy::NotADate));
    }
    let n = |p: &str| digits_value(p.as_bytes());
    let (l0, l1, l2) = (parts[0].len(), parts[1].len(), parts[2].len());
    let ymd = if l0 == 4 && l1 <= 2 && l2 <= 2 {
        (n(parts[0])?, n(parts[1])?, n(parts[2])?)
    } else if l0 <= 2 && l1 <= 2 && l2 == 4 {
        let (a, b, y) = (n(parts[0])?, n(parts[1])?, n(parts[2])?);
        match order {
            DateOrder::DayFirst => (y, b, a),
            DateOrder::MonthFirst => (y, a, b),
        }
    } else if l0 <= 2 && l1 <= 2 && l2 == 2 {
        return Some(Err(DateWhy::TwoDigitYear));
    } else {
        return Some(Err(DateWhy::NotADate));
    };
    Some(make_date(ymd.0, ymd.1, ymd.2).ok_or(DateWhy::NotADate))
}

/// `10:00`, `10:00:00`, `10:00:00.123`, `9:05 PM`.
fn looks_like_time(s: &str) -> bool {
    let s = s.trim();
    let clock = match s.len().checked_sub(2).and_then(|i| s.get(i..)) {
        Some(ampm) if ampm.eq_ignore_ascii_case("am") || ampm.eq_ignore_ascii_case("pm") => {
            s[..s.len() - 2].trim_end()
        }
        _ => s,
    };
    clock.contains(':')
        && clock.bytes().next().is_some_and(|c| c.is_ascii_digit())
        && clock
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b':' || c == b'.')
}

/// The month of an English month name or abbreviation (`Nov`, `November`, `Sept`), any case.
fn month_number(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if word.len() < 3 {
        return None;
    }
    if word.eq_ignore_ascii_case("sept") {
        return Some(9);
    }
    MONTHS.iter().zip(1..).find_map(|(name, n)| {
        let full = word.eq_ignore_ascii_case(name);
        let abbr = word.len() == 3 && name[..3].eq_ignore_ascii_case(word);
        (full || abbr).then_some(n)
    })
}

fn is_weekday(word: &str) -> bool {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    word.len() >= 3
        && DAYS.iter().any(|d| {
            word.eq_ignore_ascii_case(d)
                || (word.len() <= 4
                    && d.len() >= word.len()
                    && d[..word.len()].eq_ignore_ascii_case(word))
        })
}

/// `23 Nov 2026`, `23 November 2026`, `23-Nov-2026`, `Nov 23, 2026`, `Mon, 23 Nov 2026`.
fn parse_text_date(t: &str) -> Result<Date, DateWhy> {
    let mut tokens = [""; 4];
    let mut n = 0;
    for tok in t.split(|c: char| c.is_whitespace() || matches!(c, ',' | '-' | '.' | '/')) {
        if tok.is_empty() {
            continue;
        }
        if n == tokens.len() {
            return Err(DateWhy::NotADate);
        }
        tokens[n] = tok;
        n += 1;
    }
    let toks = match n {
        4 if is_weekday(tokens[0]) => &tokens[1..4],
        3 => &tokens[..3],
        _ => return Err(DateWhy::NotADate),
    };
    let (day, month, year) = if let Some(m) = month_number(toks[1]) {
        (toks[0], m, toks[2])
    } else if let Some(m) = month_number(toks[0]) {
        (toks[1], m, toks[2])
    } else {
        return Err(DateWhy::NotADate);
    };
    let day = day_number(day).ok_or(DateWhy::NotADate)?;
    if year.len() == 2 && year.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DateWhy::TwoDigitYear);
    }
    if year.len() != 4 {
        return Err(DateWhy::NotADate);
    }
    let year = digits_value(year.as_bytes()).ok_or(DateWhy::NotADate)?;
    make_date(year, month, day).ok_or(DateWhy::NotADate)
}

/// `23`, `3`, `23rd`, `1st`.
fn day_number(s: &str) -> Option<u32> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 2 {
        return None;
    }
    let suffix = &s[digits..];
    if !(suffix.is_empty()
        || ["st", "nd", "rd", "th"]
            .iter()
            .any(|x| suffix.eq_ignore_ascii_case(x)))
    {
        return None;
    }
    digits_value(&s.as_bytes()[..digits])
}

// ---------------------------------------------------------------------------------------------
// Numbers

/// Reads a money or number cell. Blank is `Ok(None)`. Accepts `1234.5`, `-3`, `$1,234.50`,
/// `1.234,50 €`, `SGD 1,234`, `12,5`, the Unicode minus sign and `(12.50)` as negative.
///
/// The exact rule (docs/SPEC.md §2): a comma followed by exactly three digits groups thousands; followed
/// by one or two digits it is the decimal mark; a dot is the decimal mark unless the number also
/// has a decimal comma (then dots group thousands). Spaces, non-breaking and thin spaces and
/// apostrophes may group thousands too. Letters and currency signs before or after the number
/// are ignored. Refused, with a message saying why: anything inside the number that is not a
/// digit or separator (`12abc34`), more than one decimal mark (`1,2,3`, `1.234.567`), digit
/// groups that are not thousands (`1,23,456`), a thousands group after a leading zero (`0,123`:
/// it could mean 0.123), no digits (`N/A`), and numbers too large to hold. Never NaN or infinite.
pub fn parse_number(s: &str) -> Result<Option<f64>, ValueError> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Some(v) = parse_common_number(t.as_bytes()) {
        return Ok(Some(v));
    }
    parse_number_general(t).map(Some).map_err(|why| {
        ValueError(format!(
            "{} is not a number ({why}; expected e.g. 1234.5, $1,234.50 or 1.234,50 €)",
            quote_cell(t)
        ))
    })
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Fast path for the common forms `-?$?-?\d{1,3}(,\d{3})*(\.\d+)?` and `-?\d+(\.\d+)?` with at
/// most 15 digits: the integer mantissa and the power of ten are both exact in an `f64`, so one
/// division is correctly rounded (Clinger's fast path) and gives exactly what the general path
/// gives. `None` for anything else (the general path decides).
#[inline]
pub(crate) fn parse_common_number(b: &[u8]) -> Option<f64> {
    let mut i = 0;
    let mut neg = false;
    if b.first() == Some(&b'-') {
        neg = true;
        i += 1;
    }
    if b.get(i) == Some(&b'$') {
        i += 1;
        if !neg && b.get(i) == Some(&b'-') {
            neg = true;
            i += 1;
        }
    }
    let body = b.get(i..)?;
    if body.is_empty() || body.len() > 24 || !body[0].is_ascii_digit() {
        return None;
    }
    let mut mantissa = 0u64;
    let mut n_digits = 0usize;
    let mut group = 0usize; // digits since the last separator
    let mut commas = false;
    let mut frac: Option<usize> = None; // digits after the point
    for &c in body {
        match c {
            b'0'..=b'9' => {
                n_digits += 1;
                if n_digits > 15 {
                    return None;
                }
                mantissa = mantissa * 10 + u64::from(c - b'0');
                group += 1;
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
            }
            b',' if frac.is_none() => {
                // Thousands only: 1–3 digits without a leading zero first, then threes.
                let ok = if commas {
                    group == 3
                } else {
                    group <= 3 && body[0] != b'0'
                };
                if !ok {
                    return None;
                }
                commas = true;
                group = 0;
            }
            b'.' if frac.is_none() => {
                if commas && group != 3 {
                    return None;
                }
                frac = Some(0);
            }
            _ => return None,
        }
    }
    match frac {
        Some(0) => return None,
        None if commas && group != 3 => return None,
        _ => {}
    }
    let v = mantissa as f64 / POW10[frac.unwrap_or(0)];
    // `-0` is plain zero.
    Some(if neg && v != 0.0 { -v } else { v })
}

/// Separators that may group thousands besides `,` and `.`.
fn is_group_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}' | '\u{2007}' | '\u{2009}' | '\u{202f}' | '\'' | '\u{2019}'
    )
}

/// A character allowed around the number as part of a currency: letters (`SGD`, `kr`) and
/// currency signs.
fn is_currency_char(c: char) -> bool {
    c.is_alphabetic()
        || matches!(
            c,
            '$' | '€'
                | '£'
                | '¥'
                | '¢'
                | '¤'
                | '₹'
                | '₩'
                | '₽'
                | '₺'
                | '₪'
                | '₫'
                | '₱'
                | '฿'
                | '﷼'
        )
        || ('\u{20a0}'..='\u{20cf}').contains(&c)
}

fn is_minus(c: char) -> bool {
    matches!(c, '-' | '\u{2212}')
}

/// Where the number's sign and currency may be: before or after the digits.
#[derive(Default)]
struct Affixes {
    negative: bool,
    signed: bool,
    open_paren: bool,
    close_paren: bool,
}

impl Affixes {
    fn prefix(&mut self, p: &str) -> Result<(), String> {
        let mut prev = ' ';
        for c in p.chars() {
            if is_minus(c) || c == '+' {
                if self.signed {
                    return Err("more than one sign".into());
                }
                self.signed = true;
                self.negative = is_minus(c);
            } else if c == '(' {
                if self.open_paren {
                    return Err("more than one `(`".into());
                }
                self.open_paren = true;
            } else if !(c.is_whitespace()
                || is_currency_char(c)
                || (c == '.' && prev.is_alphabetic()))
            {
                return Err(format!("unexpected `{c}`"));
            }
            prev = c;
        }
        Ok(())
    }

    fn suffix(&mut self, p: &str) -> Result<(), String> {
        let mut prev = ' ';
        for c in p.chars() {
            if c == ')' {
                if !self.open_paren || self.close_paren {
                    return Err("unmatched `)`".into());
                }
                self.close_paren = true;
            } else if is_minus(c) || c == '+' {
                return Err("a sign must come before the number".into());
            } else if !(c.is_whitespace()
                || is_currency_char(c)
                || (c == '.' && prev.is_alphabetic()))
            {
                return Err(format!("unexpected `{c}` after the number"));
            }
            prev = c;
        }
        if self.open_paren && !self.close_paren {
            return Err("unmatched `(`".into());
        }
        if self.open_paren && self.signed {
            return Err("both a sign and brackets".into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sep {
    Comma,
    Dot,
    Space,
}

/// Digits are collected here before the final conversion; on the stack for ordinary cells.
struct DigitBuf {
    small: [u8; 64],
    len: usize,
    big: Vec<u8>,
}

impl DigitBuf {
    fn new() -> Self {
        DigitBuf {
            small: [0; 64],
            len: 0,
            big: Vec::new(),
        }
    }

    fn push(&mut self, b: u8) {
        if self.len < self.small.len() {
            self.small[self.len] = b;
            self.len += 1;
        } else {
            if self.big.is_empty() {
                self.big.extend_from_slice(&self.small);
            }
            self.big.push(b);
        }
    }

    fn as_bytes(&self) -> &[u8] {
        if self.big.is_empty() {
            &self.small[..self.len]
        } else {
            &self.big
        }
    }
}

fn parse_number_general(t: &str) -> Result<f64, String> {
    let b = t.as_bytes();
    let Some(first) = b.iter().position(u8::is_ascii_digit) else {
        return Err("no digits".into());
    };
    let last = b.iter().rposition(u8::is_ascii_digit).unwrap_or(first);
    let mut start = first;
    // A leading decimal point (`.5`, `-.5`, `$.50`), but not the dot of `Rs.5`.
    if start > 0 && b[start - 1] == b'.' {
        let before = t[..start - 1].chars().next_back();
        if before.is_none_or(|c| !c.is_alphabetic()) {
            start -= 1;
        }
    }
    let mut affixes = Affixes::default();
    affixes.prefix(&t[..start])?;
    affixes.suffix(&t[last + 1..])?;
    let body = &t[start..=last];

    // Split the body into digit groups and the separators between them.
    let mut groups = [(0usize, 0usize); 24]; // (start, len) of each digit run
    let mut seps = [Sep::Space; 24]; // seps[i] sits before groups[i + 1]
    let mut n_groups = 0usize;
    let mut run_start = 0usize;
    let mut prev_sep = false;
    for (i, c) in body.char_indices() {
        let sep = match c {
            '0'..='9' => {
                prev_sep = false;
                continue;
            }
            ',' => Sep::Comma,
            '.' => Sep::Dot,
            c if is_group_space(c) => Sep::Space,
            c if c.is_alphabetic() => return Err("letters inside the number".into()),
            c => return Err(format!("unexpected `{c}` inside the number")),
        };
        if prev_sep {
            return Err("two separators in a row".into());
        }
        prev_sep = true;
        if n_groups + 1 >= groups.len() {
            return Err("too many digit groups".into());
        }
        groups[n_groups] = (run_start, i - run_start);
        seps[n_groups] = sep;
        n_groups += 1;
        run_start = i + c.len_utf8();
    }
    groups[n_groups] = (run_start, body.len() - run_start);
    n_groups += 1;
    let groups = &groups[..n_groups];
    let seps = &seps[..n_groups - 1];

    // Decide which separator (if any) is the decimal mark.
    let mut decimal: Option<usize> = None; // index into `seps`
    for (i, &s) in seps.iter().enumerate() {
        if s == Sep::Comma {
            match groups[i + 1].1 {
                3 => {}
                1 | 2 => {
                    if decimal.is_some() {
                        return Err("more than one decimal mark".into());
                    }
                    decimal = Some(i);
                }
                _ => {
                    return Err(
                        "a comma must be followed by 3 digits (thousands) or 1–2 digits (decimals)"
                            .into(),
                    );
                }
            }
        }
    }
    let decimal_comma = decimal.is_some();
    if !decimal_comma {
        for (i, &s) in seps.iter().enumerate() {
            if s == Sep::Dot {
                if decimal.is_some() {
                    return Err("more than one decimal point".into());
                }
                decimal = Some(i);
            }
        }
    }
    if decimal.is_some_and(|d| d + 1 != seps.len()) {
        return Err("digit groups after the decimal mark".into());
    }
    let n_int_groups = decimal.map_or(groups.len(), |d| d + 1);
    let thousands = &seps[..n_int_groups - 1];
    if let Some(&kind) = thousands.first() {
        if thousands.iter().any(|&s| s != kind) {
            return Err("mixed thousands separators".into());
        }
        if decimal_comma && kind == Sep::Comma {
            return Err("a comma used both for thousands and decimals".into());
        }
        let (g0_start, g0_len) = groups[0];
        if g0_len == 0 || g0_len > 3 || groups[1..n_int_groups].iter().any(|g| g.1 != 3) {
            return Err("digits must be grouped in threes".into());
        }
        if body.as_bytes()[g0_start] == b'0' {
            return Err("a leading zero before a thousands separator".into());
        }
    }

    let mut buf = DigitBuf::new();
    if affixes.negative || affixes.open_paren {
        buf.push(b'-');
    }
    let bb = body.as_bytes();
    for &(s, l) in &groups[..n_int_groups] {
        for &c in &bb[s..s + l] {
            buf.push(c);
        }
    }
    if buf.as_bytes().last().is_none_or(|&c| c == b'-') {
        buf.push(b'0');
    }
    if let Some(d) = decimal {
        buf.push(b'.');
        let (s, l) = groups[d + 1];
        for &c in &bb[s..s + l] {
            buf.push(c);
        }
    }
    let text = std::str::from_utf8(buf.as_bytes()).map_err(|_| "unreadable".to_string())?;
    let v: f64 = text.parse().map_err(|_| "unreadable".to_string())?;
    if !v.is_finite() {
        return Err("too large".into());
    }
    Ok(if v == 0.0 { 0.0 } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i16, m: i8, day: i8) -> Option<Date> {
        Some(Date::new(y, m, day).unwrap())
    }

    fn date(s: &str) -> Result<Option<Date>, ValueError> {
        parse_date(s, DateOrder::DayFirst, &TimeZone::UTC)
    }

    fn num(s: &str) -> Option<f64> {
        parse_number(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn num_err(s: &str) -> String {
        match parse_number(s) {
            Err(e) => e.0,
            Ok(v) => panic!("{s:?} was read as {v:?}"),
        }
    }

    #[test]
    fn headers_normalise() {
        assert_eq!(normalize_header("Last Order Date"), "lastorderdate");
        assert_eq!(normalize_header("last_order_date"), "lastorderdate");
        assert_eq!(normalize_header("  Last-Order\u{a0}Date "), "lastorderdate");
        assert_eq!(normalize_header("\u{feff}Customer ID"), "customerid");
        assert_eq!(normalize_header("ÉTAT"), "état");
    }

    #[test]
    fn blank_cells_are_no_data() {
        assert_eq!(date("").unwrap(), None);
        assert_eq!(date("  \u{a0}").unwrap(), None);
        assert_eq!(parse_number("").unwrap(), None);
        assert_eq!(parse_number(" \t").unwrap(), None);
    }

    #[test]
    fn iso_dates() {
        assert_eq!(date("2026-11-23").unwrap(), d(2026, 11, 23));
        assert_eq!(date(" 2026-11-23 ").unwrap(), d(2026, 11, 23));
        assert!(date("2026-02-31").is_err());
        assert!(date("2026-13-01").is_err());
        assert!(date("2026-11-2x").is_err());
    }

    #[test]
    fn iso_date_times() {
        assert_eq!(date("2026-11-23T10:00:00Z").unwrap(), d(2026, 11, 23));
        assert_eq!(date("2026-11-23 10:00:00").unwrap(), d(2026, 11, 23));
        assert_eq!(date("2026-11-23T23:30:00").unwrap(), d(2026, 11, 23));
        // +08:00 at 05:00 is the previous evening in UTC.
        assert_eq!(date("2026-11-23T05:00:00+08:00").unwrap(), d(2026, 11, 22));
        assert_eq!(date("2026-11-23T10:00:00+08:00").unwrap(), d(2026, 11, 23));
        let sg = TimeZone::get("Asia/Singapore").unwrap();
        assert_eq!(
            parse_date("2026-11-23T20:00:00Z", DateOrder::DayFirst, &sg).unwrap(),
            d(2026, 11, 24)
        );
        // Without an offset it is its own date, whatever the zone.
        assert_eq!(
            parse_date("2026-11-23T20:00:00", DateOrder::DayFirst, &sg).unwrap(),
            d(2026, 11, 23)
        );
        assert!(date("2026-11-23X10:00").is_err());
        assert!(date("2026-11-23T99:00:00Z").is_err());
    }

    #[test]
    fn month_name_dates() {
        assert_eq!(date("23 Nov 2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("23 November 2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("23 NOV 2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("3 sept 2026").unwrap(), d(2026, 9, 3));
        assert_eq!(date("3 Sep 2026").unwrap(), d(2026, 9, 3));
        assert_eq!(date("23-Nov-2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("Nov 23, 2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("Mon, 23 Nov 2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("1st May 2026").unwrap(), d(2026, 5, 1));
        assert!(date("30 Feb 2026").is_err());
        assert!(date("23 Novem 2026").is_err());
        assert!(date("23 Nov").is_err());
        assert!(date("23 Nov 26").unwrap_err().0.contains("two-digit year"));
    }

    #[test]
    fn numeric_dates_day_first() {
        assert_eq!(date("23/11/2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("3/1/2026").unwrap(), d(2026, 1, 3));
        assert_eq!(date("23-11-2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("23.11.2026").unwrap(), d(2026, 11, 23));
        assert_eq!(date("2026/11/23").unwrap(), d(2026, 11, 23));
        assert_eq!(date("23/11/2026 10:00").unwrap(), d(2026, 11, 23));
        assert_eq!(date("23/11/2026 9:05:00 PM").unwrap(), d(2026, 11, 23));
        assert!(date("11/23/2026").is_err());
        assert!(date("23/11-2026").is_err());
        assert!(date("23/11/2026 lunch").is_err());
    }

    #[test]
    fn numeric_dates_month_first() {
        let us = |s| parse_date(s, DateOrder::MonthFirst, &TimeZone::UTC);
        assert_eq!(us("11/23/2026").unwrap(), d(2026, 11, 23));
        assert_eq!(us("1/3/2026").unwrap(), d(2026, 1, 3));
        assert_eq!(us("11-23-2026").unwrap(), d(2026, 11, 23));
        assert!(us("23/11/2026").unwrap_err().0.contains("11/23/2026"));
    }

    #[test]
    fn date_errors_quote_the_cell() {
        assert_eq!(
            date("31/02/2026").unwrap_err().0,
            r#""31/02/2026" is not a date (expected 2026-11-23, 23 Nov 2026 or 23/11/2026)"#
        );
        assert_eq!(
            date("23/11/26").unwrap_err().0,
            r#""23/11/26" has a two-digit year; write the year in full (e.g. 23/11/2026)"#
        );
        assert!(
            date("soon")
                .unwrap_err()
                .0
                .starts_with("\"soon\" is not a date")
        );
        assert!(date("N/A").is_err());
        assert!(date("2026").is_err());
    }

    #[test]
    fn plain_numbers() {
        assert_eq!(num("1234.5"), Some(1234.5));
        assert_eq!(num("-3"), Some(-3.0));
        assert_eq!(num("+3"), Some(3.0));
        assert_eq!(num("0.25"), Some(0.25));
        assert_eq!(num(".5"), Some(0.5));
        assert_eq!(num("-.5"), Some(-0.5));
        assert_eq!(num("-0"), Some(0.0));
        assert!(num("-0").unwrap().is_sign_positive());
        assert_eq!(num("12345678901234567890"), Some(12345678901234567890.0));
        assert_eq!(
            num("0.1234567890123456789"),
            "0.1234567890123456789".parse().ok()
        );
    }

    #[test]
    fn money_forms() {
        assert_eq!(num("$1,234.50"), Some(1234.5));
        assert_eq!(num("1.234,50 €"), Some(1234.5));
        assert_eq!(num("SGD 1,234"), Some(1234.0));
        assert_eq!(num("12,5"), Some(12.5));
        assert_eq!(num("12,50"), Some(12.5));
        assert_eq!(num("1,234,567.89"), Some(1234567.89));
        assert_eq!(num("1.234.567,89"), Some(1234567.89));
        assert_eq!(num("£12"), Some(12.0));
        assert_eq!(num("¥1,000"), Some(1000.0));
        assert_eq!(num("12 USD"), Some(12.0));
        assert_eq!(num("Rs.1,234"), Some(1234.0));
        assert_eq!(num("1 234,50"), Some(1234.5));
        assert_eq!(num("1\u{a0}234,50\u{a0}€"), Some(1234.5));
        assert_eq!(num("1\u{202f}234"), Some(1234.0));
        assert_eq!(num("1'234.50"), Some(1234.5));
        assert_eq!(num("CHF 1’234.50"), Some(1234.5));
    }

    #[test]
    fn negative_forms() {
        assert_eq!(num("−0.5"), Some(-0.5));
        assert_eq!(num("-$1,234.50"), Some(-1234.5));
        assert_eq!(num("$-1,234.50"), Some(-1234.5));
        assert_eq!(num("(12.50)"), Some(-12.5));
        assert_eq!(num("($1,234.50)"), Some(-1234.5));
        assert_eq!(num("(12,50 €)"), Some(-12.5));
        assert!(num_err("-(12)").contains("both a sign and brackets"));
        assert!(num_err("(12").contains("unmatched"));
        assert!(num_err("12)").contains("unmatched"));
        assert!(num_err("12-").contains("sign"));
        assert!(num_err("--12").contains("more than one sign"));
    }

    #[test]
    fn number_errors() {
        assert_eq!(
            num_err("12abc34"),
            r#""12abc34" is not a number (letters inside the number; expected e.g. 1234.5, $1,234.50 or 1.234,50 €)"#
        );
        assert!(num_err("1,2,3").contains("more than one decimal mark"));
        assert!(num_err("1.234.567").contains("more than one decimal point"));
        assert!(num_err("..").contains("no digits"));
        assert!(num_err("N/A").contains("no digits"));
        assert!(num_err("$").contains("no digits"));
        assert!(num_err("1,2345").contains("comma must be followed"));
        assert!(num_err("1,23,456").contains("decimal mark"));
        assert!(num_err("1234,567").contains("threes"));
        assert!(num_err("0,123").contains("leading zero"));
        assert!(num_err("1.5,000").contains("after the decimal"));
        assert!(num_err("1,,000").contains("two separators"));
        assert!(num_err("12 34").contains("threes"));
        assert!(num_err("12%").contains("unexpected `%`"));
        assert!(num_err("1e5").contains("letters"));
        assert!(num_err("12/34").contains("unexpected `/`"));
        assert!(num_err("12.").contains("unexpected `.`"));
        assert!(num_err(&format!("1{}", "0".repeat(400))).contains("too large"));
        assert!(num_err("NaN").contains("no digits"));
        assert!(num_err("inf").contains("no digits"));
    }

    #[test]
    fn long_cells_are_shortened_in_messages() {
        let e = num_err(&format!("{}%", "9".repeat(100)));
        assert!(
            e.starts_with(&format!("\"{}…\" is not", "9".repeat(40))),
            "{e}"
        );
    }

    proptest! {
        #[test]
        fn parse_number_never_panics(s in any::<String>()) {
            if let Ok(Some(v)) = parse_number(&s) {
                prop_assert!(v.is_finite());
            }
        }

        #[test]
        fn parse_number_never_panics_on_number_like(s in "[-−+($€ ]{0,2}[0-9.,' \u{a0}]{0,12}[)€A-Z ]{0,3}") {
            if let Ok(Some(v)) = parse_number(&s) {
                prop_assert!(v.is_finite());
            }
        }

        #[test]
        fn fast_path_agrees_with_general_path(s in "[-$]{0,2}[0-9,.]{1,14}") {
            if let Some(v) = parse_common_number(s.as_bytes()) {
                prop_assert_eq!(parse_number_general(&s), Ok(v));
            }
        }

        #[test]
        fn parse_date_never_panics(s in any::<String>()) {
            let _ = parse_date(&s, DateOrder::DayFirst, &TimeZone::UTC);
            let _ = parse_date(&s, DateOrder::MonthFirst, &TimeZone::UTC);
        }

        #[test]
        fn parse_date_never_panics_on_date_like(s in "[0-9]{1,4}[-/. ][0-9A-Za-z]{1,9}[-/. ,]{1,2}[0-9]{1,5}[T ]?[0-9:Z+]{0,9}") {
            let _ = parse_date(&s, DateOrder::DayFirst, &TimeZone::UTC);
        }

        #[test]
        fn formatted_numbers_round_trip(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
            let s = format!("{x:.2}");
            let want: f64 = s.parse().unwrap();
            let want = if want == 0.0 { 0.0 } else { want };
            prop_assert_eq!(parse_number(&s).unwrap(), Some(want));
        }

        #[test]
        fn large_formatted_numbers_round_trip(x in -1e20f64..1e20) {
            let s = format!("{x:.2}");
            let want: f64 = s.parse().unwrap();
            let want = if want == 0.0 { 0.0 } else { want };
            prop_assert_eq!(parse_number(&s).unwrap(), Some(want));
        }

        #[test]
        fn small_formatted_numbers_round_trip(x in -1e9f64..1e9, places in 0usize..6) {
            let s = format!("{x:.places$}");
            let want: f64 = s.parse().unwrap();
            let want = if want == 0.0 { 0.0 } else { want };
            prop_assert_eq!(parse_number(&s).unwrap(), Some(want));
        }

        #[test]
        fn iso_dates_round_trip(y in 1i16..9999, m in 1i8..=12, day in 1i8..=28) {
            let want = Date::new(y, m, day).unwrap();
            let s = format!("{want}");
            prop_assert_eq!(date(&s).unwrap(), Some(want));
            prop_assert_eq!(date(&format!("{day}/{m}/{y:04}")).unwrap(), Some(want));
        }
    }
}
