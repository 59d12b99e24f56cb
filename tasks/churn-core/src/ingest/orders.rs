//! Order histories (docs/SPEC.md §8, order-import): reading Shopify, Stripe and WooCommerce exports, a
//! plain `customer_id,order_date[,amount]` file, or any other export through a configured column
//! mapping ([`OrderColumns`]), and deriving the list's order columns from them.
//!
//! The exports are recognised by their headers. Rows for cancelled, voided, failed or fully
//! refunded orders are ignored (and counted); an export that repeats an order on each line item
//! (Shopify) collapses to one order per order id.

use std::io::Read;

use csv::ByteRecord;
use jiff::civil::Date;
use rustc_hash::FxHashMap;

use crate::list::customers::{BadRow, ReadOptions};
use crate::list::values::{normalize_header, parse_date, parse_iso_date_fast, parse_number};
use crate::run::week::day_number;

/// Who an order belongs to: the list's `customer_id`, or an email matched to the list's `email`
/// column ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CustomerKey {
    /// A customer id as written (trimmed).
    Id(String),
    /// An email address, trimmed and lower-cased.
    Email(String),
}

impl CustomerKey {
    /// The key as text (the id, or the email).
    pub fn as_str(&self) -> &str {
        match self {
            CustomerKey::Id(s) | CustomerKey::Email(s) => s,
        }
    }
}

/// One order (a collapsed one, for exports with a row per line item).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The export's order id (Shopify's `Name`, Stripe's `id`, WooCommerce's `Order ID`); `None`
    /// in a plain file without an `order_id` column (then every row is its own order).
    pub order_id: Option<String>,
    pub customer_key: CustomerKey,
    pub date: Date,
    pub amount: Option<f64>,
}

/// Which kind of file an order file is, recognised from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderFormat {
    /// `customer_id,order_date[,amount]` (also `email` for the customer, `order_id`, `status`).
    Plain,
    /// Shopify's orders export (Admin → Orders → Export): one row per line item.
    Shopify,
    /// Stripe's payments export (Dashboard → Payments → Export).
    Stripe,
    /// WooCommerce's orders export.
    WooCommerce,
    /// Any other export, read through the configured [`OrderColumns`].
    Mapped,
}

impl OrderFormat {
    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            OrderFormat::Plain => "plain order list",
            OrderFormat::Shopify => "Shopify orders export",
            OrderFormat::Stripe => "Stripe payments export",
            OrderFormat::WooCommerce => "WooCommerce orders export",
            OrderFormat::Mapped => "order export (configured column mapping)",
        }
    }
}

/// The formats an order file may have, as the error for an unknown file lists them.
pub const RECOGNISED_FORMATS: &str = "a plain list (customer_id,order_date[,amount]; `email` may replace customer_id), \
a Shopify orders export (Name, Email, Financial Status, Created at, Cancelled at, Total, …), \
a Stripe payments export (id, Created date (UTC), Amount, Amount Refunded, Status, Customer ID, Customer Email, …) \
or a WooCommerce orders export (Order ID or Order Number, Order Date, Order Status, Billing Email, Order Total, …)";

/// Why an order file could not be read at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OrderError {
    #[error("the order file is empty")]
    Empty,
    #[error(
        "the order file's columns are not one of the recognised formats; expected {RECOGNISED_FORMATS}. Found: {found}"
    )]
    UnknownFormat { found: String },
    #[error(
        "the order file is not one of the recognised formats, and the configured column mapping does not fit it: no column {missing}. Found: {found}"
    )]
    MappingMismatch { missing: String, found: String },
    #[error("the order file could not be read: {0}")]
    Io(String),
}

/// A configured column mapping for an export the project does not recognise (docs/SPEC.md §8: "any
/// other by a configured mapping"): the header of the column that holds each field. Headers match
/// ignoring case, spaces, `_` and `-`. Locally it is `[order_columns]` in `config.toml`; on AWS
/// the `order_columns` parameter in its one-line form ([`OrderColumns::parse`]).
///
/// When a file has every mapped column, the mapping is used even if the file also looks like a
/// recognised export (the owner configured it for a reason); otherwise recognition applies.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderColumns {
    /// The order date (dates and date-times as exports write them).
    pub order_date: String,
    /// The list's `customer_id` (preferred when a row has both).
    pub customer_id: Option<String>,
    /// The customer's email, matched to the list ignoring case.
    pub email: Option<String>,
    /// The order id: line-item rows of one order collapse, and re-imports merge by it.
    pub order_id: Option<String>,
    pub amount: Option<String>,
    /// A status column: rows whose status is cancelled, voided, failed or refunded (or one of
    /// `ignore_statuses`) are ignored.
    pub status: Option<String>,
    /// A column that is non-empty on a cancelled order.
    pub cancelled_at: Option<String>,
    /// The amount refunded: an order refunded in full is ignored.
    pub amount_refunded: Option<String>,
    /// Further status values that mean the order does not count (`storniert`, `abandoned`, …).
    #[serde(default)]
    pub ignore_statuses: Vec<String>,
    /// The field separator when it is not a comma: `semicolon` (European tills and spreadsheets),
    /// `tab`, `pipe`, or one character. A file that does not fit the mapping with it is read as
    /// comma-separated (a recognised export).
    pub delimiter: Option<String>,
}

/// The keys of the one-line form, in the order the docs list them.
const MAPPING_KEYS: [&str; 10] = [
    "order_date",
    "customer_id",
    "email",
    "order_id",
    "amount",
    "status",
    "cancelled_at",
    "amount_refunded",
    "ignore_statuses",
    "delimiter",
];

impl OrderColumns {
    /// Reads the one-line form the `order_columns` parameter holds:
    /// `order_date=Sale Date; email=E-Mail; order_id=Receipt; ignore_statuses=storniert|void`
    /// (`;` or line breaks between pairs, `|` between ignored statuses).
    pub fn parse(text: &str) -> Result<OrderColumns, String> {
        let mut out = OrderColumns::default();
        let mut seen = Vec::new();
        for pair in text
            .split([';', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("`{pair}` is not key=Column Header"));
            };
            let (key, value) = (key.trim(), value.trim().to_string());
            if seen.contains(&key) {
                return Err(format!("`{key}` is given twice"));
            }
            seen.push(key);
            let slot = match key {
                "order_date" => {
                    out.order_date = value;
                    continue;
                }
                "ignore_statuses" => {
                    out.ignore_statuses = value
                        .split('|')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    continue;
                }
                "delimiter" => {
                    out.delimiter = Some(value);
                    continue;
                }
                "customer_id" => &mut out.customer_id,
                "email" => &mut out.email,
                "order_id" => &mut out.order_id,
                "amount" => &mut out.amount,
                "status" => &mut out.status,
                "cancelled_at" => &mut out.cancelled_at,
                "amount_refunded" => &mut out.amount_refunded,
                other => {
                    return Err(format!(
                        "unknown key `{other}` (expected one of {})",
                        MAPPING_KEYS.join(", ")
                    ));
                }
            };
            *slot = Some(value);
        }
        out.check()?;
        Ok(out)
    }

    /// The mapping's own mistakes: no date column, no customer column, an empty header.
    pub fn check(&self) -> Result<(), String> {
        if self.order_date.trim().is_empty() {
            return Err("order_date (the order date's column) is required".into());
        }
        if self.customer_id.is_none() && self.email.is_none() {
            return Err("customer_id or email (who ordered) is required".into());
        }
        let optional = [
            ("customer_id", &self.customer_id),
            ("email", &self.email),
            ("order_id", &self.order_id),
            ("amount", &self.amount),
            ("status", &self.status),
            ("cancelled_at", &self.cancelled_at),
            ("amount_refunded", &self.amount_refunded),
        ];
        if let Some((key, _)) = optional
            .iter()
            .find(|(_, v)| v.as_deref().is_some_and(|h| h.trim().is_empty()))
        {
            return Err(format!("`{key}` names no column"));
        }
        self.delimiter_byte()?;
        Ok(())
    }

    /// The field separator as a byte (a comma when none is set).
    pub fn delimiter_byte(&self) -> Result<u8, String> {
        let Some(d) = self.delimiter.as_deref() else {
            return Ok(b',');
        };
        match d.trim().to_ascii_lowercase().as_str() {
            "semicolon" => Ok(b';'),
            "tab" => Ok(b'\t'),
            "pipe" => Ok(b'|'),
            "comma" => Ok(b','),
            _ => match d.as_bytes() {
                [b] if b.is_ascii() && !b.is_ascii_alphanumeric() && *b != b'"' && *b != b'\n' => {
                    Ok(*b)
                }
                _ => Err(format!(
                    "delimiter `{d}` must be semicolon, tab, pipe, comma or one punctuation character"
                )),
            },
        }
    }

    /// Where each mapped column sits in a header, or the headers it lacks (quoted, joined).
    fn resolve(&self, norm: &[String]) -> Result<Cols, String> {
        let mut missing = Vec::new();
        let mut find = |h: Option<&str>| {
            let h = h?;
            let i = norm.iter().position(|n| *n == normalize_header(h));
            if i.is_none() {
                missing.push(format!("`{}`", h.trim()));
            }
            i
        };
        let date = find(Some(&self.order_date));
        let cols = Cols {
            order_id: find(self.order_id.as_deref()),
            id: find(self.customer_id.as_deref()),
            email: find(self.email.as_deref()),
            date: date.unwrap_or(0),
            amount: find(self.amount.as_deref()),
            status: find(self.status.as_deref()),
            cancelled_at: find(self.cancelled_at.as_deref()),
            refunded: find(self.amount_refunded.as_deref()),
            ignore_statuses: self
                .ignore_statuses
                .iter()
                .map(|s| s.trim().to_lowercase())
                .collect(),
        };
        if missing.is_empty() {
            Ok(cols)
        } else {
            Err(missing.join(", "))
        }
    }
}

/// What reading an order file gave.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFile {
    pub format: OrderFormat,
    /// Orders in file order (first appearance of each order id).
    pub orders: Vec<Order>,
    /// Rows skipped: the line where the record starts and why.
    pub bad_rows: Vec<BadRow>,
    /// Orders ignored as cancelled, voided, failed or refunded in full (counted once per order).
    pub ignored_orders: u64,
    /// Extra rows of an order already seen (line items), merged into it.
    pub merged_rows: u64,
    /// Order ids the file marks cancelled, voided, failed or refunded in full, with the customer
    /// when the row names one: a history that holds them drops them (order-import).
    pub ignored: Vec<IgnoredOrder>,
}

/// An order id the file says no longer counts.
#[derive(Debug, Clone, PartialEq)]
pub struct IgnoredOrder {
    pub order_id: String,
    pub customer_key: Option<CustomerKey>,
}

/// Where each field sits in a format.
#[derive(Debug, Clone, Default)]
struct Cols {
    order_id: Option<usize>,
    id: Option<usize>,
    email: Option<usize>,
    date: usize,
    amount: Option<usize>,
    status: Option<usize>,
    cancelled_at: Option<usize>,
    refunded: Option<usize>,
    /// A mapping's own status values that mean "does not count", lower-cased.
    ignore_statuses: Vec<String>,
}

fn detect(norm: &[String]) -> Option<(OrderFormat, Cols)> {
    let find = |names: &[&str]| names.iter().find_map(|n| norm.iter().position(|h| h == n));
    let find_prefix = |p: &str| norm.iter().position(|h| h.starts_with(p));
    // Shopify: the order number is `Name`, repeated on every line-item row.
    if let (Some(name), Some(date), Some(_)) = (
        find(&["name"]),
        find(&["createdat"]),
        find(&["financialstatus"]),
    ) {
        return Some((
            OrderFormat::Shopify,
            Cols {
                order_id: Some(name),
                id: None,
                email: find(&["email"]),
                date,
                amount: find(&["total"]),
                status: find(&["financialstatus"]),
                cancelled_at: find(&["cancelledat"]),
                refunded: None,
                ignore_statuses: Vec::new(),
            },
        ));
    }
    // Stripe: `Created date (UTC)` (older exports: `Created (UTC)`), `id`, `Amount`.
    if let (Some(id), Some(date), Some(amount)) = (
        find(&["id"]),
        find_prefix("createddate").or_else(|| find(&["created(utc)"])),
        find(&["amount"]),
    ) {
        return Some((
            OrderFormat::Stripe,
            Cols {
                order_id: Some(id),
                id: find(&["customerid"]),
                email: find(&["customeremail"]),
                date,
                amount: Some(amount),
                status: find(&["status"]),
                cancelled_at: None,
                refunded: find(&["amountrefunded"]),
                ignore_statuses: Vec::new(),
            },
        ));
    }
    if let (Some(order), Some(date)) = (find(&["orderid", "ordernumber"]), find(&["orderdate"])) {
        let id = find(&["customerid", "customeruserid", "customeruser"]);
        let email = find(&["billingemail", "customeremail", "email"]);
        if id.is_some() || email.is_some() {
            // A plain file may carry an order_id too; WooCommerce's has a status or billing email.
            let woo = find(&[
                "orderstatus",
                "billingemail",
                "ordertotalamount",
                "ordertotal",
            ]);
            if woo.is_some() {
                return Some((
                    OrderFormat::WooCommerce,
                    Cols {
                        order_id: Some(order),
                        id,
                        email,
                        date,
                        amount: find(&["ordertotalamount", "ordertotal", "total"]),
                        status: find(&["orderstatus", "status"]),
                        cancelled_at: None,
                        refunded: None,
                        ignore_statuses: Vec::new(),
                    },
                ));
            }
        }
    }
    let date = find(&["orderdate", "date"])?;
    let id = find(&["customerid", "customer"]);
    let email = find(&["email", "customeremail"]);
    if id.is_none() && email.is_none() {
        return None;
    }
    Some((
        OrderFormat::Plain,
        Cols {
            order_id: find(&["orderid"]),
            id,
            email,
            date,
            amount: find(&["amount", "total"]),
            status: find(&["status"]),
            cancelled_at: None,
            refunded: None,
            ignore_statuses: Vec::new(),
        },
    ))
}

/// Whether a status cell marks an order that never counted: cancelled, voided, failed or refunded
/// in full (`partially_refunded` still counts). WooCommerce's `wc-` prefix is ignored.
fn status_ignored(status: &str) -> bool {
    let s = status.trim().to_ascii_lowercase();
    let s = s.strip_prefix("wc-").unwrap_or(&s);
    matches!(
        s,
        "cancelled" | "canceled" | "voided" | "void" | "failed" | "refunded" | "trash"
    )
}

/// Reads an order date: the list's date forms, plus the date-times exports write
/// (`2026-03-15 10:22:05 +0800`, `2026-03-15 02:22`, …), which count as their date in `opts.tz`
/// when an offset is given, else as their own date.
pub fn parse_order_date(cell: &str, opts: &ReadOptions) -> Result<Option<Date>, String> {
    let t = cell.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if let Some(r) = parse_iso_date_fast(t.as_bytes()) {
        return r
            .map(Some)
            .map_err(|()| format!("`{t}` is not a real date"));
    }
    if let Some(d) = export_datetime_fast(t.as_bytes(), &opts.tz) {
        return Ok(Some(d));
    }
    match parse_date(t, opts.date_order, &opts.tz) {
        Ok(d) => Ok(d),
        Err(e) => {
            // `YYYY-MM-DD HH:MM[:SS] [+zzzz|UTC]` → ISO with a `T` and a `+zz:zz` offset.
            let b = t.as_bytes();
            if b.len() > 11 && b[10] == b' ' && parse_iso_date_fast(&b[..10]).is_some() {
                let mut parts = t[11..].split_whitespace();
                let time = parts.next().unwrap_or("");
                let zone = parts.next().unwrap_or("");
                let iso = match zone {
                    "" | "UTC" | "GMT" => format!("{}T{}", &t[..10], time),
                    z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
                        format!("{}T{}{}:{}", &t[..10], time, &z[..3], &z[3..])
                    }
                    _ => format!("{}T{}", &t[..10], time),
                };
                let iso = if zone == "UTC" || zone == "GMT" {
                    format!("{iso}Z")
                } else {
                    iso
                };
                if let Ok(d) = parse_date(&iso, opts.date_order, &opts.tz) {
                    return Ok(d);
                }
                // An unusual time part: the date in front is still the order's date.
                if let Some(Ok(d)) = parse_iso_date_fast(&b[..10]) {
                    return Ok(Some(d));
                }
            }
            Err(e.0)
        }
    }
}

/// `YYYY-MM-DD HH:MM[:SS][ +zzzz| UTC]` without allocating, when the zone is UTC (or no offset is
/// given): the common export shape, read once per order in a 100,000-order file.
fn export_datetime_fast(b: &[u8], tz: &jiff::tz::TimeZone) -> Option<Date> {
    if b.len() < 16 || b[10] != b' ' || b[13] != b':' {
        return None;
    }
    let date = parse_iso_date_fast(&b[..10])?.ok()?;
    let num = |r: &[u8]| -> Option<i32> {
        r.iter().try_fold(0i32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i32::from(c - b'0'))
        })
    };
    let (h, m) = (num(&b[11..13])?, num(&b[14..16])?);
    let mut rest = &b[16..];
    if rest.len() >= 3 && rest[0] == b':' {
        num(&rest[1..3])?;
        rest = &rest[3..];
    }
    let offset_min = match rest {
        b"" => return (h < 24 && m < 60).then_some(date),
        b" UTC" | b" GMT" | b"Z" => 0,
        [b' ', sign @ (b'+' | b'-'), hh @ ..] if hh.len() == 4 => {
            let o = num(&hh[..2])? * 60 + num(&hh[2..])?;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    if h >= 24 || m >= 60 || *tz != jiff::tz::TimeZone::UTC {
        return None;
    }
    let shift = (h * 60 + m - offset_min).div_euclid(24 * 60);
    match shift {
        0 => Some(date),
        1 => date.tomorrow().ok(),
        -1 => date.yesterday().ok(),
        _ => None,
    }
}

fn cell(rec: &ByteRecord, i: Option<usize>) -> &str {
    i.and_then(|i| rec.get(i))
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(str::trim)
        .unwrap_or("")
}

/// Records where line breaks are, so a record's line is exact even after blank lines (the `csv`
/// crate's own line count skips them).
struct LineTap<R> {
    inner: R,
    offset: u64,
    breaks: std::collections::VecDeque<u64>,
    /// The `csv` crate drops a leading BOM from its byte positions.
    bom: bool,
}

impl<R: Read> Read for LineTap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.offset == 0 && buf[..n].starts_with(b"\xef\xbb\xbf") {
            self.bom = true;
        }
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            self.breaks.push_back(self.offset + i as u64);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Counts lines up to each record's start.
struct Lines {
    line: u64,
}

impl Lines {
    /// The 1-based line of a record starting at byte `start`.
    fn at(&mut self, breaks: &mut std::collections::VecDeque<u64>, start: u64) -> u64 {
        while breaks.front().is_some_and(|&b| b < start) {
            breaks.pop_front();
            self.line += 1;
        }
        self.line
    }
}

/// A kept order or a tombstone for one that turned out to be ignored.
enum Slot {
    Kept(usize),
    Ignored,
}

/// Who a row belongs to. Exports key customers by email (their customer id is the shop's or the
/// payment processor's, not the list's); a plain file keys them by id.
fn row_key(format: OrderFormat, id: &str, email: &str) -> Option<CustomerKey> {
    match format {
        OrderFormat::Plain | OrderFormat::Mapped if !id.is_empty() => {
            Some(CustomerKey::Id(id.to_string()))
        }
        _ if !email.is_empty() => Some(CustomerKey::Email(email.to_lowercase())),
        _ if !id.is_empty() => Some(CustomerKey::Id(id.to_string())),
        _ => None,
    }
}

/// Reads an order file: detects its format from the header, then reads every row.
///
/// A row is bad (skipped, reported with its line) when it has no customer id or email, no date,
/// or an unreadable date or amount. Blank rows are skipped silently.
pub fn read_orders<R: Read>(reader: R, opts: &ReadOptions) -> Result<OrderFile, OrderError> {
    read_orders_mapped(reader, opts, None)
}

/// [`read_orders`], with a configured column mapping for exports it does not recognise (used
/// whenever the file has every mapped column).
pub fn read_orders_mapped<R: Read>(
    mut reader: R,
    opts: &ReadOptions,
    mapping: Option<&OrderColumns>,
) -> Result<OrderFile, OrderError> {
    let delimiter = match mapping.map(OrderColumns::delimiter_byte) {
        Some(Ok(d)) => d,
        Some(Err(e)) => return Err(OrderError::Io(format!("order_columns: {e}"))),
        None => b',',
    };
    if delimiter == b',' {
        return read_delimited(reader, opts, mapping, b',');
    }
    // The mapping's separator first; a file it does not fit is tried as a comma-separated export.
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| OrderError::Io(e.to_string()))?;
    match read_delimited(&bytes[..], opts, mapping, delimiter) {
        Err(OrderError::MappingMismatch { .. }) => read_delimited(&bytes[..], opts, mapping, b','),
        other => other,
    }
}

fn read_delimited<R: Read>(
    reader: R,
    opts: &ReadOptions,
    mapping: Option<&OrderColumns>,
    delimiter: u8,
) -> Result<OrderFile, OrderError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(LineTap {
            inner: reader,
            offset: 0,
            breaks: Default::default(),
            bom: false,
        });
    let mut lines = Lines { line: 1 };
    let mut rec = ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Err(e) => return Err(OrderError::Io(e.to_string())),
            Ok(false) => return Err(OrderError::Empty),
            Ok(true) if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) => {}
            Ok(true) => break,
        }
    }
    let headers: Vec<String> = rec
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect();
    let norm: Vec<String> = headers.iter().map(|h| normalize_header(h)).collect();
    let (format, cols) = match mapping.map(|m| m.resolve(&norm)) {
        Some(Ok(cols)) => (OrderFormat::Mapped, cols),
        Some(Err(missing)) => detect(&norm).ok_or_else(|| OrderError::MappingMismatch {
            missing,
            found: headers.join(", "),
        })?,
        None => detect(&norm).ok_or_else(|| OrderError::UnknownFormat {
            found: headers.join(", "),
        })?,
    };

    let mut out = OrderFile {
        format,
        orders: Vec::new(),
        bad_rows: Vec::new(),
        ignored_orders: 0,
        merged_rows: 0,
        ignored: Vec::new(),
    };
    let mut by_id: FxHashMap<String, Slot> = FxHashMap::default();
    // `None` marks an order a later row of the same order cancelled.
    let mut orders: Vec<Option<Order>> = Vec::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Err(e) => return Err(OrderError::Io(e.to_string())),
            Ok(false) => break,
            Ok(true) => {}
        }
        if rec.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let tap = rdr.get_mut();
        let start = rec.position().map_or(0, |p| p.byte()) + if tap.bom { 3 } else { 0 };
        let line = lines.at(&mut tap.breaks, start);
        let bad = |reason: String| BadRow { line, reason };
        let order_id = cell(&rec, cols.order_id);
        let status = cell(&rec, cols.status);
        let refund = cell(&rec, cols.refunded);
        let amount_cell = cell(&rec, cols.amount);
        let amount = match parse_number(amount_cell) {
            Ok(a) => a,
            Err(e) => {
                out.bad_rows.push(bad(format!("amount: {e}")));
                continue;
            }
        };
        let refunded_in_full = match (parse_number(refund), amount) {
            (Ok(Some(r)), Some(a)) => a > 0.0 && r >= a,
            _ => false,
        };
        let ignored = (!status.is_empty()
            && (status_ignored(status)
                || (!cols.ignore_statuses.is_empty()
                    && cols.ignore_statuses.contains(&status.to_lowercase()))))
            || !cell(&rec, cols.cancelled_at).is_empty()
            || refunded_in_full;
        if ignored {
            match (order_id.is_empty(), by_id.get_mut(order_id)) {
                (true, _) => out.ignored_orders += 1,
                (false, Some(slot)) => {
                    if let Slot::Kept(i) = *slot {
                        // A later row cancels an order kept from an earlier row.
                        let key = orders[i].take().map(|o| o.customer_key);
                        out.ignored_orders += 1;
                        *slot = Slot::Ignored;
                        out.ignored.push(IgnoredOrder {
                            order_id: order_id.to_string(),
                            customer_key: key,
                        });
                    }
                    out.merged_rows += 1;
                }
                (false, None) => {
                    out.ignored_orders += 1;
                    by_id.insert(order_id.to_string(), Slot::Ignored);
                    out.ignored.push(IgnoredOrder {
                        order_id: order_id.to_string(),
                        customer_key: row_key(format, cell(&rec, cols.id), cell(&rec, cols.email)),
                    });
                }
            }
            continue;
        }
        if !order_id.is_empty()
            && let Some(slot) = by_id.get(order_id)
        {
            // A further line item of an order already read: fill what the first row lacked.
            if let Slot::Kept(i) = *slot
                && let Some(o) = orders[i].as_mut()
                && o.amount.is_none()
            {
                o.amount = amount;
            }
            out.merged_rows += 1;
            continue;
        }
        let Some(key) = row_key(format, cell(&rec, cols.id), cell(&rec, cols.email)) else {
            out.bad_rows
                .push(bad("no customer id or email on this row".into()));
            continue;
        };
        let date = match parse_order_date(cell(&rec, Some(cols.date)), opts) {
            Ok(Some(d)) => d,
            Ok(None) => {
                out.bad_rows.push(bad("no order date".into()));
                continue;
            }
            Err(e) => {
                out.bad_rows.push(bad(format!("order date: {e}")));
                continue;
            }
        };
        if !order_id.is_empty() {
            by_id.insert(order_id.to_string(), Slot::Kept(orders.len()));
        }
        orders.push(Some(Order {
            order_id: (!order_id.is_empty()).then(|| order_id.to_string()),
            customer_key: key,
            date,
            amount,
        }));
    }
    out.orders = orders.into_iter().flatten().collect();
    Ok(out)
}

/// The list columns order-import sets from a customer's history (docs/SPEC.md §8).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Derived {
    pub last_order_date: Option<Date>,
    pub first_order_date: Option<Date>,
    /// Distinct orders: by order id when there is one, else each order counts.
    pub order_count: u64,
    /// Median gap between distinct order days in the 365 days ending at the latest order; `None`
    /// with fewer than 2 distinct days in that window.
    pub order_pace_days: Option<f64>,
}

/// The days a pace window covers: an order day `d` is inside when `last - d < PACE_WINDOW_DAYS`,
/// i.e. the 365 calendar days ending at (and including) the latest order day.
pub const PACE_WINDOW_DAYS: i32 = 365;

/// The pace of a sorted list of distinct order days (day numbers), as of its last element:
/// the median gap between consecutive days inside the 365-day window ending there. `buf` is
/// scratch space, reused to avoid allocation in the backtest's loop.
pub fn pace_of_days(days: &[i32], buf: &mut Vec<i32>) -> Option<f64> {
    let &last = days.last()?;
    let start = days.partition_point(|&d| last - d >= PACE_WINDOW_DAYS);
    let window = &days[start..];
    if window.len() < 2 {
        return None;
    }
    buf.clear();
    buf.extend(window.windows(2).map(|w| w[1] - w[0]));
    let n = buf.len();
    let mid = n / 2;
    let (_, &mut hi, _) = buf.select_nth_unstable(mid);
    if n % 2 == 1 {
        Some(f64::from(hi))
    } else {
        let lo = *buf[..mid].iter().max()?;
        Some((f64::from(lo) + f64::from(hi)) / 2.0)
    }
}

/// Derives a customer's order columns from their history (any order, duplicates allowed).
pub fn derive(history: &[Order]) -> Derived {
    let mut days: Vec<i32> = history.iter().map(|o| day_number(o.date) as i32).collect();
    days.sort_unstable();
    days.dedup();
    let mut ids: Vec<&str> = history
        .iter()
        .filter_map(|o| o.order_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let without_id = history.iter().filter(|o| o.order_id.is_none()).count();
    Derived {
        last_order_date: history.iter().map(|o| o.date).max(),
        first_order_date: history.iter().map(|o| o.date).min(),
        order_count: (ids.len() + without_id) as u64,
        order_pace_days: pace_of_days(&days, &mut Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn read(s: &str) -> OrderFile {
        read_orders(s.as_bytes(), &ReadOptions::default()).unwrap()
    }

    fn order(id: Option<&str>, d: Date) -> Order {
        Order {
            order_id: id.map(str::to_string),
            customer_key: CustomerKey::Id("C1".into()),
            date: d,
            amount: None,
        }
    }

    #[test]
    fn plain_file_with_and_without_amount() {
        let f = read(
            "\u{feff}customer_id,order_date,amount\r\nC1,2026-01-05,12.50\r\nC1,05/02/2026,\"$1,200.00\"\r\n\r\nC2,2026-01-09\r\n,2026-01-09,3\r\nC3,not a date,1\r\n",
        );
        assert_eq!(f.format, OrderFormat::Plain);
        assert_eq!(f.orders.len(), 3);
        assert_eq!(f.orders[1].date, date(2026, 2, 5));
        assert_eq!(f.orders[1].amount, Some(1200.0));
        assert_eq!(f.orders[2].amount, None);
        assert_eq!(f.bad_rows.len(), 2);
        assert_eq!(f.bad_rows[0].line, 6);
        assert!(f.bad_rows[1].reason.starts_with("order date"));
    }

    #[test]
    fn shopify_line_items_collapse_and_cancelled_orders_are_ignored() {
        let csv = "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Cancelled at,Refunded Amount,Id,Tags,Some New Column\n\
#1001,Orders@Harbor.example,paid,2026-03-02 10:01:00 +0800,fulfilled,,no,SGD,90.00,5.00,0,95.00,,0,Standard,2026-03-02 10:00:00 +0800,1,Flour 25kg,60.00,,0,5501,,x\n\
#1001,Orders@Harbor.example,,,,,,,,,,,,,,2026-03-02 10:00:00 +0800,1,Yeast,30.00,,,,,x\n\
#1002,orders@harbor.example,refunded,2026-03-09 09:00:00 +0800,,,no,SGD,40.00,0,0,40.00,,0,Standard,2026-03-09 09:00:00 +0800,1,Sugar,40.00,,40.00,5502,,\n\
#1003,kettle@cafe.example,paid,,,,no,SGD,20.00,0,0,20.00,,0,,2026-03-10 23:30:00 -0500,1,Tea,20.00,2026-03-11 08:00:00 -0500,0,5503,,\n\
#1004,kettle@cafe.example,partially_refunded,,,,no,SGD,50.00,0,0,50.00,,0,,2026-03-10 23:30:00 -0500,2,Tea,25.00,,10.00,5504,,\n\
#1004,kettle@cafe.example,,,,,,,,,,,,,,2026-03-10 23:30:00 -0500,1,Cups,0,,,,,\n";
        let f = read(csv);
        assert_eq!(f.format, OrderFormat::Shopify);
        assert_eq!(f.orders.len(), 2, "{f:?}");
        assert_eq!(f.ignored_orders, 2);
        assert_eq!(f.merged_rows, 2);
        let o = &f.orders[0];
        assert_eq!(o.order_id.as_deref(), Some("#1001"));
        assert_eq!(
            o.customer_key,
            CustomerKey::Email("orders@harbor.example".into())
        );
        assert_eq!(o.date, date(2026, 3, 2));
        assert_eq!(o.amount, Some(95.0));
        // 23:30 at -05:00 is the next day in UTC.
        assert_eq!(f.orders[1].date, date(2026, 3, 11));
    }

    #[test]
    fn stripe_payments_skip_failed_and_fully_refunded() {
        let csv = "id,Description,Seller Message,Created date (UTC),Amount,Amount Refunded,Currency,Converted Amount,Converted Amount Refunded,Fee,Tax,Converted Currency,Status,Statement Descriptor,Customer ID,Customer Description,Customer Email,Captured,Card ID,Invoice ID\n\
ch_1,Order 1,Payment complete.,2026-04-01 08:15:00,120.00,0.00,usd,120.00,0.00,3.78,0,usd,Paid,,cus_A,Maple Deli,Maple@Deli.example,true,card_1,\n\
ch_2,Order 2,Payment complete.,2026-04-15 08:15:00,80.00,80.00,usd,80.00,80.00,2.62,0,usd,Paid,,cus_A,Maple Deli,maple@deli.example,true,card_1,\n\
ch_3,Order 3,Your card was declined.,2026-04-16 08:15:00,80.00,0.00,usd,0,0,0,0,usd,Failed,,cus_A,Maple Deli,maple@deli.example,false,card_1,\n\
ch_4,Order 4,Payment complete.,2026-04-29 08:15:00,60.00,10.00,usd,60.00,10.00,2.04,0,usd,Paid,,cus_B,,,true,card_2,\n";
        let f = read(csv);
        assert_eq!(f.format, OrderFormat::Stripe);
        assert_eq!(f.orders.len(), 2);
        assert_eq!(f.ignored_orders, 2);
        assert_eq!(
            f.orders[0].customer_key,
            CustomerKey::Email("maple@deli.example".into())
        );
        assert_eq!(f.orders[1].customer_key, CustomerKey::Id("cus_B".into()));
        assert_eq!(f.orders[1].date, date(2026, 4, 29));
        let ids: Vec<&str> = f.ignored.iter().map(|i| i.order_id.as_str()).collect();
        assert_eq!(ids, ["ch_2", "ch_3"]);
        assert_eq!(
            f.ignored[0].customer_key,
            Some(CustomerKey::Email("maple@deli.example".into()))
        );
        // Older exports name the date column `Created (UTC)`.
        let f = read(
            "id,Created (UTC),Amount,Amount Refunded,Status,Customer Email
ch_9,2026-04-01 08:15,5.00,0.00,Paid,a@b.example
",
        );
        assert_eq!(f.format, OrderFormat::Stripe);
        assert_eq!(f.orders[0].date, date(2026, 4, 1));
    }

    #[test]
    fn woocommerce_orders_by_billing_email() {
        let csv = "Order ID,Order Number,Order Date,Order Status,Customer User ID,Billing First Name,Billing Email,Order Total Amount,Payment Method Title,Item #\n\
101,101,2026-05-04 14:02,wc-completed,7,Ana,ana@bloom.example,55.10,Card,1\n\
101,101,2026-05-04 14:02,wc-completed,7,Ana,ana@bloom.example,55.10,Card,2\n\
102,102,2026-05-06 09:00,Cancelled,7,Ana,ana@bloom.example,20,Card,1\n\
103,103,2026-05-20 09:00,processing,0,Guest,,31,Card,1\n\
104,104,,completed,8,Bo,bo@x.example,9,Card,1\n";
        let f = read(csv);
        assert_eq!(f.format, OrderFormat::WooCommerce);
        assert_eq!(f.orders.len(), 2);
        assert_eq!(f.ignored_orders, 1);
        assert_eq!(f.merged_rows, 1);
        assert_eq!(f.orders[0].date, date(2026, 5, 4));
        assert_eq!(f.orders[1].customer_key, CustomerKey::Id("0".into()));
        assert_eq!(f.bad_rows.len(), 1);
        assert_eq!(f.bad_rows[0].reason, "no order date");
    }

    #[test]
    fn an_unknown_file_lists_the_formats() {
        let e = read_orders("sku,qty\nA,1\n".as_bytes(), &ReadOptions::default()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("Shopify") && msg.contains("Stripe") && msg.contains("WooCommerce"));
        assert!(msg.contains("Found: sku, qty"));
        assert_eq!(
            read_orders("".as_bytes(), &ReadOptions::default()).unwrap_err(),
            OrderError::Empty
        );
    }

    /// A till system's export none of the recognised formats fits (German headers, semicolons
    /// turned to commas by the shop's spreadsheet).
    const TILL: &str = "Beleg-Nr,Datum,Kunden-Nr,E-Mail,Summe,Status,Position\n\
R-1,03.02.2026,C1,,12.50,bezahlt,1\n\
R-1,03.02.2026,C1,,12.50,bezahlt,2\n\
R-2,10.02.2026,,Ann@Shop.example,8,storniert,1\n\
R-3,17.02.2026,,ann@shop.example,9,Cancelled,1\n\
R-4,24.02.2026,,ann@shop.example,7,bezahlt,1\n\
R-5,,C2,,3,bezahlt,1\n";

    fn till_mapping() -> OrderColumns {
        OrderColumns::parse(
            "order_date=Datum; customer_id=Kunden-Nr; email=e-mail; order_id=Beleg Nr; status=Status; ignore_statuses=Storniert",
        )
        .unwrap()
    }

    #[test]
    fn a_configured_mapping_reads_an_unrecognised_export() {
        assert!(matches!(
            read_orders(TILL.as_bytes(), &ReadOptions::default()),
            Err(OrderError::UnknownFormat { .. })
        ));
        let f = read_orders_mapped(
            TILL.as_bytes(),
            &ReadOptions::default(),
            Some(&till_mapping()),
        )
        .unwrap();
        assert_eq!(f.format, OrderFormat::Mapped);
        let got: Vec<(&str, &CustomerKey, Date)> = f
            .orders
            .iter()
            .map(|o| (o.order_id.as_deref().unwrap(), &o.customer_key, o.date))
            .collect();
        assert_eq!(
            got,
            [
                ("R-1", &CustomerKey::Id("C1".into()), date(2026, 2, 3)),
                (
                    "R-4",
                    &CustomerKey::Email("ann@shop.example".into()),
                    date(2026, 2, 24)
                ),
            ]
        );
        // `storniert` by the mapping's own list, `Cancelled` by the built-in one.
        assert_eq!(f.ignored_orders, 2);
        assert_eq!(f.merged_rows, 1);
        assert_eq!(f.bad_rows.len(), 1);
        assert_eq!(
            (f.bad_rows[0].line, f.bad_rows[0].reason.as_str()),
            (7, "no order date")
        );
    }

    #[test]
    fn a_mapping_wins_when_it_fits_and_recognition_applies_when_it_does_not() {
        // A plain-looking file whose `date` is the export date, not the order date.
        let csv = "customer_id,date,paid_on\nC1,2026-06-01,2026-05-03\n";
        let m = OrderColumns::parse("order_date=Paid On; customer_id=customer_id").unwrap();
        let f = read_orders_mapped(csv.as_bytes(), &ReadOptions::default(), Some(&m)).unwrap();
        assert_eq!(
            (f.format, f.orders[0].date),
            (OrderFormat::Mapped, date(2026, 5, 3))
        );
        // A Shopify export still reads as Shopify with a mapping configured for the till.
        let shop = "Name,Email,Financial Status,Created at,Total\n#1,a@b.example,paid,2026-03-02 10:00:00 +0800,5\n";
        let f = read_orders_mapped(
            shop.as_bytes(),
            &ReadOptions::default(),
            Some(&till_mapping()),
        )
        .unwrap();
        assert_eq!(f.format, OrderFormat::Shopify);
        // Neither: the error names the mapped columns the file lacks.
        let e = read_orders_mapped(
            "Beleg-Nr,Datum\nR-1,03.02.2026\n".as_bytes(),
            &ReadOptions::default(),
            Some(&till_mapping()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no column `Kunden-Nr`, `e-mail`, `Status`"),
            "{e}"
        );
        assert!(e.contains("Found: Beleg-Nr, Datum"), "{e}");
    }

    #[test]
    fn a_semicolon_till_export_through_the_mapping() {
        let till =
            "Beleg;Datum;Kunden-Nr;Summe\nK-1;02.03.2026;C1;\"8,40\"\nK-2;16.03.2026;C1;24\n";
        let m = OrderColumns::parse(
            "order_date=Datum; customer_id=Kunden-Nr; order_id=Beleg; amount=Summe; delimiter=semicolon",
        )
        .unwrap();
        let f = read_orders_mapped(till.as_bytes(), &ReadOptions::default(), Some(&m)).unwrap();
        assert_eq!(f.format, OrderFormat::Mapped);
        assert_eq!(f.orders.len(), 2);
        assert_eq!(f.orders[0].amount, Some(8.4));
        assert_eq!(f.orders[1].date, date(2026, 3, 16));
        // A comma-separated Shopify export still reads with that mapping configured.
        let shop = "Name,Email,Financial Status,Created at,Total\n#1,a@b.example,paid,2026-03-02 10:00:00 +0800,5\n";
        let f = read_orders_mapped(shop.as_bytes(), &ReadOptions::default(), Some(&m)).unwrap();
        assert_eq!(f.format, OrderFormat::Shopify);
        // Neither: the mapping's missing columns are named.
        let e = read_orders_mapped("a;b\n1;2\n".as_bytes(), &ReadOptions::default(), Some(&m))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `Datum`"), "{e}");
        assert!(
            OrderColumns::parse("order_date=D; email=E; delimiter=xy")
                .unwrap_err()
                .contains("delimiter")
        );
        let tab = OrderColumns::parse("order_date=D; email=E; delimiter=tab").unwrap();
        assert_eq!(tab.delimiter_byte(), Ok(b'\t'));
    }

    #[test]
    fn mapping_text_mistakes_are_named() {
        for (text, want) in [
            ("customer_id=Kunde", "order_date"),
            ("order_date=Datum", "customer_id or email"),
            ("order_date=Datum; email=", "`email` names no column"),
            (
                "order_date=Datum; email=Mail; colour=Red",
                "unknown key `colour`",
            ),
            ("order_date=Datum; email=Mail; email=Other", "given twice"),
            ("order_date Datum", "not key=Column Header"),
        ] {
            let e = OrderColumns::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        let m = OrderColumns::parse("order_date = Datum\nemail = E-Mail\n").unwrap();
        assert_eq!(
            (m.order_date.as_str(), m.email.as_deref()),
            ("Datum", Some("E-Mail"))
        );
    }

    #[test]
    fn derive_counts_distinct_orders_and_days() {
        let h = vec![
            order(Some("A"), date(2026, 1, 1)),
            order(Some("A"), date(2026, 1, 1)),
            order(Some("B"), date(2026, 1, 1)),
            order(Some("C"), date(2026, 1, 11)),
            order(None, date(2026, 1, 31)),
            order(Some("D"), date(2026, 2, 10)),
        ];
        let d = derive(&h);
        assert_eq!(d.order_count, 5);
        assert_eq!(d.first_order_date, Some(date(2026, 1, 1)));
        assert_eq!(d.last_order_date, Some(date(2026, 2, 10)));
        // Distinct days 1 Jan, 11 Jan, 31 Jan, 10 Feb: gaps 10, 20, 10 → median 10.
        assert_eq!(d.order_pace_days, Some(10.0));
    }

    #[test]
    fn derive_edge_cases() {
        assert_eq!(derive(&[]), Derived::default());
        let one_day = [
            order(Some("A"), date(2026, 1, 1)),
            order(Some("B"), date(2026, 1, 1)),
        ];
        let d = derive(&one_day);
        assert_eq!((d.order_count, d.order_pace_days), (2, None));
        // An even number of gaps: the mean of the middle two (10 and 30 → 20).
        let h = [
            order(None, date(2026, 1, 1)),
            order(None, date(2026, 1, 11)),
            order(None, date(2026, 2, 10)),
        ];
        assert_eq!(derive(&h).order_pace_days, Some(20.0));
        // Only the 365 days ending at the latest order count: the 2024 orders are outside.
        let h = [
            order(None, date(2024, 1, 1)),
            order(None, date(2024, 1, 2)),
            order(None, date(2025, 1, 2)),
            order(None, date(2025, 1, 10)),
            order(None, date(2026, 1, 1)),
        ];
        // Window: 2025-01-02 (364 days before) … 2026-01-01: gaps 8, 356 → 182.
        assert_eq!(derive(&h).order_pace_days, Some(182.0));
        let h = [order(None, date(2025, 1, 1)), order(None, date(2026, 1, 1))];
        assert_eq!(
            derive(&h).order_pace_days,
            None,
            "365 days apart is outside"
        );
    }

    #[test]
    fn order_dates_from_exports() {
        let o = ReadOptions::default();
        assert_eq!(
            parse_order_date("2026-03-02 10:00:00 +0800", &o),
            Ok(Some(date(2026, 3, 2)))
        );
        assert_eq!(
            parse_order_date("2026-03-02 01:00:00 +0800", &o),
            Ok(Some(date(2026, 3, 1)))
        );
        assert_eq!(
            parse_order_date("2026-03-02 14:02", &o),
            Ok(Some(date(2026, 3, 2)))
        );
        assert_eq!(parse_order_date("  ", &o), Ok(None));
        assert!(parse_order_date("2026-02-31", &o).is_err());
    }
}
