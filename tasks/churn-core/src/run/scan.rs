//! One pass over the customer list (docs/SPEC.md §4 step 1, and the laptop run): score everyone, handle
//! lost and reactivated customers, drop those inside the contact pause, and keep each owner's best
//! candidates. The same code runs in the AWS scorer and in `churn weekly`; where the scores are
//! stored is the caller's `ScoreSink`.

use std::io::Read;

use jiff::civil::Date;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::list::customers::{BadRow, CustomerReader, ListError, ReadSummary};
use crate::model::{Band, ListItem, looks_like_email, normalize_email};
use crate::outcome::state::{Change, CustomerState, Status, reactivate};
use crate::rules::Rules;
use crate::run::gone::is_gone;
use crate::run::week::days_between;
use crate::scoring::rank::{RankKey, RankKeyRef, Shortlist};
use crate::scoring::score::{Measured, Prior, Scorer};

/// Where every customer's score and band go (only the changed ones need writing).
pub trait ScoreSink {
    /// What storing can fail with.
    type Error;
    /// One customer's score, band and owner.
    fn put(
        &mut self,
        customer_id: &str,
        score: u32,
        band: Band,
        owner: &str,
    ) -> Result<(), Self::Error>;
}

/// A sink that stores nothing (dry runs).
pub struct NoSink;

impl ScoreSink for NoSink {
    type Error = std::convert::Infallible;
    fn put(&mut self, _: &str, _: u32, _: Band, _: &str) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError<E> {
    /// The list cannot be read at all (no file, no header, a missing required column).
    #[error(transparent)]
    List(#[from] ListError),
    /// The list was read to the end and refused by docs/SPEC.md §2's stop rules; the bad rows found, so
    /// the admin can be told which lines to fix.
    #[error("{error}")]
    Refused {
        /// Why the list was refused.
        error: ListError,
        /// The bad rows, in order.
        bad_rows: Vec<BadRow>,
    },
    /// The score sink failed.
    #[error("storing scores: {0}")]
    Sink(E),
}

/// What to scan for.
pub struct ScanOptions<'a> {
    /// The rules in force.
    pub rules: &'a Rules,
    /// The run's local date.
    pub as_of: Date,
    /// Lower-cased.
    pub fallback_owner: Option<&'a str>,
    /// Limit to these owners (lower-cased); empty = everyone.
    pub only: &'a FxHashSet<String>,
    /// How many candidates to keep per owner: the weekly cap on a laptop; more on AWS, where the
    /// handoff re-checks the pause against fresh state before capping.
    pub keep_per_owner: usize,
    /// The BG/NBD model fitted on this list, when a signal measures `p_alive`.
    pub p_alive: Option<crate::scoring::palive::BgNbdParams>,
}

/// An owner's best candidates after the pause.
#[derive(Debug, Clone)]
pub struct OwnerShortlist {
    /// Best first; reasons not yet written.
    pub items: Vec<ListItem>,
    /// Candidates this owner had after the pause (before the cap).
    pub candidates: usize,
    /// At-risk or churning customers left off as gone (the gone rule, `run::gone`).
    pub gone: usize,
}

/// Hashes of the customers' canonical email addresses (docs/SPEC.md §1: display names removed,
/// every address of a multi-address cell, case folded, `+tag` ignored): no message may go to one
/// of them. Hashing a cell allocates nothing for ASCII addresses. The few look-ups (one per
/// owner) go through a one-bit-per-hash filter built on the first one (a million hashes cost one
/// pass, not a sort); only a hash whose bit is set is searched for.
#[derive(Default)]
pub struct CustomerEmails {
    hashes: Vec<u64>,
    filter: std::cell::OnceCell<HashFilter>,
}

/// One bit per hash held (at a position mixed from all of the hash's bits): a clear bit proves
/// a hash absent.
struct HashFilter {
    words: Vec<u64>,
    /// 64 − log2(bits); bits is a power of two, about 32 per hash, so a look-up of an absent
    /// hash finds its bit set about once in 32.
    shift: u32,
}

impl HashFilter {
    fn new(hashes: &[u64]) -> HashFilter {
        let bits = (hashes.len() * 32).next_power_of_two().max(64);
        let mut filter = HashFilter {
            words: vec![0u64; bits / 64],
            shift: 64 - bits.trailing_zeros(),
        };
        for &h in hashes {
            let bit = filter.bit(h);
            filter.words[bit >> 6] |= 1 << (bit & 63);
        }
        filter
    }

    fn bit(&self, h: u64) -> usize {
        // Fibonacci hashing: the top bits of the product depend on every bit of `h`.
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn may_hold(&self, h: u64) -> bool {
        let bit = self.bit(h);
        self.words[bit >> 6] & (1 << (bit & 63)) != 0
    }
}

impl CustomerEmails {
    /// Calls `f` with the hash of each canonical address in `cell`.
    fn hashes_of(cell: &str, mut f: impl FnMut(u64)) {
        let mut hash = |local: &str, domain: &str| {
            use std::hash::Hasher;
            let mut h = rustc_hash::FxHasher::default();
            Self::write_folded(&mut h, local);
            h.write_u8(b'@');
            Self::write_folded(&mut h, domain);
            f(h.finish());
        };
        // A bare address (nearly every cell) has nothing to parse: the parts `for_each_address`
        // would give, without its scan for quotes, brackets, separators and `+tag`s. One pass
        // tells a bare cell and finds its last `@`.
        let mut at = None;
        for (i, b) in cell.bytes().enumerate() {
            if b == b'@' {
                at = Some(i);
            } else if !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
                crate::address::for_each_address(cell, hash);
                return;
            }
        }
        if let Some(at) = at {
            let (local, domain) = (&cell[..at], cell[at + 1..].trim_end_matches('.'));
            if !local.is_empty() && !domain.is_empty() {
                hash(local, domain);
            }
        }
    }

    /// Feeds `s` lower-cased to `h`: on the fly for ASCII, no allocation.
    fn write_folded(h: &mut rustc_hash::FxHasher, s: &str) {
        use std::hash::Hasher;
        if s.is_ascii() {
            for chunk in s.as_bytes().chunks(32) {
                let mut buf = [0u8; 32];
                for (d, c) in buf.iter_mut().zip(chunk) {
                    *d = c.to_ascii_lowercase();
                }
                h.write(&buf[..chunk.len()]);
            }
        } else {
            // The same chunks as the ASCII path, so `K` (Kelvin) and `k` hash alike.
            for chunk in s.to_lowercase().as_bytes().chunks(32) {
                h.write(chunk);
            }
        }
    }

    /// Adds one `email` cell: each address it holds.
    pub fn insert(&mut self, cell: &str) {
        debug_assert!(self.filter.get().is_none(), "insert after a look-up");
        let hashes = &mut self.hashes;
        Self::hashes_of(cell, |h| hashes.push(h));
    }

    /// Whether any address in `addr` (a recipient, possibly with a display name, or several)
    /// is a customer's, compared as canonical addresses (a hash collision errs on refusing).
    pub fn contains(&self, addr: &str) -> bool {
        let filter = self.filter.get_or_init(|| HashFilter::new(&self.hashes));
        let mut found = false;
        Self::hashes_of(addr, |h| {
            found |= filter.may_hold(h) && self.hashes.contains(&h);
        });
        found
    }
}

impl CustomerEmails {
    /// Every address in the `email` column of a customer list in CSV, for a sender that is not
    /// the Monday run (docs/SPEC.md §1). Bad rows count too, and a list whose other columns are
    /// wrong still gives its emails: the admin must hear about a broken list. A list with no
    /// `email` column holds no customer address. `Err` when the file cannot be read as CSV at
    /// all: the caller then refuses to send.
    pub fn from_csv<R: Read>(csv: R) -> Result<CustomerEmails, String> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(csv);
        let mut record = csv::ByteRecord::new();
        let mut emails = CustomerEmails::default();
        let mut col = None;
        let mut header = true;
        while rdr
            .read_byte_record(&mut record)
            .map_err(|e| e.to_string())?
        {
            if header {
                if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
                    continue;
                }
                header = false;
                col = record.iter().position(|h| {
                    crate::list::values::normalize_header(&String::from_utf8_lossy(h)) == "email"
                });
                if col.is_none() {
                    break;
                }
                continue;
            }
            if let Some(cell) = col.and_then(|c| record.get(c)) {
                emails.insert(&String::from_utf8_lossy(cell));
            }
        }
        Ok(emails)
    }
}

/// Resolves an owner cell: an email → that owner (lower-cased); otherwise the fallback owner.
pub fn resolve_owner(cell: &str, fallback: Option<&str>) -> Option<String> {
    if looks_like_email(cell) {
        Some(normalize_email(cell))
    } else {
        fallback.map(str::to_string)
    }
}

/// What one pass found.
pub struct Scan {
    /// Each owner's shortlist, by owner.
    pub lists: FxHashMap<String, OwnerShortlist>,
    /// Bad rows, and candidates that have no owner.
    pub errors: Vec<BadRow>,
    /// Candidates left out because they are inside the contact pause.
    pub skipped_paused: u64,
    /// Rows read and bad.
    pub summary: ReadSummary,
    /// Lost customers with a newer order: (the change to write, customer id).
    pub reactivations: Vec<(Change, String)>,
    /// Every address in the list's `email` column: no message may go to one.
    pub customer_emails: CustomerEmails,
}

/// Scans the list. `prior` holds the customers whose state matters (surfaced, contacted, won
/// back, lost). `progress` is called with (bytes read, ·) now and then.
pub fn scan<R: Read, S: ScoreSink>(
    mut reader: CustomerReader<R>,
    opts: &ScanOptions<'_>,
    prior: &FxHashMap<String, CustomerState>,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
) -> Result<Scan, ScanError<S::Error>> {
    let rules = opts.rules;
    let scorer = Scorer::new(rules, opts.as_of).with_p_alive(opts.p_alive);
    // Spares for the holdout, which takes its share before the cap (`run::holdout`).
    let keep = crate::run::holdout::widen(opts.keep_per_owner, rules.holdout_percent);
    let mut shortlists: FxHashMap<String, (Shortlist<ListItem>, usize, usize)> =
        FxHashMap::default();
    let mut errors = Vec::new();
    let mut skipped_paused = 0u64;
    let mut customer_emails = CustomerEmails::default();
    let mut reactivations = Vec::new();
    let mut owner_cache: FxHashMap<String, Option<String>> = FxHashMap::default();
    let mut spare: Vec<(u32, Measured<'static>)> = Vec::new();
    let mut n = 0u64;
    loop {
        n += 1;
        if n.is_multiple_of(65_536) {
            progress(reader.bytes_read());
        }
        let Some(row) = reader.next_row() else { break };
        let row = match row {
            Ok(r) => r,
            Err(bad) => {
                errors.push(bad);
                // A bad row's address is still a customer's.
                if let Some(email) = reader.current_email() {
                    customer_emails.insert(&email);
                }
                continue;
            }
        };
        let mut buf = recycle(std::mem::take(&mut spare));
        customer_emails.insert(row.email);
        if !owner_cache.contains_key(row.owner) {
            let o = resolve_owner(row.owner, opts.fallback_owner);
            owner_cache.insert(row.owner.to_string(), o);
        }
        // Borrowed from the cache: no allocation per row.
        let owner = owner_cache.get(row.owner).and_then(|o| o.as_deref());
        let state = if prior.is_empty() {
            None
        } else {
            prior.get(row.customer_id)
        };
        let p = Prior {
            won_back_date: state.and_then(|s| s.won_back_date),
        };
        let score = scorer.score(&row, p, &mut buf);
        sink.put(
            row.customer_id,
            score.score,
            score.band,
            owner.unwrap_or(""),
        )
        .map_err(ScanError::Sink)?;
        let mut lost = state.is_some_and(|s| s.status == Status::Lost);
        if let Some(s) = state.filter(|s| lost && s.reactivated_by(row.last_order_date)) {
            lost = false;
            reactivations.push((
                reactivate(s, row.last_order_date.unwrap_or(opts.as_of)),
                row.customer_id.to_string(),
            ));
        }
        if lost || !score.band.is_candidate() {
            spare = recycle(buf);
            continue;
        }
        let Some(owner) = owner else {
            errors.push(BadRow {
                line: row.line,
                reason: format!(
                    "customer {} is {} but has no owner, and no fallback owner is configured",
                    row.customer_id, score.band
                ),
            });
            spare = recycle(buf);
            continue;
        };
        if !opts.only.is_empty() && !opts.only.contains(owner) {
            spare = recycle(buf);
            continue;
        }
        // An owner whose candidates are all paused is still reported (`nothing_to_send`).
        if !shortlists.contains_key(owner) {
            shortlists.insert(owner.to_string(), (Shortlist::new(keep), 0, 0));
        }
        let Some(entry) = shortlists.get_mut(owner) else {
            unreachable!("inserted above")
        };
        let silent = Scorer::reference_date(&row, p).map(|d| days_between(d, opts.as_of));
        if is_gone(rules.gone_after_days, silent) {
            entry.2 += 1;
            spare = recycle(buf);
            continue;
        }
        if state.is_some_and(|s| s.is_paused(opts.as_of, rules.contact_pause_days)) {
            skipped_paused += 1;
            spare = recycle(buf);
            continue;
        }
        let key = RankKeyRef {
            band: score.band,
            score: score.score,
            lifetime_value: row.lifetime_value,
            customer_id: row.customer_id,
        };
        entry.1 += 1;
        // The id is copied only for a name that makes the shortlist (a few per owner).
        if entry.0.would_keep(key) {
            let key = RankKey {
                customer_id: row.customer_id.to_string(),
                band: key.band,
                score: key.score,
                lifetime_value: key.lifetime_value,
            };
            let item = ListItem {
                customer_id: row.customer_id.to_string(),
                name: row.name.to_string(),
                band: score.band,
                score: score.score,
                reason: String::new(),
                breakdown: scorer.breakdown(&buf),
                lifetime_value: row.lifetime_value,
                rules_version: rules.version.clone(),
            };
            entry.0.push(key, item);
        }
        spare = recycle(buf);
    }
    let summary = match reader.finish() {
        Ok(s) => s,
        Err(error) => {
            return Err(ScanError::Refused {
                error,
                bad_rows: errors,
            });
        }
    };
    let lists = shortlists
        .into_iter()
        .map(|(owner, (s, candidates, gone))| {
            (
                owner,
                OwnerShortlist {
                    items: s.into_sorted().into_iter().map(|(_, i)| i).collect(),
                    candidates,
                    gone,
                },
            )
        })
        .collect();
    Ok(Scan {
        lists,
        errors,
        skipped_paused,
        summary,
        reactivations,
        customer_emails,
    })
}

/// Reuses a scoring buffer's allocation across rows whose borrows differ (in-place collect).
fn recycle<'a, 'b>(mut v: Vec<(u32, Measured<'a>)>) -> Vec<(u32, Measured<'b>)> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

#[cfg(test)]
mod customer_email_tests {
    use super::CustomerEmails;

    #[test]
    fn a_recipient_matches_any_canonical_address_of_any_cell() {
        let mut e = CustomerEmails::default();
        e.insert("Jo Reyes <JO+orders@shop.example>");
        e.insert("billing@x.example; dora@y.example");
        e.insert("");
        e.insert("garbage");
        for hit in [
            "jo@shop.example",
            " JO@SHOP.EXAMPLE ",
            "jo+monday@shop.example",
            "Jo <jo@shop.example>",
            "dora@y.example",
            "nobody@z.example, billing@x.example",
        ] {
            assert!(e.contains(hit), "{hit}");
        }
        for miss in ["jo@other.example", "j@shop.example", "", "garbage", "reyes"] {
            assert!(!e.contains(miss), "{miss}");
        }
    }

    #[test]
    fn every_address_of_a_large_list_is_found_and_no_other() {
        let mut e = CustomerEmails::default();
        for i in 0..20_000 {
            e.insert(&format!("Customer{i}@Shop.example"));
        }
        assert!((0..20_000).all(|i| e.contains(&format!("customer{i}@shop.example"))));
        assert!(!(20_000..60_000).any(|i| e.contains(&format!("customer{i}@shop.example"))));
    }

    #[test]
    fn from_csv_reads_the_email_column_of_every_row_even_a_broken_list() {
        // No `owner` column, a bad date, a display name: every address still counts.
        let csv = "\u{feff}Customer ID,E-mail,Last Order Date\n\
                   C1,\"Reyes, Jo <jo@shop.example>\",not a date\n\
                   C1,a@x.example; b@x.example,\n\n";
        let e = CustomerEmails::from_csv(csv.as_bytes()).unwrap();
        assert!(e.contains("jo@shop.example"));
        assert!(e.contains("b@x.example"));
        assert!(!e.contains("c@x.example"));
        let none = CustomerEmails::from_csv("customer_id,name\nC1,a\n".as_bytes()).unwrap();
        assert!(!none.contains("a@x.example"));
    }
}
