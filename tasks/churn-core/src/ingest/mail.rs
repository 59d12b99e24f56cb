//! Support mail, read (docs/SPEC.md §8 mood-reader, §10 `churn read-mail`): the raw MIME of one message
//! into who sent it and what they wrote — quoted reply history removed, forwarded content kept.
//!
//! Parsing is `mail-parser` (iterative over multipart, so deep nesting cannot overflow the stack;
//! charsets including iso-2022-jp, Shift_JIS and windows-1252; RFC 2047 headers). Around it we
//! enforce our own limits, because a mail is hostile input: a size cap before anything else (SES's
//! 40 MB), a part-count pre-scan before parsing, then the part count and the nesting depth of the
//! parsed tree (walked without recursion). A message that breaks a limit, has no headers, whose
//! text is broken base64 or in a charset we cannot decode is [`Unreadable`], with the reason.
//!
//! Malformed mail is read as mail clients read it (the first `From` wins; a header block with no
//! blank line before its body ends at its first non-header line), quote stripping is linear in
//! the size of the message however deep the nesting, and which addresses may name the customer
//! is [`ParsedMail::trusted_candidates`] under a [`SenderPolicy`] (docs/SPEC.md §8).

use std::borrow::Cow;

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{HeaderName, Message, MessageParser, MessagePart, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

use crate::model::looks_like_email;

/// The largest message SES stores to S3 (REFERENCE.md), in bytes.
pub const MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;
/// The most MIME parts (all levels, nested messages included) a message may have.
pub const MAX_PARTS: usize = 1_000;
/// The deepest nesting of multiparts and attached messages a message may have.
pub const MAX_DEPTH: usize = 32;

/// Why a message could not be read. Displayed as `unreadable: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("unreadable: the message is {bytes} bytes, over the {max}-byte limit")]
    TooLarge { bytes: usize, max: usize },
    #[error("unreadable: more than {max} MIME parts")]
    TooManyParts { max: usize },
    #[error("unreadable: MIME parts nested more than {max} deep")]
    TooDeep { max: usize },
    #[error("unreadable: no mail headers")]
    NoHeaders,
    #[error("unreadable: the text part's {encoding} encoding is invalid")]
    BadEncoding { encoding: &'static str },
    #[error("unreadable: unknown charset {charset:?}")]
    UnknownCharset { charset: String },
    #[error("unreadable: no text (no subject and no body)")]
    NoText,
}

impl Unreadable {
    /// A short stable name for logs and records (`too_large`, `too_deep`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Unreadable::TooLarge { .. } => "too_large",
            Unreadable::TooManyParts { .. } => "too_many_parts",
            Unreadable::TooDeep { .. } => "too_deep",
            Unreadable::NoHeaders => "no_headers",
            Unreadable::BadEncoding { .. } => "bad_encoding",
            Unreadable::UnknownCharset { .. } => "unknown_charset",
            Unreadable::NoText => "no_text",
        }
    }
}

/// One support message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// The From header's address.
    pub from: Option<String>,
    /// The Reply-To header's address.
    pub reply_to: Option<String>,
    /// The original sender of forwarded content (a forward header block, or an attached message).
    pub forwarded_from: Option<String>,
    /// The subject, decoded (RFC 2047).
    pub subject: String,
    /// The customer's text: the plain part or the HTML part as text, quoted history removed,
    /// forwarded content kept.
    pub body: String,
    /// The Message-ID without angle brackets; `sha256:<hex of the raw bytes>` when it has none.
    pub message_id: String,
    /// Things worth knowing that did not stop the read (an unknown charset that decoded cleanly).
    pub notes: Vec<String>,
    /// What the receiving server said about the message (docs/SPEC.md §8 "Who sent it").
    pub verdicts: Verdicts,
}

/// The receiving server's verdicts, read from the headers it put on top of the message: the
/// first `Authentication-Results` (a sender can add its own further down; only the top one is
/// the receiver's) and SES's `X-SES-Spam-Verdict` / `X-SES-Virus-Verdict`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// The message has an `Authentication-Results` header.
    pub auth_results: bool,
    /// SPF, DKIM or DMARC passed for the From address's domain (the passing check's domain is the
    /// From domain, or one is a subdomain of the other).
    pub from_authenticated: bool,
    /// `X-SES-Spam-Verdict`, upper-cased, when present.
    pub spam: Option<String>,
    /// `X-SES-Virus-Verdict`, upper-cased, when present.
    pub virus: Option<String>,
}

/// Which addresses of a message may name its customer (docs/SPEC.md §8 "Who sent it").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderPolicy {
    /// On AWS (SES inbound): the spam and virus verdicts must be `PASS` and the From address
    /// authenticated. Locally (`false`): a message without `Authentication-Results` is trusted for
    /// From only; one with it follows the same rule, and SES verdicts, when present, must pass.
    pub ses: bool,
    /// Helpdesk and forwarding domains (lower case): when the authenticated From is in one of
    /// them (or a subdomain), Reply-To and the forwarded original sender count too.
    pub helpdesk_domains: Vec<String>,
}

/// Why no address of a message can be trusted; [`Untrusted::code`] is what logs carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    #[error("no From address")]
    NoFrom,
    #[error("the spam verdict is not PASS")]
    Spam,
    #[error("the virus verdict is not PASS")]
    Virus,
    #[error("the From address is not authenticated (no SPF, DKIM or DMARC pass for its domain)")]
    NotAuthenticated,
}

impl Untrusted {
    pub fn code(&self) -> &'static str {
        match self {
            Untrusted::NoFrom => "no_from",
            Untrusted::Spam => "spam_verdict",
            Untrusted::Virus => "virus_verdict",
            Untrusted::NotAuthenticated => "not_authenticated",
        }
    }
}

/// The domain of an address or a bare domain, lower case, without `@`.
fn domain_of(a: &str) -> &str {
    a.rsplit('@')
        .next()
        .unwrap_or(a)
        .trim()
        .trim_end_matches('.')
}

/// `a` is `b` or a subdomain of it (ASCII case ignored).
fn within(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    !b.is_empty() && (a == b || a.ends_with(&format!(".{b}")))
}

impl ParsedMail {
    /// The address used to find the customer when no lookup is made: Reply-To, else From, else
    /// the forwarded original sender, before any trust check (see [`ParsedMail::trusted_sender`]).
    pub fn sender(&self) -> Option<&str> {
        self.candidates().into_iter().next()
    }

    /// The first address that may name the customer under `policy` (docs/SPEC.md §10
    /// `--parse-only`'s `sender`); `None` when none can be trusted.
    pub fn trusted_sender(&self, policy: &SenderPolicy) -> Option<&str> {
        self.trusted_candidates(policy)
            .ok()
            .and_then(|c| c.into_iter().next())
    }

    /// The addresses that may name the customer, in [`ParsedMail::candidates`]' order, under
    /// `policy` (docs/SPEC.md §8 "Who sent it"): From only when it is trusted; Reply-To and the
    /// forwarded original sender only when the authenticated From is a helpdesk domain's.
    pub fn trusted_candidates(&self, policy: &SenderPolicy) -> Result<Vec<&str>, Untrusted> {
        let from = self.from.as_deref().ok_or(Untrusted::NoFrom)?;
        let v = &self.verdicts;
        let verdict_ok = |x: &Option<String>| match x {
            Some(s) => s == "PASS",
            None => !policy.ses,
        };
        if !verdict_ok(&v.spam) {
            return Err(Untrusted::Spam);
        }
        if !verdict_ok(&v.virus) {
            return Err(Untrusted::Virus);
        }
        let authenticated = v.auth_results && v.from_authenticated;
        let locally_trusted = !policy.ses && !v.auth_results;
        if !authenticated && !locally_trusted {
            return Err(Untrusted::NotAuthenticated);
        }
        let helpdesk = authenticated
            && policy
                .helpdesk_domains
                .iter()
                .any(|d| within(domain_of(from), d.trim().trim_start_matches('@')));
        if helpdesk {
            Ok(self.candidates())
        } else {
            Ok(vec![from])
        }
    }

    /// Every address to try, in docs/SPEC.md §8's order (Reply-To, From, forwarded original sender),
    /// without repeats (compared ignoring case).
    pub fn candidates(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::with_capacity(3);
        for a in [&self.reply_to, &self.from, &self.forwarded_from]
            .into_iter()
            .flatten()
        {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
                out.push(a);
            }
        }
        out
    }

    /// What a labeller reads: the subject and the body.
    pub fn ticket_text(&self) -> String {
        match (self.subject.trim(), self.body.trim()) {
            ("", b) => b.to_string(),
            (s, "") => s.to_string(),
            (s, b) => format!("{s}\n\n{b}"),
        }
    }
}

/// Reads one raw message.
pub fn parse_mail(raw: &[u8]) -> Result<ParsedMail, Unreadable> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(Unreadable::TooLarge {
            bytes: raw.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    prescan(raw)?;
    let original = raw;
    let repaired = repair_header_blocks(raw);
    let raw: &[u8] = &repaired;
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(Unreadable::NoHeaders)?;
    if message.headers().is_empty() {
        return Err(Unreadable::NoHeaders);
    }
    check_tree(&message)?;

    // A repeated header: the first one wins, as in mail clients (the parser keeps the last).
    let from = address(first_address(&message, HeaderName::From));
    let reply_to = address(first_address(&message, HeaderName::ReplyTo));
    let subject = decoded_subject(&message, raw);
    let verdicts = read_verdicts(&message, raw, from.as_deref());
    let message_id = match message.message_id() {
        Some(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => format!("sha256:{}", hex(&Sha256::digest(original))),
    };
    let mut notes = Vec::new();
    let text = body_text(&message, &mut notes)?;
    let forward_subject = is_forward_subject(&subject);
    let (mut body, mut forwarded_from) = clean_body(&text, forward_subject);

    // Forwarded as an attachment: the attached message's sender and text.
    if let Some(nested) = attached_message(&message) {
        if forwarded_from.is_none() {
            forwarded_from = address(nested.from());
        }
        let nested_text = body_text(nested, &mut notes)?;
        let (nested_body, _) = clean_body(&nested_text, false);
        if !nested_body.trim().is_empty() {
            if !body.is_empty() {
                body.push_str("\n\n");
            }
            body.push_str(&nested_body);
        }
    }
    if subject.is_empty() && body.trim().is_empty() {
        return Err(Unreadable::NoText);
    }
    Ok(ParsedMail {
        from,
        reply_to,
        forwarded_from,
        subject,
        body,
        message_id,
        notes,
        verdicts,
    })
}

/// The address of the first `name` header.
fn first_address<'a>(
    message: &'a Message<'a>,
    name: HeaderName<'_>,
) -> Option<&'a mail_parser::Address<'a>> {
    message
        .headers()
        .iter()
        .find(|h| h.name == name)
        .and_then(|h| h.value().as_address())
}

/// Mends header blocks that run into their body with no blank line between — at the top of the
/// message and after each MIME boundary: a blank line is inserted before the first line that is
/// neither a header field (`Name: value`), a continuation line, nor (first line of the message)
/// an mbox `From ` line. Linear; the input is returned as is when nothing needs mending.
fn repair_header_blocks(raw: &[u8]) -> Cow<'_, [u8]> {
    // Boundaries declared anywhere in the message (a pre-pass; `boundary=` is rare in text).
    let mut boundaries: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    let lower_has = |at: usize| {
        raw.get(at..at + 9)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"boundary="))
    };
    for at in memchr::memchr_iter(b'=', raw) {
        if at < 8 || !lower_has(at - 8) {
            continue;
        }
        let rest = &raw[at + 1..];
        let value = if rest.first() == Some(&b'"') {
            let end = memchr::memchr2(b'"', b'\n', &rest[1..]).unwrap_or(rest.len() - 1);
            &rest[1..1 + end]
        } else {
            let end = rest
                .iter()
                .position(|b| matches!(b, b';' | b'\r' | b'\n' | b' ' | b'\t'))
                .unwrap_or(rest.len());
            &rest[..end]
        };
        if !value.is_empty() {
            boundaries.insert(value);
        }
    }
    let is_field = |line: &[u8]| {
        let Some(colon) = memchr::memchr(b':', line) else {
            return false;
        };
        colon > 0 && colon <= 76 && line[..colon].iter().all(|&b| b > b' ' && b < 127)
    };
    let mut inserts: Vec<usize> = Vec::new();
    let mut in_headers = true;
    let mut first = true;
    let mut pos = 0;
    while pos < raw.len() {
        let end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |e| pos + e + 1);
        let line = &raw[pos..end];
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if in_headers {
            if text.is_empty() {
                in_headers = false;
            } else if !(is_field(text)
                || (!first && matches!(text[0], b' ' | b'\t'))
                || (first && pos == 0 && text.starts_with(b"From ")))
            {
                inserts.push(pos);
                in_headers = false;
            }
            first = false;
        }
        if let Some(b) = text.strip_prefix(b"--") {
            let b = b.trim_ascii_end();
            if boundaries.contains(b) {
                // A part's header block starts on the next line (a closing `--b--` has none).
                in_headers = true;
                first = false;
            }
        }
        pos = end;
    }
    if inserts.is_empty() {
        return Cow::Borrowed(raw);
    }
    let crlf = memchr::memmem::find(raw, b"\r\n").is_some();
    let mut out = Vec::with_capacity(raw.len() + inserts.len() * 2);
    let mut last = 0;
    for at in inserts {
        out.extend_from_slice(&raw[last..at]);
        out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        last = at;
    }
    out.extend_from_slice(&raw[last..]);
    Cow::Owned(out)
}

/// The raw value of the first header called `name` (unfolded), if any.
fn first_header(message: &Message<'_>, raw: &[u8], name: &str) -> Option<String> {
    let h = message
        .headers()
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))?;
    let bytes = raw.get(h.offset_start as usize..h.offset_end as usize)?;
    let text = String::from_utf8_lossy(bytes);
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The verdicts (see [`Verdicts`]).
fn read_verdicts(message: &Message<'_>, raw: &[u8], from: Option<&str>) -> Verdicts {
    let upper = |n: &str| first_header(message, raw, n).map(|v| v.trim().to_ascii_uppercase());
    let results = first_header(message, raw, "Authentication-Results");
    Verdicts {
        auth_results: results.is_some(),
        from_authenticated: match (results, from) {
            (Some(r), Some(from)) => auth_results_pass(&r, domain_of(from)),
            _ => false,
        },
        spam: upper("X-SES-Spam-Verdict"),
        virus: upper("X-SES-Virus-Verdict"),
    }
}

/// Whether an `Authentication-Results` value (RFC 8601) has an SPF, DKIM or DMARC `pass` whose
/// domain (`smtp.mailfrom` / `envelope-from`, `header.d` / `header.i`, `header.from`) is aligned
/// with `from_domain`. Comments are dropped; a `key=value` item without a method (SES writes
/// `spf=pass (…) client-ip=…; envelope-from=…;`) belongs to the method before it.
pub fn auth_results_pass(value: &str, from_domain: &str) -> bool {
    let mut clean = String::with_capacity(value.len());
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => clean.push(c.to_ascii_lowercase()),
            _ => {}
        }
    }
    // (method, result, domains)
    let mut results: Vec<(String, String, Vec<String>)> = Vec::new();
    // The first item is the authserv-id.
    for item in clean.split(';').skip(1) {
        for token in item.split_whitespace() {
            let Some((k, v)) = token.split_once('=') else {
                continue;
            };
            let v = v.trim_matches(|c: char| c == '"' || c == ',' || c == ';');
            match k {
                "spf" | "dkim" | "dmarc" => results.push((k.into(), v.into(), Vec::new())),
                "smtp.mailfrom" | "envelope-from" | "header.d" | "header.i" | "header.from" => {
                    if let Some(last) = results.last_mut() {
                        last.2.push(domain_of(v).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    results.iter().any(|(_, result, domains)| {
        result == "pass"
            && domains
                .iter()
                .any(|d| within(from_domain, d) || within(d, from_domain))
    })
}

/// How many `Content-Type:` lines the pre-scan lets through to the parser: every container part
/// has one, so this bounds the parse's work (and the depth) before anything is built; the exact
/// part count and depth are checked on the parsed tree.
const PRESCAN_MAX_CONTENT_TYPES: usize = 4 * MAX_PARTS;

/// Counts `Content-Type:` header lines before parsing (see [`PRESCAN_MAX_CONTENT_TYPES`]).
fn prescan(raw: &[u8]) -> Result<(), Unreadable> {
    const CT: &[u8] = b"content-type:";
    let mut count = 0usize;
    let mut at_line_start = true;
    for (i, &b) in raw.iter().enumerate() {
        if at_line_start
            && (b == b'C' || b == b'c')
            && raw
                .get(i..i + CT.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(CT))
        {
            count += 1;
            if count > PRESCAN_MAX_CONTENT_TYPES {
                return Err(Unreadable::TooManyParts { max: MAX_PARTS });
            }
        }
        at_line_start = b == b'\n';
    }
    Ok(())
}

/// Walks the parsed tree (no recursion) for the part count and the depth.
fn check_tree(message: &Message<'_>) -> Result<(), Unreadable> {
    let mut stack: Vec<(&Message<'_>, u32, usize)> = vec![(message, 0, 1)];
    let mut parts = 0usize;
    while let Some((m, idx, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Unreadable::TooDeep { max: MAX_DEPTH });
        }
        let Some(part) = m.parts.get(idx as usize) else {
            continue;
        };
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Unreadable::TooManyParts { max: MAX_PARTS });
        }
        match &part.body {
            PartType::Multipart(children) => {
                stack.extend(children.iter().map(|&c| (m, c, depth + 1)));
            }
            PartType::Message(nested) => stack.push((nested, 0, depth + 1)),
            _ => {}
        }
    }
    // Multipart children also sit flat in `parts`: a message with more parts than it reaches
    // from its root is still counted whole.
    if message.parts.len() > MAX_PARTS {
        return Err(Unreadable::TooManyParts { max: MAX_PARTS });
    }
    Ok(())
}

/// The subject, decoded. A header sent as raw 8-bit bytes that are not UTF-8 (no RFC 2047) is
/// read as windows-1252, the usual charset of such mailers, instead of replacement characters.
fn decoded_subject(message: &Message<'_>, raw: &[u8]) -> String {
    let parsed = message.subject().unwrap_or_default().trim().to_string();
    if !parsed.contains('\u{FFFD}') {
        return parsed;
    }
    let Some(h) = message
        .headers()
        .iter()
        .find(|h| h.name == mail_parser::HeaderName::Subject)
    else {
        return parsed;
    };
    let bytes = raw
        .get(h.offset_start as usize..h.offset_end as usize)
        .unwrap_or_default();
    if std::str::from_utf8(bytes).is_ok() {
        return parsed;
    }
    let decode = charset_decoder(b"windows-1252").expect("windows-1252 is built in");
    let text = decode(bytes);
    // Unfold: header continuation lines are one line.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn address(a: Option<&mail_parser::Address<'_>>) -> Option<String> {
    a.and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::trim)
        .filter(|a| looks_like_email(a))
        .map(str::to_string)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The message's own text: its text bodies, or its HTML bodies turned into text.
fn body_text(message: &Message<'_>, notes: &mut Vec<String>) -> Result<String, Unreadable> {
    let mut out = String::new();
    let mut pieces = 0usize;
    // Prefer the plain parts; HTML only when the message has no plain text of its own.
    let plain: Vec<&MessagePart<'_>> = message
        .text_bodies()
        .filter(|p| matches!(p.body, PartType::Text(_)))
        .collect();
    let parts: Vec<&MessagePart<'_>> = if plain.is_empty() {
        message.html_bodies().collect()
    } else {
        plain
    };
    for part in parts {
        let text = match &part.body {
            PartType::Text(t) => Cow::Borrowed(t.as_ref()),
            PartType::Html(h) => Cow::Owned(html_to_text(h)),
            _ => continue,
        };
        check_part(part, &text, notes)?;
        if pieces > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&text);
        pieces += 1;
    }
    Ok(out)
}

/// A text part's decoding problems: broken transfer encoding, or an unknown charset that did not
/// decode cleanly.
fn check_part(
    part: &MessagePart<'_>,
    text: &str,
    notes: &mut Vec<String>,
) -> Result<(), Unreadable> {
    if part.is_encoding_problem {
        let encoding = match part.content_transfer_encoding() {
            Some(e) if e.eq_ignore_ascii_case("quoted-printable") => "quoted-printable",
            _ => "base64",
        };
        return Err(Unreadable::BadEncoding { encoding });
    }
    if let Some(charset) = part.content_type().and_then(|ct| ct.attribute("charset")) {
        let known = charset_decoder(charset.as_bytes()).is_some() || is_utf8_alias(charset);
        if !known {
            if text.contains('\u{FFFD}') {
                return Err(Unreadable::UnknownCharset {
                    charset: charset.chars().take(40).collect(),
                });
            }
            notes.push(format!(
                "unknown charset {:?}; the text was valid UTF-8",
                charset.chars().take(40).collect::<String>()
            ));
        }
    }
    Ok(())
}

fn is_utf8_alias(charset: &str) -> bool {
    let c = charset.trim().trim_matches('"').to_ascii_lowercase();
    matches!(
        c.as_str(),
        "utf-8" | "utf8" | "unicode-1-1-utf-8" | "unicode-2-0-utf-8" | "x-unicode20utf8"
    )
}

/// The first message attached to the top-level message (a forward as attachment).
fn attached_message<'a>(message: &'a Message<'a>) -> Option<&'a Message<'a>> {
    message.attachments().find_map(|p| match &p.body {
        PartType::Message(m) => Some(m),
        _ => None,
    })
}

fn is_forward_subject(subject: &str) -> bool {
    let s = subject.trim_start().to_ascii_lowercase();
    ["fwd:", "fw:", "wg:", "tr:", "rv:", "fwd :", "fw :", "[fwd:"]
        .iter()
        .any(|p| s.starts_with(p))
}

// ---- HTML ----

/// HTML as text: quoted history (blockquotes, Gmail's `gmail_quote` blocks) removed unless it
/// carries forwarded content, Outlook's reply header onwards cut, then tags dropped and entities
/// decoded.
pub fn html_to_text(html: &str) -> String {
    let stripped = strip_html_quotes(html);
    // Line breaks for block ends before the tag-stripper folds white space.
    let spaced = break_blocks(&stripped);
    let text = mail_parser::decoders::html::html_to_text(&spaced);
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Adds a line break after `</p>`, `</div>`, `</li>`, `</tr>` and headings so blocks stay lines
/// (the reply-header rules work line by line).
fn break_blocks(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() + html.len() / 32);
    let mut last = 0;
    let bytes = lower.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &bytes[i..]) {
        let start = i + off;
        let Some(end_off) = memchr::memchr(b'>', &bytes[start..]) else {
            break;
        };
        let end = start + end_off + 1;
        let tag = &lower[start..end];
        let name: String = tag
            .trim_start_matches('<')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
            .collect();
        if matches!(
            name.as_str(),
            "/p" | "/div" | "/li" | "/tr" | "/h1" | "/h2" | "/h3" | "/blockquote"
        ) {
            out.push_str(&html[last..end]);
            out.push_str("<br>\n");
            last = end;
        }
        i = end;
    }
    out.push_str(&html[last..]);
    out
}

/// Removes quoted history from HTML (see [`html_to_text`]).
fn strip_html_quotes(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    // Outlook's reply header: everything after it is history. A forward (the block follows a
    // forward marker) is kept.
    let mut html_end = html.len();
    for marker in ["id=\"divrplyfwdmsg\"", "id=\"appendonsend\""] {
        if let Some(pos) = lower.find(marker) {
            let tag_start = lower[..pos].rfind('<').unwrap_or(pos);
            if !has_forward_marker(&lower[tag_start..(tag_start + 2000).min(lower.len())])
                && !has_forward_marker(&lower[..tag_start])
            {
                html_end = html_end.min(tag_start);
            }
        }
    }
    let html = &html[..html_end];
    let lower = &lower[..html_end];

    // One pass over the tags pairs every `<blockquote>` and quote `<div>` with its close tag
    // (a stack per tag name), and the forward markers are found once: deciding each element is
    // then a lookup, so deep nesting costs linear time, not a scan per level.
    let quotes = quote_elements(lower);
    let markers: Vec<usize> = memchr::memmem::find_iter(lower.as_bytes(), FORWARD_MARKER).collect();
    let has_marker = |start: usize, end: usize| {
        let i = markers.partition_point(|&m| m < start);
        markers
            .get(i)
            .is_some_and(|&m| m + FORWARD_MARKER.len() <= end)
    };
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    for q in quotes {
        if q.start < copied {
            continue; // inside an element already removed
        }
        // Keep forwarded content: the element carries a forward marker, or is the blockquote
        // Apple Mail puts right after `Begin forwarded message:`.
        let before = &lower.as_bytes()[q.start.saturating_sub(300)..q.start];
        if has_marker(q.start, q.end)
            || (q.blockquote && memchr::memmem::find(before, b"begin forwarded message").is_some())
        {
            continue;
        }
        out.push_str(&html[copied..q.start]);
        copied = q.end;
    }
    out.push_str(&html[copied..]);
    out
}

/// The text whose presence in an element marks it as forwarded content (also inside `Begin
/// forwarded message`).
const FORWARD_MARKER: &[u8] = b"forwarded message";

/// A quote element: a `<blockquote>`, or a `<div>` whose opening tag names `gmail_quote`.
struct QuoteElement {
    start: usize,
    /// Just past its matching close tag, or the end of the text when it is never closed.
    end: usize,
    blockquote: bool,
}

/// Every quote element, in document order, with its end (see [`QuoteElement`]). Nested elements
/// of the same name are paired as a stack; linear in the length of the text.
fn quote_elements(lower: &str) -> Vec<QuoteElement> {
    let bytes = lower.as_bytes();
    let mut found: Vec<QuoteElement> = Vec::new();
    // Open elements: (index into `found`, or usize::MAX for a plain div).
    let mut open_bq: Vec<usize> = Vec::new();
    let mut open_div: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'<', &bytes[i..]) {
        let start = i + off;
        let rest = &bytes[start + 1..];
        let (close, name_at) = match rest.first() {
            Some(b'/') => (true, start + 2),
            _ => (false, start + 1),
        };
        let name_end = bytes[name_at..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |p| name_at + p);
        let name = &bytes[name_at..name_end];
        let is_bq = name == b"blockquote";
        let is_div = name == b"div";
        if !is_bq && !is_div {
            i = start + 1;
            continue;
        }
        let tag_end =
            memchr::memchr(b'>', &bytes[name_end..]).map_or(bytes.len(), |p| name_end + p + 1);
        let stack = if is_bq { &mut open_bq } else { &mut open_div };
        if close {
            if let Some(idx) = stack.pop()
                && idx != usize::MAX
            {
                found[idx].end = tag_end;
            }
        } else {
            let quote =
                is_bq || memchr::memmem::find(&bytes[name_end..tag_end], b"gmail_quote").is_some();
            if quote {
                stack.push(found.len());
                found.push(QuoteElement {
                    start,
                    end: bytes.len(),
                    blockquote: is_bq,
                });
            } else {
                stack.push(usize::MAX);
            }
        }
        i = tag_end.max(start + 1);
    }
    found
}

fn has_forward_marker(lower: &str) -> bool {
    lower.contains("forwarded message") || lower.contains("begin forwarded message")
}

// ---- plain text ----

/// Removes quoted reply history from text and keeps forwarded content; returns the cleaned text
/// and the forwarded original sender, if a forward header block names one.
///
/// Removed: lines starting with `>`; everything from a reply header on (`On … wrote:` and its
/// translations, `-----Original Message-----`, Outlook's `From: … Sent: …` block); a signature
/// (`-- `) up to a forward marker. Kept: the text after a forward marker (`---------- Forwarded
/// message ---------`, `Begin forwarded message:`, or Outlook's header block when the subject is
/// a forward), without the forwarded header lines.
pub fn clean_body(text: &str, forward_subject: bool) -> (String, Option<String>) {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut out: Vec<&str> = Vec::new();
    let mut forwarded_from: Option<String> = None;
    let mut in_signature = false;
    let mut forwards = 0usize;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        let outlook = outlook_block(&lines, i);
        let forward = is_forward_marker(trimmed)
            || (forward_subject && forwards == 0 && outlook.is_some() && !is_original(trimmed));
        if forward {
            forwards += 1;
            in_signature = false;
            let (from, next) = forward_headers(&lines, i + 1);
            if forwarded_from.is_none() {
                forwarded_from = from;
            }
            if !out.is_empty() {
                out.push("");
            }
            i = next;
            continue;
        }
        if is_original(trimmed) || outlook.is_some() {
            break;
        }
        // `On … wrote:` introduces `>` lines; text after them (a bottom-posted reply) is kept.
        if let Some(n) = reply_header(&lines, i) {
            i += n;
            continue;
        }
        if trimmed == "--" && line.starts_with("--") && line.len() <= 3 {
            in_signature = true;
        }
        if in_signature || trimmed.starts_with('>') {
            i += 1;
            continue;
        }
        out.push(line.trim_end());
        i += 1;
    }
    // Trim blank lines at both ends and collapse runs of blank lines.
    let mut body = String::new();
    let mut blank = 0usize;
    for l in out {
        if l.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !body.is_empty() {
            body.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        body.push_str(l);
    }
    (body, forwarded_from)
}

fn is_forward_marker(trimmed: &str) -> bool {
    // Markers are short: long lines are text (and need no lower-casing).
    if trimmed.len() > 64 || trimmed.len() < 17 {
        return false;
    }
    let l = trimmed.to_ascii_lowercase();
    let l = l.trim_matches(|c: char| c == '-' || c == ' ' || c == '_' || c == '*');
    l == "forwarded message"
        || l == "begin forwarded message:"
        || l == "weitergeleitete nachricht"
        || l == "message transféré"
        || l == "mensaje reenviado"
        || (trimmed.starts_with("---") && l.starts_with("forwarded message"))
}

fn is_original(trimmed: &str) -> bool {
    if !trimmed.starts_with("---") || trimmed.len() > 64 {
        return false;
    }
    let l = trimmed.to_ascii_lowercase();
    let l = l.trim_matches(|c: char| c == '-' || c == ' ');
    trimmed.starts_with("---")
        && matches!(
            l,
            "original message"
                | "ursprüngliche nachricht"
                | "message d'origine"
                | "mensaje original"
        )
}

/// Strips Markdown-ish bold a client may add around header names (`*From:*`).
fn header_line(line: &str) -> String {
    line.trim().replace('*', "")
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Outlook's reply/forward header at line `i`: an optional `_____` rule, then `From:` with
/// `Sent:` or `Date:` within the next lines. Returns the index of the `From:` line.
fn outlook_block(lines: &[&str], i: usize) -> Option<usize> {
    let mut from = i;
    let first = lines[i].trim();
    if first.len() >= 10 && first.chars().all(|c| c == '_') {
        from = i + 1;
    }
    let l = lines.get(from)?.trim().trim_start_matches('*');
    if !(starts_with_ci(l, "from:") || starts_with_ci(l, "von:") || starts_with_ci(l, "de:")) {
        return None;
    }
    let has_sent = lines[from + 1..lines.len().min(from + 5)].iter().any(|n| {
        let n = header_line(n);
        [
            "sent:",
            "date:",
            "gesendet:",
            "envoyé :",
            "envoyé:",
            "enviado:",
        ]
        .iter()
        .any(|p| starts_with_ci(&n, p))
    });
    has_sent.then_some(from)
}

/// `On <date>, <name> wrote:` (one line or wrapped over two), and common translations: how many
/// lines it takes.
fn reply_header(lines: &[&str], i: usize) -> Option<usize> {
    const ENDS: [&str; 9] = [
        "wrote:",
        "schrieb:",
        "a écrit :",
        "a écrit:",
        "escribió:",
        "ha scritto:",
        "skrev:",
        "schreef:",
        "написал:",
    ];
    const LEADS: [&str; 8] = ["on ", "am ", "le ", "el ", "il ", "op ", "den ", "em "];
    let first = lines[i].trim();
    if !LEADS.iter().any(|l| starts_with_ci(first, l)) {
        return None;
    }
    let lower = first.to_lowercase();
    let ends = |s: &str| s.len() <= 400 && ENDS.iter().any(|e| s.ends_with(e));
    if ends(&lower) {
        return Some(1);
    }
    let next = lines.get(i + 1)?.trim().to_lowercase();
    ends(&format!("{lower} {next}")).then_some(2)
}

/// Reads the forwarded header lines after a forward marker (`From:`, `Date:`, `Subject:`, `To:`,
/// `Cc:`, `Sent:`, `Reply-To:`); returns the `From:` address and the first line after the block.
fn forward_headers(lines: &[&str], mut i: usize) -> (Option<String>, usize) {
    const NAMES: [&str; 10] = [
        "from:",
        "date:",
        "subject:",
        "to:",
        "cc:",
        "sent:",
        "reply-to:",
        "von:",
        "datum:",
        "betreff:",
    ];
    // A rule line or blank lines may sit between the marker and the headers.
    while i < lines.len()
        && (lines[i].trim().is_empty() || lines[i].trim().chars().all(|c| c == '_'))
    {
        i += 1;
    }
    let mut from = None;
    let mut seen = 0;
    while i < lines.len() {
        let l = header_line(lines[i]);
        let Some(name) = NAMES.iter().find(|n| starts_with_ci(&l, n)) else {
            // HTML turned into text may leave blank lines between the header lines.
            if l.is_empty()
                && let Some(next) = lines[i..].iter().position(|n| !n.trim().is_empty())
                && NAMES
                    .iter()
                    .any(|n| starts_with_ci(&header_line(lines[i + next]), n))
            {
                i += next;
                continue;
            }
            break;
        };
        if (*name == "from:" || *name == "von:") && from.is_none() {
            from = extract_address(&l[name.len()..]).or_else(|| {
                // The address may sit on the next line (`Name` then `<addr>`).
                lines
                    .get(i + 1)
                    .filter(|n| !NAMES.iter().any(|m| starts_with_ci(&header_line(n), m)))
                    .and_then(|n| extract_address(n))
            });
        }
        seen += 1;
        i += 1;
        // A wrapped header value continues on an indented line.
        while i < lines.len() && lines[i].starts_with([' ', '\t']) && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    if seen == 0 {
        return (None, i);
    }
    (from, i)
}

/// The email address in a header value: `Name <a@b.c>`, `a@b.c`, `[mailto:a@b.c]`.
pub fn extract_address(value: &str) -> Option<String> {
    let clean = |s: &str| {
        let s = s
            .trim()
            .trim_start_matches("mailto:")
            .trim_matches(|c: char| "<>[]()\"',;:".contains(c));
        looks_like_email(s).then(|| s.to_string())
    };
    if let (Some(a), Some(b)) = (value.find('<'), value.rfind('>'))
        && a < b
        && let Some(addr) = clean(&value[a + 1..b])
    {
        return Some(addr);
    }
    value
        .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '[' || c == ']')
        .filter(|t| t.contains('@'))
        .find_map(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn plain_mail_and_sender_order() {
        let raw = mail(
            "From: Ann <ann@example.com>\r\nReply-To: help@shop.example\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\nMessage-ID: <a1@x>",
            "Hello\r\n",
        );
        let m = parse_mail(&raw).unwrap();
        assert_eq!(m.from.as_deref(), Some("ann@example.com"));
        assert_eq!(m.sender(), Some("help@shop.example"));
        assert_eq!(m.candidates(), ["help@shop.example", "ann@example.com"]);
        assert_eq!(m.subject, "Café");
        assert_eq!(m.body, "Hello");
        assert_eq!(m.message_id, "a1@x");
    }

    #[test]
    fn missing_message_id_is_a_content_hash() {
        let raw = mail("From: a@b.example\r\nSubject: x", "hi");
        let m = parse_mail(&raw).unwrap();
        assert!(m.message_id.starts_with("sha256:") && m.message_id.len() == 71);
        assert_eq!(parse_mail(&raw).unwrap().message_id, m.message_id);
    }

    #[test]
    fn reply_history_is_removed() {
        let text = "Thanks, still broken.\n\nOn Mon, 23 Nov 2026 at 09:00, Support <s@x.example>\nwrote:\n> old text\n> more";
        assert_eq!(clean_body(text, false).0, "Thanks, still broken.");
        let bottom = "On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello";
        assert_eq!(clean_body(bottom, false).0, "Hello");
        let outlook = "Fine now.\n\n-----Original Message-----\nFrom: S\nSent: Monday\nold";
        assert_eq!(clean_body(outlook, false).0, "Fine now.");
        let block = "Great.\n________________________________\nFrom: Shop <s@x.example>\nSent: Monday\nTo: me\nSubject: RE: x\n\nold";
        assert_eq!(clean_body(block, false).0, "Great.");
        let quoted = "Top\n> a\n>> b\nBottom";
        assert_eq!(clean_body(quoted, false).0, "Top\nBottom");
        let sig = "Hi\n-- \nAnn\nCEO";
        assert_eq!(clean_body(sig, false).0, "Hi");
    }

    #[test]
    fn forwards_keep_content_and_find_the_original_sender() {
        let gmail = "FYI see below\n\n---------- Forwarded message ---------\nFrom: Bob Buyer <bob@cust.example>\nDate: Mon, 23 Nov 2026\nSubject: Late order\nTo: <help@shop.example>\n\nWhere is my order? This is unacceptable.\n\nOn Sun, Nov 22, 2026 Shop <help@shop.example> wrote:\n> older";
        let (body, from) = clean_body(gmail, true);
        assert_eq!(from.as_deref(), Some("bob@cust.example"));
        assert_eq!(
            body,
            "FYI see below\n\nWhere is my order? This is unacceptable."
        );
        let outlook = "See this.\n\n________________________________\nFrom: Bob <bob@cust.example>\nSent: Monday\nTo: Help\nSubject: Broken\n\nIt broke again.";
        let (body, from) = clean_body(outlook, true);
        assert_eq!(from.as_deref(), Some("bob@cust.example"));
        assert_eq!(body, "See this.\n\nIt broke again.");
        let apple =
            "Begin forwarded message:\n\nFrom: \"Bob\" <bob@cust.example>\nSubject: x\n\nLove it!";
        assert_eq!(
            clean_body(apple, false),
            ("Love it!".to_string(), Some("bob@cust.example".to_string()))
        );
    }

    #[test]
    fn html_quotes_removed_forwards_kept() {
        let html = r#"<div dir="ltr">Still waiting &amp; annoyed<br></div><br><div class="gmail_quote"><div class="gmail_attr">On Mon, Support wrote:<br></div><blockquote class="gmail_quote">old <div>nested</div> text</blockquote></div>"#;
        assert_eq!(html_to_text(html).trim(), "Still waiting & annoyed");
        let fwd = r#"<div>FYI</div><div class="gmail_quote"><div class="gmail_attr">---------- Forwarded message ---------<br>From: <strong>Bob</strong> <span>&lt;<a href="mailto:bob@cust.example">bob@cust.example</a>&gt;</span><br>Subject: x<br></div><br><div>Thanks, all good!</div></div>"#;
        let text = html_to_text(fwd);
        let (body, from) = clean_body(&text, false);
        assert_eq!(from.as_deref(), Some("bob@cust.example"), "{text}");
        assert!(
            body.contains("FYI") && body.contains("Thanks, all good!"),
            "{body}"
        );
    }

    #[test]
    fn deep_nesting_is_stripped_whole() {
        // 20,000 levels of blockquote, each with text, closed: all history, none of it kept.
        let n = 20_000;
        let mut html = String::from("<div>Top reply</div>");
        for i in 0..n {
            html.push_str(&format!("<blockquote>level {i}<div>x</div>"));
        }
        html.push_str(&"</blockquote>".repeat(n));
        html.push_str("<div>After the quote</div>");
        assert_eq!(html_to_text(&html).trim(), "Top reply\nAfter the quote");
        // Unclosed: everything from the first quote on is history.
        let unclosed = format!("<p>Hi</p>{}tail", "<blockquote>q".repeat(n));
        assert_eq!(html_to_text(&unclosed).trim(), "Hi");
        // Nested gmail_quote divs with plain divs inside, and a forward deep inside one: the
        // forward's element and its ancestors are kept, a later quote is removed.
        let mut g = String::from("<div>Mine</div>");
        for _ in 0..n {
            g.push_str("<div class=\"gmail_quote\"><div>");
        }
        g.push_str("---------- Forwarded message ---------<br>From: Bob &lt;bob@cust.example&gt;<br><br>Deep text");
        g.push_str(&"</div></div>".repeat(n));
        g.push_str("<div class=\"gmail_quote\">old reply</div>");
        let text = html_to_text(&g);
        let (body, from) = clean_body(&text, false);
        assert_eq!(from.as_deref(), Some("bob@cust.example"));
        assert_eq!(body, "Mine\n\nDeep text");
    }

    const SES_PASS: &str = "X-SES-Spam-Verdict: PASS\r\nX-SES-Virus-Verdict: PASS\r\n";

    fn ses() -> SenderPolicy {
        SenderPolicy {
            ses: true,
            helpdesk_domains: vec!["zendesk.com".into()],
        }
    }

    fn local() -> SenderPolicy {
        SenderPolicy {
            ses: false,
            ..ses()
        }
    }

    #[test]
    fn spoofed_reply_to_does_not_count() {
        // Authenticated stranger naming a customer in Reply-To: only From counts.
        let raw = mail(
            &format!(
                "Authentication-Results: amazonses.com; spf=pass (spf: ok) client-ip=1.2.3.4; envelope-from=eve@evil.example; dkim=pass header.i=@evil.example\r\n{SES_PASS}From: Eve <eve@evil.example>\r\nReply-To: ann@cust.example\r\nSubject: hi"
            ),
            "I hate it",
        );
        let m = parse_mail(&raw).unwrap();
        assert_eq!(m.trusted_candidates(&ses()), Ok(vec!["eve@evil.example"]));
        assert_eq!(m.trusted_sender(&local()), Some("eve@evil.example"));
        // Locally, no Authentication-Results: From only.
        let bare = mail(
            "From: eve@evil.example\r\nReply-To: ann@cust.example\r\nSubject: hi",
            "x",
        );
        let m = parse_mail(&bare).unwrap();
        assert_eq!(m.trusted_candidates(&local()), Ok(vec!["eve@evil.example"]));
        assert_eq!(
            m.trusted_candidates(&ses()),
            Err(Untrusted::Spam),
            "SES mail without verdicts is not trusted"
        );
    }

    #[test]
    fn forged_forward_block_does_not_count() {
        let raw = mail(
            &format!(
                "Authentication-Results: amazonses.com; spf=pass smtp.mailfrom=eve@evil.example; dkim=pass header.d=evil.example\r\n{SES_PASS}From: eve@evil.example\r\nSubject: Fwd: order"
            ),
            "---------- Forwarded message ---------\r\nFrom: Ann <ann@cust.example>\r\nSubject: order\r\n\r\nTerrible, cancel everything.",
        );
        let m = parse_mail(&raw).unwrap();
        assert_eq!(m.forwarded_from.as_deref(), Some("ann@cust.example"));
        assert_eq!(m.trusted_candidates(&ses()), Ok(vec!["eve@evil.example"]));
    }

    #[test]
    fn failed_authentication_trusts_nobody() {
        for results in [
            "amazonses.com; spf=fail smtp.mailfrom=ann@cust.example; dkim=fail header.i=@cust.example; dmarc=fail header.from=cust.example",
            // A pass, but for another domain than From's.
            "amazonses.com; spf=pass envelope-from=eve@evil.example; dkim=pass header.d=evil.example",
        ] {
            let raw = mail(
                &format!(
                    "Authentication-Results: {results}\r\n{SES_PASS}From: ann@cust.example\r\nSubject: x"
                ),
                "cancel",
            );
            let m = parse_mail(&raw).unwrap();
            assert_eq!(
                m.trusted_candidates(&ses()),
                Err(Untrusted::NotAuthenticated)
            );
            assert_eq!(
                m.trusted_candidates(&local()),
                Err(Untrusted::NotAuthenticated)
            );
            assert_eq!(m.trusted_sender(&local()), None);
        }
        // A forged pass further down does not help: only the top header is the receiver's.
        let raw = mail(
            &format!(
                "Authentication-Results: amazonses.com; spf=fail smtp.mailfrom=ann@cust.example\r\n{SES_PASS}Authentication-Results: amazonses.com; dkim=pass header.i=@cust.example\r\nFrom: ann@cust.example\r\nSubject: x"
            ),
            "cancel",
        );
        let m = parse_mail(&raw).unwrap();
        assert_eq!(m.trusted_sender(&ses()), None);
        // Spam or virus verdicts that are not PASS.
        let raw = mail(
            "Authentication-Results: amazonses.com; dkim=pass header.i=@cust.example\r\nX-SES-Spam-Verdict: FAIL\r\nX-SES-Virus-Verdict: PASS\r\nFrom: ann@cust.example\r\nSubject: x",
            "cancel",
        );
        assert_eq!(
            parse_mail(&raw).unwrap().trusted_candidates(&ses()),
            Err(Untrusted::Spam)
        );
    }

    #[test]
    fn authenticated_helpdesk_forward_counts() {
        let raw = mail(
            &format!(
                "Authentication-Results: amazonses.com; spf=pass (spf: ok) client-ip=1.2.3.4; envelope-from=bounce@mail.zendesk.com; helo=mail.zendesk.com; dkim=pass header.i=@zendesk.com; dmarc=pass header.from=zendesk.com\r\n{SES_PASS}From: Shop Support <support@shop.zendesk.com>\r\nReply-To: Ann <ann@cust.example>\r\nSubject: Fwd: order"
            ),
            "---------- Forwarded message ---------\r\nFrom: Bob <bob@cust.example>\r\n\r\nLove it",
        );
        let m = parse_mail(&raw).unwrap();
        assert_eq!(
            m.trusted_candidates(&ses()),
            Ok(vec![
                "ann@cust.example",
                "support@shop.zendesk.com",
                "bob@cust.example"
            ])
        );
        // Not configured as a helpdesk: From only.
        let none = SenderPolicy {
            ses: true,
            helpdesk_domains: vec![],
        };
        assert_eq!(
            m.trusted_candidates(&none),
            Ok(vec!["support@shop.zendesk.com"])
        );
    }

    #[test]
    fn limits() {
        let big = vec![b'a'; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(parse_mail(&big), Err(Unreadable::TooLarge { .. })));
        let mut many =
            String::from("From: a@b.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        for _ in 0..MAX_PARTS + 5 {
            many.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        }
        many.push_str("--b--\r\n");
        assert_eq!(
            parse_mail(many.as_bytes()),
            Err(Unreadable::TooManyParts { max: MAX_PARTS })
        );
        assert_eq!(
            Unreadable::TooDeep { max: 3 }.to_string(),
            "unreadable: MIME parts nested more than 3 deep"
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            extract_address(" Bob <bob@x.example>").as_deref(),
            Some("bob@x.example")
        );
        assert_eq!(
            extract_address("bob@x.example [mailto:bob@x.example]").as_deref(),
            Some("bob@x.example")
        );
        assert_eq!(extract_address("Bob"), None);
    }
}
