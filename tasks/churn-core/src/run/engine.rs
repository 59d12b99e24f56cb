//! The Monday engine (docs/SPEC.md §4): after the scan, per owner — ledger decision → claim → fresh
//! pause and lost check → cap → reasons → the customer guard → send with the email fallback →
//! mark `sent` — then record. `churn weekly` runs it over the data folder's adapters; the Step
//! Functions handoff and record tasks run one owner of it each over the AWS adapters.
//!
//! Exactly once: nothing is sent without holding the (week, owner) claim; a claim left by a
//! crash is taken over only after asking Slack (message metadata) whether the list is already
//! there; an email resend after a takeover says an earlier attempt may have arrived.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::model::{CustomerOut, ListItem};
use crate::notify::message::{OwnerList, slack_messages};
use crate::outcome::state::Status;
use crate::ports::{
    CustomerStates, ListMailer, ListReasoner, ListSlack, PortError, SendLedger, SlackTo,
};
use crate::rules::{Channel, Rules};
use crate::run::input::{OwnerAction, OwnerStatus};
use crate::run::ledger::{Claim, ClaimRequest, LedgerEntry, LedgerStatus, SentList, Via};
use crate::run::scan::{CustomerEmails, OwnerShortlist};

/// How long a claim keeps other runs from sending (longer than one handoff may take).
pub const DEFAULT_LEASE_MS: i64 = 5 * 60 * 1000;

/// How many candidates the scan keeps per owner: spare names beyond the cap, because the
/// hand-off re-checks the pause and lost status against fresh state before capping.
pub fn shortlist_len(weekly_cap: usize) -> usize {
    weekly_cap.saturating_mul(3)
}

/// Fixed once per run (by the scorer, or at the start of `churn weekly`); every later step uses
/// it, so a rerun with the same input is the same week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// The ISO week of `as_of`, `2026-W48`: the send ledger's key with the owner.
    pub week: String,
    /// The run's local date, `YYYY-MM-DD`.
    pub as_of: String,
    /// Who claims and sends: the execution's name on AWS (a retry keeps it, a New execution
    /// gets a new one); time and process id on a laptop.
    pub run_id: String,
    /// Compute and report only: no state, ledger or audit written, nothing sent.
    pub dry_run: bool,
    /// Send the recorded list of the week again, unchanged.
    pub resend: bool,
    /// The content hash of the rules doc in force.
    pub rules_version: String,
    /// Names per owner per week (the rules doc's `weekly cap`).
    pub weekly_cap: usize,
    /// Days after a listing, contact or win-back during which a customer is not listed.
    pub contact_pause_days: u32,
    /// The rules doc's `holdout` percentage (`run::holdout`); absent means 0.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub holdout_percent: u32,
}

impl RunContext {
    /// The run for `as_of` under `rules`: the week is `as_of`'s ISO week.
    pub fn new(
        as_of: jiff::civil::Date,
        run_id: String,
        input: &crate::run::input::RunInput,
        rules: &Rules,
    ) -> RunContext {
        RunContext {
            week: crate::run::week::iso_week(as_of),
            as_of: as_of.to_string(),
            run_id,
            dry_run: input.dry_run,
            resend: input.resend,
            rules_version: rules.version.clone(),
            weekly_cap: rules.weekly_cap,
            contact_pause_days: rules.contact_pause_days,
            holdout_percent: rules.holdout_percent,
        }
    }

    fn as_of_date(&self) -> Result<jiff::civil::Date, RunError> {
        self.as_of
            .parse()
            .map_err(|_| RunError::bad_input(format!("as_of `{}` is not a date", self.as_of)))
    }
}

/// One owner's part of the run, as the scan left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerPlan {
    /// Lower-cased email.
    pub owner: String,
    /// The channel the rules give this owner.
    pub via: Via,
    /// The Slack member id from the owner line, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_user: Option<String>,
    /// Ranked candidates after the pause (a few more than the cap: the handoff re-checks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortlist: Vec<ListItem>,
    /// Candidates after the pause, before the cap.
    pub candidates: usize,
    /// At-risk or churning customers left off as gone (`run::gone`).
    #[serde(default)]
    pub gone: usize,
    /// The owner's address is also a customer's: nothing may be sent to it.
    #[serde(default)]
    pub refused: bool,
    /// How each shortlisted customer's score moved (docs/SPEC.md §7), by id; shown on their row.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub trends: crate::scoring::history::Trends,
}

/// The owners this run visits: everyone with candidates, plus everyone already in this week's
/// ledger (so a rerun reports them), limited to `only` when given; sorted by owner.
pub fn plan_owners(
    lists: &FxHashMap<String, OwnerShortlist>,
    ledger: &FxHashMap<String, LedgerEntry>,
    only: &FxHashSet<String>,
    rules: &Rules,
    customer_emails: &CustomerEmails,
) -> Vec<OwnerPlan> {
    let mut owners: Vec<&String> = lists.keys().collect();
    owners.extend(
        ledger
            .keys()
            .filter(|o| (only.is_empty() || only.contains(*o)) && !lists.contains_key(*o)),
    );
    owners.sort();
    owners
        .into_iter()
        .map(|owner| {
            let (via, slack_user) = match rules.channel_for(owner) {
                Channel::Slack { user_id } => (Via::Slack, user_id),
                Channel::Email => (Via::Email, None),
            };
            let list = lists.get(owner);
            OwnerPlan {
                owner: owner.clone(),
                via,
                slack_user,
                shortlist: list.map(|l| l.items.clone()).unwrap_or_default(),
                candidates: list.map_or(0, |l| l.candidates),
                gone: list.map_or(0, |l| l.gone),
                refused: customer_emails.contains(owner),
                trends: Default::default(),
            }
        })
        .collect()
}

/// What the run did for one owner.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerOutcome {
    /// Lower-cased email.
    pub owner: String,
    /// The channel actually used (or configured, when nothing was sent).
    pub via: Via,
    /// What happened (`sent`, `already_sent`, `nothing_to_send`, `dry_run`).
    pub status: OwnerStatus,
    /// The list sent, resent, recorded from the ledger, or computed on a dry run.
    pub list: Vec<ListItem>,
    /// Candidates after the pause, before the cap.
    pub candidates: usize,
    /// At-risk or churning customers left off as gone.
    pub gone: usize,
    /// What happened on the way ("Slack failed; sent by email", "another run is sending").
    pub note: Option<String>,
    /// The `ts` of each Slack message posted.
    pub posted: Vec<String>,
    /// Record must run for this owner: the ledger holds a `sent` entry.
    pub needs_record: bool,
    /// Held out of this week's list (`run::holdout`): recorded as `held_out`, never sent.
    pub held_out: Vec<crate::run::holdout::HeldOut>,
}

/// An owner's line in the run report (docs/SPEC.md §10's `owners` entries, plus a few additive keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerReport {
    /// Lower-cased email.
    pub owner: String,
    /// The channel used (or configured, when nothing was sent).
    pub via: Via,
    /// What happened to this owner's list.
    pub status: OwnerStatus,
    /// The names on the list, best first.
    pub customers: Vec<CustomerOut>,
    /// Candidates this owner had after the pause, before the cap.
    pub candidates: usize,
    /// At-risk or churning customers left off the list as gone (silent past `gone after`); the
    /// owner may mark them Lost.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gone: usize,
    /// Why the owner failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What happened on the way (a Slack fallback, another run sending, a takeover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Outbox files written (local runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The `ts` of each Slack message posted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub posted: Vec<String>,
    /// Names recorded by this run.
    #[serde(default)]
    pub recorded: usize,
    /// How many candidates were held out of the list (`holdout`); never who.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_out: usize,
}

impl OwnerReport {
    /// The report line of an owner's outcome.
    pub fn from_outcome(o: &OwnerOutcome) -> OwnerReport {
        OwnerReport {
            owner: o.owner.clone(),
            via: o.via,
            status: o.status,
            customers: o.list.iter().map(CustomerOut::from).collect(),
            candidates: o.candidates,
            gone: o.gone,
            error: None,
            note: o.note.clone(),
            files: Vec::new(),
            posted: o.posted.clone(),
            recorded: 0,
            held_out: o.held_out.len(),
        }
    }

    /// The report line of an owner whose step failed.
    pub fn failed(plan: &OwnerPlan, error: &RunError) -> OwnerReport {
        OwnerReport {
            owner: plan.owner.clone(),
            via: plan.via,
            status: OwnerStatus::Failed,
            customers: Vec::new(),
            candidates: plan.candidates,
            gone: plan.gone,
            error: Some(error.message.clone()),
            note: None,
            files: Vec::new(),
            posted: Vec::new(),
            recorded: 0,
            held_out: 0,
        }
    }
}

/// Why an owner's step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunErrorKind {
    /// The owner's address is a customer's: nothing may be sent to it.
    Refused,
    /// Throttling, a timeout, a 5xx: trying again later may work.
    Retryable,
    /// The input cannot be used.
    BadInput,
    /// Anything else.
    Failed,
}

impl RunErrorKind {
    /// The Lambda `errorType` the state machine matches on.
    pub fn error_type(self) -> &'static str {
        match self {
            RunErrorKind::Refused => "churn.Refused",
            RunErrorKind::Retryable => "churn.Retryable",
            RunErrorKind::BadInput => "churn.BadInput",
            RunErrorKind::Failed => "churn.Internal",
        }
    }
}

/// An owner's step failed; nothing was sent (or what was sent is in the ledger).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    /// Which kind, for the Lambda `errorType`.
    pub kind: RunErrorKind,
    /// Without secrets or personal data.
    pub message: String,
    /// Something may have gone out: the claim (with its list) stays, so the retry takes it
    /// over and checks the channel instead of sending afresh.
    keep_claim: bool,
}

impl RunError {
    fn bad_input(message: String) -> RunError {
        RunError {
            kind: RunErrorKind::BadInput,
            message,
            keep_claim: false,
        }
    }

    fn port(what: &str, e: PortError) -> RunError {
        RunError {
            kind: if e.retryable {
                RunErrorKind::Retryable
            } else {
                RunErrorKind::Failed
            },
            message: format!("{what}: {}", e.message),
            keep_claim: false,
        }
    }

    fn refused() -> RunError {
        RunError {
            kind: RunErrorKind::Refused,
            message: "refused: the owner's address is also a customer's email in the list; nothing was sent"
                .into(),
            keep_claim: false,
        }
    }

    fn keeping_claim(mut self) -> RunError {
        self.keep_claim = true;
        self
    }
}

/// The adapters one run works through.
pub struct Engine<'a, L, S, R, N, M> {
    /// The send ledger with claims.
    pub ledger: &'a L,
    /// Customer state as it stands at the send.
    pub states: &'a S,
    /// Writes the reasons.
    pub reasoner: &'a R,
    /// Posts to owners' Slack DMs.
    pub slack: &'a N,
    /// Emails owners (and takes every Slack fallback).
    pub mailer: &'a M,
    /// The current time, Unix milliseconds (claims and their leases).
    pub now_ms: fn() -> i64,
    /// How long a claim keeps other runs out ([`DEFAULT_LEASE_MS`]).
    pub lease_ms: i64,
}

/// The system clock in Unix milliseconds.
pub fn system_now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A delivered list: the channel used, a note, the Slack message ids.
struct Delivered {
    via: Via,
    note: Option<String>,
    posted: Vec<String>,
}

impl<L, S, R, N, M> Engine<'_, L, S, R, N, M>
where
    L: SendLedger,
    S: CustomerStates,
    R: ListReasoner,
    N: ListSlack,
    M: ListMailer,
{
    /// One owner's hand-off. `ledger_entry` is the entry read for the week (`None` when there is
    /// none, or when a what-if preview ignores the ledger).
    pub async fn hand_off(
        &self,
        ctx: &RunContext,
        plan: &OwnerPlan,
        ledger_entry: Option<&LedgerEntry>,
    ) -> Result<OwnerOutcome, RunError> {
        let mut out = OwnerOutcome {
            owner: plan.owner.clone(),
            via: ledger_entry
                .filter(|e| e.status != LedgerStatus::Sending)
                .map_or(plan.via, |e| e.via),
            status: OwnerStatus::AlreadySent,
            list: Vec::new(),
            candidates: plan.candidates,
            gone: plan.gone,
            note: None,
            posted: Vec::new(),
            needs_record: false,
            held_out: Vec::new(),
        };
        match (
            OwnerAction::decide(ledger_entry, ctx.resend, ctx.dry_run),
            ledger_entry,
        ) {
            (OwnerAction::AlreadySent, _) => return Ok(out),
            (OwnerAction::RecordFromLedger, Some(e)) => {
                // An entry with only held-out customers sent nothing.
                out.status = if e.list.is_empty() {
                    OwnerStatus::NothingToSend
                } else {
                    OwnerStatus::Sent
                };
                out.list = e.list.clone();
                out.held_out = e.held_out.clone();
                out.needs_record = true;
                out.note = Some("sent earlier; recorded now".into());
                return Ok(out);
            }
            (OwnerAction::Resend, Some(e)) => {
                if plan.refused {
                    return Err(RunError::refused());
                }
                let d = self.deliver(ctx, plan, &e.list, e.via, None).await?;
                out.status = OwnerStatus::Sent;
                out.via = d.via;
                out.note = Some(d.note.unwrap_or_else(|| "resent unchanged".into()));
                out.posted = d.posted;
                out.list = e.list.clone();
                return Ok(out);
            }
            (OwnerAction::DryRun, _) => {
                (out.list, out.held_out) = self.this_weeks_list(ctx, plan).await?;
                out.status = if out.list.is_empty() {
                    OwnerStatus::NothingToSend
                } else {
                    OwnerStatus::DryRun
                };
                return Ok(out);
            }
            _ => {}
        }

        // Send: nothing goes out without the claim.
        let now_ms = (self.now_ms)();
        let request = ClaimRequest {
            week: &ctx.week,
            owner: &plan.owner,
            run_id: &ctx.run_id,
            now_ms,
            lease_until_ms: now_ms + self.lease_ms,
        };
        let claim = self
            .ledger
            .claim(&request)
            .await
            .map_err(|e| RunError::port("claiming the send ledger entry", e))?;
        let previous = match claim {
            Claim::Busy { run_id } => {
                tracing::info!(other_run = %run_id, "another run is sending this owner's list");
                out.note = Some(format!("another run ({run_id}) is sending this list now"));
                return Ok(out);
            }
            Claim::Done(e) => {
                // Sent by another run between our read and our claim.
                return Box::pin(self.hand_off(ctx, plan, Some(&e))).await;
            }
            Claim::Claimed { previous } => previous,
        };
        let result = match previous.filter(|p| !p.list.is_empty()) {
            Some(p) => self.take_over(ctx, plan, &p).await,
            None => self.send_new(ctx, plan).await,
        };
        match result {
            Ok(mut o) => {
                o.candidates = plan.candidates;
                o.gone = plan.gone;
                Ok(o)
            }
            Err(e) => {
                // Nothing was sent: let a retry send. Something may have gone out: lapse the
                // claim now, keeping its list, so the retry checks the channel first.
                let (done, what) = if e.keep_claim {
                    (
                        self.ledger
                            .abandon(&ctx.week, &plan.owner, &ctx.run_id)
                            .await,
                        "lapsing",
                    )
                } else {
                    (
                        self.ledger
                            .release(&ctx.week, &plan.owner, &ctx.run_id)
                            .await,
                        "releasing",
                    )
                };
                if let Err(failed) = done {
                    tracing::warn!(error = %failed, "{what} the claim failed; it lapses with its lease");
                }
                Err(e)
            }
        }
    }

    /// This week's list: the shortlist re-checked against fresh state (an outcome may have
    /// landed since the scan), the holdout taken before the cap (`run::holdout::pick`), capped,
    /// with reasons; and who was held out.
    async fn this_weeks_list(
        &self,
        ctx: &RunContext,
        plan: &OwnerPlan,
    ) -> Result<(Vec<ListItem>, Vec<crate::run::holdout::HeldOut>), RunError> {
        let as_of = ctx.as_of_date()?;
        let ids: Vec<&str> = plan
            .shortlist
            .iter()
            .map(|c| c.customer_id.as_str())
            .collect();
        let fresh = if ids.is_empty() {
            FxHashMap::default()
        } else {
            self.states
                .fresh(&ids)
                .await
                .map_err(|e| RunError::port("reading customer state", e))?
        };
        let eligible = plan.shortlist.iter().filter(|c| {
            fresh.get(&c.customer_id).is_none_or(|s| {
                s.status != Status::Lost && !s.is_paused(as_of, ctx.contact_pause_days)
            })
        });
        let (mut list, held_out) =
            crate::run::holdout::pick(eligible, ctx.weekly_cap, ctx.holdout_percent, &ctx.week);
        self.reasoner.write_reasons(&mut list).await;
        Ok((list, held_out))
    }

    /// A fresh send under a new claim.
    async fn send_new(&self, ctx: &RunContext, plan: &OwnerPlan) -> Result<OwnerOutcome, RunError> {
        let (list, held_out) = self.this_weeks_list(ctx, plan).await?;
        let mut out = OwnerOutcome {
            owner: plan.owner.clone(),
            via: plan.via,
            status: OwnerStatus::NothingToSend,
            list,
            candidates: plan.candidates,
            gone: plan.gone,
            note: None,
            posted: Vec::new(),
            needs_record: false,
            held_out: Vec::new(),
        };
        out.held_out = held_out;
        if out.list.is_empty() && !out.held_out.is_empty() && !plan.refused {
            // Nothing to send, but the held out are recorded like a sent list's names.
            let sent = SentList {
                via: plan.via,
                list: &[],
                rules_version: &ctx.rules_version,
                held_out: &out.held_out,
            };
            out.needs_record = self
                .ledger
                .mark_sent(&ctx.week, &plan.owner, &ctx.run_id, &sent)
                .await
                .map_err(|e| RunError::port("noting the held-out customers", e))?;
            return Ok(out);
        }
        if out.list.is_empty() {
            self.ledger
                .release(&ctx.week, &plan.owner, &ctx.run_id)
                .await
                .map_err(|e| RunError::port("releasing the claim", e))?;
            return Ok(out);
        }
        if plan.refused {
            tracing::warn!("owner address is a customer email; refused");
            return Err(RunError::refused());
        }
        let sent = SentList {
            via: plan.via,
            list: &out.list,
            rules_version: &ctx.rules_version,
            held_out: &out.held_out,
        };
        let held = self
            .ledger
            .prepare(&ctx.week, &plan.owner, &ctx.run_id, &sent)
            .await
            .map_err(|e| RunError::port("storing the list in the claim", e))?;
        if !held {
            out.status = OwnerStatus::AlreadySent;
            out.note = Some("another run took over this list; it was not sent by this run".into());
            out.list.clear();
            return Ok(out);
        }
        let d = self.deliver(ctx, plan, &out.list, plan.via, None).await?;
        self.finish(ctx, plan, out, d).await
    }

    /// Finishes a claim taken over from a sender that crashed (or from this run's own earlier
    /// attempt): its list, checked against the channel first.
    async fn take_over(
        &self,
        ctx: &RunContext,
        plan: &OwnerPlan,
        previous: &LedgerEntry,
    ) -> Result<OwnerOutcome, RunError> {
        tracing::info!(previous_run = %previous.run_id, "taking over a lapsed claim");
        let out = OwnerOutcome {
            owner: plan.owner.clone(),
            via: previous.via,
            status: OwnerStatus::Sent,
            list: previous.list.clone(),
            candidates: plan.candidates,
            gone: plan.gone,
            note: None,
            posted: Vec::new(),
            needs_record: false,
            held_out: previous.held_out.clone(),
        };
        if plan.refused {
            return Err(RunError::refused());
        }
        let delivered = match previous.via {
            Via::Slack => {
                let to = slack_to(plan);
                let parts = match self.slack.posted_parts(&to, &ctx.week, &plan.owner).await {
                    Ok(parts) => parts,
                    // Slack may answer later: the retry checks again.
                    Err(e) if e.retryable => {
                        return Err(
                            RunError::port("checking Slack for an earlier post", e).keeping_claim()
                        );
                    }
                    // Slack cannot be asked (a missing scope, say): email, saying so.
                    Err(e) => {
                        let note = format!(
                            "an earlier attempt may already have posted this list to Slack (Slack could not be checked: {}); the whole list went by email",
                            e.message
                        );
                        let d = self
                            .mail(ctx, plan, &previous.list, note)
                            .await
                            .map_err(RunError::keeping_claim)?;
                        return self.finish(ctx, plan, out, d).await;
                    }
                };
                let expected = self.messages(ctx, plan, &previous.list).len();
                let found: FxHashSet<usize> = parts.into_iter().collect();
                if (1..=expected).all(|p| found.contains(&p)) {
                    Delivered {
                        via: Via::Slack,
                        note: Some(
                            "an earlier attempt already posted this list to Slack; not posted again"
                                .into(),
                        ),
                        posted: Vec::new(),
                    }
                } else if found.is_empty() {
                    self.deliver(ctx, plan, &previous.list, Via::Slack, None)
                        .await
                        .map_err(RunError::keeping_claim)?
                } else {
                    let note = format!(
                        "an earlier attempt posted {} of {expected} parts of this list to Slack before it stopped; the whole list went by email",
                        found.len()
                    );
                    self.mail(ctx, plan, &previous.list, note)
                        .await
                        .map_err(RunError::keeping_claim)?
                }
            }
            Via::Email => {
                let note = "an earlier attempt to send this list was interrupted and may already have arrived".to_string();
                self.mail(ctx, plan, &previous.list, note)
                    .await
                    .map_err(RunError::keeping_claim)?
            }
        };
        self.finish(ctx, plan, out, delivered).await
    }

    /// Marks the entry `sent` once the list is out.
    async fn finish(
        &self,
        ctx: &RunContext,
        plan: &OwnerPlan,
        mut out: OwnerOutcome,
        d: Delivered,
    ) -> Result<OwnerOutcome, RunError> {
        out.via = d.via;
        out.note = d.note;
        out.posted = d.posted;
        out.status = OwnerStatus::Sent;
        let sent = SentList {
            via: d.via,
            list: &out.list,
            rules_version: &ctx.rules_version,
            held_out: &out.held_out,
        };
        // The list is out: a failure to note it must not lead to a second send, so the claim
        // (which holds the list) stays for the takeover to find and finish.
        let held = self
            .ledger
            .mark_sent(&ctx.week, &plan.owner, &ctx.run_id, &sent)
            .await
            .map_err(|e| RunError::port("marking the list sent", e).keeping_claim())?;
        out.needs_record = held;
        if !held {
            tracing::warn!("the claim lapsed during the send; another run finishes the entry");
        }
        tracing::info!(names = out.list.len(), via = %out.via, "list sent");
        Ok(out)
    }

    /// The Slack messages of a list (with their metadata).
    fn messages(
        &self,
        ctx: &RunContext,
        plan: &OwnerPlan,
        list: &[ListItem],
    ) -> Vec<serde_json::Value> {
        let target = plan
            .slack_user
            .clone()
            .unwrap_or_else(|| format!("lookup:{}", plan.owner));
        slack_messages(&owner_list(ctx, plan, list), &target)
    }

    /// Sends by the owner's channel; any Slack failure sends the whole list by email instead.
    async fn deliver(
        &self,
        ctx: &RunContext,
        plan: &OwnerPlan,
        list: &[ListItem],
        via: Via,
        note: Option<String>,
    ) -> Result<Delivered, RunError> {
        if via == Via::Slack {
            let messages = self.messages(ctx, plan, list);
            let (why, maybe_posted) = match self.slack.post_list(&slack_to(plan), &messages).await {
                Ok(p) if p.is_complete() => {
                    return Ok(Delivered {
                        via: Via::Slack,
                        note,
                        posted: p.posted,
                    });
                }
                // A part that failed (a timeout, say) may still have reached Slack.
                Ok(p) => (
                    format!(
                        "Slack failed after {} of {} parts ({}); the whole list went by email, so part of it may already be in Slack",
                        p.posted.len(),
                        p.parts,
                        p.error.unwrap_or_default()
                    ),
                    true,
                ),
                // No DM (or no client): nothing reached Slack.
                Err(e) => (
                    format!("Slack failed ({}); the list went by email", e.message),
                    false,
                ),
            };
            tracing::warn!(why = %why, "Slack failed; sending by email");
            let mailed = self.mail(ctx, plan, list, why).await;
            return if maybe_posted {
                mailed.map_err(RunError::keeping_claim)
            } else {
                mailed
            };
        }
        self.mail(ctx, plan, list, note.unwrap_or_default()).await
    }

    async fn mail(
        &self,
        ctx: &RunContext,
        plan: &OwnerPlan,
        list: &[ListItem],
        note: String,
    ) -> Result<Delivered, RunError> {
        let note = Some(note).filter(|n| !n.is_empty());
        self.mailer
            .mail_list(&owner_list(ctx, plan, list), note.as_deref())
            .await
            .map_err(|e| RunError::port("sending the email", e))?;
        Ok(Delivered {
            via: Via::Email,
            note,
            posted: Vec::new(),
        })
    }

    /// Records an owner whose list is `sent` (docs/SPEC.md §4 step 3). Idempotent.
    pub async fn record(
        &self,
        ctx: &RunContext,
        owner: &str,
        by_user: &str,
    ) -> Result<usize, RunError> {
        record_owner(self.ledger, ctx, owner, by_user).await
    }

    /// Every owner in turn (the laptop run): hand-off, then record; a failed owner is reported
    /// and the others go on.
    pub async fn run_owners(
        &self,
        ctx: &RunContext,
        plans: &[OwnerPlan],
        ledger: &FxHashMap<String, LedgerEntry>,
        by_user: &str,
    ) -> Vec<OwnerReport> {
        let mut reports = Vec::with_capacity(plans.len());
        for plan in plans {
            let span = tracing::info_span!("owner", owner_ref = %owner_ref(&plan.owner));
            let _g = span.enter();
            let outcome = self.hand_off(ctx, plan, ledger.get(&plan.owner)).await;
            let report = match outcome {
                Ok(o) => {
                    let mut r = OwnerReport::from_outcome(&o);
                    if o.needs_record {
                        match self.record(ctx, &o.owner, by_user).await {
                            Ok(n) => r.recorded = n,
                            Err(e) => r.error = Some(e.message),
                        }
                    }
                    r
                }
                Err(e) => {
                    tracing::warn!(error = %e, error_type = e.kind.error_type(), "owner failed");
                    OwnerReport::failed(plan, &e)
                }
            };
            reports.push(report);
        }
        reports
    }
}

/// Records an owner whose list is `sent` (docs/SPEC.md §4 step 3): the Record task's whole job.
/// Idempotent; nothing on a dry run.
pub async fn record_owner<L: SendLedger>(
    ledger: &L,
    ctx: &RunContext,
    owner: &str,
    by_user: &str,
) -> Result<usize, RunError> {
    if ctx.dry_run {
        return Ok(0);
    }
    let as_of = ctx.as_of_date()?;
    ledger
        .record(&ctx.week, owner, as_of, by_user)
        .await
        .map_err(|e| RunError::port("recording the sent list", e))
}

fn slack_to(plan: &OwnerPlan) -> SlackTo<'_> {
    SlackTo {
        owner: &plan.owner,
        user_id: plan.slack_user.as_deref(),
    }
}

fn owner_list<'a>(ctx: &'a RunContext, plan: &'a OwnerPlan, list: &'a [ListItem]) -> OwnerList<'a> {
    OwnerList {
        week: &ctx.week,
        as_of: &ctx.as_of,
        owner: &plan.owner,
        items: list,
        trends: Some(&plan.trends),
        gone: plan.gone,
    }
}

/// A short, non-reversible reference to an owner for logs (no personal data in logs).
pub fn owner_ref(owner: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(owner.as_bytes());
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The audit note of the scorer's weekly score refresh (one run item, docs/SPEC.md §5).
pub fn scores_refreshed_note(
    ctx: &RunContext,
    scores_changed: u64,
    rows: u64,
    bad_rows: u64,
) -> serde_json::Map<String, serde_json::Value> {
    let mut note = serde_json::Map::new();
    note.insert("as_of".into(), ctx.as_of.clone().into());
    note.insert("scores_changed".into(), scores_changed.into());
    note.insert("rules_version".into(), ctx.rules_version.clone().into());
    note.insert("rows".into(), rows.into());
    note.insert("bad_rows".into(), bad_rows.into());
    note.insert("run_id".into(), ctx.run_id.clone().into());
    note
}

/// The BG/NBD model fitted on the list's own order history when a signal measures `p_alive`
/// (one extra pass over the list; none otherwise). `open` gives a fresh reader of the list.
pub fn p_alive_model<Rd: std::io::Read>(
    rules: &Rules,
    as_of: jiff::civil::Date,
    open: impl FnOnce() -> Result<
        crate::list::customers::CustomerReader<Rd>,
        crate::list::customers::ListError,
    >,
) -> Result<Option<crate::scoring::palive::BgNbdParams>, crate::list::customers::ListError> {
    if !crate::scoring::score::Scorer::needs_p_alive(rules) {
        return Ok(None);
    }
    Ok(crate::scoring::palive::fit_list(open()?, as_of)?.map(|f| f.params))
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}
