//! `churn aws run | status | rerun | redrive`: the deployed Monday run through the Step Functions
//! API (docs/SPEC.md §10). The state machine and the runs bucket come from
//! `CHURN_STATE_MACHINE_ARN` / `CHURN_RUNS_BUCKET`, or else from the stack's outputs
//! (`WeeklyStateMachineArn`, `RunsBucketName`). Credentials, region and endpoint come from the
//! standard chain (`AWS_ENDPOINT_URL` is honoured).

use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::error::{CliError, exit};

/// The stack the commands look in when the environment does not name the state machine.
const DEFAULT_STACK: &str = "churn-predictor";

#[derive(Subcommand, Debug)]
pub enum AwsCommand {
    /// Start the deployed Monday run (an execution of the weekly state machine).
    Run(RunArgs),
    /// Show a week's latest execution (or the named one) and its run report.
    Status(StatusArgs),
    /// Start a New execution with the same input as the week's latest execution: owners already
    /// sent are skipped by the send ledger, so this retries exactly the failed owners.
    Rerun(RerunArgs),
    /// Redrive a failed execution (it continues from the failed state, same run id).
    Redrive(RedriveArgs),
}

#[derive(Args, Debug, Clone)]
pub struct StackArgs {
    /// The CloudFormation stack whose outputs name the state machine and the runs bucket
    /// (unless CHURN_STATE_MACHINE_ARN and CHURN_RUNS_BUCKET are set).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_STACK)]
    stack: String,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Preview: score and report, write and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// The run's date (2026-11-23, or a time like 2026-11-23T08:00:00Z). Default: today.
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Run for this owner only (repeat for several).
    #[arg(long = "owner", value_name = "EMAIL")]
    owners: Vec<String>,
    /// Follow the execution to its end and print the outcome.
    #[arg(long)]
    wait: bool,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    stack: StackArgs,
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// The ISO week, e.g. 2026-W48 (default: the latest execution).
    #[arg(long, value_name = "W", conflicts_with = "execution")]
    week: Option<String>,
    /// The execution's name (the run id).
    #[arg(long, value_name = "NAME")]
    execution: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    stack: StackArgs,
}

#[derive(Args, Debug, Clone)]
pub struct RerunArgs {
    /// The ISO week, e.g. 2026-W48.
    #[arg(long, value_name = "W")]
    week: String,
    /// Follow the New execution to its end and print the outcome.
    #[arg(long)]
    wait: bool,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    stack: StackArgs,
}

#[derive(Args, Debug, Clone)]
pub struct RedriveArgs {
    /// The failed execution's name (the run id).
    #[arg(long, value_name = "NAME")]
    execution: String,
    /// Follow the redriven execution to its end and print the outcome.
    #[arg(long)]
    wait: bool,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    stack: StackArgs,
}

/// Runs one `churn aws` command.
pub fn run(command: AwsCommand) -> Result<ExitCode, CliError> {
    // Validate what needs no network first, so usage errors never wait on AWS.
    if let AwsCommand::Run(a) = &command {
        run_input(a.dry_run, a.as_of.as_deref(), &a.owners)?;
    }
    if let AwsCommand::Status(StatusArgs { week: Some(w), .. })
    | AwsCommand::Rerun(RerunArgs { week: w, .. }) = &command
    {
        check_week(w)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError(format!("could not start the async runtime: {e}")))?;
    rt.block_on(run_async(command))
}

async fn run_async(command: AwsCommand) -> Result<ExitCode, CliError> {
    let config = churn_aws::load_sdk_config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let path_style = std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true" || v == "1");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(path_style)
            .build(),
    );
    let aws = Aws { config, sfn, s3 };
    match command {
        AwsCommand::Run(a) => {
            let target = aws.target(&a.stack.stack).await?;
            let input = run_input(a.dry_run, a.as_of.as_deref(), &a.owners)?;
            let arn = aws.start(&target, &input).await?;
            aws.finish(&target, &arn, a.wait, a.json).await
        }
        AwsCommand::Status(a) => {
            let target = aws.target(&a.stack.stack).await?;
            let arn = match (&a.execution, &a.week) {
                (Some(name), _) => execution_arn(&target.machine_arn, name)?,
                (None, week) => aws.latest(&target, week.as_deref()).await?,
            };
            aws.show(&target, &arn, a.json).await
        }
        AwsCommand::Rerun(a) => {
            let target = aws.target(&a.stack.stack).await?;
            let latest = aws.latest(&target, Some(&a.week)).await?;
            let d = aws.describe(&latest).await?;
            let input: Value = d
                .input()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| CliError(format!("the execution's input is not JSON: {e}")))?
                .unwrap_or_else(|| json!({}));
            let arn = aws.start(&target, &input).await?;
            aws.finish(&target, &arn, a.wait, a.json).await
        }
        AwsCommand::Redrive(a) => {
            let target = aws.target(&a.stack.stack).await?;
            let arn = execution_arn(&target.machine_arn, &a.execution)?;
            aws.sfn
                .redrive_execution()
                .execution_arn(&arn)
                .send()
                .await
                .map_err(|e| {
                    let status = e
                        .raw_response()
                        .map(|r| format!(" (HTTP {})", r.status().as_u16()))
                        .unwrap_or_default();
                    CliError(format!(
                        "could not redrive {}{status}: {}; only a FAILED, TIMED_OUT or ABORTED \
                         execution that ended in the last 14 days can be redriven; \
                         `churn aws rerun --week W` starts a New execution instead",
                        a.execution,
                        sdk_message(&e)
                    ))
                })?;
            aws.finish(&target, &arn, a.wait, a.json).await
        }
    }
}

/// The state machine and the runs bucket.
#[derive(Debug, Clone)]
struct Target {
    machine_arn: String,
    runs_bucket: Option<String>,
}

struct Aws {
    config: aws_config::SdkConfig,
    sfn: aws_sdk_sfn::Client,
    s3: aws_sdk_s3::Client,
}

impl Aws {
    /// `CHURN_STATE_MACHINE_ARN` (and `CHURN_RUNS_BUCKET`), or else the stack's outputs.
    async fn target(&self, stack: &str) -> Result<Target, CliError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(machine_arn) = env("CHURN_STATE_MACHINE_ARN") {
            return Ok(Target {
                machine_arn,
                runs_bucket: env("CHURN_RUNS_BUCKET"),
            });
        }
        let cfn = aws_sdk_cloudformation::Client::new(&self.config);
        let out = cfn.describe_stacks().stack_name(stack).send().await.map_err(|e| {
            CliError(format!(
                "could not read the outputs of stack {stack} ({}); pass --stack NAME or set CHURN_STATE_MACHINE_ARN and CHURN_RUNS_BUCKET",
                sdk_message(&e)
            ))
        })?;
        let outputs: Vec<(String, String)> = out
            .stacks()
            .iter()
            .flat_map(|s| s.outputs())
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        target_from_outputs(stack, &outputs, env("CHURN_RUNS_BUCKET"))
    }

    async fn start(&self, target: &Target, input: &Value) -> Result<String, CliError> {
        let out = self
            .sfn
            .start_execution()
            .state_machine_arn(&target.machine_arn)
            .name(execution_name())
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| {
                CliError(format!(
                    "could not start the Monday run: {}",
                    sdk_message(&e)
                ))
            })?;
        Ok(out.execution_arn().to_string())
    }

    async fn describe(
        &self,
        arn: &str,
    ) -> Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput, CliError> {
        self.sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .map_err(|e| {
                CliError(format!(
                    "could not describe {}: {}",
                    name_of(arn),
                    sdk_message(&e)
                ))
            })
    }

    /// After a start or redrive: the execution's name, or with `wait` its outcome.
    async fn finish(
        &self,
        target: &Target,
        arn: &str,
        wait: bool,
        as_json: bool,
    ) -> Result<ExitCode, CliError> {
        if !wait {
            if as_json {
                print_json(
                    &json!({"execution": name_of(arn), "execution_arn": arn, "status": "RUNNING"}),
                )?;
            } else {
                println!("started {}", name_of(arn));
                println!(
                    "follow it with: churn aws status --execution {}",
                    name_of(arn)
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        loop {
            let d = self.describe(arn).await?;
            if d.status() != &ExecutionStatus::Running
                && d.status() != &ExecutionStatus::PendingRedrive
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.show(target, arn, as_json).await
    }

    /// Prints an execution and its run report; exit 1 when it did not succeed.
    async fn show(&self, target: &Target, arn: &str, as_json: bool) -> Result<ExitCode, CliError> {
        let d = self.describe(arn).await?;
        let name = name_of(arn).to_string();
        let output: Option<Value> = d.output().and_then(|o| serde_json::from_str(o).ok());
        let input: Option<Value> = d.input().and_then(|o| serde_json::from_str(o).ok());
        let report = self.report(target, &name, output.as_ref()).await;
        let summary = summarize(
            &name,
            arn,
            d.status().as_str(),
            input,
            d.error(),
            d.cause(),
            report.as_ref(),
            output.as_ref(),
        );
        if as_json {
            print_json(&summary)?;
        } else {
            print_summary(&summary);
        }
        Ok(ExitCode::from(outcome_code(d.status(), d.error())))
    }

    /// The run report `runs/<week>/<name>/report.json`, if the bucket is known and it exists.
    async fn report(&self, target: &Target, name: &str, output: Option<&Value>) -> Option<Value> {
        let bucket = target.runs_bucket.as_deref()?;
        let mut keys = Vec::new();
        if let Some(key) = output.and_then(|o| o["report_key"].as_str()) {
            keys.push(key.to_string());
        } else {
            for week in self.weeks(bucket).await.into_iter().rev() {
                keys.push(format!("runs/{week}/{name}/report.json"));
            }
        }
        for key in keys {
            if let Ok(obj) = self.s3.get_object().bucket(bucket).key(&key).send().await {
                let bytes = obj.body.collect().await.ok()?.into_bytes();
                return serde_json::from_slice(&bytes).ok();
            }
        }
        None
    }

    /// The prefixes under `prefix` in the runs bucket (`runs/` → weeks, `runs/W/` → run ids).
    async fn prefixes(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(Ok(page)) = pages.next().await {
            for p in page.common_prefixes() {
                if let Some(p) = p.prefix() {
                    out.push(p[prefix.len()..].trim_end_matches('/').to_string());
                }
            }
        }
        out.sort();
        out
    }

    async fn weeks(&self, bucket: &str) -> Vec<String> {
        self.prefixes(bucket, "runs/").await
    }

    /// The latest execution of `week` (any week when `None`): newest first, an execution belongs
    /// to the week when its run has files under `runs/<week>/<name>/`, or (a run stopped before
    /// writing anything) when its input's `as_of` falls in that week.
    async fn latest(&self, target: &Target, week: Option<&str>) -> Result<String, CliError> {
        let mut executions = Vec::new();
        let mut pages = self
            .sfn
            .list_executions()
            .state_machine_arn(&target.machine_arn)
            .into_paginator()
            .items()
            .send();
        while let Some(e) = pages.next().await {
            let e = e.map_err(|e| {
                CliError(format!(
                    "could not list the executions: {}",
                    sdk_message(&e)
                ))
            })?;
            executions.push((
                e.start_date().secs(),
                e.start_date().subsec_nanos(),
                e.execution_arn().to_string(),
            ));
            if executions.len() >= 500 {
                break;
            }
        }
        executions.sort_by(|a, b| b.cmp(a));
        let Some(week) = week else {
            return executions
                .first()
                .map(|e| e.2.clone())
                .ok_or_else(|| CliError("the state machine has no executions yet".into()));
        };
        let run_ids = match &target.runs_bucket {
            Some(b) => self.prefixes(b, &format!("runs/{week}/")).await,
            None => Vec::new(),
        };
        for (_, _, arn) in executions.iter().take(100) {
            if run_ids.iter().any(|r| r == name_of(arn)) {
                return Ok(arn.clone());
            }
            let d = self.describe(arn).await?;
            let as_of = d
                .input()
                .and_then(|i| serde_json::from_str::<Value>(i).ok())
                .and_then(|i| i["as_of"].as_str().map(str::to_string));
            if as_of.as_deref().and_then(week_of) == Some(week.to_string()) {
                return Ok(arn.clone());
            }
        }
        Err(CliError(format!("no execution found for week {week}")))
    }
}

/// The exit code for an execution (README "Exit codes"): 0 succeeded or still running, 1 some
/// owners failed (rerun the week), 3 a bad list or rules doc stopped it, 4 anything else.
fn outcome_code(status: &ExecutionStatus, error: Option<&str>) -> u8 {
    match (status, error) {
        (
            ExecutionStatus::Succeeded | ExecutionStatus::Running | ExecutionStatus::PendingRedrive,
            _,
        ) => exit::OK,
        (_, Some("churn.OwnersFailed")) => exit::INCOMPLETE,
        (_, Some("churn.BadList" | "churn.BadRules")) => exit::BAD_INPUT,
        _ => exit::FAILED,
    }
}

fn target_from_outputs(
    stack: &str,
    outputs: &[(String, String)],
    runs_bucket: Option<String>,
) -> Result<Target, CliError> {
    let get = |k: &str| {
        outputs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let machine_arn = get("WeeklyStateMachineArn")
        .ok_or_else(|| CliError(format!("stack {stack} has no WeeklyStateMachineArn output")))?;
    Ok(Target {
        machine_arn,
        runs_bucket: runs_bucket.or_else(|| get("RunsBucketName")),
    })
}

/// The state machine's input (docs/SPEC.md §4.1): only the keys asked for.
pub fn run_input(dry_run: bool, as_of: Option<&str>, owners: &[String]) -> Result<Value, CliError> {
    let mut input = serde_json::Map::new();
    if let Some(as_of) = as_of {
        let as_of = as_of.trim();
        if as_of.parse::<jiff::civil::Date>().is_err() && as_of.parse::<jiff::Timestamp>().is_err()
        {
            return Err(CliError::usage(format!(
                "--as-of {as_of:?} is not a date (2026-11-23) or a time (2026-11-23T08:00:00Z)"
            )));
        }
        input.insert("as_of".into(), json!(as_of));
    }
    if dry_run {
        input.insert("dry_run".into(), json!(true));
    }
    if !owners.is_empty() {
        for o in owners {
            if !o.contains('@') {
                return Err(CliError::usage(format!(
                    "--owner {o:?} is not an email address"
                )));
            }
        }
        input.insert("owners".into(), json!(owners));
    }
    Ok(Value::Object(input))
}

/// `2026-W48` and the like.
fn check_week(week: &str) -> Result<(), CliError> {
    let ok = week.len() == 8
        && week.as_bytes()[4] == b'-'
        && week.as_bytes()[5] == b'W'
        && week[..4].bytes().all(|b| b.is_ascii_digit())
        && week[6..].parse::<u8>().is_ok_and(|w| (1..=53).contains(&w));
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "--week {week:?} is not an ISO week like 2026-W48"
        )))
    }
}

/// The ISO week of an `as_of` (its date part: the scorer's local date may differ near midnight,
/// which the run's files settle when it has any).
fn week_of(as_of: &str) -> Option<String> {
    let date: jiff::civil::Date = as_of.get(..10)?.parse().ok()?;
    let w = date.iso_week_date();
    Some(format!("{:04}-W{:02}", w.year(), w.week()))
}

/// `arn:aws:states:R:A:stateMachine:M` + name → `arn:aws:states:R:A:execution:M:name`.
fn execution_arn(machine_arn: &str, name: &str) -> Result<String, CliError> {
    if name.starts_with("arn:") {
        return Ok(name.to_string());
    }
    match machine_arn.split_once(":stateMachine:") {
        Some((head, machine)) => Ok(format!("{head}:execution:{machine}:{name}")),
        None => Err(CliError(format!(
            "{machine_arn:?} is not a state machine ARN"
        ))),
    }
}

fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// A new execution's name: `cli-<UTC time>-<nanos>` (unique, sortable, says who started it).
fn execution_name() -> String {
    let now = jiff::Timestamp::now();
    format!(
        "cli-{}-{:09}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        now.subsec_nanosecond()
    )
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    name: &str,
    arn: &str,
    status: &str,
    input: Option<Value>,
    error: Option<&str>,
    cause: Option<&str>,
    report: Option<&Value>,
    output: Option<&Value>,
) -> Value {
    let owners: Vec<Value> = report
        .and_then(|r| r["owners"].as_array())
        .or_else(|| output.and_then(|o| o["owners"].as_array()))
        .map(|owners| {
            owners
                .iter()
                .map(|o| {
                    json!({
                        "owner": o["owner"], "status": o["status"], "via": o["via"],
                        "names": o["names"], "error": o["error"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let failed_owners: Vec<Value> = owners
        .iter()
        .filter(|o| o["status"] == "failed")
        .map(|o| o["owner"].clone())
        .collect();
    json!({
        "execution": name,
        "execution_arn": arn,
        "status": status,
        "week": report.map(|r| r["run"]["week"].clone()).unwrap_or(Value::Null),
        "input": input,
        "error": error,
        "cause": cause,
        "owners": owners,
        "failed_owners": failed_owners,
        "report": report.is_some(),
    })
}

fn print_summary(s: &Value) {
    let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_default();
    println!(
        "execution {}: {}",
        text(&s["execution"]),
        text(&s["status"])
    );
    if let Some(week) = s["week"].as_str() {
        println!("week      {week}");
    }
    println!("input     {}", s["input"]);
    if let Some(e) = s["error"].as_str() {
        println!("error     {e}: {}", text(&s["cause"]));
    }
    for o in s["owners"].as_array().into_iter().flatten() {
        let mut line = format!("  {:<32} {}", text(&o["owner"]), text(&o["status"]));
        if let Some(via) = o["via"].as_str() {
            line.push_str(&format!(" via {via}"));
        }
        if let Some(n) = o["names"].as_u64() {
            line.push_str(&format!(", {n} names"));
        }
        println!("{line}");
    }
    let failed: Vec<String> = s["failed_owners"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if !failed.is_empty() {
        println!("failed owners: {}", failed.join(", "));
        println!("retry exactly these: churn aws rerun --week <W>");
    }
    if s["report"] == false {
        println!(
            "(no run report: the run wrote none, or the runs bucket is unknown: set CHURN_RUNS_BUCKET)"
        );
    }
}

fn print_json(v: &Value) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| CliError(e.to_string()))?;
    writeln!(out).map_err(CliError::output)
}

/// The service's own message (code and text), not the SDK's "service error".
fn sdk_message<E: std::error::Error + 'static>(e: &E) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_has_only_the_keys_asked_for() {
        assert_eq!(run_input(false, None, &[]).unwrap(), json!({}));
        assert_eq!(
            run_input(
                true,
                Some("2026-11-23"),
                &["a@x.example".into(), "b@x.example".into()]
            )
            .unwrap(),
            json!({"as_of": "2026-11-23", "dry_run": true, "owners": ["a@x.example", "b@x.example"]})
        );
        assert_eq!(
            run_input(false, Some("2026-11-23T00:00:00Z"), &[]).unwrap(),
            json!({"as_of": "2026-11-23T00:00:00Z"})
        );
    }

    #[test]
    fn a_bad_date_or_owner_is_refused() {
        assert!(
            run_input(false, Some("next monday"), &[])
                .unwrap_err()
                .message
                .contains("--as-of")
        );
        assert!(
            run_input(false, None, &["alex".into()])
                .unwrap_err()
                .message
                .contains("--owner")
        );
    }

    #[test]
    fn weeks_are_checked_and_computed() {
        assert!(check_week("2026-W48").is_ok());
        assert!(check_week("2026-48").is_err());
        assert!(check_week("2026-W54").is_err());
        assert_eq!(week_of("2026-11-23T00:00:00Z").as_deref(), Some("2026-W48"));
        assert_eq!(week_of("2027-01-01").as_deref(), Some("2026-W53"));
        assert_eq!(week_of("soon"), None);
    }

    #[test]
    fn execution_arns_come_from_the_state_machine_arn() {
        let m = "arn:aws:states:ap-southeast-1:123456789012:stateMachine:cp-weekly";
        assert_eq!(
            execution_arn(m, "monday-1").unwrap(),
            "arn:aws:states:ap-southeast-1:123456789012:execution:cp-weekly:monday-1"
        );
        assert_eq!(name_of(&execution_arn(m, "monday-1").unwrap()), "monday-1");
        assert!(execution_arn("nope", "x").is_err());
        let n = execution_name();
        assert!(
            n.starts_with("cli-")
                && n.len() <= 80
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
    }

    #[test]
    fn the_stack_outputs_name_the_machine_and_bucket() {
        let outputs = vec![
            ("WeeklyStateMachineArn".to_string(), "arn:m".to_string()),
            ("RunsBucketName".to_string(), "runs-b".to_string()),
        ];
        let t = target_from_outputs("s", &outputs, None).unwrap();
        assert_eq!(
            (t.machine_arn.as_str(), t.runs_bucket.as_deref()),
            ("arn:m", Some("runs-b"))
        );
        let t = target_from_outputs("s", &outputs, Some("env-b".into())).unwrap();
        assert_eq!(t.runs_bucket.as_deref(), Some("env-b"));
        assert!(target_from_outputs("s", &[], None).is_err());
    }

    #[test]
    fn exit_codes_follow_the_outcome() {
        assert_eq!(outcome_code(&ExecutionStatus::Succeeded, None), 0);
        assert_eq!(
            outcome_code(&ExecutionStatus::Failed, Some("churn.OwnersFailed")),
            1
        );
        assert_eq!(
            outcome_code(&ExecutionStatus::Failed, Some("churn.BadList")),
            3
        );
        assert_eq!(
            outcome_code(&ExecutionStatus::Failed, Some("harness.Crashed")),
            4
        );
        assert_eq!(outcome_code(&ExecutionStatus::TimedOut, None), 4);
    }

    #[test]
    fn the_summary_names_the_failed_owners() {
        let report = json!({"run": {"week": "2026-W48"}, "owners": [
            {"owner": "a@x.example", "status": "sent", "via": "slack", "names": 2},
            {"owner": "b@x.example", "status": "failed", "error": "boom"}]});
        let s = summarize(
            "n",
            "arn",
            "FAILED",
            None,
            Some("churn.OwnersFailed"),
            None,
            Some(&report),
            None,
        );
        assert_eq!(s["failed_owners"], json!(["b@x.example"]));
        assert_eq!(s["week"], "2026-W48");
        assert_eq!(s["owners"][0]["status"], "sent");
    }
}
