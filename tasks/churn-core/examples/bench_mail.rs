//! Parsing benchmark (issue 5): a 10 MB support email — a multipart/mixed message with a
//! quoted-printable text part, an HTML alternative and a base64 attachment, about 10 MB in all —
//! through `parse_mail`. Target ≤ 100 ms. Run: `cargo run --release -p churn-core --example
//! bench_mail`.

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

fn main() {
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
