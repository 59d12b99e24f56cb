//! From one customer to points (SPEC §3): the scorer, ranking and the cap, and the BG/NBD
//! `p_alive` model (SPEC §12).

pub mod palive;
pub mod rank;
pub mod score;
