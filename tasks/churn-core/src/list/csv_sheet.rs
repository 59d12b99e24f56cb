//! The customer list as bytes, for writing one cell back (docs/SPEC.md §8: "by customer id", locally "the
//! CSV, atomically, every other byte unchanged"), over [`CsvCells`]: rows are found by customer
//! id read from the bytes just given — never by remembered row numbers.

use crate::list::csv_cells::{CellEdit, CsvCells};
use crate::list::values::normalize_header;

/// A data row of a [`Sheet`] (a record index into its bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row(usize);

/// The list's header row and its records.
#[derive(Debug)]
pub struct Sheet<'a> {
    cells: CsvCells<'a>,
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
        let cells = CsvCells::scan(bytes);
        let header = (0..cells.len())
            .find(|&r| !cells.is_blank(r))
            .ok_or(SheetError::Empty)?;
        let columns = cells
            .record(header)
            .iter()
            .map(|h| normalize_header(h))
            .collect();
        Ok(Sheet {
            cells,
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
    pub fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        (self.header + 1..self.cells.len())
            .filter(|&r| !self.cells.is_blank(r))
            .map(Row)
    }

    /// A row's cell value, trimmed (empty when the row is short).
    pub fn cell(&self, row: &Row, col: usize) -> String {
        self.cells
            .field(row.0, col)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    }

    /// The first row whose `customer_id` is `id`.
    pub fn row_by_id(&self, id: &str) -> Result<Row, SheetError> {
        let col = self.require("customer_id")?;
        self.rows()
            .find(|r| self.cell(r, col) == id)
            .ok_or_else(|| SheetError::NoRow(id.to_string()))
    }

    /// The bytes with one cell replaced by `value` (quoted if it needs to be); a short row is
    /// padded with empty fields up to the column. Every other byte is unchanged.
    pub fn with_cell(&self, id: &str, column: &str, value: &str) -> Result<Vec<u8>, SheetError> {
        let field = self.require(column)?;
        let Row(record) = self.row_by_id(id)?;
        Ok(self.cells.apply(&[CellEdit {
            record,
            field,
            value: value.to_string(),
        }]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_skip_blank_lines_and_read_quoted_cells() {
        let b = b"\xEF\xBB\xBF\r\nid,name\r\n1,\"A, \"\"B\"\"\nC\"\r\n\r\n2, x \n";
        let s = Sheet::new(b).unwrap();
        let rows: Vec<Row> = s.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(s.cell(&rows[0], 1), "A, \"B\"\nC");
        assert_eq!(s.cell(&rows[1], 1), "x");
        assert_eq!(s.cell(&rows[1], 5), "");
        assert_eq!(Sheet::new(b"\r\n ,\r\n").unwrap_err(), SheetError::Empty);
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
