//! The holdout (docs/SPEC.md §3 `holdout: P%`): a share of each week's listed candidates is kept
//! off the owners' lists and audited as `held_out`, so `churn uplift` can compare the come-back
//! rate of customers shown to owners with that of customers who would have been shown and were
//! not. Without such a comparison a win-back may be a customer who would have returned anyway.
//!
//! Decisions, written once here and used by both paths (the engine's per-owner step):
//!
//! - **Who**: a stable hash of `customer_id` and the ISO week ([`bucket`]). The hash never
//!   changes between versions: 64-bit FNV-1a over the UTF-8 bytes of the customer id, one
//!   `0x1F` byte, and the week (`2026-W48`), then the MurmurHash3 `fmix64` finaliser; the bucket
//!   is that value modulo 10,000, and a customer is held out when the bucket is below the
//!   percentage × 100. The test vectors below pin it.
//! - **Before the cap**: the ranked candidates (after the contact pause) are walked best first;
//!   each is either held out (by the hash) or listed, until the cap is filled ([`pick`]). So an
//!   owner still gets a full list, and the held-out customers are exactly those who would have
//!   been listed — same ranks, same bands — which is what makes the two groups comparable.
//!   Candidates ranked below the last listed name are neither.
//! - **Not contacted**: a held-out customer's state is not changed (no `surfaced_date`), so the
//!   contact pause does not start for them and a later week draws them afresh.

use serde::{Deserialize, Serialize};

use crate::model::{Band, ListItem};

/// The highest `holdout:` percentage the rules doc accepts.
pub const MAX_HOLDOUT_PERCENT: u32 = 50;

/// A customer held out of an owner's list this week (stored with the ledger entry, audited as
/// `held_out` by the record step; never shown to the owner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOut {
    /// The customer's id.
    pub customer_id: String,
    /// The band the customer was in.
    pub band: Band,
    /// The customer's score.
    pub score: u32,
}

impl From<&ListItem> for HeldOut {
    fn from(i: &ListItem) -> Self {
        HeldOut {
            customer_id: i.customer_id.clone(),
            band: i.band,
            score: i.score,
        }
    }
}

/// The action of a held-out customer's audit item.
pub const HELD_OUT_ACTION: &str = "held_out";

/// The notes of a `held_out` audit item: the week, the run's date, the rules version, and the
/// band and score the customer was held out with (nothing else changes: no state is written).
pub fn audit_notes(
    h: &HeldOut,
    week: &str,
    as_of: jiff::civil::Date,
    rules_version: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut notes = serde_json::Map::new();
    notes.insert("week".into(), week.into());
    notes.insert("as_of".into(), as_of.to_string().into());
    notes.insert("rules_version".into(), rules_version.into());
    notes.insert("band".into(), h.band.as_str().into());
    notes.insert("score".into(), h.score.into());
    notes
}

/// The customer's bucket for `week`, 0..10,000 (see the module doc; never change it).
pub fn bucket(customer_id: &str, week: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in customer_id
        .bytes()
        .chain(std::iter::once(0x1F))
        .chain(week.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // fmix64: FNV-1a alone mixes its low bits poorly for short, similar ids.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h % 10_000) as u32
}

/// Whether the customer is held out in `week` under `holdout: percent%`.
pub fn is_held_out(customer_id: &str, week: &str, percent: u32) -> bool {
    percent > 0 && bucket(customer_id, week) < percent.min(100) * 100
}

/// Splits ranked candidates (best first, after the pause) into the list and the held out:
/// walks them, holding out those the hash picks, until `cap` are listed.
pub fn pick<'a>(
    ranked: impl IntoIterator<Item = &'a ListItem>,
    cap: usize,
    percent: u32,
    week: &str,
) -> (Vec<ListItem>, Vec<HeldOut>) {
    let mut listed = Vec::new();
    let mut held = Vec::new();
    for item in ranked {
        if listed.len() >= cap {
            break;
        }
        if is_held_out(&item.customer_id, week, percent) {
            held.push(HeldOut::from(item));
        } else {
            listed.push(item.clone());
        }
    }
    (listed, held)
}

/// How many ranked candidates the scan keeps so that `keep` remain to list once the holdout has
/// taken its share (unchanged at 0%).
pub fn widen(keep: usize, percent: u32) -> usize {
    if percent == 0 {
        return keep;
    }
    let left = 100 - percent.min(MAX_HOLDOUT_PERCENT) as usize;
    (keep.saturating_mul(100)).div_ceil(left).saturating_add(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, score: u32) -> ListItem {
        ListItem {
            customer_id: id.into(),
            name: format!("name {id}"),
            band: Band::Churning,
            score,
            reason: String::new(),
            breakdown: Vec::new(),
            lifetime_value: None,
            rules_version: "v".into(),
        }
    }

    #[test]
    fn the_hash_is_pinned() {
        // Computed independently (Python); changing them changes who was held out in past weeks.
        assert_eq!(bucket("C0000001", "2026-W48"), 7113);
        assert_eq!(bucket("C0000002", "2026-W48"), 3869);
        assert_eq!(bucket("C0000001", "2026-W49"), 117);
        assert_eq!(bucket("", ""), 506);
        assert_eq!(bucket("Ünïcode-ID", "2027-W01"), 3050);
    }

    #[test]
    fn zero_holds_nobody_and_the_share_is_close_to_the_percentage() {
        let weeks = ["2026-W01", "2026-W20", "2026-W48"];
        for w in weeks {
            assert!((0..5000).all(|i| !is_held_out(&format!("C{i:07}"), w, 0)));
            let held = (0..20_000)
                .filter(|i| is_held_out(&format!("C{i:07}"), w, 10))
                .count();
            assert!((1_800..2_200).contains(&held), "{w}: {held}");
        }
        // A new draw each week: not the same customers.
        let a: Vec<bool> = (0..2000)
            .map(|i| is_held_out(&format!("C{i:07}"), "2026-W48", 30))
            .collect();
        let b: Vec<bool> = (0..2000)
            .map(|i| is_held_out(&format!("C{i:07}"), "2026-W49", 30))
            .collect();
        let both = a.iter().zip(&b).filter(|(x, y)| **x && **y).count();
        assert!((100..260).contains(&both), "{both}");
    }

    #[test]
    fn pick_fills_the_cap_from_below_the_held_out() {
        let ranked: Vec<ListItem> = (0..40)
            .map(|i| item(&format!("C{i:07}"), 100 - i))
            .collect();
        let (listed, held) = pick(&ranked, 10, 30, "2026-W48");
        assert_eq!(listed.len(), 10);
        assert!(!held.is_empty());
        // Exactly the prefix up to the 10th listed name, split by the hash.
        let last = listed.last().unwrap();
        let end = ranked.iter().position(|r| r == last).unwrap() + 1;
        assert_eq!(listed.len() + held.len(), end);
        for r in &ranked[..end] {
            let is_held = held.iter().any(|h| h.customer_id == r.customer_id);
            assert_eq!(is_held, is_held_out(&r.customer_id, "2026-W48", 30));
        }
        // At 0%, the plain cap.
        let (listed0, held0) = pick(&ranked, 10, 0, "2026-W48");
        assert_eq!(listed0, ranked[..10].to_vec());
        assert!(held0.is_empty());
        // Fewer candidates than the cap: everyone is listed or held out.
        let (l, h) = pick(&ranked[..5], 10, 30, "2026-W48");
        assert_eq!(l.len() + h.len(), 5);
    }

    #[test]
    fn widen_keeps_enough_spares() {
        assert_eq!(widen(30, 0), 30);
        assert_eq!(widen(30, 10), 36);
        assert_eq!(widen(30, 50), 62);
        assert!(widen(usize::MAX, 50) > 0);
    }
}
