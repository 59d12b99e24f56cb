"""`churn aws run | status | rerun | redrive` (docs/SPEC.md §10) against moto's Step Functions
running the real state machine (conftest.World), through the `churn` binary."""

import json
import os
import subprocess

from conftest import BIN, REGION
from test_weekly import LIST, MONDAY, RULES, ledger, ready

CHURN = BIN / "churn"
AS_OF = MONDAY["as_of"]


def churn(world, *args, env=None, check_code=None):
    """Runs `churn aws ARGS` against the world; returns (exit code, parsed JSON or text, stderr)."""
    assert CHURN.exists(), f"{CHURN} is missing: build it with `cargo build -p churn-cli`"
    e = dict(os.environ)
    e.update({
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": world.endpoint, "S3_FORCE_PATH_STYLE": "true", "AWS_EC2_METADATA_DISABLED": "true",
        "CHURN_STATE_MACHINE_ARN": world.machine, "CHURN_RUNS_BUCKET": "cp-runs-bucket",
    })
    e.update(env or {})
    p = subprocess.run([str(CHURN), "aws", *args], capture_output=True, env=e, timeout=180)
    out = p.stdout.decode()
    if "--json" in args and out.strip():
        out = json.loads(out)
    if check_code is not None:
        assert p.returncode == check_code, (p.returncode, out, p.stderr.decode())
    return p.returncode, out, p.stderr.decode()


def statuses(summary):
    return {o["owner"]: o["status"] for o in summary["owners"]}


def test_run_dry_then_for_real_and_status_shows_the_week(world):
    ready(world)
    # A dry run for one owner: only alex, nothing written or sent.
    _, dry, _ = churn(world, "run", "--dry-run", "--as-of", AS_OF, "--owner", "alex@shop.example",
                      "--wait", "--json", check_code=0)
    assert dry["status"] == "SUCCEEDED", dry
    assert dry["input"] == {"as_of": AS_OF, "dry_run": True, "owners": ["alex@shop.example"]}
    assert statuses(dry) == {"alex@shop.example": "dry_run"}
    assert dry["week"] == "2026-W48" and dry["report"] is True
    assert ledger(world) == {} and world.slack.posts == []

    # The real run: every owner sent and recorded.
    _, real, _ = churn(world, "run", "--as-of", AS_OF, "--wait", "--json", check_code=0)
    assert real["status"] == "SUCCEEDED", real
    assert real["execution"] != dry["execution"] and real["execution"].startswith("cli-")
    assert statuses(real) == {o: "sent" for o in ("alex@shop.example", "sam@shop.example", "jo@shop.example")}
    assert real["failed_owners"] == []
    assert set(ledger(world).values()) == {"recorded"}

    # status --week: the week's latest execution (the real run) with its report's owners.
    _, st, _ = churn(world, "status", "--week", "2026-W48", "--json", check_code=0)
    assert st["execution"] == real["execution"] and st["status"] == "SUCCEEDED"
    assert statuses(st) == statuses(real) and st["week"] == "2026-W48"
    # status --execution: the named one.
    _, st, _ = churn(world, "status", "--execution", dry["execution"], "--json", check_code=0)
    assert statuses(st) == {"alex@shop.example": "dry_run"}
    # Text output names each owner.
    code, text, _ = churn(world, "status", "--week", "2026-W48")
    assert code == 0 and "SUCCEEDED" in text and "sam@shop.example" in text and "sent" in text
    # No execution that week.
    code, _, err = churn(world, "status", "--week", "2026-W40")
    assert code == 4 and "no execution found for week 2026-W40" in err


def test_a_failed_owner_is_named_and_rerun_sends_exactly_them(world):
    """Exit 1 while an owner has failed (README "Exit codes"); 0 once the rerun sent them."""
    # sam's Slack is down and the sender is not verified yet: sam fails (as in test_weekly.py).
    world.put_list(LIST.replace("jo@shop.example", "alex@shop.example"), RULES)
    world.slack.users["sam@shop.example"] = "U0SAM"
    world.slack.failing_users.add("U0SAM")
    code, failed, _ = churn(world, "run", "--as-of", AS_OF, "--wait", "--json")
    assert code == 1 and failed["status"] == "FAILED", failed
    assert failed["error"] == "churn.OwnersFailed" and failed["failed_owners"] == ["sam@shop.example"]
    assert statuses(failed) == {"alex@shop.example": "sent", "sam@shop.example": "failed"}
    code, text, _ = churn(world, "status", "--week", "2026-W48")
    assert code == 1 and "failed owners: sam@shop.example" in text

    world.verify_sender()
    alex_posts = len(world.slack.customers_posted_to("DU0ALEX"))
    _, rerun, _ = churn(world, "rerun", "--week", "2026-W48", "--wait", "--json", check_code=0)
    assert rerun["status"] == "SUCCEEDED", rerun
    assert rerun["execution"] != failed["execution"] and rerun["input"] == failed["input"]
    assert statuses(rerun) == {"alex@shop.example": "already_sent", "sam@shop.example": "sent"}
    assert len(world.slack.customers_posted_to("DU0ALEX")) == alex_posts
    assert len(world.emails_to("sam@shop.example")) == 1
    assert ledger(world)[("2026-W48", "sam@shop.example")] == "recorded"
    # The week's latest execution is now the rerun.
    _, st, _ = churn(world, "status", "--week", "2026-W48", "--json", check_code=0)
    assert st["execution"] == rerun["execution"]


def test_redrive_a_failed_scorer(world):
    """moto 5.2 has no RedriveExecution: the command reports the service's refusal, names the
    execution and exits 4. (Against AWS the same call continues the run from the Score state.)"""
    ready(world)
    world.fail("churn-scorer")
    code, failed, _ = churn(world, "run", "--as-of", AS_OF, "--wait", "--json")
    assert code == 4 and failed["status"] == "FAILED" and failed["report"] is False, failed
    world.heal()
    code, out, err = churn(world, "redrive", "--execution", failed["execution"], "--json")
    if code == 0:  # a moto with RedriveExecution: the run continues and sends.
        _, done, _ = churn(world, "status", "--execution", failed["execution"], "--json", check_code=0)
        assert set(statuses(done).values()) == {"sent"}
    else:
        assert code == 4 and out == "", out
        assert f"could not redrive {failed['execution']}" in err and "churn aws rerun" in err, err
    # A redrive of an execution that does not exist is refused the same way.
    code, _, err = churn(world, "redrive", "--execution", "no-such-run")
    assert code == 4 and "could not redrive no-such-run" in err


def test_the_state_machine_is_found_from_the_stack_outputs(world):
    ready(world)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"WeeklyStateMachineArn": {"Value": world.machine},
                    "RunsBucketName": {"Value": "cp-runs-bucket"}},
    }
    import boto3
    cfn = boto3.client("cloudformation", endpoint_url=world.endpoint, region_name=REGION,
                       aws_access_key_id="test", aws_secret_access_key="test")
    cfn.create_stack(StackName="my-churn", TemplateBody=json.dumps(template))
    no_env = {"CHURN_STATE_MACHINE_ARN": "", "CHURN_RUNS_BUCKET": ""}
    _, r, _ = churn(world, "run", "--dry-run", "--as-of", AS_OF, "--wait", "--json", "--stack", "my-churn",
                    env=no_env, check_code=0)
    assert r["status"] == "SUCCEEDED" and r["report"] is True and len(r["owners"]) == 3
    code, _, err = churn(world, "status", "--stack", "missing-stack", env=no_env)
    assert code == 4 and "could not read the outputs of stack missing-stack" in err


def test_usage_errors_need_no_aws(world):
    code, _, err = churn(world, "run", "--as-of", "next monday", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert code == 2 and "--as-of" in err
    code, _, err = churn(world, "rerun", "--week", "48", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert code == 2 and "ISO week" in err
    code, _, _ = churn(world, "status", "--week", "2026-W48", "--execution", "x")
    assert code == 2
