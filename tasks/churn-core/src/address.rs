//! Canonical email addresses (docs/SPEC.md §1): the one comparison behind "customers are never
//! contacted". A cell or a recipient is reduced to the addresses it names — a display name is
//! removed, a cell holding several addresses (`;` or `,` between them) gives each of them, case is
//! folded and a `+tag` in the local part is ignored — so `Jo Reyes <JO+orders@shop.example>` and
//! `billing@x.example; jo@shop.example` both name `jo@shop.example`.

/// Calls `f(local, domain)` for each address in `cell`, in order: the local part without its
/// `+tag`, the domain without a trailing dot; neither is case-folded yet. A part of the cell with
/// no `@` names no address. Allocates nothing.
pub fn for_each_address<'a>(cell: &'a str, mut f: impl FnMut(&'a str, &'a str)) {
    for part in split_outside_quotes(cell) {
        if let Some((local, domain)) = address_of(part) {
            f(local, domain);
        }
    }
}

/// The canonical addresses in an email cell (or a recipient), in order: lower-case
/// `local@domain`, display names and `+tag`s removed, one per address the cell holds. Garbage
/// gives none.
pub fn canonical_addresses(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_address(cell, |local, domain| {
        let a = format!("{}@{}", local.to_lowercase(), domain.to_lowercase());
        if !out.contains(&a) {
            out.push(a);
        }
    });
    out
}

/// What `churn check` says about an email cell that is not one bare address (docs/SPEC.md §2):
/// several addresses, or a display name. `None` for a blank cell or one plain address.
pub fn email_cell_note(cell: &str) -> Option<&'static str> {
    let cell = cell.trim();
    if cell.is_empty() {
        return None;
    }
    let mut n = 0usize;
    let mut bare = true;
    for part in split_outside_quotes(cell) {
        let p = part.trim();
        if address_of(p).is_some() {
            n += 1;
            if p.contains(['<', '"', '(', ' ', '\t']) {
                bare = false;
            }
        }
    }
    if n > 1 {
        Some("holds several addresses")
    } else if n == 1 && !bare {
        Some("holds a display name")
    } else {
        None
    }
}

/// The parts of `cell` between `,` and `;` that are outside double quotes and angle brackets.
fn split_outside_quotes(cell: &str) -> impl Iterator<Item = &str> {
    let bytes = cell.as_bytes();
    let mut start = 0usize;
    let mut i = 0usize;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut quoted = false;
        let mut angle = false;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' | b';' if !quoted && !angle => {
                    let part = &cell[start..i];
                    i += 1;
                    start = i;
                    return Some(part);
                }
                _ => {}
            }
            i += 1;
        }
        done = true;
        Some(&cell[start.min(cell.len())..])
    })
}

/// The address one part names: inside its last `<…>` outside quotes, else its first
/// whitespace-separated word holding an `@`.
fn address_of(part: &str) -> Option<(&str, &str)> {
    let bytes = part.as_bytes();
    let mut quoted = false;
    let mut open = None;
    let mut angled = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => open = Some(i + 1),
            b'>' if !quoted => {
                if let Some(s) = open.take() {
                    angled = Some(&part[s..i]);
                }
            }
            _ => {}
        }
        i += 1;
    }
    let addr = match (angled, open) {
        (Some(a), _) => a,
        // An unclosed `<`: what follows it.
        (None, Some(s)) => &part[s..],
        (None, None) => part
            .split(|c: char| c.is_whitespace())
            .find(|w| w.contains('@'))?,
    };
    let addr = addr.trim().trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '(' | ')' | '[' | ']')
    });
    let addr = match addr.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => &addr[7..],
        _ => addr,
    };
    let (local, domain) = addr.rsplit_once('@')?;
    let local = local.trim_matches('"');
    let domain = domain.trim_end_matches('.');
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    let local = match local.split_once('+') {
        Some((base, _)) if !base.is_empty() => base,
        _ => local,
    };
    Some((local, domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(cell: &str) -> Vec<String> {
        canonical_addresses(cell)
    }

    #[test]
    fn a_plain_address_is_trimmed_and_case_folded() {
        assert_eq!(c("  Jo@Shop.Example "), ["jo@shop.example"]);
        assert_eq!(c("ÉLODIE@Café.example"), ["élodie@café.example"]);
    }

    #[test]
    fn a_display_name_is_removed() {
        assert_eq!(c("Jo Reyes <JO+orders@shop.example>"), ["jo@shop.example"]);
        assert_eq!(c("<jo@shop.example>"), ["jo@shop.example"]);
        assert_eq!(c("\"Jo Reyes\" < jo@shop.example >"), ["jo@shop.example"]);
        assert_eq!(c("jo@shop.example (Jo Reyes)"), ["jo@shop.example"]);
        assert_eq!(c("mailto:Jo@shop.example"), ["jo@shop.example"]);
    }

    #[test]
    fn quotes_may_hold_commas_semicolons_and_angle_brackets() {
        assert_eq!(
            c("\"Reyes, Jo; Accounts\" <jo@shop.example>"),
            ["jo@shop.example"]
        );
        assert_eq!(
            c("\"Jo <not@this.example>\" <jo@shop.example>"),
            ["jo@shop.example"]
        );
        assert_eq!(
            c("\"Jo \\\"the boss\\\", Reyes\" <jo@shop.example>, b@x.example"),
            ["jo@shop.example", "b@x.example"]
        );
    }

    #[test]
    fn a_plus_tag_is_ignored() {
        assert_eq!(c("jo+orders@shop.example"), ["jo@shop.example"]);
        assert_eq!(c("jo+a+b@shop.example"), ["jo@shop.example"]);
        // Nothing before the `+`: the local part is kept whole.
        assert_eq!(c("+jo@shop.example"), ["+jo@shop.example"]);
    }

    #[test]
    fn every_address_of_a_multi_address_cell_counts() {
        assert_eq!(
            c("billing@x.example; jo@shop.example"),
            ["billing@x.example", "jo@shop.example"]
        );
        assert_eq!(
            c("Billing <billing@x.example>, Jo <jo+x@shop.example>;;"),
            ["billing@x.example", "jo@shop.example"]
        );
        assert_eq!(c("a@x.example, A@X.example."), ["a@x.example"]);
    }

    #[test]
    fn garbage_names_no_address() {
        for g in [
            "",
            "   ",
            "n/a",
            "@",
            "jo@",
            "@shop.example",
            "<>",
            "\"unclosed",
            ";,;",
        ] {
            assert!(c(g).is_empty(), "{g:?} → {:?}", c(g));
        }
        // Garbage beside an address does not hide it.
        assert_eq!(c("n/a; jo@shop.example"), ["jo@shop.example"]);
        assert_eq!(c("Jo <jo@shop.example"), ["jo@shop.example"]);
    }

    #[test]
    fn check_notes_only_cells_that_are_not_one_bare_address() {
        assert_eq!(email_cell_note(""), None);
        assert_eq!(email_cell_note(" jo@shop.example "), None);
        assert_eq!(email_cell_note("jo+x@shop.example"), None);
        assert_eq!(
            email_cell_note("a@x.example; b@x.example"),
            Some("holds several addresses")
        );
        assert_eq!(
            email_cell_note("Jo <jo@shop.example>"),
            Some("holds a display name")
        );
        assert_eq!(email_cell_note("n/a"), None);
        assert!(email_cell_note("\"Reyes, Jo\" <jo@shop.example>").is_some());
        assert_eq!(
            email_cell_note("\"Reyes, Jo\" <jo@shop.example>"),
            email_cell_note("Jo <jo@shop.example>")
        );
    }
}
