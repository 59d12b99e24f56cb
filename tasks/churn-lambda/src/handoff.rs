//! The handoff task (docs/SPEC.md §4 step 2): one owner's step of the Monday engine
//! (`churn_core::run::Engine::hand_off`: ledger decision, claim, fresh pause, cap, reasons, send
//! with the email fallback, `sent`) over the AWS adapters.

use churn_aws::{
    DynamoDbRunStore, DynamoDbSendLedger, DynamoDbStateStore, S3ObjectStore, SecretsManagerSecrets,
    SesListMailer, SesMailer,
};
use churn_core::model::ListItem;
use churn_core::notify::links::LinkSigner;
use churn_core::notify::message::OwnerList;
use churn_core::notify::secret::secret_text;
use churn_core::ports::{
    DeterministicReasoner, ListMailer, ListReasoner, ListSlack, PortError, SlackPost, SlackTo,
};
use churn_core::run::engine::{DEFAULT_LEASE_MS, owner_ref, system_now_ms};
use churn_core::run::{Engine, OwnerReport, Via};
use churn_delivery::bedrock::{BedrockReasoner, BedrockReasonerConfig};
use churn_delivery::slack::SlackNotifier;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::app::App;
use crate::error::TaskError;
use crate::payload::{HandoffEvent, HandoffOutput, OwnerSummary, owner_report_key};
use crate::task_error;

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
                let name = Self::secret_name("LINK_KEY_SECRET", "cp/keys#email_link_key");
                let key = SecretsManagerSecrets::new(&self.app.clients)
                    .get(&name)
                    .await
                    .map_err(|e| task_error!(e))?;
                // Trimmed and checked exactly as the outcome handler reads it, so the key that
                // signs a link is the key that checks it.
                let key = secret_text(&name, key.expose())
                    .map_err(|e| TaskError::new("churn.Config", e.to_string()))?;
                Ok::<_, TaskError>(key.as_bytes().to_vec())
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

/// Runs the handoff for one owner: the engine's hand-off over the AWS adapters; the owner's full
/// report goes to S3 and a small summary back into the state.
pub async fn handle(h: &Handoff, event: Value) -> Result<HandoffOutput, TaskError> {
    let HandoffEvent { run, item } = serde_json::from_value(event)
        .map_err(|e| TaskError::bad_input(format!("handoff input: {e}")))?;
    let mut plan = item.plan;
    let span = tracing::info_span!("handoff", run_id = %run.run_id, week = %run.week, owner_ref = %owner_ref(&plan.owner));
    let _enter = span.enter();
    let app = &h.app;
    let objects = S3ObjectStore::new(&app.clients);
    if let Some(key) = &item.shortlist_key {
        let text = objects
            .get_text(&app.buckets.runs, key)
            .await
            .map_err(|e| task_error!(e))?;
        plan.shortlist = serde_json::from_str(&text.text)
            .map_err(|e| TaskError::internal(format!("shortlist {key}: {e}")))?;
    }
    let store = run_store(app);
    let entry = store
        .ledger
        .entry(&run.week, &plan.owner)
        .await
        .map_err(|e| task_error!(e))?;
    let reasoner = h.reasoner().await?;
    let slack = LazySlack {
        h,
        wanted: plan.via == Via::Slack,
    };
    let mailer = LazyMailer { h };
    let engine = Engine {
        ledger: &store,
        states: &store,
        reasoner: &reasoner,
        slack: &slack,
        mailer: &mailer,
        now_ms: system_now_ms,
        lease_ms: DEFAULT_LEASE_MS,
    };
    let outcome = engine
        .hand_off(&run, &plan, entry.as_ref())
        .await
        .map_err(|e| TaskError::new(e.kind.error_type(), e.message))?;
    let report = OwnerReport::from_outcome(&outcome);
    let report_key = owner_report_key(&run, &plan.owner);
    objects
        .put_json(&app.buckets.runs, &report_key, &report)
        .await
        .map_err(|e| task_error!(e))?;
    tracing::info!(status = %outcome.status, via = %outcome.via, names = outcome.list.len(), "handoff done");
    Ok(HandoffOutput {
        run,
        owner: OwnerSummary {
            owner: outcome.owner,
            via: outcome.via,
            status: outcome.status,
            names: outcome.list.len(),
            candidates: outcome.candidates,
            record: outcome.needs_record,
            recorded: 0,
            note: outcome.note,
            report_key,
        },
    })
}

/// `cp-runs` and `cp-state` as the engine's ledger and state.
pub(crate) fn run_store(app: &App) -> DynamoDbRunStore {
    DynamoDbRunStore {
        ledger: DynamoDbSendLedger::new(&app.clients, &app.tables),
        state: DynamoDbStateStore::new(&app.clients, &app.tables),
    }
}

/// The reason writer in force: Claude on Bedrock (checked, with the deterministic fallback),
/// or the deterministic writer when no model is configured or `REASONS=deterministic`.
pub enum LambdaReasoner {
    Model(Box<BedrockReasoner>),
    Deterministic,
}

impl ListReasoner for LambdaReasoner {
    async fn write_reasons(&self, items: &mut [ListItem]) {
        match self {
            LambdaReasoner::Model(m) => m.write_reasons(items).await,
            LambdaReasoner::Deterministic => DeterministicReasoner.write_reasons(items).await,
        }
    }
}

impl Handoff {
    async fn reasoner(&self) -> Result<LambdaReasoner, TaskError> {
        let cfg = self.app.config().await?;
        let use_model = !cfg.model_id.is_empty()
            && std::env::var("REASONS").map_or(true, |v| v != "deterministic");
        if !use_model {
            return Ok(LambdaReasoner::Deterministic);
        }
        let config = BedrockReasonerConfig {
            model_id: cfg.model_id.clone(),
            voice: self.voice().await,
            ..Default::default()
        };
        Ok(LambdaReasoner::Model(Box::new(BedrockReasoner::new(
            &self.app.sdk,
            config,
        ))))
    }
}

/// The Slack client, built (secret read) only when an owner's list goes to Slack; a client that
/// cannot be built fails the post, so the engine falls back to email.
struct LazySlack<'a> {
    h: &'a Handoff,
    wanted: bool,
}

impl LazySlack<'_> {
    async fn client(&self) -> Result<&SlackNotifier, PortError> {
        if !self.wanted {
            return Err(PortError::new("this owner is not reached on Slack", false));
        }
        self.h
            .slack()
            .await
            .map_err(|e| PortError::new(format!("Slack unavailable: {}", e.message), false))
    }
}

impl ListSlack for LazySlack<'_> {
    async fn post_list(
        &self,
        to: &SlackTo<'_>,
        messages: &[Value],
    ) -> Result<SlackPost, PortError> {
        self.client().await?.post_list(to, messages).await
    }

    async fn posted_parts(
        &self,
        to: &SlackTo<'_>,
        week: &str,
        owner: &str,
    ) -> Result<Vec<usize>, PortError> {
        self.client().await?.posted_parts(to, week, owner).await
    }
}

/// SES with the link key and settings read on first use (Slack owners usually need neither).
struct LazyMailer<'a> {
    h: &'a Handoff,
}

impl ListMailer for LazyMailer<'_> {
    async fn mail_list(&self, list: &OwnerList<'_>, note: Option<&str>) -> Result<(), PortError> {
        let port = |e: TaskError| PortError::new(e.message, e.kind == churn_aws::ERROR_RETRYABLE);
        let cfg = self.h.app.config().await.map_err(port)?;
        let key = self.h.link_key().await.map_err(port)?;
        SesListMailer {
            mailer: SesMailer::new(&self.h.app.clients),
            sender: cfg.sender.clone(),
            signer: LinkSigner::new(key),
            outcome_url: cfg.outcome_url.clone(),
        }
        .mail_list(list, note)
        .await
    }
}
