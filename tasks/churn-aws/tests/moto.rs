//! The AWS adapters against a real local endpoint: moto's server, started once for this binary
//! (see `moto/support.rs`; run `scripts/moto-venv.sh` first). Every test uses its own tables and
//! buckets, so they run in parallel.

#[path = "moto/support.rs"]
mod support;

#[path = "moto/config.rs"]
mod config;
#[path = "moto/errors.rs"]
mod errors;
#[path = "moto/ledger.rs"]
mod ledger;
#[path = "moto/mail.rs"]
mod mail;
#[path = "moto/objects.rs"]
mod objects;
#[path = "moto/state.rs"]
mod state;
