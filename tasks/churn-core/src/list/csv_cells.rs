//! Cell edits of a CSV file that keep every other byte: order-import rewrites a few cells of
//! `customers.csv` and must not disturb quoting, line endings, a BOM or anything else.
//!
//! The scanner follows RFC 4180 as Sheets and Excel write it (quoted fields may hold commas,
//! quotes and line breaks; CRLF, LF or CR line ends) and is lenient like the list reader: bytes
//! after a closing quote belong to the same field.

/// One record: the raw byte span of each field and where the record's content ends (before its
/// line break).
#[derive(Debug, Clone)]
struct Record {
    fields: Vec<(usize, usize)>,
    end: usize,
}

/// A CSV file's bytes with the position of every field.
#[derive(Debug)]
pub struct CsvCells<'a> {
    bytes: &'a [u8],
    records: Vec<Record>,
}

/// A value to put in one cell: `record` counts every record from 0 (the header is usually 0;
/// blank lines are records too), `field` counts from 0.
#[derive(Debug, Clone, PartialEq)]
pub struct CellEdit {
    pub record: usize,
    pub field: usize,
    pub value: String,
}

impl<'a> CsvCells<'a> {
    /// Scans `bytes` (a leading UTF-8 BOM is kept and skipped).
    pub fn scan(bytes: &'a [u8]) -> CsvCells<'a> {
        let start = if bytes.starts_with(b"\xef\xbb\xbf") {
            3
        } else {
            0
        };
        let mut records = Vec::new();
        let mut i = start;
        let n = bytes.len();
        while i < n {
            let mut fields = Vec::new();
            loop {
                let fs = i;
                if i < n && bytes[i] == b'"' {
                    i += 1;
                    while i < n {
                        if bytes[i] == b'"' {
                            if i + 1 < n && bytes[i + 1] == b'"' {
                                i += 2;
                                continue;
                            }
                            i += 1;
                            break;
                        }
                        i += 1;
                    }
                }
                while i < n && !matches!(bytes[i], b',' | b'\n' | b'\r') {
                    i += 1;
                }
                fields.push((fs, i));
                if i < n && bytes[i] == b',' {
                    i += 1;
                    continue;
                }
                break;
            }
            let end = i;
            if i < n && bytes[i] == b'\r' {
                i += 1;
            }
            if i < n && bytes[i] == b'\n' {
                i += 1;
            }
            records.push(Record { fields, end });
        }
        CsvCells { bytes, records }
    }

    /// How many records (lines, with quoted line breaks inside one record) the file has.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the file has no record at all.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The fields of record `r`, unquoted.
    pub fn record(&self, r: usize) -> Vec<String> {
        self.records[r]
            .fields
            .iter()
            .map(|&(s, e)| unquote(&self.bytes[s..e]))
            .collect()
    }

    /// Field `f` of record `r`, unquoted (`None` when the record is shorter).
    pub fn field(&self, r: usize, f: usize) -> Option<String> {
        self.records[r]
            .fields
            .get(f)
            .map(|&(s, e)| unquote(&self.bytes[s..e]))
    }

    /// How many fields record `r` has.
    pub fn width(&self, r: usize) -> usize {
        self.records[r].fields.len()
    }

    /// Whether record `r` is blank (only whitespace).
    pub fn is_blank(&self, r: usize) -> bool {
        let rec = &self.records[r];
        let s = rec.fields.first().map_or(rec.end, |f| f.0);
        self.bytes[s..rec.end]
            .iter()
            .all(|b| b.is_ascii_whitespace() || *b == b',')
    }

    /// The file with `edits` applied; every byte outside the edited cells is kept. A record
    /// shorter than an edited field gets the missing empty fields appended.
    pub fn apply(&self, edits: &[CellEdit]) -> Vec<u8> {
        let mut sorted: Vec<&CellEdit> = edits.iter().collect();
        sorted.sort_by_key(|e| (e.record, e.field));
        let mut out = Vec::with_capacity(self.bytes.len() + edits.len() * 12);
        let mut pos = 0;
        let mut k = 0;
        while k < sorted.len() {
            let r = sorted[k].record;
            let rec = &self.records[r];
            let mut j = k;
            while j < sorted.len() && sorted[j].record == r {
                j += 1;
            }
            let group = &sorted[k..j];
            let mut tail: Vec<(usize, &str)> = Vec::new();
            for e in group {
                if let Some(&(s, end)) = rec.fields.get(e.field) {
                    out.extend_from_slice(&self.bytes[pos..s]);
                    out.extend_from_slice(quote(&e.value).as_bytes());
                    pos = end;
                } else {
                    tail.push((e.field, &e.value));
                }
            }
            if !tail.is_empty() {
                out.extend_from_slice(&self.bytes[pos..rec.end]);
                pos = rec.end;
                let mut f = rec.fields.len();
                for (field, value) in tail {
                    while f <= field {
                        out.push(b',');
                        if f == field {
                            out.extend_from_slice(quote(value).as_bytes());
                        }
                        f += 1;
                    }
                }
            }
            k = j;
        }
        out.extend_from_slice(&self.bytes[pos..]);
        out
    }
}

fn unquote(raw: &[u8]) -> String {
    let t = String::from_utf8_lossy(raw);
    if let Some(inner) = t.strip_prefix('"') {
        let close = inner.rfind('"').unwrap_or(inner.len());
        let mut s = inner[..close].replace("\"\"", "\"");
        // Lenient like the reader: anything after the closing quote is kept.
        if close < inner.len() {
            s.push_str(&inner[close + 1..]);
        }
        s
    } else {
        t.into_owned()
    }
}

/// A cell as CSV: quoted only when it must be.
fn quote(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) || v.starts_with(' ') || v.ends_with(' ') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(record: usize, field: usize, value: &str) -> CellEdit {
        CellEdit {
            record,
            field,
            value: value.into(),
        }
    }

    #[test]
    fn scans_quotes_line_breaks_and_bom() {
        let src = "\u{feff}id,name,note\r\nC1,\"Harbor, Co\",\"said \"\"hi\"\"\nthen left\"\r\n\r\nC2,Bo\r\n";
        let c = CsvCells::scan(src.as_bytes());
        assert_eq!(c.len(), 4);
        assert_eq!(c.record(0), ["id", "name", "note"]);
        assert_eq!(c.record(1), ["C1", "Harbor, Co", "said \"hi\"\nthen left"]);
        assert!(c.is_blank(2));
        assert_eq!(c.record(3), ["C2", "Bo"]);
    }

    #[test]
    fn edits_change_only_their_cells() {
        let src = "\u{feff}id,name,last,count\r\nC1,\"Harbor, Co\",2026-01-01,3\r\nC2,Bo\r\nC3,\"x\ny\",,\r\n";
        let c = CsvCells::scan(src.as_bytes());
        let out = c.apply(&[
            edit(1, 2, "2026-02-01"),
            edit(2, 3, "7"),
            edit(3, 3, "1"),
            edit(1, 1, "Harbor \"Inc\", Ltd"),
        ]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\u{feff}id,name,last,count\r\nC1,\"Harbor \"\"Inc\"\", Ltd\",2026-02-01,3\r\nC2,Bo,,7\r\nC3,\"x\ny\",,1\r\n"
        );
        // No edits: the very same bytes.
        assert_eq!(c.apply(&[]), src.as_bytes());
    }

    #[test]
    fn last_record_without_line_break() {
        let src = "id,a\nC1,1";
        let c = CsvCells::scan(src.as_bytes());
        assert_eq!(c.apply(&[edit(1, 1, "2")]), b"id,a\nC1,2");
        assert_eq!(c.apply(&[edit(1, 3, "z")]), b"id,a\nC1,1,,z");
    }
}
