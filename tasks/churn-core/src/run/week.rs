//! The run's date and week: one local date fixed once per run (docs/SPEC.md §4).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Why an `as_of` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date or time (expected 2026-11-23 or 2026-11-23T08:00:00Z)")]
pub struct AsOfError(pub String);

/// The ISO week id of a date, e.g. `2026-W48`.
pub fn iso_week(date: Date) -> String {
    let w = date.iso_week_date();
    format!("{:04}-W{:02}", w.year(), w.week())
}

/// Turns an `as_of` (a date, or an instant such as the Scheduler's `2026-11-23T00:00:00Z`) into the
/// run's local date in `tz`. A bare date is taken as already local. `None` means now.
pub fn resolve_as_of(
    as_of: Option<&str>,
    tz: &TimeZone,
    now: Timestamp,
) -> Result<Date, AsOfError> {
    let Some(raw) = as_of.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(now.to_zoned_datetime(tz.clone()).date());
    };
    if let (10, Ok(d)) = (raw.len(), raw.parse::<Date>()) {
        return Ok(d);
    }
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Ok(ts.to_zoned_datetime(tz.clone()).date());
    }
    // A civil date-time without offset is local.
    if let Ok(dt) = raw.parse::<jiff::civil::DateTime>() {
        return Ok(dt.date());
    }
    Err(AsOfError(raw.to_string()))
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: Date, to: Date) -> i64 {
    day_number(to) - day_number(from)
}

/// Days since 1970-01-01 of a civil date (Hinnant's algorithm: exact, and cheap in the hot loop).
pub fn day_number(d: Date) -> i64 {
    let (y, m, day) = (
        i64::from(d.year()),
        i64::from(d.month()),
        i64::from(d.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn iso_weeks_cross_years() {
        assert_eq!(iso_week(date(2026, 11, 23)), "2026-W48");
        assert_eq!(iso_week(date(2027, 1, 1)), "2026-W53");
        assert_eq!(iso_week(date(2024, 12, 30)), "2025-W01");
    }

    #[test]
    fn as_of_instant_near_midnight_is_local() {
        let sg = TimeZone::get("Asia/Singapore").unwrap();
        let now = Timestamp::UNIX_EPOCH;
        // 23:30 UTC on Sunday is Monday 07:30 in Singapore.
        assert_eq!(
            resolve_as_of(Some("2026-11-22T23:30:00Z"), &sg, now).unwrap(),
            date(2026, 11, 23)
        );
        assert_eq!(
            resolve_as_of(Some("2026-11-22T23:30:00Z"), &TimeZone::UTC, now).unwrap(),
            date(2026, 11, 22)
        );
        assert_eq!(
            resolve_as_of(Some("2026-11-23"), &sg, now).unwrap(),
            date(2026, 11, 23)
        );
        assert_eq!(
            resolve_as_of(Some("2026-11-23T07:00:00"), &sg, now).unwrap(),
            date(2026, 11, 23)
        );
        assert!(resolve_as_of(Some("next monday"), &sg, now).is_err());
    }

    #[test]
    fn days_between_counts_calendar_days() {
        assert_eq!(days_between(date(2026, 10, 1), date(2026, 11, 23)), 53);
        assert_eq!(days_between(date(2026, 11, 23), date(2026, 11, 22)), -1);
        assert_eq!(days_between(date(2024, 2, 28), date(2024, 3, 1)), 2);
        assert_eq!(day_number(date(1970, 1, 1)), 0);
        for (a, b) in [
            (date(1999, 12, 31), date(2026, 3, 1)),
            (date(2026, 11, 23), date(1900, 2, 28)),
        ] {
            assert_eq!(days_between(a, b), i64::from((b - a).get_days()));
        }
    }
}
