//! The email links' HTML pages: the confirm form (GET), and the result (POST). Everything shown is
//! escaped; the pages load nothing and are never cached or indexed (the token is in the URL).

use churn_core::notify::links::{LinkAction, LinkClaims};
use churn_core::notify::message::html_escape;
use churn_core::outcome::state::LostReason;
use churn_core::ports::{Applied, PortError};

use crate::Response;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}\
label{display:block;margin:1rem 0 .3rem}input,select,textarea{font:inherit;width:100%;padding:.4rem}\
button{font:inherit;margin-top:1rem;padding:.5rem 1.2rem}.error{color:#a00}";

/// A whole page with the security headers.
pub(crate) fn page(status: u16, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t}</title><style>{STYLE}</style></head>\
         <body><h1>{t}</h1>{body_html}</body></html>\n",
        t = html_escape(title)
    );
    Response {
        status,
        headers: vec![
            ("content-type".into(), "text/html; charset=utf-8".into()),
            ("cache-control".into(), "no-store".into()),
            ("referrer-policy".into(), "no-referrer".into()),
            ("x-robots-tag".into(), "noindex".into()),
            ("x-content-type-options".into(), "nosniff".into()),
            (
                "content-security-policy".into(),
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
                    .into(),
            ),
        ],
        body: html,
    }
}

pub(crate) fn paragraph(text: &str) -> String {
    format!("<p>{}</p>", html_escape(text))
}

fn action_title(action: LinkAction) -> &'static str {
    match action {
        LinkAction::ReachedOut => "Reached out",
        LinkAction::WonBack => "Won back",
        LinkAction::Lost => "Lost",
        LinkAction::Undo => "Undo",
    }
}

/// The confirm page: nothing is written until the form is submitted. `error` re-shows the form
/// with a message (400).
pub(crate) fn confirm(claims: &LinkClaims, error: Option<&str>) -> Response {
    let mut body = if claims.action == LinkAction::Undo {
        format!(
            "<p>Undo the outcome you just recorded for customer <strong>{}</strong>?</p>",
            html_escape(&claims.customer_id)
        )
    } else {
        format!(
            "<p>Record <strong>{}</strong> for customer <strong>{}</strong>?</p>",
            action_title(claims.action),
            html_escape(&claims.customer_id)
        )
    };
    if let Some(e) = error {
        body.push_str(&format!("<p class=\"error\">{}</p>", html_escape(e)));
    }
    body.push_str("<form method=\"post\">");
    match claims.action {
        LinkAction::ReachedOut | LinkAction::Undo => {}
        LinkAction::WonBack => body.push_str(
            "<label for=\"value\">Recovered value (optional)</label>\
             <input id=\"value\" name=\"value\" inputmode=\"decimal\" maxlength=\"64\" placeholder=\"e.g. 1200 or $1,200.00\">",
        ),
        LinkAction::Lost => {
            body.push_str(
                "<label for=\"reason\">Reason</label><select id=\"reason\" name=\"reason\" required>\
                 <option value=\"\">Pick one</option>",
            );
            for r in LostReason::ALL {
                body.push_str(&format!(
                    "<option value=\"{}\">{}</option>",
                    r.as_str(),
                    html_escape(r.label())
                ));
            }
            body.push_str(
                "</select><label for=\"note\">Note (optional)</label>\
                 <textarea id=\"note\" name=\"note\" maxlength=\"500\" rows=\"3\"></textarea>",
            );
        }
    }
    let submit = if claims.action == LinkAction::Undo {
        "Undo"
    } else {
        "Record"
    };
    body.push_str(&format!("<button type=\"submit\">{submit}</button></form>"));
    page(
        if error.is_some() { 400 } else { 200 },
        action_title(claims.action),
        &body,
    )
}

/// The page after a POST; `undo_token` adds an Undo link for the write just recorded (a
/// relative link: the page is served at `/o/<token>`).
pub(crate) fn result(
    claims: &LinkClaims,
    result: &Result<Applied, PortError>,
    undo_token: Option<&str>,
) -> Response {
    let what = format!(
        "{} for customer {}",
        action_title(claims.action),
        claims.customer_id
    );
    match result {
        Ok(Applied::Recorded { .. }) => {
            let mut body = paragraph(&format!("{what}: recorded. Thank you."));
            if let Some(t) = undo_token {
                body.push_str(&format!(
                    "<p>A mistake? <a href=\"{}\">Undo this</a> (you will be asked to confirm).</p>",
                    html_escape(t)
                ));
            }
            page(200, "Recorded", &body)
        }
        Ok(Applied::AlreadyRecorded) => page(
            200,
            "Already recorded",
            &paragraph(&format!("{what} was already recorded; nothing changed.")),
        ),
        Err(_) => page(
            503,
            "Not recorded",
            &paragraph(
                "This could not be recorded just now and nothing was written. Please try again in a minute.",
            ),
        ),
    }
}
