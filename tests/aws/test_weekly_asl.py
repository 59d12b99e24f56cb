"""statemachines/weekly.asl.json against docs/aws-design.md, and what the ASL linters leave out:
that every ${Substitution} is supplied by template.yaml, and that the Fail state's CausePath is a
reference path (asl-validator and statelint accept any string there).
Run: .venv-lint/bin/python -m pytest tests/aws
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "statemachines" / "weekly.asl.json"
RETRIED = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "churn.Retryable",
}
# A JSONPath reference path: $ then .name or [n] steps (no filters or wildcards).
REFERENCE_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*$")


def asl() -> dict:
    return json.loads(ASL_PATH.read_text())


# The handoff is safe to retry after a crash or a timeout (its claim and the Slack metadata check
# keep a retry from sending twice, docs/SPEC.md §4), so it also retries those.
HANDOFF_RETRIED = RETRIED | {"Runtime.ExitError", "Sandbox.Timedout", "Lambda.Unknown"}


def assert_lambda_task(state: dict, substitution: str, retried: set = RETRIED) -> None:
    assert state["Type"] == "Task"
    assert state["Resource"] == "arn:aws:states:::lambda:invoke"
    assert state["Parameters"]["FunctionName"] == "${" + substitution + "}"
    (retry,) = state["Retry"]
    assert set(retry["ErrorEquals"]) == retried
    assert retry["IntervalSeconds"] == 2 and retry["BackoffRate"] == 2
    assert 3 <= retry["MaxAttempts"] <= 4
    assert retry["JitterStrategy"] == "FULL"
    assert state.get("Comment")


def test_flow_follows_the_contract():
    d = asl()
    states = d["States"]
    assert d["StartAt"] == "Score"

    score = states["Score"]
    assert_lambda_task(score, "ScorerFunctionArn")
    assert score["Parameters"]["Payload"] == {"input.$": "$", "execution.$": "$$.Execution.Name"}
    assert score["OutputPath"] == "$.Payload"
    # Only a refused list or rules doc is caught (to tell the admin); any other scorer failure must
    # fail the execution at Score, so that Redrive continues from there.
    (catch,) = score["Catch"]
    assert catch["ErrorEquals"] == ["churn.BadList", "churn.BadRules"]
    assert catch["Next"] == "TellAdmin" and catch["ResultPath"] == "$.stopped"
    assert score["Next"] == "Owners"

    tell = states["TellAdmin"]
    assert_lambda_task(tell, "HandoffFunctionArn")
    assert tell["Parameters"]["Payload"]["notice"]["error.$"] == "$.stopped.Error"
    assert tell["Next"] == "RunStopped"
    assert [c["Next"] for c in tell["Catch"]] == ["RunStopped"], "a failed notice still stops the run"
    stopped = states["RunStopped"]
    assert stopped["Type"] == "Fail"
    assert (stopped["ErrorPath"], stopped["CausePath"]) == ("$.stopped.Error", "$.stopped.Cause")

    owners = states["Owners"]
    assert owners["Type"] == "Map" and owners["ItemsPath"] == "$.owners"
    assert owners["MaxConcurrency"] == 4
    assert owners["ItemSelector"] == {"run.$": "$.run", "item.$": "$$.Map.Item.Value"}
    branch = owners["ItemProcessor"]
    assert branch["StartAt"] == "Handoff"
    inner = branch["States"]
    assert_lambda_task(inner["Handoff"], "HandoffFunctionArn", HANDOFF_RETRIED)
    assert_lambda_task(inner["Record"], "RecordFunctionArn")
    assert inner["Handoff"]["Next"] == "Record"
    for name in ("Handoff", "Record"):
        (catch,) = inner[name]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["ResultPath"] not in (None, "$"), "the Catch must keep the owner in the state"
        assert catch["Next"] == "OwnerFailed"
    failed = inner["OwnerFailed"]
    assert failed["Type"] == "Pass" and failed["End"] is True
    assert set(failed["Parameters"]) == {"owner.$", "status", "error.$", "cause.$"}
    assert failed["Parameters"]["status"] == "failed"
    assert owners["Next"] == "Report"

    report = states["Report"]
    assert_lambda_task(report, "RecordFunctionArn")
    assert {"run.$", "results.$"} <= set(report["Parameters"]["Payload"]["report"])
    choice = states[report["Next"]]
    assert choice["Type"] == "Choice"
    fail = states[choice["Choices"][0]["Next"]]
    assert fail["Type"] == "Fail"
    assert fail.get("Error") == "churn.OwnersFailed" or fail.get("ErrorPath")
    assert REFERENCE_PATH.match(fail["CausePath"]), fail["CausePath"]
    assert states[choice["Default"]]["Type"] == "Succeed"
    for name, state in {**states, **inner}.items():
        assert state.get("Comment"), f"{name} has no Comment"


def test_substitutions_match_the_template():
    template, matches = decode(str(ROOT / "template.yaml"))
    assert not matches
    machine = template["Resources"]["WeeklyStateMachine"]["Properties"]
    assert machine["DefinitionUri"] == "statemachines/weekly.asl.json"
    used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", ASL_PATH.read_text()))
    assert used == set(machine["DefinitionSubstitutions"])


def test_reference_path_pattern_rejects_non_paths():
    assert REFERENCE_PATH.match("$.cause")
    assert not REFERENCE_PATH.match("cause")
    assert not REFERENCE_PATH.match("$..cause")
    assert not REFERENCE_PATH.match("$.owners[*]")


def test_sample_events_have_the_contract_shapes():
    events = {p.name: json.loads(p.read_text()) for p in (ROOT / "events").glob("*.json")}
    assert set(events["scheduler-start.json"]) == {"as_of"}
    assert set(events["console-rerun-dry-run.json"]) <= {"as_of", "dry_run", "owners", "resend"}
    # The scorer's event is what the Score state sends: the execution input and its name.
    assert set(events["scorer.json"]) == {"input", "execution"}
    assert set(events["scorer.json"]["input"]) <= {"as_of", "dry_run", "owners", "resend"}
    # (churn-lambda's tests also read handoff.json, record.json and report.json into their Rust
    # types, so these shapes cannot drift from the code.)
    handoff = events["handoff.json"]
    assert set(handoff) == {"run", "item"}
    assert {"owner", "via", "shortlist", "candidates", "refused"} <= set(handoff["item"])
    assert handoff["item"]["candidates"] == len(handoff["item"]["shortlist"])
    run_keys = {"week", "as_of", "run_id", "dry_run", "resend", "rules_version", "weekly_cap",
                "contact_pause_days"}
    assert set(handoff["run"]) == run_keys
    record = events["record.json"]
    assert {"run", "owner", "via", "status", "names", "record", "report_key"} <= set(record)
    assert "customers" not in record, "lists never travel through the state"
    report = events["report.json"]["report"]
    assert set(report["run"]) == run_keys
    assert any(r["status"] == "failed" for r in report["results"])
