//! The AWS adapters against a real local endpoint: moto's server, started once for this binary
//! (see `churn_test_support::moto`; run `scripts/moto-venv.sh` first). Every test uses its own
//! tables and buckets, so they run in parallel.

// The topic modules reach the moto helpers as `crate::support`.
use churn_test_support::moto as support;

#[path = "moto/config.rs"]
mod config;
#[path = "moto/errors.rs"]
mod errors;
#[path = "moto/history.rs"]
mod history;
#[path = "moto/ledger.rs"]
mod ledger;
#[path = "moto/mail.rs"]
mod mail;
#[path = "moto/objects.rs"]
mod objects;
#[path = "moto/state.rs"]
mod state;
