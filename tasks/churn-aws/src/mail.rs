//! `SesMailer`: email to owners and summary recipients through SES v2 (`SendEmail`, Simple
//! content). A recipient who is a customer is refused before SES is called.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use churn_core::model::{canonical_addresses, normalize_email};
use churn_core::notify::message::EmailBody;

use crate::AwsClients;
use crate::error::{AwsFailure, ERROR_INTERNAL, ERROR_REFUSED};

const CHARSET: &str = "UTF-8";

/// A send that did not happen. Errors never carry a recipient's address (it may be a customer's).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Recipient number `index` (0-based) is a customer's address; nothing was sent.
    #[error("refused to send: recipient {index} is a customer's address")]
    Refused { index: usize },
    #[error("no recipients")]
    NoRecipients,
    #[error("could not build the email: {0}")]
    Build(String),
    #[error(transparent)]
    Aws(#[from] AwsFailure),
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Aws(f) if f.is_retryable())
    }

    pub fn error_type(&self) -> &'static str {
        match self {
            MailError::Refused { .. } => ERROR_REFUSED,
            MailError::Aws(f) => f.error_type(),
            _ => ERROR_INTERNAL,
        }
    }
}

/// Sends email through SES v2.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
}

impl SesMailer {
    pub fn new(clients: &AwsClients) -> SesMailer {
        SesMailer {
            client: clients.sesv2.clone(),
        }
    }

    /// Sends `body` from `from` to `to`; returns SES's message id. `is_customer` is asked about
    /// every recipient first — as written (trimmed and lower-cased) and as each of its canonical
    /// addresses (docs/SPEC.md §1: display name removed, every address, `+tag` ignored); if it
    /// says yes for any, the whole send is [`MailError::Refused`] and SES is never called. The
    /// list's `CustomerEmails` works: `|a| customer_emails.contains(a)`; so does a set of
    /// canonical addresses.
    pub async fn send<S: AsRef<str>>(
        &self,
        from: &str,
        to: &[S],
        body: &EmailBody,
        is_customer: impl Fn(&str) -> bool,
    ) -> Result<String, MailError> {
        if to.is_empty() {
            return Err(MailError::NoRecipients);
        }
        for (index, address) in to.iter().enumerate() {
            let address = address.as_ref();
            if is_customer(&normalize_email(address))
                || canonical_addresses(address).iter().any(|a| is_customer(a))
            {
                tracing::warn!(
                    recipient = index,
                    "refused an email to a customer's address"
                );
                return Err(MailError::Refused { index });
            }
        }
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset(CHARSET)
                .build()
                .map_err(|e| MailError::Build(e.to_string()))
        };
        let message = Message::builder()
            .subject(content(&body.subject)?)
            .body(
                Body::builder()
                    .html(content(&body.html)?)
                    .text(content(&body.text)?)
                    .build(),
            )
            .build();
        let destination = Destination::builder()
            .set_to_addresses(Some(
                to.iter().map(|a| a.as_ref().trim().to_string()).collect(),
            ))
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(from)
            .destination(destination)
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk("SESv2.SendEmail", &e))?;
        let id = out.message_id.unwrap_or_default();
        tracing::info!(recipients = to.len(), message_id = %id, "sent an email");
        Ok(id)
    }
}

/// `SesMailer` as the Monday engine's mailer: the owner's list as HTML and text with signed
/// action links (docs/SPEC.md §7), from the configured sender.
pub struct SesListMailer {
    pub mailer: SesMailer,
    pub sender: String,
    pub signer: churn_core::notify::links::LinkSigner,
    /// The outcome handler's URL, the links' base.
    pub outcome_url: String,
}

impl churn_core::ports::ListMailer for SesListMailer {
    async fn mail_list(
        &self,
        list: &churn_core::notify::message::OwnerList<'_>,
        note: Option<&str>,
    ) -> Result<(), churn_core::ports::PortError> {
        let body = churn_core::notify::message::email_with_note(
            list,
            &self.signer,
            &self.outcome_url,
            jiff::Timestamp::now().as_second(),
            note,
        );
        // The owner guard ran in the engine (the plan's `refused`).
        self.mailer
            .send(&self.sender, &[list.owner], &body, |_| false)
            .await
            .map(|_| ())
            .map_err(|e| churn_core::ports::PortError::new(e.to_string(), e.is_retryable()))
    }
}
