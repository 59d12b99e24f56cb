//! The handoff task (SPEC §4 step 2): for one owner, the send ledger decides what to do; then
//! the contact pause against fresh state, the cap, one reason per name, the send (Slack, or
//! email — also the fallback when any Slack part fails), and the ledger marked `sent` as soon as
//! the send succeeds.

use churn_aws::{
    DynamoDbSendLedger, DynamoDbStateStore, LedgerError, S3ObjectStore, SecretsManagerSecrets,
    SesMailer,
};
use churn_core::links::LinkSigner;
use churn_core::message::{OwnerList, email, slack_messages};
use churn_core::model::ListItem;
use churn_core::run::{LedgerState, OwnerAction, status};
use churn_core::state::Status;
use churn_delivery::bedrock::{BedrockReasoner, BedrockReasonerConfig};
use churn_delivery::slack::{SlackNotifier, SlackRecipient};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::app::App;
use crate::error::TaskError;
use crate::payload::{CustomerOut, HandoffEvent, OwnerResult};
use crate::task_error;

/// Reasons written at once per owner (Bedrock calls in flight): a whole capped list in one wave, so a
/// handoff waits about one model reply, not three. With the Map's 4 owners at a time that is at most
/// 40 calls in flight; a throttled call falls back to the deterministic reason.
const REASON_CONCURRENCY: usize = 10;

/// The handoff's long-lived parts: the shared app, and the secrets and Slack client read on first
/// use and kept for the container's life.
pub struct Handoff {
    pub app: App,
    slack: OnceCell<SlackNotifier>,
    link_key: OnceCell<Vec<u8>>,
    voice: OnceCell<Option<String>>,
}

impl Handoff {
    pub fn new(app: App) -> Handoff {
        Handoff {
            app,
            slack: OnceCell::new(),
            link_key: OnceCell::new(),
            voice: OnceCell::new(),
        }
    }

    fn secret_name(var: &'static str, default: &str) -> String {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    }

    pub(crate) async fn slack(&self) -> Result<&SlackNotifier, TaskError> {
        self.slack
            .get_or_try_init(|| self.app.slack_notifier())
            .await
    }

    async fn link_key(&self) -> Result<&[u8], TaskError> {
        self.link_key
            .get_or_try_init(|| async {
                let name = Self::secret_name("LINK_KEY_SECRET", "cp/email/link-key");
                let key = SecretsManagerSecrets::new(&self.app.clients)
                    .get(&name)
                    .await
                    .map_err(|e| task_error!(e))?;
                Ok::<_, TaskError>(key.expose().as_bytes().to_vec())
            })
            .await
            .map(Vec::as_slice)
    }

    async fn voice(&self) -> Option<String> {
        self.voice
            .get_or_init(|| async {
                S3ObjectStore::new(&self.app.clients)
                    .get_text(&self.app.buckets.rules, "voice.txt")
                    .await
                    .ok()
                    .map(|o| o.text.trim().to_string())
                    .filter(|v| !v.is_empty())
            })
            .await
            .clone()
    }
}

/// Runs the handoff for one owner.
pub async fn handle(h: &Handoff, event: Value) -> Result<OwnerResult, TaskError> {
    let HandoffEvent { run, item } = serde_json::from_value(event)
        .map_err(|e| TaskError::bad_input(format!("handoff input: {e}")))?;
    let span = tracing::info_span!("handoff", run_id = %run.run_id, week = %run.week);
    let _enter = span.enter();
    let app = &h.app;
    let ledger = DynamoDbSendLedger::new(&app.clients, &app.tables);
    let entries = ledger.get(&run.week).await.map_err(|e| task_error!(e))?;
    let entry = entries.get(&item.owner);
    let state = match entry {
        None => LedgerState::Unsent,
        Some(e) if e.recorded => LedgerState::Recorded {
            list: &e.list,
            via: &e.via,
        },
        Some(e) => LedgerState::Sent {
            list: &e.list,
            via: &e.via,
        },
    };
    let action = OwnerAction::decide(&state, run.resend, run.dry_run);
    let mut result = OwnerResult {
        run: run.clone(),
        owner: item.owner.clone(),
        via: entry.map_or(item.via.clone(), |e| e.via.clone()),
        status: String::new(),
        customers: Vec::new(),
        record: false,
        recorded: 0,
        note: None,
    };
    match (action, entry) {
        (OwnerAction::AlreadySent, _) => {
            result.status = status::ALREADY_SENT.into();
            return Ok(result);
        }
        (OwnerAction::RecordFromLedger, Some(e)) => {
            // Sent by an earlier execution but not recorded: record, never send again.
            result.status = status::SENT.into();
            result.customers = e.list.iter().map(CustomerOut::from).collect();
            result.record = true;
            result.note = Some("sent earlier; recorded now".into());
            return Ok(result);
        }
        (OwnerAction::Resend, Some(e)) => {
            if item.refused {
                return Err(refused());
            }
            let (via, note) = deliver(
                h,
                &run.week,
                &run.as_of,
                &item.owner,
                item.slack_user.clone(),
                &item.via,
                &e.list,
            )
            .await?;
            result.status = status::SENT.into();
            result.via = via;
            result.note = Some(note.unwrap_or_else(|| "resent unchanged".into()));
            result.customers = e.list.iter().map(CustomerOut::from).collect();
            return Ok(result);
        }
        _ => {}
    }

    // Send or dry run: this week's list.
    let candidates: Vec<ListItem> = match (&item.candidates, &item.candidates_key) {
        (Some(c), _) => c.clone(),
        (None, Some(key)) => {
            let text = S3ObjectStore::new(&app.clients)
                .get_text(&app.buckets.runs, key)
                .await
                .map_err(|e| task_error!(e))?;
            serde_json::from_str(&text.text)
                .map_err(|e| TaskError::internal(format!("candidates {key}: {e}")))?
        }
        (None, None) => Vec::new(),
    };
    let as_of: jiff::civil::Date = run
        .as_of
        .parse()
        .map_err(|_| TaskError::bad_input(format!("as_of `{}`", run.as_of)))?;
    let ids: Vec<&str> = candidates.iter().map(|c| c.customer_id.as_str()).collect();
    let fresh = DynamoDbStateStore::new(&app.clients, &app.tables)
        .get_many(&ids)
        .await
        .map_err(|e| task_error!(e))?;
    // The pause and lost status again, on fresh state: an outcome may have landed since the scorer.
    let mut list: Vec<ListItem> = candidates
        .into_iter()
        .filter(|c| {
            fresh.get(&c.customer_id).is_none_or(|s| {
                s.status != Status::Lost && !s.is_paused(as_of, run.contact_pause_days)
            })
        })
        .take(run.weekly_cap)
        .collect();
    if list.is_empty() {
        result.status = status::NOTHING_TO_SEND.into();
        return Ok(result);
    }
    write_reasons(h, &mut list).await?;
    result.customers = list.iter().map(CustomerOut::from).collect();
    if action == OwnerAction::DryRun {
        result.status = status::DRY_RUN.into();
        return Ok(result);
    }
    if item.refused {
        return Err(refused());
    }
    let (via, note) = deliver(
        h,
        &run.week,
        &run.as_of,
        &item.owner,
        item.slack_user.clone(),
        &item.via,
        &list,
    )
    .await?;
    let sent_at = churn_aws::AuditClock::default().now_string();
    match ledger
        .mark_sent(
            &run.week,
            &item.owner,
            &via,
            &list,
            &run.rules_version,
            &run.run_id,
            &sent_at,
        )
        .await
    {
        Ok(()) => {
            result.status = status::SENT.into();
            result.record = true;
        }
        // A concurrent branch for the same owner got there first.
        Err(LedgerError::AlreadyExists { .. }) => result.status = status::ALREADY_SENT.into(),
        Err(e) => return Err(task_error!(e)),
    }
    result.via = via;
    result.note = note;
    tracing::info!(names = list.len(), via = %result.via, "list sent");
    Ok(result)
}

/// The owner's address is also a customer's email: nothing may go to it (the address itself is
/// personal data, so it is not in the message).
fn refused() -> TaskError {
    TaskError::new(
        "churn.Refused",
        "the owner's address is also a customer's email in the list; nothing was sent",
    )
}

/// One reason per name: Bedrock (checked, with the deterministic fallback) unless disabled.
async fn write_reasons(h: &Handoff, list: &mut [ListItem]) -> Result<(), TaskError> {
    let cfg = h.app.config().await?;
    let use_model =
        !cfg.model_id.is_empty() && std::env::var("REASONS").map_or(true, |v| v != "deterministic");
    if !use_model {
        for item in list.iter_mut() {
            item.reason = churn_core::reason::deterministic_reason(&item.breakdown);
        }
        return Ok(());
    }
    let config = BedrockReasonerConfig {
        model_id: cfg.model_id.clone(),
        voice: h.voice().await,
        ..Default::default()
    };
    let reasoner = BedrockReasoner::new(&h.app.sdk, config);
    let reasons = reasoner.reasons(list, REASON_CONCURRENCY).await;
    for (item, (reason, source)) in list.iter_mut().zip(reasons) {
        tracing::info!(customer_id = %item.customer_id, source = ?source, "reason");
        item.reason = reason;
    }
    Ok(())
}

/// Sends the list by the owner's channel; any Slack failure sends the whole list by email instead.
/// Returns the channel used and a note.
async fn deliver(
    h: &Handoff,
    week: &str,
    as_of: &str,
    owner: &str,
    slack_user: Option<String>,
    via: &str,
    list: &[ListItem],
) -> Result<(String, Option<String>), TaskError> {
    let owner_list = OwnerList {
        week,
        as_of,
        owner,
        items: list,
    };
    let mut note = None;
    if via == "slack" {
        let messages = slack_messages(&owner_list, slack_user.as_deref().unwrap_or(owner));
        match h.slack().await {
            Ok(slack) => match slack
                .send_list(&SlackRecipient::new(owner, slack_user), &messages)
                .await
            {
                Ok(report) if report.is_complete() => return Ok(("slack".into(), None)),
                Ok(report) => {
                    let why = report.error().map(|e| e.to_string()).unwrap_or_default();
                    tracing::warn!(error = %why, posted = report.posted.len(), parts = report.parts, "Slack failed part-way; sending by email");
                    note = Some(format!(
                        "Slack failed after {} of {} parts ({why}); the whole list went by email",
                        report.posted.len(),
                        report.parts
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Slack failed; sending by email");
                    note = Some(format!("Slack failed ({e}); the list went by email"));
                }
            },
            Err(e) => {
                tracing::warn!(error = %e.message, "no Slack client; sending by email");
                note = Some(format!(
                    "Slack unavailable ({}); the list went by email",
                    e.message
                ));
            }
        }
    }
    let cfg = h.app.config().await?;
    let signer = LinkSigner::new(h.link_key().await?);
    let mut body = email(
        &owner_list,
        &signer,
        &cfg.outcome_url,
        jiff::Timestamp::now().as_second(),
    );
    if let Some(n) = &note {
        body.text = format!(
            "({n}; part of it may already be in Slack.)\n\n{}",
            body.text
        );
    }
    SesMailer::new(&h.app.clients)
        .send(&cfg.sender, &[owner], &body, |_| false)
        .await
        .map_err(|e| task_error!(e))?;
    Ok(("email".into(), note))
}
