//! `churn uplift` on one laptop (docs/SPEC.md §3 `holdout`, §10): who was listed and who was held
//! out, from the audit in `churn.db`; who came back, from the order history `churn
//! import-orders` keeps there and from Won back outcomes; compared by
//! `churn_core::reports::uplift`.

use std::collections::BTreeMap;
use std::path::Path;

use churn_core::reports::uplift::{Uplift, UpliftOptions, measure, read_audit};
use churn_core::run::week::resolve_as_of;
use jiff::civil::Date;

use crate::config::Settings;
use crate::store::SqliteStore;
use crate::weekly::WeeklyError;

/// The window and horizon asked for; `as_of` (today by default, in the folder's time zone)
/// decides which horizons have ended.
#[derive(Debug, Clone, Default)]
pub struct LocalUpliftOptions {
    /// First run date counted.
    pub from: Option<Date>,
    /// Last run date counted.
    pub to: Option<Date>,
    /// Days; `None`: 90.
    pub horizon_days: Option<u32>,
    /// `YYYY-MM-DD` or a time; `None`: today.
    pub as_of: Option<String>,
}

/// The comparison for the data folder `dir`. Reads only.
pub fn local_uplift(dir: &Path, o: &LocalUpliftOptions) -> Result<Uplift, WeeklyError> {
    let settings = Settings::load(dir)?;
    let as_of = resolve_as_of(o.as_of.as_deref(), &settings.tz, jiff::Timestamp::now())?;
    let store = SqliteStore::open_read_only(dir)?;
    // Every audit item: `ts` values are RFC 3339 strings, all between these two.
    let items = store.audit_between("", "~")?;
    let (decisions, won_back) = read_audit(&items);
    let mut ids: Vec<&str> = decisions.iter().map(|d| d.customer_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let orders: BTreeMap<String, Vec<Date>> = store
        .order_history(ids.iter().copied())?
        .into_iter()
        .map(|(id, list)| (id, list.into_iter().map(|o| o.date).collect()))
        .collect();
    let opts = UpliftOptions {
        from: o.from,
        to: o.to,
        horizon_days: o
            .horizon_days
            .unwrap_or(churn_core::reports::uplift::DEFAULT_HORIZON_DAYS),
        as_of,
    };
    let u = measure(&decisions, &orders, &won_back, &opts);
    tracing::info!(
        surfaced = u.surfaced.customers,
        held_out = u.held_out.customers,
        pending = u.pending,
        "uplift"
    );
    Ok(u)
}
