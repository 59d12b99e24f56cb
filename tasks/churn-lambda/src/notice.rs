//! The admin notice (docs/SPEC.md §2): when the scorer stops a run on a bad list or rules doc, the state
//! machine's `TellAdmin` state hands the error to the handoff function, which tells the admin (the
//! fallback owner) why — on Slack when the rules give them a `slack` owner line, else by email,
//! and by email when Slack fails. Nothing is sent on a dry run.

use churn_aws::{S3ObjectStore, SesMailer};
use churn_core::notify::message::EmailBody;
use churn_core::rules::{Channel, parse_rules};
use churn_delivery::slack::SlackRecipient;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::TaskError;
use crate::handoff::Handoff;
use crate::task_error;

/// The `TellAdmin` state's payload: `{"notice": {...}}`.
#[derive(Debug, Deserialize)]
pub struct NoticeEvent {
    pub notice: Notice,
}

/// Why the run stopped, as the scorer's error reached the state machine.
#[derive(Debug, Deserialize)]
pub struct Notice {
    /// The execution's name (the run id).
    pub execution: String,
    /// The scorer's `errorType`, e.g. `churn.BadList`.
    pub error: String,
    /// Step Functions' `Cause`: the Lambda error as JSON text (`{"errorType", "errorMessage"}`).
    pub cause: String,
    /// The execution's input (`as_of`, `dry_run`, …).
    #[serde(default)]
    pub input: Value,
}

/// What the notice did.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct NoticeResult {
    /// `slack`, `email`, or `none` (dry run).
    pub via: String,
    pub error: String,
}

/// The error message inside Step Functions' `Cause` (falls back to the raw cause).
fn message_of(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| cause.to_string())
}

/// The notice's words: what stopped, why, that nothing was sent, and what to do.
pub fn notice_text(n: &Notice) -> (String, String) {
    let what = match n.error.as_str() {
        "churn.BadRules" => "the rules doc has errors",
        _ => "the customer list could not be used",
    };
    let subject = format!("Churn predictor: this week's run stopped ({what})");
    let body = format!(
        "This week's churn run ({}) stopped before anything was written or sent: {what}.\n\n{}\n\n\
         Fix the sheet or the rules doc, then start the run again from the Step Functions console \
         (New execution with the same input). Owners will get one list; nobody is sent anything twice.",
        n.execution,
        message_of(&n.cause)
    );
    (subject, body)
}

/// Tells the admin why the run stopped.
pub async fn handle(h: &Handoff, event: Value) -> Result<NoticeResult, TaskError> {
    let NoticeEvent { notice } = serde_json::from_value(event)
        .map_err(|e| TaskError::bad_input(format!("notice input: {e}")))?;
    let span =
        tracing::info_span!("admin_notice", run_id = %notice.execution, error = %notice.error);
    let _enter = span.enter();
    let dry_run = notice
        .input
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if dry_run {
        tracing::info!("dry run: the admin is not told");
        return Ok(NoticeResult {
            via: "none".into(),
            error: notice.error,
        });
    }
    let cfg = h.app.config().await?;
    let admin = cfg.fallback_owner.to_ascii_lowercase();
    let (subject, text) = notice_text(&notice);
    // The admin may not be a customer either, on Slack or by email (docs/SPEC.md §1); a list
    // that cannot be read refuses the notice rather than sending it unchecked.
    let customer_emails = h.app.customer_emails().await?;
    if customer_emails.contains(&admin) {
        tracing::warn!("refused the admin notice: the admin's address is a customer's");
        return Err(TaskError::new(
            "churn.Refused",
            "refused to send: the admin's address is a customer's address in the list",
        ));
    }

    // The admin's Slack line, if the rules in force can be read (they may be what is broken).
    let slack_line = S3ObjectStore::new(&h.app.clients)
        .get_text(&h.app.buckets.rules, "rules.txt")
        .await
        .ok()
        .and_then(|o| parse_rules(&o.text).ok())
        .and_then(|rules| {
            rules.owners.into_iter().find_map(|o| match o.channel {
                Channel::Slack { user_id } if o.email == admin => Some(user_id),
                _ => None,
            })
        });
    if let Some(user_id) = slack_line {
        match h.slack().await {
            Ok(slack) => {
                let recipient = SlackRecipient::new(&admin, user_id);
                let body = json!({"text": format!("*{subject}*\n{text}")});
                match slack.send_list(&recipient, &[body]).await {
                    Ok(report) if report.is_complete() => {
                        tracing::info!(via = "slack", "admin told");
                        return Ok(NoticeResult {
                            via: "slack".into(),
                            error: notice.error,
                        });
                    }
                    Ok(report) => {
                        let why = report.error().map(|e| e.to_string()).unwrap_or_default();
                        tracing::warn!(error = %why, "Slack failed; telling the admin by email");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Slack failed; telling the admin by email")
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "no Slack client; telling the admin by email")
            }
        }
    }
    let body = EmailBody {
        html: format!(
            "<p><strong>{}</strong></p><pre>{}</pre>",
            html_escape(&subject),
            html_escape(&text)
        ),
        subject,
        text,
    };
    SesMailer::new(&h.app.clients)
        .send(&cfg.sender, &[admin.as_str()], &body, |a| {
            customer_emails.contains(a)
        })
        .await
        .map_err(|e| task_error!(e))?;
    tracing::info!(via = "email", "admin told");
    Ok(NoticeResult {
        via: "email".into(),
        error: notice.error,
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_quotes_the_scorers_message_and_says_nothing_was_sent() {
        let n = Notice {
            execution: "monday-2026-W48".into(),
            error: "churn.BadList".into(),
            cause: r#"{"errorType":"churn.BadList","errorMessage":"3 of 4 rows are bad (more than 20%): nothing was written or sent"}"#.into(),
            input: json!({}),
        };
        let (subject, body) = notice_text(&n);
        assert!(subject.contains("customer list"), "{subject}");
        assert!(body.contains("3 of 4 rows are bad"), "{body}");
        assert!(body.contains("monday-2026-W48"), "{body}");
        assert!(!body.contains("errorType"), "{body}");
    }

    #[test]
    fn a_cause_that_is_not_json_is_quoted_as_it_is() {
        let n = Notice {
            execution: "x".into(),
            error: "churn.BadRules".into(),
            cause: "line 3: expected `at least N: P points`".into(),
            input: Value::Null,
        };
        let (subject, body) = notice_text(&n);
        assert!(subject.contains("rules doc"));
        assert!(body.contains("line 3: expected"));
    }
}
