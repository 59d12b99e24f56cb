//! From one customer to points (docs/SPEC.md §3): the scorer, ranking and the cap, and the BG/NBD
//! `p_alive` model (docs/SPEC.md §12).

pub mod history;
pub mod palive;
pub mod rank;
pub mod score;
pub mod score_cells;
