//! The customer-list reader (docs/SPEC.md §2): streaming, tolerant of what Sheets and Excel produce, strict
//! about what would make a score wrong.

use std::collections::VecDeque;
use std::io::{self, Read};

use csv::{ByteRecord, StringRecord};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rustc_hash::FxHashMap;

use crate::list::values::{
    DateOrder, normalize_header, parse_common_number, parse_date, parse_iso_date_fast,
    parse_number, quote_cell,
};

/// How to read cells.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub date_order: DateOrder,
    /// Date-times count as their date in this zone.
    pub tz: TimeZone,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            date_order: DateOrder::DayFirst,
            tz: TimeZone::UTC,
        }
    }
}

/// A column a rules-doc signal measures, by normalised header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasuredColumn {
    /// Normalised header (`values::normalize_header`).
    pub column: String,
    /// The header as the rules doc wrote it, for messages.
    pub display: String,
    /// `true` when the signal tests numbers (`at least` / `at most`): an unreadable number makes the
    /// row bad. `false` for `is TEXT` tests.
    pub numeric: bool,
}

/// A problem that stops the run before anything is written or sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ListError {
    #[error("the customer list is empty")]
    Empty,
    #[error("the customer list has a header but no customer rows")]
    NoRows,
    #[error(
        "the customer list has no `{0}` column (headers are matched ignoring case, spaces, `_` and `-`)"
    )]
    MissingColumn(String),
    /// The column the rules measure, and a "did you mean" hint (or nothing).
    #[error("the rules measure `{0}`, but the customer list has no such column{1}")]
    MissingMeasuredColumn(String, String),
    #[error(
        "the customer list has {bad} bad rows out of {rows} ({percent:.1}%): more than 20%, so nothing was scored or sent; fix the rows listed and run again"
    )]
    TooManyBadRows { bad: u64, rows: u64, percent: f64 },
    #[error("the customer list could not be read: {0}")]
    Io(String),
}

/// A skipped row: the line where its record starts and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadRow {
    pub line: u64,
    pub reason: String,
}

/// A measured column's value in one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellValue<'a> {
    Missing,
    Number(f64),
    Text(&'a str),
}

/// One good row, borrowing the reader's buffer (valid until the next call to `next_row`).
///
/// Text cells (`name`, `owner`, `email`, text measures) that are not valid UTF-8 are read with
/// U+FFFD replacing the broken bytes: such a row still scores correctly. An id, date or number
/// that is not UTF-8 makes the row bad instead.
#[derive(Debug)]
pub struct CustomerRow<'a> {
    /// Line where the record starts (1-based; the header is line 1 unless blank lines precede it).
    pub line: u64,
    pub customer_id: &'a str,
    pub name: &'a str,
    /// The owner cell as written (may be blank or not an email: the caller resolves it).
    pub owner: &'a str,
    /// The customer's email (blank → empty string). Never a recipient.
    pub email: &'a str,
    pub last_order_date: Option<Date>,
    pub order_pace_days: Option<f64>,
    pub first_order_date: Option<Date>,
    pub order_count: Option<f64>,
    pub support_mood: Option<f64>,
    pub lifetime_value: Option<f64>,
    record: &'a ByteRecord,
    /// The record as text, when it is valid UTF-8.
    text: Option<&'a str>,
    lossy: &'a [String],
    measures: &'a [MVal],
}

impl<'a> CustomerRow<'a> {
    /// The value of the `i`-th `MeasuredColumn` given to `CustomerReader::new`: `Missing` for a
    /// blank cell (or an `i` out of range), `Number` for a numeric measure (already validated),
    /// `Text` (trimmed) for a text one.
    pub fn measure(&self, i: usize) -> CellValue<'a> {
        match self.measures.get(i) {
            None | Some(MVal::Missing) => CellValue::Missing,
            Some(&MVal::Number(v)) => CellValue::Number(v),
            Some(&MVal::Text(t)) => match resolve(self.record, self.text, self.lossy, t) {
                "" => CellValue::Missing,
                s => CellValue::Text(s),
            },
        }
    }
}

/// Counts for the run report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ReadSummary {
    /// Non-blank data rows seen (good + bad).
    pub rows: u64,
    pub good: u64,
    pub bad: u64,
    pub blank: u64,
}

/// Where a text measure of the current row is: nowhere (blank), a valid UTF-8 field of the
/// record (trimmed when read), or a lossily decoded copy in the reader's `lossy` buffers.
#[derive(Debug, Clone, Copy)]
enum Txt {
    Empty,
    Field(usize),
    Lossy(usize),
}

/// A measured cell of the current row.
#[derive(Debug, Clone, Copy)]
enum MVal {
    Missing,
    Number(f64),
    Text(Txt),
}

fn resolve<'a>(
    record: &'a ByteRecord,
    text: Option<&'a str>,
    lossy: &'a [String],
    t: Txt,
) -> &'a str {
    match t {
        Txt::Empty => "",
        Txt::Field(col) => match text.zip(record.range(col)) {
            Some((all, r)) => all.get(r).map_or("", trim_text),
            None => trimmed_str(cell(record, col)).unwrap_or(""),
        },
        Txt::Lossy(k) => lossy.get(k).map_or("", String::as_str),
    }
}

#[inline]
fn cell(record: &ByteRecord, col: usize) -> &[u8] {
    record.get(col).unwrap_or_default()
}

/// A cell as trimmed UTF-8 text; `Err` when it is not UTF-8.
#[inline]
fn trimmed_str(raw: &[u8]) -> Result<&str, std::str::Utf8Error> {
    Ok(trim_text(std::str::from_utf8(raw)?))
}

/// Trims white space, ASCII first (cheap), then a non-breaking space if one is left at an edge.
#[inline]
fn trim_text(s: &str) -> &str {
    let s = s.trim_ascii();
    let edge = |b: Option<&u8>| b.is_some_and(|&b| b >= 0x80);
    if edge(s.as_bytes().first()) || edge(s.as_bytes().last()) {
        s.trim()
    } else {
        s
    }
}

/// A cell as trimmed text. When the whole record passed one UTF-8 check (`utf8`), the cell is a
/// slice of it: one validation per row instead of one per cell.
#[inline]
fn str_cell<'r>(
    record: &'r ByteRecord,
    utf8: Option<&'r str>,
    col: usize,
) -> Result<&'r str, std::str::Utf8Error> {
    // `get` (not indexing): bytes that only form UTF-8 across two cells fall back to the
    // per-cell check, which refuses them.
    match (utf8, record.range(col)) {
        (Some(all), Some(r)) => match all.get(r) {
            Some(f) => Ok(trim_text(f)),
            None => trimmed_str(cell(record, col)),
        },
        (Some(_), None) => Ok(""),
        (None, _) => trimmed_str(cell(record, col)),
    }
}

/// A text cell of a checked row: blank, trimmed UTF-8 at these bytes of the record, or decoded
/// lossily into a `lossy` buffer. Positions rather than borrows, so the check can run on the
/// front's thread.
#[derive(Clone, Copy, Debug)]
enum TextAt {
    Empty,
    Span(usize, usize),
    Lossy(usize),
}

impl TextAt {
    /// Where `s`, a slice of `record` (or empty), is.
    fn of(s: &str, record: &ByteRecord) -> TextAt {
        if s.is_empty() {
            return TextAt::Empty;
        }
        let start = s.as_ptr() as usize - record.as_slice().as_ptr() as usize;
        TextAt::Span(start, start + s.len())
    }
}

/// `utf8`: the whole record as text when it is valid UTF-8 (one check for all its cells).
fn text_of<'a>(
    t: TextAt,
    record: &'a ByteRecord,
    utf8: Option<&'a str>,
    lossy: &'a [String],
) -> &'a str {
    match t {
        TextAt::Empty => "",
        // Checked to be UTF-8 when the row was checked.
        TextAt::Span(a, b) => match utf8 {
            Some(all) => all.get(a..b),
            None => record
                .as_slice()
                .get(a..b)
                .and_then(|s| std::str::from_utf8(s).ok()),
        }
        .unwrap_or(""),
        TextAt::Lossy(k) => lossy.get(k).map_or("", String::as_str),
    }
}

/// Reads a text cell: valid UTF-8 stays in the record; anything else is decoded lossily into
/// `lossy[slot]` (why: a list saved in a legacy encoding should still be scored, with `�` in
/// names, rather than stop the run).
#[inline]
fn text_cell(
    record: &ByteRecord,
    utf8: Option<&str>,
    col: Option<usize>,
    lossy: &mut [String],
    slot: usize,
) -> TextAt {
    let Some(col) = col else {
        return TextAt::Empty;
    };
    match str_cell(record, utf8, col) {
        Ok(s) => TextAt::of(s, record),
        Err(_) => {
            let buf = &mut lossy[slot];
            buf.clear();
            buf.push_str(String::from_utf8_lossy(cell(record, col)).trim());
            TextAt::Lossy(slot)
        }
    }
}

/// A row is blank when every cell is empty or white space.
#[inline]
fn is_blank(record: &ByteRecord) -> bool {
    let all = record.as_slice();
    match all.iter().position(|c| !c.is_ascii_whitespace()) {
        None => true,
        Some(i) if all[i] < 0x80 => false,
        // Non-ASCII: maybe a non-breaking space.
        Some(_) => record
            .iter()
            .all(|f| std::str::from_utf8(f).is_ok_and(|s| s.trim().is_empty())),
    }
}

/// An unclosed quote makes csv read everything up to the next quote (often the end of the file)
/// as one cell. A cell holding a line break followed by what looks like a whole row of commas is
/// taken as that mistake rather than as a multi-line note.
fn looks_like_broken_quote(record: &ByteRecord, columns: usize) -> bool {
    if memchr::memchr2(b'\n', b'\r', record.as_slice()).is_none() {
        return false;
    }
    let commas_needed = columns.saturating_sub(1).max(1);
    record.iter().any(|f| {
        memchr::memchr2(b'\n', b'\r', f)
            .is_some_and(|i| memchr::memchr_iter(b',', &f[i..]).count() >= commas_needed)
    })
}

/// Sits between csv and the file and notes where every `\n` and `\r` is, so a record's first
/// line can be told exactly. (csv's own `Position::line` is the line after the previous record:
/// it is off after blank lines and counts `\r\n` late or `\r` not at all.)
struct LineTap<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// `offset << 1 | is_cr` of every line-break byte not yet passed by the parser.
    breaks: VecDeque<u64>,
    /// The file starts with a UTF-8 byte-order mark (csv skips it).
    bom: bool,
}

impl<R: Read> Read for LineTap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        let got = &buf[..n];
        if self.offset == 0 && got.starts_with(b"\xef\xbb\xbf") {
            self.bom = true;
        }
        for i in memchr::memchr2_iter(b'\n', b'\r', got) {
            self.breaks
                .push_back(((self.offset + i as u64) << 1) | u64::from(got[i] == b'\r'));
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Counts line breaks (`\n`, `\r\n` or a lone `\r`) up to each record's first byte.
struct LineCounter {
    counted: u64,
    /// The last break counted (tagged as in `LineTap::breaks`), to see `\r\n` as one break.
    prev: u64,
}

impl LineCounter {
    fn new() -> Self {
        LineCounter {
            counted: 0,
            prev: u64::MAX,
        }
    }

    /// The line of the record csv began reading at byte `start`: csv skips line breaks (blank
    /// lines, the `\n` of a `\r\n`) before a record, so its first byte is the first one at or
    /// after `start` that is not a break.
    fn start_line(&mut self, breaks: &mut VecDeque<u64>, mut start: u64) -> u64 {
        while let Some(&tag) = breaks.front() {
            let off = tag >> 1;
            if off > start {
                break;
            }
            if off == start {
                start += 1;
            }
            breaks.pop_front();
            let crlf_tail = tag & 1 == 0 && off > 0 && self.prev == (((off - 1) << 1) | 1);
            if !crlf_tail {
                self.counted += 1;
            }
            self.prev = tag;
        }
        self.counted + 1
    }
}

/// Column indexes, resolved once from the header.
#[derive(Debug, Clone, Copy)]
struct Columns {
    id: usize,
    name: usize,
    owner: usize,
    email: Option<usize>,
    last_order_date: Option<usize>,
    order_pace_days: Option<usize>,
    first_order_date: Option<usize>,
    order_count: Option<usize>,
    support_mood: Option<usize>,
    lifetime_value: Option<usize>,
}

/// A measured column, resolved.
#[derive(Debug, Clone, Copy)]
struct MeasureSlot {
    col: usize,
    numeric: bool,
}

/// `lossy` buffer slots: name, owner, email, then one per measured column.
const LOSSY_NAME: usize = 0;
const LOSSY_OWNER: usize = 1;
const LOSSY_EMAIL: usize = 2;
const LOSSY_MEASURES: usize = 3;

/// Ids seen so far, with the line each was first on. Ids of up to 15 bytes (nearly all) are
/// kept inline in a 16-byte key, so a million rows cost no allocation per row.
///
/// Lists exported from a CRM are usually sorted by id: while ids keep rising they are appended
/// to `rising` (in order, so a look-up is a binary search), and only the others go into the hash
/// tables, whose every insert is a cache miss at a million rows.
#[derive(Default)]
struct SeenIds {
    /// Keys in increasing order, and the line of each.
    rising: Vec<[u8; 16]>,
    rising_lines: Vec<u32>,
    short: FxHashMap<[u8; 16], u32>,
    long: FxHashMap<Box<[u8]>, u32>,
    /// Rows expected, to size `short` once when the first id out of order arrives.
    expected: usize,
}

impl SeenIds {
    /// Expects about `rows` ids (growing step by step rehashes every id again).
    fn reserve(&mut self, rows: usize) {
        self.expected = rows;
        self.rising.reserve(rows);
        self.rising_lines.reserve(rows);
    }

    /// Records `id` first seen on `line`; `Err(first line)` when it was seen before.
    fn insert(&mut self, id: &[u8], line: u64) -> Result<(), u64> {
        // Lines past u32::MAX would need a file of over 4 GB; they saturate.
        let line32 = u32::try_from(line).unwrap_or(u32::MAX);
        if id.len() < 16 {
            let mut key = [0u8; 16];
            key[..id.len()].copy_from_slice(id);
            key[15] = id.len() as u8; // tells `C1` from `C1\0`
            // Every key in `short` is below the last rising one, so a key above it is new.
            if self.rising.last().is_none_or(|last| key > *last) {
                self.rising.push(key);
                self.rising_lines.push(line32);
                return Ok(());
            }
            if let Ok(i) = self.rising.binary_search(&key) {
                return Err(u64::from(self.rising_lines[i]));
            }
            if self.short.is_empty() {
                self.short
                    .reserve(self.expected.saturating_sub(self.rising.len()));
            }
            match self.short.entry(key) {
                std::collections::hash_map::Entry::Occupied(e) => Err(u64::from(*e.get())),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(line32);
                    Ok(())
                }
            }
        } else if let Some(&first) = self.long.get(id) {
            Err(u64::from(first))
        } else {
            self.long.insert(id.into(), line32);
            Ok(())
        }
    }
}

/// Streams a customer list. Usage:
/// ```text
/// let mut r = CustomerReader::new(file, opts, &measured)?;
/// while let Some(row) = r.next_row() { match row { Ok(row) => ..., Err(bad) => ... } }
/// let summary = r.finish()?; // Err(TooManyBadRows) when > 20% of non-blank rows were bad
/// ```
///
/// The header is the first non-blank record. Headers match ignoring case, spaces, `_` and `-`;
/// when two headers match the same column the first wins. Rows may be shorter or longer than
/// the header (missing cells are blank). A cell that swallowed the rest of the file through an
/// unclosed quote makes its row bad, with a reason saying so.
pub struct CustomerReader<R: Read> {
    source: Source<R>,
    /// The current record and its checked cells.
    cur: Slot,
    headers: Vec<String>,
    cols: Columns,
    summary: ReadSummary,
    io_error: Option<String>,
    done: bool,
}

/// The front of the reader: csv parsing, line numbers and blank rows. It runs inline or on its
/// own thread.
struct Front<R: Read> {
    rdr: csv::Reader<LineTap<R>>,
    lines: LineCounter,
    /// Checks the rows here, or `None` when a thread of its own does (`threaded`).
    checker: Option<Checker>,
}

/// Checks every non-blank row in order: the checks that need the whole file's history
/// (repeated ids), then every cell (dates, numbers, measured columns, text encoding).
struct Checker {
    seen: SeenIds,
    /// Non-empty header names, for the broken-quote check.
    width: usize,
    id_header: String,
    /// The list's size in bytes, when known, to size the id table from the first row.
    size_hint: Option<u64>,
    headers: Vec<String>,
    cols: Columns,
    opts: ReadOptions,
    measured: Vec<MeasureSlot>,
}

impl Checker {
    /// Turns a pending row into a checked one: its cells, or why it is bad.
    fn check(&mut self, slot: &mut Slot, step: Step) -> Step {
        let Step::Pending(line) = step else {
            return step;
        };
        let checked = self
            .pre_check(slot.rec.bytes(), line)
            .and_then(|()| check_row(slot, self.cols, &self.headers, &self.opts, &self.measured));
        Step::Row(line, checked)
    }

    fn pre_check(&mut self, rec: &ByteRecord, line: u64) -> Result<(), String> {
        if let Some(total) = self.size_hint.take() {
            let row_bytes = (rec.as_slice().len() + rec.len()).max(32) as u64;
            // At most 16M ids up front; a larger list grows the table as it goes.
            self.seen.reserve((total / row_bytes).min(1 << 24) as usize);
        }
        if looks_like_broken_quote(rec, self.width) {
            return Err(
                "a quoted cell that starts on this line is never closed, so the lines after \
                        it were read into that cell; check the quote marks (\") in this row"
                    .into(),
            );
        }
        let raw_id = cell(rec, self.cols.id);
        let Ok(customer_id) = trimmed_str(raw_id) else {
            return Err(format!(
                "{}: the customer id {} is not readable text (save the list as \"CSV UTF-8\")",
                self.id_header,
                quote_cell(&String::from_utf8_lossy(raw_id))
            ));
        };
        if customer_id.is_empty() {
            return Err(format!(
                "no customer id (the {} cell is blank)",
                self.id_header
            ));
        }
        if let Err(first) = self.seen.insert(customer_id.as_bytes(), line) {
            return Err(format!(
                "repeats customer id {customer_id} (first on line {first})"
            ));
        }
        Ok(())
    }
}

/// A record and the buffers its check fills (measured cells, text that is not UTF-8). On a
/// threaded read, slots stay in place in their batch from the front to the caller (a row is
/// never copied between threads), and what the front and the check found is kept in `step`.
struct Slot {
    rec: Record,
    /// The checked row's cells (valid when `step` is `Row(_, Ok(()))`).
    fields: FieldsAt,
    mvals: Vec<MVal>,
    lossy: Vec<String>,
    step: Step,
}

impl Slot {
    fn new(measured: usize) -> Slot {
        Slot {
            // Room for a typical row, so a new slot's first record does not grow it step by step.
            rec: Record::Bytes(ByteRecord::with_capacity(256, 16)),
            fields: FieldsAt::EMPTY,
            mvals: vec![MVal::Missing; measured],
            lossy: vec![String::new(); LOSSY_MEASURES + measured],
            step: Step::End,
        }
    }
}

/// A record's buffer: bytes as csv read them, or (after the check) text, when every field is
/// UTF-8. csv converts between the two in place, so the text is validated once and never copied.
enum Record {
    Bytes(ByteRecord),
    Text(StringRecord),
    /// Only while converting.
    Moving,
}

impl Record {
    fn bytes(&self) -> &ByteRecord {
        match self {
            Record::Bytes(b) => b,
            Record::Text(t) => t.as_byte_record(),
            Record::Moving => {
                unreachable!("a record is only moving inside `buffer_for_next`/`make_text`")
            }
        }
    }

    /// The whole record as text (its fields one after another), when it is UTF-8.
    fn text(&self) -> Option<&str> {
        match self {
            Record::Text(t) => Some(t.as_slice()),
            _ => None,
        }
    }

    /// The buffer for csv to read the next record into.
    fn buffer_for_next(&mut self) -> &mut ByteRecord {
        if let Record::Text(_) = self
            && let Record::Text(t) = std::mem::replace(self, Record::Moving)
        {
            *self = Record::Bytes(t.into_byte_record());
        }
        match self {
            Record::Bytes(b) => b,
            _ => unreachable!("converted above"),
        }
    }

    /// Becomes text when every field is UTF-8 (csv checks an ASCII record in one pass).
    fn make_text(&mut self) {
        if let Record::Bytes(_) = self
            && let Record::Bytes(b) = std::mem::replace(self, Record::Moving)
        {
            *self = match StringRecord::from_byte_record(b) {
                Ok(t) => Record::Text(t),
                Err(e) => Record::Bytes(e.into_byte_record()),
            };
        }
    }
}

/// What the front found in one record.
enum Step {
    /// A non-blank record at this line, checked: good (its cells are in the slot's `fields`), or
    /// the reason it is bad.
    Row(u64, Result<(), String>),
    /// A non-blank record at this line, not yet checked.
    Pending(u64),
    Blank,
    End,
    Failed(String),
}

impl<R: Read> Front<R> {
    fn step(&mut self, slot: &mut Slot) -> Step {
        let record = slot.rec.buffer_for_next();
        match self.rdr.read_byte_record(record) {
            Ok(true) => {}
            Ok(false) => return Step::End,
            Err(e) => return Step::Failed(e.to_string()),
        }
        let start = record_start(record, self.rdr.get_ref());
        let line = self.lines.start_line(&mut self.rdr.get_mut().breaks, start);
        if is_blank(record) {
            return Step::Blank;
        }
        match &mut self.checker {
            Some(c) => c.check(slot, Step::Pending(line)),
            None => Step::Pending(line),
        }
    }
}

/// Records handed from the front's thread to the reader, in batches to keep the channel cheap.
/// Emptied batches go back to the front, so their slots' buffers are reused.
struct Batch {
    /// `slots[..len]` hold this batch's records.
    slots: Vec<Slot>,
    len: usize,
    bytes: u64,
}

const BATCH: usize = 1024;

/// Batches each channel between the stages holds. Three stages share two cores: deep queues let
/// each stage run for whole time slices instead of waiting on its neighbour (scripts/bench.sh:
/// 16 × 1,024 rows made `churn weekly` 8% faster than 8 × 512, for 25 MB more at a million rows).
const IN_FLIGHT: usize = 16;

enum Source<R: Read> {
    Inline(Box<Front<R>>),
    Threaded {
        rx: std::sync::mpsc::Receiver<Batch>,
        back: std::sync::mpsc::SyncSender<Batch>,
        /// The batch being handed out, and its next slot.
        batch: Option<Batch>,
        next: usize,
        bytes: u64,
    },
}

impl<R: Read> CustomerReader<R> {
    /// Reads the header; fails when the file is empty, a required column (`customer_id`, `name`,
    /// `owner`) is missing, or a measured column is missing.
    ///
    /// A measured column's `column` is matched after `normalize_header`, so it may be given in
    /// any spelling; it may also be one of the built-in columns (`support_mood`).
    pub fn new(
        reader: R,
        opts: ReadOptions,
        measured: &[MeasuredColumn],
    ) -> Result<Self, ListError> {
        let tap = LineTap {
            inner: reader,
            offset: 0,
            breaks: VecDeque::new(),
            bom: false,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(tap);
        let mut record = ByteRecord::new();
        let mut lines = LineCounter::new();
        // The header is the first non-blank record.
        loop {
            match rdr.read_byte_record(&mut record) {
                Err(e) => return Err(ListError::Io(e.to_string())),
                Ok(false) => return Err(ListError::Empty),
                Ok(true) => {}
            }
            let start = record_start(&record, rdr.get_ref());
            lines.start_line(&mut rdr.get_mut().breaks, start);
            if !is_blank(&record) {
                break;
            }
        }
        let raw = record.as_slice();
        if raw.contains(&0) || raw.starts_with(b"\xff\xfe") || raw.starts_with(b"\xfe\xff") {
            return Err(ListError::Io(
                "the file is not UTF-8 text (it looks like UTF-16); save it as \"CSV UTF-8\""
                    .into(),
            ));
        }
        let headers: Vec<String> = record
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f)
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .to_string()
            })
            .collect();
        let normalized: Vec<String> = headers.iter().map(|h| normalize_header(h)).collect();
        let find = |name: &str| {
            let name = normalize_header(name);
            normalized.iter().position(|h| !h.is_empty() && *h == name)
        };
        let required =
            |name: &str| find(name).ok_or_else(|| ListError::MissingColumn(name.to_string()));
        let cols = Columns {
            id: required("customer_id")?,
            name: required("name")?,
            owner: required("owner")?,
            email: find("email"),
            last_order_date: find("last_order_date"),
            order_pace_days: find("order_pace_days"),
            first_order_date: find("first_order_date"),
            order_count: find("order_count"),
            support_mood: find("support_mood"),
            lifetime_value: find("lifetime_value"),
        };
        let measured = measured
            .iter()
            .map(|m| {
                find(&m.column)
                    .map(|col| MeasureSlot {
                        col,
                        numeric: m.numeric,
                    })
                    .ok_or_else(|| {
                        // "did you mean" among the list's own headers.
                        let hint = crate::rules::suggest_measure(
                            &m.display,
                            headers.iter().map(String::as_str),
                        )
                        .map(|h| format!(": did you mean `{h}`?"))
                        .unwrap_or_default();
                        ListError::MissingMeasuredColumn(m.display.clone(), hint)
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let width = normalized.iter().filter(|h| !h.is_empty()).count();
        let mut cur = Slot::new(measured.len());
        cur.rec = Record::Bytes(record);
        let front = Front {
            rdr,
            lines,
            checker: Some(Checker {
                seen: SeenIds::default(),
                width,
                id_header: headers[cols.id].clone(),
                size_hint: None,
                headers: headers.clone(),
                cols,
                opts,
                measured,
            }),
        };
        Ok(CustomerReader {
            source: Source::Inline(Box::new(front)),
            cur,
            cols,
            headers,
            summary: ReadSummary::default(),
            io_error: None,
            done: false,
        })
    }

    /// Tells the reader the list's size in bytes (the file's length), so the table of ids seen is
    /// sized once for the whole list instead of growing and rehashing as it fills. Call before
    /// `threaded`.
    pub fn size_hint(mut self, bytes: u64) -> Self {
        if let Source::Inline(front) = &mut self.source
            && let Some(c) = &mut front.checker
        {
            c.size_hint = Some(bytes);
        }
        self
    }

    /// Moves csv parsing and line counting to a thread, and the rows' checks (repeated ids, every
    /// cell) to another, so a large list is read on two cores while the caller scores on them
    /// too. Rows, reasons and line numbers are exactly as without it.
    pub fn threaded(self) -> Self
    where
        R: Send + 'static,
    {
        let Source::Inline(mut front) = self.source else {
            return self;
        };
        let Some(mut checker) = front.checker.take() else {
            return CustomerReader {
                source: Source::Inline(front),
                ..self
            };
        };
        let measured = checker.measured.len();
        let (tx, to_check) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (checked, rx) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (back, recycled) = std::sync::mpsc::sync_channel::<Batch>(2 * IN_FLIGHT);
        // Three stages (csv, the rows' checks, the caller) on two cores: whichever is heavier for a
        // caller (scoring and JSON for `churn score`, less for `churn weekly`) gets more time.
        std::thread::spawn(move || {
            for mut b in to_check {
                for slot in &mut b.slots[..b.len] {
                    if let Step::Pending(line) = slot.step {
                        slot.step = checker.check(slot, Step::Pending(line));
                    }
                }
                // The reader was dropped: stop.
                if checked.send(b).is_err() {
                    return;
                }
            }
        });
        std::thread::spawn(move || {
            loop {
                let mut b = recycled.try_recv().unwrap_or_else(|_| Batch {
                    slots: Vec::with_capacity(BATCH),
                    len: 0,
                    bytes: 0,
                });
                b.len = 0;
                let mut last = false;
                while b.len < BATCH && !last {
                    if b.len == b.slots.len() {
                        b.slots.push(Slot::new(measured));
                    }
                    let slot = &mut b.slots[b.len];
                    slot.step = front.step(slot);
                    last = matches!(slot.step, Step::End | Step::Failed(_));
                    b.len += 1;
                }
                b.bytes = front.rdr.position().byte();
                // The reader was dropped: stop reading.
                if tx.send(b).is_err() || last {
                    return;
                }
            }
        });
        CustomerReader {
            source: Source::Threaded {
                rx,
                back,
                batch: None,
                next: 0,
                bytes: 0,
            },
            ..self
        }
    }

    /// Moves to the next record from the front (`cur` is then that record) and says what it is.
    fn step(&mut self) -> Step {
        match &mut self.source {
            Source::Inline(front) => front.step(&mut self.cur),
            Source::Threaded {
                rx,
                back,
                batch,
                next,
                bytes,
            } => loop {
                if let Some(b) = batch
                    && *next < b.len
                {
                    *next += 1;
                    return std::mem::replace(&mut b.slots[*next - 1].step, Step::End);
                }
                if let Some(spent) = batch.take() {
                    // Full or closed: the front then allocates; nothing is lost.
                    let _ = back.try_send(spent);
                }
                match rx.recv() {
                    Ok(b) => {
                        *bytes = b.bytes;
                        *batch = Some(b);
                        *next = 0;
                    }
                    Err(_) => return Step::Failed("the list reader stopped unexpectedly".into()),
                }
            },
        }
    }

    /// The record `step` moved to.
    fn cur(&self) -> &Slot {
        match &self.source {
            Source::Threaded {
                batch: Some(b),
                next,
                ..
            } if *next > 0 => &b.slots[*next - 1],
            _ => &self.cur,
        }
    }

    /// The list's headers as written (for `check` and for column-name suggestions).
    pub fn headers(&self) -> Vec<String> {
        self.headers.clone()
    }

    /// The `email` cell of the row `next_row` just returned, read even when the row was bad (an
    /// unreadable date elsewhere does not make its address any less a customer's: the guard
    /// against sending to a customer must still see it). `None` without an `email` column.
    pub fn current_email(&self) -> Option<String> {
        let col = self.cols.email?;
        let text = String::from_utf8_lossy(cell(self.cur().rec.bytes(), col));
        Some(text.trim().to_string()).filter(|t| !t.is_empty())
    }

    /// The next row: `Ok` for a good row, `Err` for a bad one (skip it, report it). Blank rows are
    /// skipped silently. `None` at the end. An I/O or encoding failure of the file itself is
    /// remembered and returned by `finish`.
    #[allow(clippy::should_implement_trait)]
    pub fn next_row(&mut self) -> Option<Result<CustomerRow<'_>, BadRow>> {
        loop {
            if self.done {
                return None;
            }
            match self.step() {
                Step::Row(line, checked) => return Some(self.parse_row(line, checked)),
                // Never handed out: the checker's thread checks every pending row.
                Step::Pending(line) => {
                    let reason = "the list reader skipped a row's checks".to_string();
                    return Some(self.parse_row(line, Err(reason)));
                }
                Step::Blank => self.summary.blank += 1,
                Step::End => {
                    self.done = true;
                    return None;
                }
                Step::Failed(e) => {
                    self.io_error = Some(e);
                    self.done = true;
                    return None;
                }
            }
        }
    }

    /// Bytes consumed so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        match &self.source {
            Source::Inline(front) => front.rdr.position().byte(),
            Source::Threaded { bytes, .. } => *bytes,
        }
    }

    /// Ends the read and applies the stop rules: no data rows → `NoRows`; more than 20% bad rows
    /// → `TooManyBadRows`; a read failure → `Io`.
    ///
    /// Rows not yet read are read (and counted) first, so the rules apply to the whole list.
    pub fn finish(mut self) -> Result<ReadSummary, ListError> {
        while self.next_row().is_some() {}
        if let Some(e) = self.io_error {
            return Err(ListError::Io(e));
        }
        let s = self.summary;
        if s.rows == 0 {
            return Err(ListError::NoRows);
        }
        // Exactly 20% still runs.
        if s.bad * 5 > s.rows {
            return Err(ListError::TooManyBadRows {
                bad: s.bad,
                rows: s.rows,
                percent: s.bad as f64 * 100.0 / s.rows as f64,
            });
        }
        Ok(s)
    }

    /// Counts the current (non-blank) record, checked by the front, and hands it out.
    fn parse_row(
        &mut self,
        line: u64,
        checked: Result<(), String>,
    ) -> Result<CustomerRow<'_>, BadRow> {
        self.summary.rows += 1;
        if let Err(reason) = checked {
            self.summary.bad += 1;
            return Err(BadRow { line, reason });
        }
        self.summary.good += 1;
        let Slot {
            rec,
            mvals,
            lossy,
            fields: f,
            ..
        } = self.cur();
        let utf8 = rec.text();
        let rec = rec.bytes();
        let text = |t| text_of(t, rec, utf8, lossy);
        Ok(CustomerRow {
            line,
            customer_id: text(f.customer_id),
            name: text(f.name),
            owner: text(f.owner),
            email: text(f.email),
            last_order_date: f.last_order_date,
            order_pace_days: f.order_pace_days,
            first_order_date: f.first_order_date,
            order_count: f.order_count,
            support_mood: f.support_mood,
            lifetime_value: f.lifetime_value,
            record: rec,
            text: utf8,
            lossy,
            measures: mvals,
        })
    }
}

/// A checked row's values, text as positions in its record.
#[derive(Clone, Copy, Debug)]
struct FieldsAt {
    customer_id: TextAt,
    name: TextAt,
    owner: TextAt,
    email: TextAt,
    last_order_date: Option<Date>,
    order_pace_days: Option<f64>,
    first_order_date: Option<Date>,
    order_count: Option<f64>,
    support_mood: Option<f64>,
    lifetime_value: Option<f64>,
}

impl FieldsAt {
    const EMPTY: FieldsAt = FieldsAt {
        customer_id: TextAt::Empty,
        name: TextAt::Empty,
        owner: TextAt::Empty,
        email: TextAt::Empty,
        last_order_date: None,
        order_pace_days: None,
        first_order_date: None,
        order_count: None,
        support_mood: None,
        lifetime_value: None,
    };
}

/// Checks one record that passed the front's checks; the reason for a bad row. Fills the slot's
/// `fields`, `mvals` and, for text that is not UTF-8, `lossy`, and makes its record text when it
/// is UTF-8.
fn check_row(
    slot: &mut Slot,
    cols: Columns,
    headers: &[String],
    opts: &ReadOptions,
    measured: &[MeasureSlot],
) -> Result<(), String> {
    slot.rec.make_text();
    let Slot {
        rec,
        mvals,
        lossy,
        fields,
        ..
    } = slot;
    let utf8 = rec.text();
    let rec = rec.bytes();
    // The front checked the id is readable and new.
    let customer_id = TextAt::of(str_cell(rec, utf8, cols.id).unwrap_or_default(), rec);
    let cx = CellCtx { rec, headers, opts };
    let last_order_date = cx.date(cols.last_order_date)?;
    let first_order_date = cx.date(cols.first_order_date)?;
    let order_pace_days = cx.number(cols.order_pace_days, Range::NotNegative)?;
    let order_count = cx.number(cols.order_count, Range::NotNegative)?;
    let support_mood = cx.number(cols.support_mood, Range::Mood)?;
    let lifetime_value = cx.number(cols.lifetime_value, Range::Any)?;
    for (i, (m, v)) in measured.iter().zip(mvals.iter_mut()).enumerate() {
        *v = if m.numeric {
            cx.number(Some(m.col), Range::Any)?
                .map_or(MVal::Missing, MVal::Number)
        } else {
            match text_cell(rec, utf8, Some(m.col), lossy, LOSSY_MEASURES + i) {
                TextAt::Empty => MVal::Text(Txt::Empty),
                TextAt::Span(..) => MVal::Text(Txt::Field(m.col)),
                TextAt::Lossy(k) => MVal::Text(Txt::Lossy(k)),
            }
        };
    }
    // Written in place: the slot travels between threads, its fields with it.
    *fields = FieldsAt {
        customer_id,
        name: text_cell(rec, utf8, Some(cols.name), lossy, LOSSY_NAME),
        owner: text_cell(rec, utf8, Some(cols.owner), lossy, LOSSY_OWNER),
        email: text_cell(rec, utf8, cols.email, lossy, LOSSY_EMAIL),
        last_order_date,
        order_pace_days,
        first_order_date,
        order_count,
        support_mood,
        lifetime_value,
    };
    Ok(())
}

/// The byte where csv began reading `record` (past the byte-order mark for the first one).
fn record_start<R>(record: &ByteRecord, tap: &LineTap<R>) -> u64 {
    match record.position().map_or(0, csv::Position::byte) {
        0 if tap.bom => 3,
        b => b,
    }
}

/// What a number cell must also satisfy.
#[derive(Clone, Copy)]
enum Range {
    Any,
    NotNegative,
    /// −1 … +1.
    Mood,
}

/// Reads the cells of one record, with messages naming the column as the list writes it.
struct CellCtx<'r> {
    rec: &'r ByteRecord,
    headers: &'r [String],
    opts: &'r ReadOptions,
}

impl CellCtx<'_> {
    fn unreadable(&self, col: usize, raw: &[u8]) -> String {
        format!(
            "{}: {} is not readable text (save the list as \"CSV UTF-8\")",
            self.headers[col],
            quote_cell(&String::from_utf8_lossy(raw))
        )
    }

    #[inline]
    fn date(&self, col: Option<usize>) -> Result<Option<Date>, String> {
        let Some(col) = col else { return Ok(None) };
        let raw = cell(self.rec, col).trim_ascii();
        if raw.is_empty() {
            return Ok(None);
        }
        if let Some(Ok(d)) = parse_iso_date_fast(raw) {
            return Ok(Some(d));
        }
        let s = std::str::from_utf8(raw).map_err(|_| self.unreadable(col, raw))?;
        parse_date(s, self.opts.date_order, &self.opts.tz)
            .map_err(|e| format!("{}: {e}", self.headers[col]))
    }

    #[inline]
    fn number(&self, col: Option<usize>, range: Range) -> Result<Option<f64>, String> {
        let Some(col) = col else { return Ok(None) };
        let raw = cell(self.rec, col).trim_ascii();
        if raw.is_empty() {
            return Ok(None);
        }
        let v = match parse_common_number(raw) {
            Some(v) => v,
            None => {
                let s = std::str::from_utf8(raw).map_err(|_| self.unreadable(col, raw))?;
                match parse_number(s) {
                    Ok(Some(v)) => v,
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(format!("{}: {e}", self.headers[col])),
                }
            }
        };
        let problem = match range {
            Range::Any => None,
            Range::NotNegative if v < 0.0 => Some("is negative"),
            Range::Mood if !(-1.0..=1.0).contains(&v) => Some("is outside −1 … +1"),
            _ => None,
        };
        match problem {
            None => Ok(Some(v)),
            Some(p) => Err(format!(
                "{}: {} {p}",
                self.headers[col],
                quote_cell(&String::from_utf8_lossy(raw))
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = "customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value,plan,first_order_date,order_count\n";

    /// One row, owned, for assertions.
    #[derive(Debug, Clone, PartialEq)]
    struct Row {
        line: u64,
        id: String,
        name: String,
        owner: String,
        email: String,
        last: Option<Date>,
        pace: Option<f64>,
        first: Option<Date>,
        count: Option<f64>,
        mood: Option<f64>,
        ltv: Option<f64>,
        measures: Vec<String>,
    }

    type Outcome = (Vec<Result<Row, BadRow>>, Result<ReadSummary, ListError>);

    fn read_with(data: impl Read, measured: &[MeasuredColumn]) -> Result<Outcome, ListError> {
        drain(
            CustomerReader::new(data, ReadOptions::default(), measured)?,
            measured,
        )
    }

    /// The same read with the front on its own thread.
    fn read_threaded(data: Vec<u8>, measured: &[MeasuredColumn]) -> Result<Outcome, ListError> {
        let r = CustomerReader::new(std::io::Cursor::new(data), ReadOptions::default(), measured)?;
        drain(r.threaded(), measured)
    }

    fn drain<R: Read>(
        mut r: CustomerReader<R>,
        measured: &[MeasuredColumn],
    ) -> Result<Outcome, ListError> {
        let mut rows = Vec::new();
        while let Some(row) = r.next_row() {
            rows.push(row.map(|row| {
                Row {
                    line: row.line,
                    id: row.customer_id.into(),
                    name: row.name.into(),
                    owner: row.owner.into(),
                    email: row.email.into(),
                    last: row.last_order_date,
                    pace: row.order_pace_days,
                    first: row.first_order_date,
                    count: row.order_count,
                    mood: row.support_mood,
                    ltv: row.lifetime_value,
                    measures: (0..measured.len())
                        .map(|i| format!("{:?}", row.measure(i)))
                        .collect(),
                }
            }));
        }
        Ok((rows, r.finish()))
    }

    fn read(csv: &str) -> Outcome {
        read_with(csv.as_bytes(), &[]).unwrap()
    }

    fn good(o: &Outcome) -> Vec<Row> {
        o.0.iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect()
    }

    fn bad(o: &Outcome) -> Vec<BadRow> {
        o.0.iter()
            .filter_map(|r| r.as_ref().err().cloned())
            .collect()
    }

    fn lines(o: &Outcome) -> Vec<u64> {
        o.0.iter()
            .map(|r| r.as_ref().map_or_else(|b| b.line, |r| r.line))
            .collect()
    }

    fn date(y: i16, m: i8, d: i8) -> Option<Date> {
        Some(Date::new(y, m, d).unwrap())
    }

    fn measured(column: &str, numeric: bool) -> MeasuredColumn {
        MeasuredColumn {
            column: normalize_header(column),
            display: column.into(),
            numeric,
        }
    }

    /// Hands out one byte per `read`, to cross every buffer boundary.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&b, rest)), Some(slot)) => {
                    *slot = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// Fails after `ok` bytes.
    struct Failing<'a> {
        data: &'a [u8],
        ok: usize,
    }
    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.ok).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.ok -= n;
            Ok(n)
        }
    }

    #[test]
    fn reads_every_column() {
        let o = read(&format!(
            "{HEADER}C1,Harbor Bakery,alex@shop.example.com,orders@harbor.example.net,2026-10-03,30,0.25,\"$1,234.50\",active,2023-05-01,42\n"
        ));
        assert_eq!(
            good(&o),
            vec![Row {
                line: 2,
                id: "C1".into(),
                name: "Harbor Bakery".into(),
                owner: "alex@shop.example.com".into(),
                email: "orders@harbor.example.net".into(),
                last: date(2026, 10, 3),
                pace: Some(30.0),
                first: date(2023, 5, 1),
                count: Some(42.0),
                mood: Some(0.25),
                ltv: Some(1234.5),
                measures: vec![],
            }]
        );
        assert_eq!(
            o.1,
            Ok(ReadSummary {
                rows: 1,
                good: 1,
                bad: 0,
                blank: 0
            })
        );
    }

    #[test]
    fn only_required_columns_and_blank_cells() {
        let o = read("customer_id,name,owner\nC1,,\n C2 , Bo , x \n");
        let g = good(&o);
        assert_eq!(
            (g[0].name.as_str(), g[0].owner.as_str(), g[0].email.as_str()),
            ("", "", "")
        );
        assert_eq!(
            (g[1].id.as_str(), g[1].name.as_str(), g[1].owner.as_str()),
            ("C2", "Bo", "x")
        );
        assert_eq!(g[0].last, None);
        assert_eq!(g[0].ltv, None);
    }

    #[test]
    fn each_date_and_money_form_in_a_list() {
        let o = read(
            "customer_id,name,owner,last_order_date,lifetime_value\n\
             C1,a,o,2026-11-23,1234.5\n\
             C2,a,o,2026-11-23T10:00:00Z,\"$1,234.50\"\n\
             C3,a,o,23 Nov 2026,\"1.234,50 €\"\n\
             C4,a,o,23 November 2026,\"SGD 1,234\"\n\
             C5,a,o,23/11/2026,\"12,5\"\n\
             C6,a,o,2026-11-23 08:00:00,(12.50)\n\
             C7,a,o,2026-11-23T10:00:00+08:00,−3\n",
        );
        let g = good(&o);
        assert!(g.iter().all(|r| r.last == date(2026, 11, 23)), "{g:?}");
        let ltv: Vec<_> = g.iter().map(|r| r.ltv.unwrap()).collect();
        assert_eq!(ltv, [1234.5, 1234.5, 1234.5, 1234.0, 12.5, -12.5, -3.0]);
    }

    #[test]
    fn month_first_lists() {
        let opts = ReadOptions {
            date_order: DateOrder::MonthFirst,
            ..ReadOptions::default()
        };
        let data = "customer_id,name,owner,last_order_date\nC1,a,o,11/23/2026\n";
        let mut r = CustomerReader::new(data.as_bytes(), opts, &[]).unwrap();
        assert_eq!(
            r.next_row().unwrap().unwrap().last_order_date,
            date(2026, 11, 23)
        );
    }

    #[test]
    fn bom_is_not_part_of_the_first_header() {
        let data = "\u{feff}customer_id,name,owner\nC1,a,o\n";
        let r = CustomerReader::new(data.as_bytes(), ReadOptions::default(), &[]).unwrap();
        assert_eq!(r.headers(), ["customer_id", "name", "owner"]);
        let o = read(data);
        assert_eq!(good(&o)[0].line, 2);
        // Also when the BOM arrives one byte at a time (csv does not strip it then).
        let o = read_with(Trickle(data.as_bytes()), &[]).unwrap();
        assert_eq!(good(&o)[0].id, "C1");
        assert_eq!(lines(&o), [2]);
    }

    #[test]
    fn crlf_and_lone_cr_line_numbers() {
        let o = read("customer_id,name,owner\r\nC1,a,o\r\n\r\nC2,b,o\r\nC3,c,o\r\n");
        assert_eq!(lines(&o), [2, 4, 5]);
        assert_eq!(good(&o)[0].owner, "o");
        let o = read("customer_id,name,owner\rC1,a,o\r\rC2,b,o\r");
        assert_eq!(lines(&o), [2, 4]);
    }

    #[test]
    fn quoted_commas_quotes_and_newlines() {
        let data = "customer_id,name,owner\n\
                    C1,\"Harbor, \"\"The\"\" Bakery\nUnit 2\r\nBack door\",o\n\
                    C2,b,o\n\
                    C2,dup,o\n";
        for o in [
            read(data),
            read_with(Trickle(data.as_bytes()), &[]).unwrap(),
        ] {
            assert_eq!(
                good(&o)[0].name,
                "Harbor, \"The\" Bakery\nUnit 2\r\nBack door"
            );
            assert_eq!(lines(&o), [2, 5, 6]);
            assert_eq!(
                bad(&o)[0].reason,
                "repeats customer id C2 (first on line 5)"
            );
        }
    }

    #[test]
    fn blank_rows_anywhere() {
        let data = "\n,,\ncustomer_id,name,owner\n\n,,\nC1,a,o\n  , \u{a0},\t\n\nC2,b,o\n,,,,,\n\n";
        let o = read(data);
        assert_eq!(lines(&o), [6, 9]);
        assert_eq!(
            o.1,
            Ok(ReadSummary {
                rows: 2,
                good: 2,
                bad: 0,
                blank: 3
            })
        );
    }

    #[test]
    fn trailing_empty_extra_and_ragged_columns() {
        let o = read(
            "customer_id,name,owner,,,\n\
             C1,a,o,,,\n\
             C2,b,o,,,,,,,\n\
             C3,c\n\
             C4,d,o,x,y,z,extra\n",
        );
        let g = good(&o);
        assert_eq!(g.len(), 4);
        assert_eq!((g[2].id.as_str(), g[2].owner.as_str()), ("C3", ""));
    }

    #[test]
    fn headers_match_ignoring_case_spaces_and_punctuation() {
        let o = read(
            "Customer ID,Name,OWNER,E-mail,Last Order Date,Order Pace (days),support-mood,Lifetime\u{a0}Value\n\
             C1,a,o,e@x.com,2026-01-02,30,0.5,10\n",
        );
        let g = good(&o);
        assert_eq!(g[0].email, "e@x.com");
        assert_eq!(g[0].last, date(2026, 1, 2));
        // `Order Pace (days)` is not `order_pace_days`.
        assert_eq!(g[0].pace, None);
        assert_eq!(g[0].mood, Some(0.5));
        assert_eq!(g[0].ltv, Some(10.0));
    }

    #[test]
    fn missing_required_column() {
        let e = CustomerReader::new(
            "customer_id,name,email\nC1,a,b\n".as_bytes(),
            ReadOptions::default(),
            &[],
        );
        assert_eq!(e.err(), Some(ListError::MissingColumn("owner".into())));
        let e = CustomerReader::new("id,name,owner\n".as_bytes(), ReadOptions::default(), &[]);
        assert_eq!(
            e.err(),
            Some(ListError::MissingColumn("customer_id".into()))
        );
    }

    #[test]
    fn a_misspelled_measured_column_gets_a_did_you_mean() {
        let m = [measured("support_mod", true)];
        let e = CustomerReader::new(
            "customer_id,name,owner,Support Mood\n".as_bytes(),
            ReadOptions::default(),
            &m,
        );
        let e = e.err().expect("no such column");
        assert!(
            e.to_string().ends_with("did you mean `Support Mood`?"),
            "{e}"
        );
    }

    #[test]
    fn missing_measured_column() {
        let m = [measured("Plan Tier", false)];
        let e = CustomerReader::new(
            "customer_id,name,owner,plan\n".as_bytes(),
            ReadOptions::default(),
            &m,
        );
        assert_eq!(
            e.err(),
            Some(ListError::MissingMeasuredColumn(
                "Plan Tier".into(),
                String::new()
            ))
        );
    }

    #[test]
    fn empty_files() {
        for data in ["", "\n\n", "\r\n,,,\n  ,\t\n", "\u{feff}"] {
            let e = CustomerReader::new(data.as_bytes(), ReadOptions::default(), &[]);
            assert_eq!(e.err(), Some(ListError::Empty), "{data:?}");
        }
    }

    #[test]
    fn header_only() {
        assert_eq!(read("customer_id,name,owner").1, Err(ListError::NoRows));
        assert_eq!(
            read("customer_id,name,owner\n,,\n\n").1,
            Err(ListError::NoRows)
        );
    }

    #[test]
    fn utf16_is_refused() {
        let data = b"\xff\xfec\x00u\x00s\x00";
        let e = CustomerReader::new(&data[..], ReadOptions::default(), &[]);
        assert!(matches!(e, Err(ListError::Io(m)) if m.contains("UTF-16")));
    }

    fn list_with_bad(good_rows: usize, bad_rows: usize) -> String {
        let mut s = String::from("customer_id,name,owner,last_order_date\n");
        for i in 0..good_rows {
            s += &format!("G{i},a,o,2026-01-01\n");
        }
        for i in 0..bad_rows {
            s += &format!("B{i},a,o,soon\n");
        }
        s
    }

    #[test]
    fn exactly_twenty_percent_bad_still_runs() {
        let o = read(&list_with_bad(8, 2));
        assert_eq!(
            o.1,
            Ok(ReadSummary {
                rows: 10,
                good: 8,
                bad: 2,
                blank: 0
            })
        );
        let o = read(&list_with_bad(4, 1));
        assert_eq!(
            o.1,
            Ok(ReadSummary {
                rows: 5,
                good: 4,
                bad: 1,
                blank: 0
            })
        );
    }

    #[test]
    fn over_twenty_percent_bad_stops() {
        let o = read(&list_with_bad(7, 2));
        assert_eq!(
            o.1,
            Err(ListError::TooManyBadRows {
                bad: 2,
                rows: 9,
                percent: 200.0 / 9.0
            })
        );
        let msg = o.1.unwrap_err().to_string();
        assert!(msg.contains("2 bad rows out of 9 (22.2%)"), "{msg}");
    }

    #[test]
    fn finish_reads_what_is_left() {
        let data = list_with_bad(1, 3);
        let r = CustomerReader::new(data.as_bytes(), ReadOptions::default(), &[]).unwrap();
        assert!(matches!(
            r.finish(),
            Err(ListError::TooManyBadRows {
                bad: 3,
                rows: 4,
                ..
            })
        ));
    }

    #[test]
    fn no_id_and_duplicate_id() {
        let o = read("Customer ID,name,owner\nC0042,a,o\n,b,o\n  ,c,o\nC0042,d,o\nC0043,e,o\n");
        let b = bad(&o);
        assert_eq!(
            b[0],
            BadRow {
                line: 3,
                reason: "no customer id (the Customer ID cell is blank)".into()
            }
        );
        assert_eq!(b[1].line, 4);
        assert_eq!(
            b[2],
            BadRow {
                line: 5,
                reason: "repeats customer id C0042 (first on line 2)".into()
            }
        );
        assert_eq!(good(&o).len(), 2);
    }

    #[test]
    fn long_ids_are_deduplicated_too() {
        let id = "3f0b6a52-9d7e-4c1a-8a55-0f6f2b1c9e77";
        let o = read(&format!(
            "customer_id,name,owner\n{id},a,o\n{id},b,o\nC1,c,o\nC1\0,d,o\n"
        ));
        assert_eq!(
            bad(&o)[0].reason,
            format!("repeats customer id {id} (first on line 2)")
        );
        assert_eq!(good(&o).len(), 3);
    }

    #[test]
    fn bad_values_name_the_column_and_quote_the_cell() {
        let o = read(
            "customer_id,name,owner,Last Order Date,order_pace_days,Support Mood,lifetime_value,first_order_date,order_count\n\
             C1,a,o,31/02/2026,,,,,\n\
             C2,a,o,,abc,,,,\n\
             C3,a,o,,,1.5,,,\n\
             C4,a,o,,,−1.01,,,\n\
             C5,a,o,,-3,,,,\n\
             C6,a,o,,,,12abc34,,\n\
             C7,a,o,,,,,23/11/26,\n\
             C8,a,o,,,,,,-1\n\
             C9,a,o,,0,-1,0,,0\n\
             C10,a,o,,,1,,,\n",
        );
        let reasons: Vec<String> = bad(&o)
            .into_iter()
            .map(|b| format!("{}: {}", b.line, b.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                r#"2: Last Order Date: "31/02/2026" is not a date (expected 2026-11-23, 23 Nov 2026 or 23/11/2026)"#,
                r#"3: order_pace_days: "abc" is not a number (no digits; expected e.g. 1234.5, $1,234.50 or 1.234,50 €)"#,
                r#"4: Support Mood: "1.5" is outside −1 … +1"#,
                r#"5: Support Mood: "−1.01" is outside −1 … +1"#,
                r#"6: order_pace_days: "-3" is negative"#,
                r#"7: lifetime_value: "12abc34" is not a number (letters inside the number; expected e.g. 1234.5, $1,234.50 or 1.234,50 €)"#,
                r#"8: first_order_date: "23/11/26" has a two-digit year; write the year in full (e.g. 23/11/2026)"#,
                r#"9: order_count: "-1" is negative"#,
            ]
        );
        assert_eq!(good(&o).len(), 2);
    }

    #[test]
    fn measured_columns() {
        let m = [
            measured("Visits", true),
            measured("plan", false),
            measured("support_mood", true),
            measured("Region", false),
        ];
        let data = "customer_id,name,owner,visits,Plan,support_mood,region\n\
                    C1,a,o,\"1,200\", Paused ,-0.5,\n\
                    C2,a,o,,,,\n\
                    C3,a,o,lots,active,,\n";
        let (rows, summary) = read_with(data.as_bytes(), &m).unwrap();
        let first = rows[0].as_ref().unwrap();
        assert_eq!(
            first.measures,
            [
                "Number(1200.0)",
                "Text(\"Paused\")",
                "Number(-0.5)",
                "Missing"
            ]
        );
        let second = rows[1].as_ref().unwrap();
        assert_eq!(second.measures, ["Missing"; 4]);
        assert_eq!(
            rows[2].as_ref().unwrap_err().reason.split(':').next(),
            Some("visits")
        );
        assert_eq!(
            summary.unwrap_err(),
            ListError::TooManyBadRows {
                bad: 1,
                rows: 3,
                percent: 100.0 / 3.0
            }
        );
    }

    #[test]
    fn measure_out_of_range_is_missing() {
        let mut r = CustomerReader::new(
            "customer_id,name,owner\nC1,a,o\n".as_bytes(),
            ReadOptions::default(),
            &[],
        )
        .unwrap();
        assert_eq!(
            r.next_row().unwrap().unwrap().measure(3),
            CellValue::Missing
        );
    }

    #[test]
    fn invalid_utf8() {
        let data = b"customer_id,name,owner,email,plan\nC1,Caf\xe9 Rouge,o,e,p\xe4use\nC\xff,b,o,e,x\nC3,c,o,d,s\n";
        let m = [measured("plan", false)];
        let (rows, _) = read_with(&data[..], &m).unwrap();
        let first = rows[0].as_ref().unwrap();
        assert_eq!(first.name, "Caf\u{fffd} Rouge");
        assert_eq!(first.measures, ["Text(\"p\u{fffd}use\")"]);
        let second = rows[1].as_ref().unwrap_err();
        assert_eq!(second.line, 3);
        assert!(
            second.reason.contains("not readable text"),
            "{}",
            second.reason
        );
        assert_eq!(rows[2].as_ref().unwrap().name, "c");
        let data = b"customer_id,name,owner,last_order_date,lifetime_value\nC1,a,o,2026\xff,\nC2,a,o,,1\xff\n";
        let (rows, _) = read_with(&data[..], &[]).unwrap();
        assert!(rows.iter().all(|r| {
            r.as_ref()
                .is_err_and(|b| b.reason.contains("not readable text"))
        }));
    }

    #[test]
    fn unterminated_quote_at_the_end() {
        let o = read("customer_id,name,owner\nC1,a,o\nC2,\"Harbor,o\nC3,c,o\nC4,d,o\n");
        let b = bad(&o);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].line, 3);
        assert!(b[0].reason.contains("never closed"), "{}", b[0].reason);
        // A real multi-line note is fine.
        let o = read("customer_id,name,owner,notes,plan\nC1,a,o,\"called twice,\nno answer\",x\n");
        assert_eq!(good(&o).len(), 1);
    }

    #[test]
    fn io_errors_are_reported_by_finish() {
        let data = list_with_bad(2000, 0);
        let mut r = CustomerReader::new(
            Failing {
                data: data.as_bytes(),
                ok: 100,
            },
            ReadOptions::default(),
            &[],
        )
        .unwrap();
        while r.next_row().is_some() {}
        assert_eq!(r.finish(), Err(ListError::Io("disk on fire".into())));
        let e = CustomerReader::new(Failing { data: b"", ok: 0 }, ReadOptions::default(), &[]);
        assert_eq!(e.err(), Some(ListError::Io("disk on fire".into())));
    }

    #[test]
    fn bytes_read_reaches_the_end() {
        let data = list_with_bad(3, 0);
        let mut r = CustomerReader::new(data.as_bytes(), ReadOptions::default(), &[]).unwrap();
        while r.next_row().is_some() {}
        assert_eq!(r.bytes_read(), data.len() as u64);
    }

    proptest! {
        /// Against a plain map: every repeat found with its first line, whatever the order
        /// (a sorted run, then anything), short ids and long ones.
        #[test]
        fn seen_ids_find_every_repeat_with_its_first_line(
            mut ids in proptest::collection::vec(
                prop_oneof!["C[0-9]{1,3}", "[A-C\u{0}]{0,3}", "[XY]{14,17}"],
                0..300,
            ),
            sorted in 0usize..300,
            expected in 0usize..400,
        ) {
            let sorted = sorted.min(ids.len());
            ids[..sorted].sort();
            let mut seen = SeenIds::default();
            seen.reserve(expected);
            let mut reference: FxHashMap<String, u64> = FxHashMap::default();
            for (i, id) in ids.iter().enumerate() {
                let line = i as u64 + 2;
                let want = match reference.get(id) {
                    Some(&first) => Err(first),
                    None => {
                        reference.insert(id.clone(), line);
                        Ok(())
                    }
                };
                prop_assert_eq!(seen.insert(id.as_bytes(), line), want, "{:?} on line {}", id, line);
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut input = b"customer_id,name,owner,last_order_date,support_mood,lifetime_value,order_count\n".to_vec();
            input.extend_from_slice(&data);
            let m = [measured("lifetime_value", true), measured("name", false)];
            if let Ok(mut r) = CustomerReader::new(&input[..], ReadOptions::default(), &m) {
                while let Some(row) = r.next_row() {
                    if let Ok(row) = row {
                        let _ = (row.measure(0), row.measure(1));
                    }
                }
                let _ = r.bytes_read();
                let _ = r.finish();
            }
            if let Ok(mut r) = CustomerReader::new(&data[..], ReadOptions::default(), &[]) {
                while r.next_row().is_some() {}
                let _ = r.finish();
            }
        }

        #[test]
        fn csv_like_input_has_the_same_lines_in_any_chunking(
            cells in proptest::collection::vec("[a-c0-9 \",\r\n]{0,6}", 0..40)
        ) {
            let mut input = String::from("customer_id,name,owner\n");
            for (i, c) in cells.iter().enumerate() {
                input.push_str(c);
                input.push(if i % 3 == 2 { '\n' } else { ',' });
            }
            let whole = read_with(input.as_bytes(), &[]).map(|o| o.0);
            let trickled = read_with(Trickle(input.as_bytes()), &[]).map(|o| o.0);
            prop_assert_eq!(&whole, &trickled);
            let threaded = read_threaded(input.into_bytes(), &[]).map(|o| o.0);
            prop_assert_eq!(whole, threaded);
        }

        #[test]
        fn threaded_reader_gives_exactly_the_same_rows(
            rows in proptest::collection::vec(("C[0-9]{1,3}", "[A-Za-z ,\"]{0,8}", "(a@x\\.example)?", "(2026-0[1-9]-1[0-9]|3[0-9]/1[0-9]/2026|x)?", "(-?[0-9]{1,4}(\\.[0-9]{1,2})?|n/a)?"), 0..300)
        ) {
            let mut input = String::from("customer_id,name,owner,last_order_date,lifetime_value\r\n");
            for (id, name, owner, date, ltv) in &rows {
                let name = format!("\"{}\"", name.replace('"', "\"\""));
                input.push_str(&format!("{id},{name},{owner},{date},{ltv}\r\n"));
            }
            let m = [measured("lifetime_value", true)];
            let inline = read_with(input.as_bytes(), &m);
            let threaded = read_threaded(input.into_bytes(), &m);
            match (inline, threaded) {
                (Ok((a, sa)), Ok((b, sb))) => {
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(format!("{sa:?}"), format!("{sb:?}"));
                }
                (a, b) => prop_assert_eq!(a.is_err(), b.is_err()),
            }
        }
    }
}
