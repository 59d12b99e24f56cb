//! Unique audit timestamps.

/// Unique, increasing audit timestamps: RFC 3339 UTC with nanoseconds (the audit's `ts`, locally
/// and in `cp-audit`), bumped by a nanosecond when the clock has not moved.
#[derive(Debug)]
pub struct AuditClock {
    last: jiff::Timestamp,
}

impl Default for AuditClock {
    fn default() -> Self {
        AuditClock {
            last: jiff::Timestamp::UNIX_EPOCH,
        }
    }
}

impl AuditClock {
    /// The next unique timestamp.
    pub fn tick(&mut self) -> String {
        let now = jiff::Timestamp::now();
        self.last = if now > self.last {
            now
        } else {
            self.last + jiff::SignedDuration::from_nanos(1)
        };
        format!("{:.9}", self.last)
    }

    /// Now, in the same format (not necessarily unique).
    pub fn now_string(&self) -> String {
        format!("{:.9}", jiff::Timestamp::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_strictly_increasing_rfc3339_utc() {
        let mut c = AuditClock::default();
        let mut prev = c.tick();
        assert!(prev.ends_with('Z') && prev.len() == 30, "{prev}");
        for _ in 0..1000 {
            let n = c.tick();
            assert!(n > prev, "{n} <= {prev}");
            prev = n;
        }
    }
}
