//! `parse_mail` on real messages from public parser test suites (tests/data/mail, see SOURCES.md)
//! and on hostile messages made here: each parses into the expected sender and text, or is
//! refused as unreadable with its reason — never a panic.

use std::path::PathBuf;

use churn_core::ingest::mail::{MAX_DEPTH, MAX_PARTS, ParsedMail, Unreadable, parse_mail};

fn corpus(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/mail")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read(name: &str) -> ParsedMail {
    parse_mail(&corpus(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn shift_jis_body() {
    let m = read("mikel-mail_japanese_shift_jis.eml");
    assert_eq!(m.from.as_deref(), Some("xxxxxxx@docomo.ne.jp"));
    assert_eq!(m.subject, "test");
    assert_eq!(
        m.body,
        "あいうえお\n\nこのメールはテスト用のメールです。\n\n今後ともよろしくお願い申し上げます！"
    );
    assert_eq!(m.message_id, "xxxxx@docomo.ne.jp");
}

#[test]
fn iso_2022_jp_body_and_rfc2047_subject() {
    let m = read("mikel-mail_japanese_iso_2022.eml");
    assert_eq!(m.subject, "まみむめも");
    assert_eq!(m.body, "すみません。");
    assert_eq!(m.sender(), Some("raasdnil@gmail.com"));
}

#[test]
fn raw_8bit_header_is_read() {
    let m = read("mikel-mail_trademark_character_in_subject.eml");
    assert!(m.subject.starts_with("GA.com"), "{:?}", m.subject);
    assert!(m.subject.ends_with("has a lead for you"), "{:?}", m.subject);
    assert!(!m.subject.contains('\u{FFFD}'), "{:?}", m.subject);
    assert_eq!(m.body, "Body Text - not important");
    assert_eq!(m.sender(), Some("j@yahoo-example.com"));
}

#[test]
fn html_only_mail_becomes_text() {
    let m = read("mikel-mail_content_transfer_encoding_text-html.eml");
    assert!(!m.body.contains('<'), "{}", m.body);
    assert!(m.body.starts_with("Hello,"), "{}", m.body);
    assert!(
        m.body
            .contains("You have qualified for the lowest rate in years.")
    );
    assert!(m.body.contains("Approval Form"));
    // Reply-To and From are the same address: one candidate.
    assert_eq!(m.candidates(), ["abhijit.862153drinnan@datavalet.com"]);
}

#[test]
fn forward_as_attachment_keeps_the_original_and_its_sender() {
    let m = read("mikel-mail_attachment_message_rfc822.eml");
    assert_eq!(m.from.as_deref(), Some("foo@example.com"));
    assert_eq!(m.forwarded_from.as_deref(), Some("xxxx@xxxx.com"));
    assert_eq!(m.candidates(), ["foo@example.com", "xxxx@xxxx.com"]);
    assert!(m.body.starts_with("This is the first part."), "{}", m.body);
    assert!(m.body.contains("Just attaching another PDF"), "{}", m.body);
    assert!(!m.body.contains("JVBERi0"), "{}", m.body);
}

#[test]
fn outlook_reply_block_is_cut() {
    let m = read("talon_outlook.eml");
    assert_eq!(m.body, "Hello");
    assert_eq!(m.sender(), Some("me@example.com"));
}

#[test]
fn apple_reply_chain_is_cut() {
    assert_eq!(read("talon_apple_mail.eml").body, "Hello");
}

#[test]
fn bottom_posted_reply_is_kept() {
    assert_eq!(read("talon_thunderbird.eml").body, "Hello");
}

#[test]
fn quoted_header_block_is_removed() {
    assert_eq!(read("talon_hotmail.eml").body, "Hello");
}

#[test]
fn windows_1252_quoted_printable_from_outlook() {
    // `=97` is an em dash in Windows-1252 (in Latin-1 it would be a control character).
    let m = read("stalwart-mail-parser_issue109_windows-1252.eml");
    assert_eq!(m.body, "\u{2014}");
    // No From and no Message-ID: nobody to match, and the content hash stands in for the id.
    assert_eq!((m.from.as_deref(), m.reply_to.as_deref()), (None, None));
    assert!(m.message_id.starts_with("sha256:"), "{}", m.message_id);
}

// ---- generated ----

#[test]
fn windows_1252_smart_quotes() {
    let mut raw = b"From: Ann <ann@cust.example>\r\nSubject: =?windows-1252?Q?Caf=E9_order?=\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
    raw.extend_from_slice(b"It\x92s \x93broken\x94 again \x96 still waiting.\r\n");
    let m = parse_mail(&raw).unwrap();
    assert_eq!(m.subject, "Café order");
    assert_eq!(
        m.body,
        "It\u{2019}s \u{201C}broken\u{201D} again \u{2013} still waiting."
    );
}

#[test]
fn gmail_inline_forward_text_and_html() {
    let raw = "From: Staff <staff@shop.example>\r\nTo: support-signals@shop.example\r\nSubject: Fwd: Late order\r\nMessage-ID: <fwd1@shop.example>\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nFYI\r\n\r\n---------- Forwarded message ---------\r\nFrom: Bob Buyer <Bob@Cust.example>\r\nDate: Mon, 23 Nov 2026 at 09:00\r\nSubject: Late order\r\nTo: <help@shop.example>\r\n\r\nWhere is my order? This is unacceptable.\r\n\r\n--b1\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<div>FYI</div><div class=\"gmail_quote\">---------- Forwarded message ---------<br>From: Bob</div>\r\n--b1--\r\n";
    let m = parse_mail(raw.as_bytes()).unwrap();
    assert_eq!(m.forwarded_from.as_deref(), Some("Bob@Cust.example"));
    assert_eq!(m.sender(), Some("staff@shop.example"));
    assert_eq!(m.body, "FYI\n\nWhere is my order? This is unacceptable.");

    let html_only = "From: staff@shop.example\r\nSubject: Fwd: x\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<div dir=\"ltr\">see below<br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">---------- Forwarded message ---------<br>From: <strong class=\"gmail_sendername\">Bob</strong> <span>&lt;bob@cust.example&gt;</span><br>Date: Mon<br>Subject: x<br></div><br><div dir=\"ltr\">Love the new range, thank you!</div><br><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Sun, Shop wrote:<br></div><blockquote class=\"gmail_quote\">Our old newsletter</blockquote></div></div></div>";
    let m = parse_mail(html_only.as_bytes()).unwrap();
    assert_eq!(m.forwarded_from.as_deref(), Some("bob@cust.example"));
    assert!(m.body.contains("see below"), "{}", m.body);
    assert!(
        m.body.contains("Love the new range, thank you!"),
        "{}",
        m.body
    );
    assert!(!m.body.contains("newsletter"), "{}", m.body);
}

#[test]
fn no_from_uses_the_forwarded_sender() {
    let raw = "Subject: Fwd: help\r\n\r\nBegin forwarded message:\r\n\r\nFrom: Carol <carol@cust.example>\r\nSubject: help\r\n\r\nThanks so much, all sorted.\r\n";
    let m = parse_mail(raw.as_bytes()).unwrap();
    assert_eq!(m.from, None);
    assert_eq!(m.sender(), Some("carol@cust.example"));
}

fn nested_multipart(depth: usize) -> String {
    let mut s = String::from("From: deep@cust.example\r\nSubject: deep\r\n");
    for i in 0..depth {
        s.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    s.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    for i in (0..depth).rev() {
        s.push_str(&format!("--b{i}--\r\n"));
    }
    s
}

fn nested_messages(depth: usize) -> String {
    let mut s = String::from("From: deep@cust.example\r\nSubject: deep\r\n");
    for _ in 0..depth {
        s.push_str(
            "Content-Type: message/rfc822\r\n\r\nFrom: inner@cust.example\r\nSubject: inner\r\n",
        );
    }
    s.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    s
}

#[test]
fn thousand_level_nesting_is_refused_not_a_crash() {
    for raw in [nested_multipart(1000), nested_messages(1000)] {
        assert_eq!(
            parse_mail(raw.as_bytes()),
            Err(Unreadable::TooDeep { max: MAX_DEPTH })
        );
    }
    // Just inside the limit still reads.
    let ok = parse_mail(nested_multipart(MAX_DEPTH - 2).as_bytes()).unwrap();
    assert_eq!(ok.body, "bottom");
}

#[test]
fn fifty_thousand_parts_are_refused() {
    // With a Content-Type per part: refused by the pre-scan, before parsing.
    let mut with_ct = String::from(
        "From: a@cust.example\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n",
    );
    // Without: parts default to text/plain; refused after parsing, by the count.
    let mut bare = with_ct.clone();
    for _ in 0..50_000 {
        with_ct.push_str("--p\r\nContent-Type: text/plain\r\n\r\nx\r\n");
        bare.push_str("--p\r\n\r\nx\r\n");
    }
    with_ct.push_str("--p--\r\n");
    bare.push_str("--p--\r\n");
    for raw in [with_ct, bare] {
        assert_eq!(
            parse_mail(raw.as_bytes()),
            Err(Unreadable::TooManyParts { max: MAX_PARTS })
        );
    }
}

#[test]
fn invalid_base64_text_is_unreadable() {
    let raw = "From: a@cust.example\r\nSubject: b64\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!! not base64 at all ####\r\n";
    let err = parse_mail(raw.as_bytes()).unwrap_err();
    assert_eq!(err, Unreadable::BadEncoding { encoding: "base64" });
    assert_eq!(
        err.to_string(),
        "unreadable: the text part's base64 encoding is invalid"
    );
}

#[test]
fn unknown_charsets() {
    // Undecodable bytes in an unknown charset: unreadable, with the charset named.
    let mut raw = b"From: a@cust.example\r\nSubject: cs\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\n".to_vec();
    raw.extend_from_slice(b"\xff\xfe\x80 qapla\r\n");
    assert_eq!(
        parse_mail(&raw),
        Err(Unreadable::UnknownCharset {
            charset: "x-klingon".into()
        })
    );
    // An unknown label on plain ASCII text reads, with a note.
    let raw = b"From: a@cust.example\r\nSubject: cs\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nAll fine.\r\n";
    let m = parse_mail(raw).unwrap();
    assert_eq!(m.body, "All fine.");
    assert_eq!(m.notes.len(), 1);
}

#[test]
fn junk_never_panics() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for n in 0..300 {
        let mut bytes = Vec::with_capacity(n * 7);
        for _ in 0..n * 7 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            bytes.push(
                b"From: a@b.c\r\n:=?-<>\"\n\r boundary--Content-Type: multipart/x; \xff\x00"
                    [(seed % 57) as usize],
            );
        }
        let _ = parse_mail(&bytes);
    }
    assert_eq!(parse_mail(b""), Err(Unreadable::NoHeaders));
}

/// A header block that runs into the body with no blank line (nmh's bad-input test): the sender
/// and the body both survive.
#[test]
fn header_block_without_blank_line_keeps_the_body() {
    let m = read("nmh_bad-input_no-blank-line.eml");
    assert_eq!(m.from.as_deref(), Some("foo@example.edu"));
    assert_eq!(m.subject, "test");
    assert_eq!(
        m.body,
        "This is a multi-part message in MIME format.\n\nI am a stupid spammer."
    );
}

/// The same inside MIME parts: each part's headers run into its text.
#[test]
fn part_headers_without_blank_line_keep_the_text() {
    let m = read("made-here_part-no-blank-line.eml");
    assert_eq!(m.from.as_deref(), Some("bob@cust.example"));
    assert_eq!(m.body, "Still waiting for my refund, this is unacceptable.");
}

/// A repeated `From`: the first wins, as in mail clients.
#[test]
fn repeated_from_first_wins() {
    let m = read("made-here_repeated-from.eml");
    assert_eq!(m.from.as_deref(), Some("ann@cust.example"));
    assert_eq!(m.candidates(), ["ann@cust.example"]);
    assert_eq!(m.body, "The replacement arrived broken again.");
}
