//! Parsing benchmark (issue 5): a 10 MB support email — a multipart/mixed message with a
//! quoted-printable text part, an HTML alternative and a base64 attachment, about 10 MB in all —
//! through `parse_mail`. Target ≤ 100 ms. Issue 12 adds 1 MB messages of deep nesting (nested and
//! unclosed `<blockquote>`s and `gmail_quote` divs, with and without a forward inside; nested `>`
//! quotes, repeated forward blocks, a header block with no blank line): each under 100 ms.
//! Run: `cargo run --release -p churn-core --example bench_mail`.

use std::time::Instant;

use churn_core::ingest::mail::parse_mail;

fn message(target: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: Bob Buyer <bob@cust.example>\r\nTo: support-signals@shop.example\r\nSubject: =?utf-8?q?Order_1182_=E2=80=94_still_broken?=\r\nMessage-ID: <bench@cust.example>\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
    );
    let line = "The replacement arrived broken again =E2=80=94 I am still waiting for a ref=\r\nund, and this is the third time this month.\r\n";
    while m.len() < target / 3 {
        m.push_str(line);
    }
    m.push_str("\r\nOn Mon, 23 Nov 2026 at 09:00, Support <help@shop.example> wrote:\r\n");
    for _ in 0..2000 {
        m.push_str("> Thanks for your patience, we are looking into it.\r\n");
    }
    m.push_str("--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div dir=\"ltr\">");
    while m.len() < 2 * target / 3 {
        m.push_str("<p>The replacement arrived broken again &mdash; still waiting.</p>\r\n");
    }
    m.push_str("</div>\r\n--alt--\r\n--mix\r\nContent-Type: image/jpeg; name=\"photo.jpg\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"photo.jpg\"\r\n\r\n");
    let b64 = "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUV\r\n";
    while m.len() < target {
        m.push_str(b64);
    }
    m.push_str("--mix--\r\n");
    m.into_bytes()
}

/// A message whose HTML body is `open` repeated, `middle`, then `close` repeated, to `target` bytes
/// (issue 12: deep nesting was quadratic).
fn nested(target: usize, open: &str, middle: &str, close: &str, closed: bool) -> Vec<u8> {
    let mut m = String::from(
        "From: Bob Buyer <bob@cust.example>\r\nSubject: nested\r\nMessage-ID: <nested@cust.example>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<div>Top reply, still waiting.</div>",
    );
    let per = open.len() + if closed { close.len() } else { 0 };
    let n = (target - m.len() - middle.len()) / per;
    for _ in 0..n {
        m.push_str(open);
    }
    m.push_str(middle);
    if closed {
        for _ in 0..n {
            m.push_str(close);
        }
    }
    m.into_bytes()
}

/// A plain-text message: a reply, then `line` repeated to `target` bytes.
fn plain(target: usize, line: &str) -> Vec<u8> {
    let mut m = String::from(
        "From: Bob Buyer <bob@cust.example>\r\nSubject: Fwd: plain\r\nMessage-ID: <plain@cust.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTop reply, still waiting.\r\n",
    );
    while m.len() + line.len() < target {
        m.push_str(line);
    }
    m.into_bytes()
}

fn time(name: &str, raw: &[u8], runs: usize) {
    let mut times = Vec::with_capacity(runs);
    let mut body_len = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let m = parse_mail(raw).expect("the bench message parses");
        times.push(t.elapsed());
        body_len = m.body.len();
    }
    times.sort();
    println!(
        "parse_mail, {name}, {:.1} MB ({} runs): min {:.1} ms, median {:.1} ms, max {:.1} ms; body {} bytes",
        raw.len() as f64 / 1_048_576.0,
        runs,
        times[0].as_secs_f64() * 1e3,
        times[runs / 2].as_secs_f64() * 1e3,
        times[runs - 1].as_secs_f64() * 1e3,
        body_len
    );
}

fn main() {
    const MB: usize = 1024 * 1024;
    let cases: [(&str, &str, &str, &str, bool); 6] = [
        (
            "nested blockquotes",
            "<blockquote>",
            "old",
            "</blockquote>",
            true,
        ),
        ("unclosed blockquotes", "<blockquote>", "old", "", false),
        (
            "nested blockquotes, forwarded inside",
            "<blockquote>",
            "---------- Forwarded message ---------",
            "</blockquote>",
            true,
        ),
        (
            "nested gmail_quote divs",
            "<div class=\"gmail_quote\">",
            "old",
            "</div>",
            true,
        ),
        (
            "unclosed gmail_quote divs",
            "<div class=\"gmail_quote\">",
            "old",
            "",
            false,
        ),
        (
            "nested gmail_quote divs, forwarded inside",
            "<div class=\"gmail_quote\">",
            "Forwarded message",
            "</div>",
            true,
        ),
    ];
    for (name, open, middle, close, closed) in cases {
        time(name, &nested(MB, open, middle, close, closed), 5);
    }
    let lines: [(&str, &str); 3] = [
        (
            "plain, nested > quotes",
            ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>> old text\r\n",
        ),
        (
            "plain, repeated forward blocks",
            "---------- Forwarded message ---------\r\nFrom: a@b.example\r\n\r\n\r\n",
        ),
        (
            "plain, header lines with no blank line",
            "X-Header: value\r\n",
        ),
    ];
    for (name, line) in lines {
        time(name, &plain(MB, line), 5);
    }
    let raw = message(10 * 1024 * 1024);
    let runs = 20;
    let mut times = Vec::with_capacity(runs);
    let mut body_len = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let m = parse_mail(&raw).expect("the bench message parses");
        times.push(t.elapsed());
        body_len = m.body.len();
    }
    times.sort();
    println!(
        "parse_mail, {:.1} MB message ({} runs): min {:.1} ms, median {:.1} ms, max {:.1} ms; body {} bytes",
        raw.len() as f64 / 1_048_576.0,
        runs,
        times[0].as_secs_f64() * 1e3,
        times[runs / 2].as_secs_f64() * 1e3,
        times[runs - 1].as_secs_f64() * 1e3,
        body_len
    );
}
