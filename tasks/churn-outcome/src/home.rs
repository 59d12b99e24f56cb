//! The owner's Slack Home tab (docs/SPEC.md §7): published on `app_home_opened` and again after
//! each outcome, best effort (a failed publish never touches the outcome). [`NoHome`] when the
//! handler has no bot token or no Home; [`Home`] over the data, the owner lines and Slack.

use std::future::Future;

use churn_core::notify::home::{
    HomeSlack, HomeSource, OwnerDirectory, home_view, load_home, needs_profile_email,
    not_owner_view, owner_for_user,
};
use churn_core::ports::PortError;
use churn_core::rules::Channel;
use jiff::tz::TimeZone;

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The owner's Home went out.
    Owner,
    /// The member is no owner: the "not an owner" Home went out.
    NotOwner,
    /// Nothing was published (no Home here; a refresh for a member who is no owner, or an owner
    /// reached by email).
    Skipped,
}

/// The Home tab as the handler uses it.
pub trait HomeTab: Send + Sync {
    /// Whether a Home can be published at all.
    fn enabled(&self) -> bool;

    /// Publishes `user_id`'s Home as of `now` (unix seconds): theirs when they are an owner; when
    /// not, the "not an owner" Home if `tell_non_owner`, else nothing.
    fn publish_for_user(
        &self,
        user_id: &str,
        tell_non_owner: bool,
        now: i64,
        tz: &TimeZone,
    ) -> impl Future<Output = Result<Published, PortError>> + Send;

    /// Publishes the Home of the owner with this email (after an email-link outcome), when they
    /// are reached on Slack.
    fn publish_for_owner(
        &self,
        owner: &str,
        now: i64,
        tz: &TimeZone,
    ) -> impl Future<Output = Result<Published, PortError>> + Send;
}

/// No Home tab.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHome;

impl HomeTab for NoHome {
    fn enabled(&self) -> bool {
        false
    }

    async fn publish_for_user(
        &self,
        _: &str,
        _: bool,
        _: i64,
        _: &TimeZone,
    ) -> Result<Published, PortError> {
        Ok(Published::Skipped)
    }

    async fn publish_for_owner(
        &self,
        _: &str,
        _: i64,
        _: &TimeZone,
    ) -> Result<Published, PortError> {
        Ok(Published::Skipped)
    }
}

impl<T: HomeTab> HomeTab for Option<T> {
    fn enabled(&self) -> bool {
        self.as_ref().is_some_and(HomeTab::enabled)
    }

    async fn publish_for_user(
        &self,
        user_id: &str,
        tell_non_owner: bool,
        now: i64,
        tz: &TimeZone,
    ) -> Result<Published, PortError> {
        match self {
            Some(h) => h.publish_for_user(user_id, tell_non_owner, now, tz).await,
            None => Ok(Published::Skipped),
        }
    }

    async fn publish_for_owner(
        &self,
        owner: &str,
        now: i64,
        tz: &TimeZone,
    ) -> Result<Published, PortError> {
        match self {
            Some(h) => h.publish_for_owner(owner, now, tz).await,
            None => Ok(Published::Skipped),
        }
    }
}

/// The Home tab over its three ports: the data (`source`), the rules' owner lines (`owners`) and
/// Slack (`slack`).
#[derive(Debug, Clone)]
pub struct Home<St, D, P> {
    pub source: St,
    pub owners: D,
    pub slack: P,
}

fn timestamp(now: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

impl<St: HomeSource, D: OwnerDirectory, P: HomeSlack> Home<St, D, P> {
    async fn publish_owner(
        &self,
        user_id: &str,
        owner: &str,
        now: i64,
        tz: &TimeZone,
    ) -> Result<Published, PortError> {
        let data = load_home(&self.source, owner, timestamp(now), tz).await?;
        self.slack.publish_home(user_id, &home_view(&data)).await?;
        tracing::info!(
            event = "home_published",
            week = data.week,
            open = data.open.len(),
            "Home tab published"
        );
        Ok(Published::Owner)
    }
}

impl<St: HomeSource, D: OwnerDirectory, P: HomeSlack> HomeTab for Home<St, D, P> {
    fn enabled(&self) -> bool {
        true
    }

    async fn publish_for_user(
        &self,
        user_id: &str,
        tell_non_owner: bool,
        now: i64,
        tz: &TimeZone,
    ) -> Result<Published, PortError> {
        let lines = self.owners.owner_lines().await?;
        let email = if needs_profile_email(&lines, user_id) {
            self.slack.user_email(user_id).await?
        } else {
            None
        };
        match owner_for_user(&lines, user_id, email.as_deref()) {
            Some(owner) => self.publish_owner(user_id, &owner, now, tz).await,
            None if tell_non_owner => {
                self.slack.publish_home(user_id, &not_owner_view()).await?;
                tracing::info!(event = "home_published", owner = false, "not an owner");
                Ok(Published::NotOwner)
            }
            None => Ok(Published::Skipped),
        }
    }

    async fn publish_for_owner(
        &self,
        owner: &str,
        now: i64,
        tz: &TimeZone,
    ) -> Result<Published, PortError> {
        let owner = owner.trim().to_lowercase();
        let lines = self.owners.owner_lines().await?;
        let user_id = match lines.iter().find(|l| l.email.to_lowercase() == owner) {
            Some(l) => match &l.channel {
                Channel::Slack { user_id: Some(id) } => Some(id.clone()),
                Channel::Slack { user_id: None } => self.slack.user_by_email(&owner).await?,
                Channel::Email => None,
            },
            None => None,
        };
        match user_id {
            Some(id) => self.publish_owner(&id, &owner, now, tz).await,
            None => Ok(Published::Skipped),
        }
    }
}
