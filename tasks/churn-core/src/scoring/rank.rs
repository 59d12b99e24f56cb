//! Ranking and the weekly cap (docs/SPEC.md §4): churning first, then score descending, then lifetime value
//! descending (missing = 0), then customer id — applied after the contact pause.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::model::Band;

/// The fields ranking looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct RankKey {
    pub band: Band,
    pub score: u32,
    pub lifetime_value: Option<f64>,
    pub customer_id: String,
}

/// A `RankKey` borrowed, to ask `Shortlist::would_keep` before copying the id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankKeyRef<'a> {
    pub band: Band,
    pub score: u32,
    pub lifetime_value: Option<f64>,
    pub customer_id: &'a str,
}

impl RankKey {
    /// The same key, borrowed.
    pub fn as_ref(&self) -> RankKeyRef<'_> {
        RankKeyRef {
            band: self.band,
            score: self.score,
            lifetime_value: self.lifetime_value,
            customer_id: &self.customer_id,
        }
    }
}

/// Best first: `Ordering::Less` means `a` ranks above `b`.
pub fn compare(a: &RankKey, b: &RankKey) -> Ordering {
    compare_ref(a.as_ref(), b.as_ref())
}

fn compare_ref(a: RankKeyRef<'_>, b: RankKeyRef<'_>) -> Ordering {
    let churning = |k: RankKeyRef<'_>| k.band == Band::Churning;
    churning(b)
        .cmp(&churning(a))
        .then(b.score.cmp(&a.score))
        .then(
            b.lifetime_value
                .unwrap_or(0.0)
                .total_cmp(&a.lifetime_value.unwrap_or(0.0)),
        )
        .then_with(|| a.customer_id.cmp(b.customer_id))
}

/// Sorts best first and keeps the top `cap`.
pub fn rank_and_cap<T>(mut items: Vec<T>, cap: usize, key: impl Fn(&T) -> &RankKey) -> Vec<T> {
    items.sort_by(|a, b| compare(key(a), key(b)));
    items.truncate(cap);
    items
}

struct Entry<T> {
    key: RankKey,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        compare(&self.key, &other.key) == Ordering::Equal
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    // The heap's top is the worst-ranked entry, the one to evict.
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.key, &other.key)
    }
}

/// Keeps the best `cap` items seen so far, in O(log cap) per push, so a million-row list needs
/// only `cap` items in memory per owner. Gives the same result as `rank_and_cap` on all items.
pub struct Shortlist<T> {
    cap: usize,
    heap: BinaryHeap<Entry<T>>,
}

impl<T> Shortlist<T> {
    pub fn new(cap: usize) -> Self {
        Shortlist {
            cap,
            heap: BinaryHeap::with_capacity(cap + 1),
        }
    }

    /// Whether an item with this key would be kept (check before building an expensive item).
    pub fn would_keep(&self, key: RankKeyRef<'_>) -> bool {
        self.cap > 0
            && (self.heap.len() < self.cap
                || self
                    .heap
                    .peek()
                    .is_some_and(|worst| compare_ref(key, worst.key.as_ref()) == Ordering::Less))
    }

    pub fn push(&mut self, key: RankKey, item: T) {
        if !self.would_keep(key.as_ref()) {
            return;
        }
        self.heap.push(Entry { key, item });
        if self.heap.len() > self.cap {
            self.heap.pop();
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The kept items, best first.
    pub fn into_sorted(self) -> Vec<(RankKey, T)> {
        let mut v: Vec<_> = self
            .heap
            .into_vec()
            .into_iter()
            .map(|e| (e.key, e.item))
            .collect();
        v.sort_by(|a, b| compare(&a.0, &b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(band: Band, score: u32, ltv: Option<f64>, id: &str) -> RankKey {
        RankKey {
            band,
            score,
            lifetime_value: ltv,
            customer_id: id.into(),
        }
    }

    #[test]
    fn churning_first_then_score_then_value_then_id() {
        let items = vec![
            key(Band::AtRisk, 74, Some(9000.0), "A"),
            key(Band::Churning, 75, None, "B"),
            key(Band::Churning, 80, Some(10.0), "C"),
            key(Band::Churning, 80, Some(20.0), "D"),
            key(Band::Churning, 80, Some(20.0), "A2"),
            key(Band::AtRisk, 74, None, "E"),
        ];
        let ranked = rank_and_cap(items, 5, |k| k);
        let ids: Vec<_> = ranked.iter().map(|k| k.customer_id.as_str()).collect();
        assert_eq!(ids, vec!["A2", "D", "C", "B", "A"]);
    }

    #[test]
    fn cap_zero_keeps_nothing() {
        let mut s = Shortlist::new(0);
        s.push(key(Band::Churning, 99, None, "A"), ());
        assert!(s.is_empty());
    }

    fn arb_key() -> impl Strategy<Value = RankKey> {
        (
            prop_oneof![Just(Band::AtRisk), Just(Band::Churning)],
            0u32..=100,
            proptest::option::of(0u32..5000),
            "[A-E][0-9]{0,2}",
        )
            .prop_map(|(band, score, ltv, id)| key(band, score, ltv.map(f64::from), &id))
    }

    proptest! {
        #[test]
        fn shortlist_equals_sort_and_truncate(mut keys in proptest::collection::vec(arb_key(), 0..60), cap in 0usize..15) {
            // Ids are unique in a real list.
            keys.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
            keys.dedup_by(|a, b| a.customer_id == b.customer_id);
            let mut s = Shortlist::new(cap);
            for k in &keys { s.push(k.clone(), ()); }
            let streamed: Vec<_> = s.into_sorted().into_iter().map(|(k, _)| k).collect();
            prop_assert_eq!(streamed, rank_and_cap(keys.clone(), cap, |k| k));
        }

        #[test]
        fn ranking_is_deterministic_whatever_the_input_order(mut keys in proptest::collection::vec(arb_key(), 0..40), seed in any::<u64>()) {
            keys.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
            keys.dedup_by(|a, b| a.customer_id == b.customer_id);
            let a = rank_and_cap(keys.clone(), 10, |k| k);
            // A deterministic shuffle.
            let mut shuffled = keys.clone();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(a, rank_and_cap(shuffled, 10, |k| k));
        }
    }
}
