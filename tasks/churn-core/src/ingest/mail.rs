//! Support mail, read (docs/SPEC.md §8 mood-reader, §10 `churn read-mail`): the raw MIME of one message
//! into who sent it and what they wrote — quoted reply history removed, forwarded content kept.
//!
//! Parsing is `mail-parser` (iterative over multipart, so deep nesting cannot overflow the stack;
//! charsets including iso-2022-jp, Shift_JIS and windows-1252; RFC 2047 headers). Around it we
//! enforce our own limits, because a mail is hostile input: a size cap before anything else (SES's
//! 40 MB), a part-count pre-scan before parsing, then the part count and the nesting depth of the
//! parsed tree (walked without recursion). A message that breaks a limit, has no headers, whose
//! text is broken base64 or in a charset we cannot decode is [`Unreadable`], with the reason.

use std::borrow::Cow;

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
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
}

impl ParsedMail {
    /// The address used to find the customer when no lookup is made: Reply-To, else From, else
    /// the forwarded original sender (docs/SPEC.md §10).
    pub fn sender(&self) -> Option<&str> {
        self.candidates().into_iter().next()
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
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(Unreadable::NoHeaders)?;
    if message.headers().is_empty() {
        return Err(Unreadable::NoHeaders);
    }
    check_tree(&message)?;

    let from = address(message.from());
    let reply_to = address(message.reply_to());
    let subject = decoded_subject(&message, raw);
    let message_id = match message.message_id() {
        Some(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => format!("sha256:{}", hex(&Sha256::digest(raw))),
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

    let mut out = String::with_capacity(html.len());
    let mut pos = 0;
    let mut copied = 0;
    while let Some(off) = lower[pos..].find('<') {
        let start = pos + off;
        let rest = &lower[start..];
        let kind = if rest.starts_with("<blockquote") {
            Some("blockquote")
        } else if rest.starts_with("<div") {
            let tag_end = rest.find('>').unwrap_or(rest.len());
            rest[..tag_end].contains("gmail_quote").then_some("div")
        } else {
            None
        };
        let Some(tag) = kind else {
            pos = start + 1;
            continue;
        };
        let end = element_end(lower, start, tag);
        let element = &lower[start..end];
        // Keep forwarded content: the element carries a forward marker, or is the blockquote
        // Apple Mail puts right after `Begin forwarded message:`.
        let before = &lower[start.saturating_sub(300)..start];
        if has_forward_marker(element)
            || (tag == "blockquote" && before.contains("begin forwarded message"))
        {
            pos = start + 1;
            continue;
        }
        out.push_str(&html[copied..start]);
        copied = end;
        pos = end;
    }
    out.push_str(&html[copied..]);
    out
}

/// The byte just past the element starting at `start` (its matching close tag, counting nested
/// elements of the same name), or the end of the text.
fn element_end(lower: &str, start: usize, tag: &str) -> usize {
    let open = format!("<{tag}");
    let close = format!("</{tag}");
    let mut depth = 0usize;
    let mut pos = start;
    loop {
        let next_open = lower[pos..].find(&open).map(|o| pos + o);
        let next_close = lower[pos..].find(&close).map(|o| pos + o);
        match (next_open, next_close) {
            (Some(o), Some(c)) if o < c => {
                depth += 1;
                pos = o + open.len();
            }
            (_, Some(c)) => {
                depth = depth.saturating_sub(1);
                let after = lower[c..].find('>').map_or(lower.len(), |g| c + g + 1);
                if depth == 0 {
                    return after;
                }
                pos = after;
            }
            (_, None) => return lower.len(),
        }
    }
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
