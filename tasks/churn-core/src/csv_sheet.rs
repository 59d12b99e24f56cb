//! The customer list as bytes, for writing one cell back (SPEC §8: "by customer id", locally "the
//! CSV, atomically, every other byte unchanged"): a small RFC 4180 scanner that keeps each field's
//! byte span, so a cell can be replaced without re-serialising anything else. Rows are found by
//! customer id read from the bytes just given — never by remembered row numbers.

use std::ops::Range;

use crate::values::normalize_header;

/// One record: its fields' raw byte spans (quotes included) and where the record's content ends
/// (before its line break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub fields: Vec<Range<usize>>,
    pub end: usize,
    /// 1-based line where the record starts.
    pub line: usize,
}

/// Splits CSV bytes into records (a leading UTF-8 BOM skipped; CRLF or LF; quoted fields may hold
/// commas, quotes and line breaks).
pub fn records(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut i = if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut line = 1usize;
    while i < bytes.len() {
        let start_line = line;
        let mut fields = Vec::new();
        let mut field_start = i;
        let mut in_quotes = false;
        let end;
        loop {
            if i >= bytes.len() {
                fields.push(field_start..i);
                end = i;
                break;
            }
            let b = bytes[i];
            if in_quotes {
                if b == b'"' {
                    if bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                        continue;
                    }
                    in_quotes = false;
                } else if b == b'\n' {
                    line += 1;
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => {
                    in_quotes = true;
                    i += 1;
                }
                b',' => {
                    fields.push(field_start..i);
                    i += 1;
                    field_start = i;
                }
                b'\n' => {
                    let content_end = if i > 0 && bytes[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    fields.push(field_start..content_end.max(field_start));
                    end = content_end.max(field_start);
                    i += 1;
                    line += 1;
                    break;
                }
                _ => i += 1,
            }
        }
        out.push(Record {
            fields,
            end,
            line: start_line,
        });
    }
    out
}

/// A field's value: surrounding quotes removed, doubled quotes undone, trimmed.
pub fn field_value(bytes: &[u8], span: &Range<usize>) -> String {
    let raw = String::from_utf8_lossy(&bytes[span.clone()]);
    let t = raw.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        t[1..t.len() - 1].replace("\"\"", "\"").trim().to_string()
    } else {
        t.to_string()
    }
}

fn is_blank(bytes: &[u8], r: &Record) -> bool {
    r.fields.iter().all(|f| field_value(bytes, f).is_empty())
}

/// The list's header row and the indices of the columns asked for (matched as SPEC §2 says).
#[derive(Debug, Clone)]
pub struct Sheet<'a> {
    bytes: &'a [u8],
    records: Vec<Record>,
    header: usize,
    columns: Vec<String>,
}

/// Why the list could not be used for a cell write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    #[error("the customer list is empty")]
    Empty,
    #[error("the customer list has no {0} column")]
    NoColumn(String),
    #[error("the customer list has no row for customer {0}")]
    NoRow(String),
}

impl<'a> Sheet<'a> {
    /// Reads the header row (the first non-blank record).
    pub fn new(bytes: &'a [u8]) -> Result<Sheet<'a>, SheetError> {
        let records = records(bytes);
        let header = records
            .iter()
            .position(|r| !is_blank(bytes, r))
            .ok_or(SheetError::Empty)?;
        let columns = records[header]
            .fields
            .iter()
            .map(|f| normalize_header(&field_value(bytes, f)))
            .collect();
        Ok(Sheet {
            bytes,
            records,
            header,
            columns,
        })
    }

    /// The index of a column (`customer_id`, `support_mood`, …), if the sheet has it.
    pub fn column(&self, name: &str) -> Option<usize> {
        let want = normalize_header(name);
        self.columns.iter().position(|c| *c == want)
    }

    /// Like [`Sheet::column`], as an error when missing.
    pub fn require(&self, name: &str) -> Result<usize, SheetError> {
        self.column(name)
            .ok_or_else(|| SheetError::NoColumn(name.to_string()))
    }

    /// The data rows (non-blank records after the header).
    pub fn rows(&self) -> impl Iterator<Item = &Record> {
        self.records[self.header + 1..]
            .iter()
            .filter(|r| !is_blank(self.bytes, r))
    }

    /// A row's cell value (empty when the row is short).
    pub fn cell(&self, row: &Record, col: usize) -> String {
        row.fields
            .get(col)
            .map(|f| field_value(self.bytes, f))
            .unwrap_or_default()
    }

    /// The first row whose `customer_id` is `id`.
    pub fn row_by_id(&self, id: &str) -> Result<&Record, SheetError> {
        let col = self.require("customer_id")?;
        self.rows()
            .find(|r| self.cell(r, col) == id)
            .ok_or_else(|| SheetError::NoRow(id.to_string()))
    }

    /// The bytes with one cell replaced by `value` (quoted if it needs to be); a short row is
    /// padded with empty fields up to the column. Every other byte is unchanged.
    pub fn with_cell(&self, id: &str, column: &str, value: &str) -> Result<Vec<u8>, SheetError> {
        let col = self.require(column)?;
        let row = self.row_by_id(id)?;
        let quoted = if value.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_string()
        };
        let mut out = Vec::with_capacity(self.bytes.len() + quoted.len());
        match row.fields.get(col) {
            Some(span) => {
                out.extend_from_slice(&self.bytes[..span.start]);
                out.extend_from_slice(quoted.as_bytes());
                out.extend_from_slice(&self.bytes[span.end..]);
            }
            None => {
                out.extend_from_slice(&self.bytes[..row.end]);
                out.extend(std::iter::repeat_n(b',', col + 1 - row.fields.len()));
                out.extend_from_slice(quoted.as_bytes());
                out.extend_from_slice(&self.bytes[row.end..]);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_spans_through_quotes_and_crlf() {
        let b = b"\xEF\xBB\xBFid,name\r\n1,\"A, \"\"B\"\"\nC\"\r\n\r\n2,x";
        let r = records(b);
        assert_eq!(r.len(), 4);
        assert_eq!(field_value(b, &r[1].fields[1]), "A, \"B\"\nC");
        assert_eq!(r[3].line, 5);
        assert_eq!(field_value(b, &r[3].fields[1]), "x");
    }

    #[test]
    fn one_cell_changes_nothing_else() {
        let b = b"Customer ID,Email,Support Mood,Notes\r\n\r\nC1,a@x.example,,\"keep, \"\"this\"\"\"\r\nC2,b@x.example,0.5,n\r\nC3,c@x.example\r\n";
        let s = Sheet::new(b).unwrap();
        let out = s.with_cell("C2", "support_mood", "-0.10").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Customer ID,Email,Support Mood,Notes\r\n\r\nC1,a@x.example,,\"keep, \"\"this\"\"\"\r\nC2,b@x.example,-0.10,n\r\nC3,c@x.example\r\n"
        );
        let out = s.with_cell("C1", "support_mood", "1.00").unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("C1,a@x.example,1.00,\"keep")
        );
        let out = s.with_cell("C3", "support_mood", "0.40").unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("C3,c@x.example,0.40\r\n")
        );
        assert_eq!(
            s.with_cell("C9", "support_mood", "1"),
            Err(SheetError::NoRow("C9".into()))
        );
        assert_eq!(
            s.with_cell("C1", "lifetime_value", "1"),
            Err(SheetError::NoColumn("lifetime_value".into()))
        );
    }
}
