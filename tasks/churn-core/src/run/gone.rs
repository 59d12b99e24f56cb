//! The gone rule (docs/SPEC.md §3 and §4.3): a customer silent far beyond any return is gone, not at
//! risk. They take no place on an owner's capped list; the run counts them apart so the owner can
//! mark them Lost, and the cap goes to customers who can still be won back.

/// Whether a customer is gone: silent for at least `gone_after_days` (the rules' `gone after`;
/// `None` = never). `days_silent` counts from the last order or a later win-back; without it
/// nobody is gone.
pub fn is_gone(gone_after_days: Option<u32>, days_silent: Option<i64>) -> bool {
    matches!((gone_after_days, days_silent), (Some(after), Some(silent)) if silent >= i64::from(after))
}

#[cfg(test)]
mod tests {
    use super::is_gone;

    #[test]
    fn gone_after_the_days_and_never_without_them() {
        assert!(is_gone(Some(365), Some(365)));
        assert!(!is_gone(Some(365), Some(364)));
        assert!(is_gone(Some(90), Some(4000)));
        assert!(!is_gone(None, Some(10_000)));
        assert!(!is_gone(Some(1), None));
    }
}
