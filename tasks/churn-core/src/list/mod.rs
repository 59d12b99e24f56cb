//! The customer list (docs/SPEC.md §2): the streaming CSV reader, the cell values people type into
//! spreadsheets, and byte-preserving cell edits for writing back.

pub mod csv_cells;
pub mod csv_sheet;
pub mod customers;
pub mod values;
