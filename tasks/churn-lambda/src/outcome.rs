//! The outcome handler behind a Lambda Function URL (auth NONE): the Function URL event becomes a
//! [`churn_outcome::Request`], the shared handler answers it over `DynamoDbStateStore` and Slack.
//! With a bot token it also publishes owners' Home tabs (`/slack/events`), owners found by the
//! owner lines of `rules.txt` in the rules bucket (read at most once a minute per container).
//! The Slack bot token, the signing secrets (current and previous) and the email-link key are
//! read from Secrets Manager once per container, on the first request (init makes no network
//! call).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use churn_aws::{
    AwsClients, DynamoDbOutcomeStore, DynamoDbSendLedger, DynamoDbStateStore, S3ObjectStore,
    SecretsError, SecretsManagerSecrets, TableNames,
};
use churn_core::notify::home::OwnerDirectory;
use churn_core::notify::links::LinkSigner;
use churn_core::notify::secret::secret_text;
use churn_core::notify::slack::SigningSecrets;
use churn_core::ports::PortError;
use churn_core::rules::OwnerLine;
use churn_delivery::{RetryPolicy, SlackNotifier, SlackToken, SlackWeb};
use churn_outcome::event::{request_from_function_url, response_to_function_url};
use churn_outcome::home::Home;
use churn_outcome::{OutcomeHandler, SLACK_RESPONSE_URL_PREFIX};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::error::TaskError;
use crate::task_error;

/// Where the secrets are and how the handler is set up (from the function environment).
#[derive(Debug, Clone)]
pub struct OutcomeEnv {
    /// `SLACK_TOKEN_SECRET` (default `cp/keys#slack_bot_token`).
    pub bot_token_secret: String,
    /// `SLACK_SIGNING_SECRET_NAME` (default `cp/keys#slack_signing_secret`).
    pub signing_secret: String,
    /// `SLACK_SIGNING_SECRET_PREVIOUS_NAME` (default `cp/keys#slack_signing_secret_previous`); a
    /// missing secret means no rotation in progress.
    pub previous_signing_secret: String,
    /// `LINK_KEY_SECRET` (default `cp/keys#email_link_key`).
    pub link_key_secret: String,
    /// `TIME_ZONE` (default UTC): what "today" is for the recorded dates.
    pub time_zone: jiff::tz::TimeZone,
    /// `SLACK_API_URL` (default Slack's); tests point it at a local server.
    pub slack_api_url: String,
    /// `SLACK_RESPONSE_URL_PREFIX`: an extra allowed response_url prefix (tests only).
    pub extra_response_url_prefix: Option<String>,
    /// `RULES_BUCKET`: where `rules.txt` (the owner lines of the Home tab) is; without it there
    /// is no Home tab.
    pub rules_bucket: Option<String>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

impl OutcomeEnv {
    pub fn from_env() -> Result<OutcomeEnv, TaskError> {
        let tz_name = env_or("TIME_ZONE", "UTC");
        let time_zone = jiff::tz::TimeZone::get(&tz_name).map_err(|_| {
            TaskError::new(
                "churn.Config",
                format!("TIME_ZONE `{tz_name}` is not a time zone"),
            )
        })?;
        Ok(OutcomeEnv {
            bot_token_secret: env_or("SLACK_TOKEN_SECRET", "cp/keys#slack_bot_token"),
            signing_secret: env_or("SLACK_SIGNING_SECRET_NAME", "cp/keys#slack_signing_secret"),
            previous_signing_secret: env_or(
                "SLACK_SIGNING_SECRET_PREVIOUS_NAME",
                "cp/keys#slack_signing_secret_previous",
            ),
            link_key_secret: env_or("LINK_KEY_SECRET", "cp/keys#email_link_key"),
            time_zone,
            slack_api_url: env_or("SLACK_API_URL", churn_delivery::slack::DEFAULT_BASE_URL),
            extra_response_url_prefix: std::env::var("SLACK_RESPONSE_URL_PREFIX")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            rules_bucket: std::env::var("RULES_BUCKET")
                .ok()
                .filter(|v| !v.trim().is_empty()),
        })
    }
}

/// The handler this function runs.
pub type Handler = OutcomeHandler<
    DynamoDbOutcomeStore,
    SlackWeb,
    Option<Home<DynamoDbOutcomeStore, RulesObject, SlackNotifier>>,
>;

/// How long a container keeps the owner lines it read.
const OWNER_LINES_TTL: Duration = Duration::from_secs(60);

/// `rules.txt` in the rules bucket as the Home tab's owner lines, kept a minute.
pub struct RulesObject {
    objects: S3ObjectStore,
    bucket: String,
    cached: Mutex<Option<(Instant, Vec<OwnerLine>)>>,
}

impl RulesObject {
    pub fn new(clients: &AwsClients, bucket: &str) -> RulesObject {
        RulesObject {
            objects: S3ObjectStore::new(clients),
            bucket: bucket.to_string(),
            cached: Mutex::new(None),
        }
    }
}

impl OwnerDirectory for RulesObject {
    async fn owner_lines(&self) -> Result<Vec<OwnerLine>, PortError> {
        if let Some((at, lines)) = &*self.cached.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < OWNER_LINES_TTL
        {
            return Ok(lines.clone());
        }
        let text = self
            .objects
            .get_text(&self.bucket, "rules.txt")
            .await
            .map_err(|e| PortError::new(e.to_string(), e.is_retryable()))?;
        let lines = churn_core::rules::parse_rules(&text.text)
            .map(|r| r.owners)
            .map_err(|errors| {
                PortError::new(format!("rules.txt has {} error(s)", errors.len()), false)
            })?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), lines.clone()));
        Ok(lines)
    }
}

/// The container's long-lived context.
pub struct OutcomeApp {
    clients: AwsClients,
    tables: TableNames,
    env: OutcomeEnv,
    handler: OnceCell<Handler>,
}

impl OutcomeApp {
    /// From the function environment; no network calls.
    pub async fn from_env() -> Result<OutcomeApp, TaskError> {
        let sdk = churn_aws::load_sdk_config().await;
        let tables =
            TableNames::from_env().map_err(|e| TaskError::new("churn.Config", e.to_string()))?;
        Ok(OutcomeApp::new(
            AwsClients::new(&sdk),
            tables,
            OutcomeEnv::from_env()?,
        ))
    }

    pub fn new(clients: AwsClients, tables: TableNames, env: OutcomeEnv) -> OutcomeApp {
        OutcomeApp {
            clients,
            tables,
            env,
            handler: OnceCell::new(),
        }
    }

    /// Where the secrets and settings come from.
    pub fn env(&self) -> &OutcomeEnv {
        &self.env
    }

    /// The handler, built on first use with the secrets read once.
    pub async fn handler(&self) -> Result<&Handler, TaskError> {
        self.handler.get_or_try_init(|| self.build()).await
    }

    async fn build(&self) -> Result<Handler, TaskError> {
        let secrets = SecretsManagerSecrets::new(&self.clients);
        let (token, signing, previous, link_key) = tokio::join!(
            secrets.get(&self.env.bot_token_secret),
            secrets.get(&self.env.signing_secret),
            secrets.get(&self.env.previous_signing_secret),
            secrets.get(&self.env.link_key_secret),
        );
        let signing = signing.map_err(|e| task_error!(e))?;
        let link_key = link_key.map_err(|e| task_error!(e))?;
        let previous = match previous {
            Ok(p) => Some(p),
            Err(SecretsError::NotFound { .. }) => None,
            Err(e) => return Err(task_error!(e)),
        };
        let token = token.map_err(|e| task_error!(e))?;
        // Blank secrets are refused here, at start, not discovered as "every request fails".
        let config = |e: churn_core::notify::secret::BlankSecret| {
            TaskError::new("churn.Config", e.to_string())
        };
        let signing = secret_text(&self.env.signing_secret, signing.expose()).map_err(config)?;
        let link_key = secret_text(&self.env.link_key_secret, link_key.expose()).map_err(config)?;
        // A previous secret is optional; a blank one is simply not there.
        let previous = previous
            .as_ref()
            .and_then(|p| secret_text(&self.env.previous_signing_secret, p.expose()).ok());
        // The deployed placeholder is a random string: until a real bot token is set, the
        // handler runs without one (forms off, response_url still works).
        let api = if token.expose().trim().starts_with("xox") {
            Some(
                SlackNotifier::with_options(
                    SlackToken::new(token.expose()),
                    &self.env.slack_api_url,
                    RetryPolicy::interactive(),
                )
                .map_err(|e| task_error!(e))?,
            )
        } else {
            tracing::warn!(
                event = "no_bot_token",
                "the Slack bot token secret holds no xox token: Won back and Lost forms are off"
            );
            None
        };
        let store = DynamoDbOutcomeStore {
            state: DynamoDbStateStore::new(&self.clients, &self.tables),
            ledger: DynamoDbSendLedger::new(&self.clients, &self.tables),
        };
        // The Home tab needs views.publish (the token) and the owner lines (the rules bucket).
        let home = match (&api, &self.env.rules_bucket) {
            (Some(api), Some(bucket)) => Some(Home {
                source: store.clone(),
                owners: RulesObject::new(&self.clients, bucket),
                slack: api.clone(),
            }),
            _ => None,
        };
        let slack = SlackWeb::new(api, Duration::from_secs(2)).map_err(|e| task_error!(e))?;
        let mut prefixes = vec![SLACK_RESPONSE_URL_PREFIX.to_string()];
        prefixes.extend(self.env.extra_response_url_prefix.clone());
        Ok(OutcomeHandler::new(
            store,
            slack,
            SigningSecrets::new(signing, previous),
            LinkSigner::new(link_key.as_bytes()),
            self.env.time_zone.clone(),
        )
        .with_response_url_prefixes(prefixes)
        .with_home(home))
    }

    /// One Function URL event → its response object.
    pub async fn handle(&self, event: Value) -> Result<Value, TaskError> {
        let request = request_from_function_url(&event).map_err(TaskError::bad_input)?;
        let handler = self.handler().await?;
        Ok(response_to_function_url(&handler.handle(request).await))
    }
}
