"""The IAM rules of docs/SPEC.md §11, checked on template.yaml as written (before the SAM transform).

- every function has its own role, declared in the template (no shared role, no SAM auto-role);
- the audit table is only ever granted put and read actions, in every role;
- no statement has Resource "*" (or an ARN that is a bare wildcard) except for actions that AWS
  documents as not supporting resource-level permissions (ALLOWED_STAR below);
- the state machine's role can invoke the three Monday functions and nothing else;
- the scheduler's role can only start the state machine it targets.

The template is parsed with cfn-lint's decoder, which understands !Ref, !GetAtt, !Sub and the
other short forms. Run: .venv-lint/bin/python -m pytest tests/aws
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
from cfnlint.decode import decode, decode_str

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

AUDIT_TABLE_NAME = "cp-audit"
# Put, and read. Nothing that changes or removes an item (UpdateItem, DeleteItem, BatchWriteItem,
# PartiQL writes) and no wildcard.
AUDIT_ALLOWED = {
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
}
# Actions AWS documents as not supporting resource-level permissions, so Resource "*" is the only
# form: the CloudWatch Logs vended-log-delivery calls Step Functions makes to set up its logging
# ("Logging using CloudWatch Logs" in the Step Functions developer guide).
ALLOWED_STAR = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
MONDAY_FUNCTIONS = {"churn-scorer", "churn-handoff", "churn-record"}

FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}
STATE_MACHINE_TYPES = {"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"}


# ---------------------------------------------------------------------------------------------
# Reading the template


def load(path: Path = TEMPLATE) -> dict:
    template, matches = decode(str(path))
    assert not matches, f"{path} does not parse: {matches}"
    return template


def load_str(text: str) -> dict:
    template, matches = decode_str(text)
    assert not matches, f"snippet does not parse: {matches}"
    return template


def as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def refs(value) -> set[str]:
    """Logical ids (and pseudo parameters) that a value refers to: Ref, GetAtt, and ${X} or ${X.Attr}
    inside Sub strings."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.add(str(inner))
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text, variables = (inner[0], inner[1]) if isinstance(inner, list) else (inner, {})
                local = set(variables) if isinstance(variables, dict) else set()
                for name in re.findall(r"\$\{([^}!]+)\}", str(text)):
                    base = name.split(".")[0]
                    if base not in local:
                        found.add(base)
                found |= refs(variables)
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def literal_text(value) -> str | None:
    """The text of a resource written as a plain string or a Sub template (variables left as
    ${...}); None for other intrinsics."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        inner = value["Fn::Sub"]
        return str(inner[0] if isinstance(inner, list) else inner)
    return None


def resources_of(template: dict, types: set[str]) -> dict[str, dict]:
    return {
        name: res
        for name, res in template.get("Resources", {}).items()
        if isinstance(res, dict) and res.get("Type") in types
    }


def props(resource: dict) -> dict:
    return resource.get("Properties", {}) or {}


def function_name(name: str, resource: dict) -> str:
    """The binary a function runs (its cargo-lambda Binary), else its logical id."""
    binary = (resource.get("Metadata", {}) or {}).get("BuildProperties", {}).get("Binary")
    return str(binary) if binary else name


def role_statements(template: dict, role_name: str) -> list[dict]:
    """Every statement that ends up in an IAM role of the template: its inline policies and the
    AWS::IAM::Policy / ManagedPolicy resources attached to it."""
    resources = template.get("Resources", {})
    role = resources[role_name]
    statements = []
    for policy in as_list(props(role).get("Policies")):
        statements += as_list(policy.get("PolicyDocument", {}).get("Statement"))
    for res in resources.values():
        if res.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            if role_name in refs(props(res).get("Roles")):
                statements += as_list(props(res).get("PolicyDocument", {}).get("Statement"))
    return statements


def sam_policy_statements(owner: str, policies) -> tuple[list[dict], list[str]]:
    """Statements of a SAM `Policies` list, expanding the SAM policy templates this project
    allows; anything else is a problem (managed policies and other templates are too broad to
    check here)."""
    statements, problems = [], []
    for policy in as_list(policies):
        if isinstance(policy, dict) and "Statement" in policy:
            statements += as_list(policy["Statement"])
        elif isinstance(policy, dict) and set(policy) == {"LambdaInvokePolicy"}:
            target = policy["LambdaInvokePolicy"].get("FunctionName")
            # SAM grants lambda:InvokeFunction on function:${FunctionName}* (versions, aliases).
            statements.append(
                {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": target}
            )
        else:
            problems.append(f"{owner}: policy {policy!r} is not an inline statement or LambdaInvokePolicy")
    return statements, problems


def role_of(resource: dict) -> str | None:
    role = props(resource).get("Role")
    if role is None:
        return None
    names = refs(role)
    return next(iter(names)) if len(names) == 1 else None


def all_principals(template: dict) -> dict[str, list[dict]]:
    """Every identity policy of the template, by owner: each IAM role, and each SAM resource whose
    `Policies` SAM turns into a role of its own."""
    out = {name: role_statements(template, name) for name in resources_of(template, {"AWS::IAM::Role"})}
    for name, res in resources_of(template, {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"}).items():
        if "Policies" in props(res):
            out[f"{name} (SAM Policies)"] = sam_policy_statements(name, props(res)["Policies"])[0]
    return out


def audit_table_ids(template: dict) -> set[str]:
    return {
        name
        for name, res in resources_of(template, {"AWS::DynamoDB::Table"}).items()
        if props(res).get("TableName") == AUDIT_TABLE_NAME
    }


# ---------------------------------------------------------------------------------------------
# The rules: each returns a list of problems (empty = the rule holds)


def check_own_roles(template: dict) -> list[str]:
    problems = []
    roles = resources_of(template, {"AWS::IAM::Role"})
    seen: dict[str, str] = {}
    for name, res in resources_of(template, FUNCTION_TYPES).items():
        role = role_of(res)
        if role is None:
            problems.append(f"{name}: no Role of its own (a SAM-generated or external role)")
            continue
        if role not in roles:
            problems.append(f"{name}: Role {role} is not an AWS::IAM::Role of this template")
            continue
        if role in seen:
            problems.append(f"{name}: shares role {role} with {seen[role]}")
        seen[role] = name
        if "Policies" in props(res):
            problems.append(f"{name}: has SAM Policies besides its Role")
        if props(roles[role]).get("ManagedPolicyArns"):
            problems.append(f"{role}: managed policies attached; use inline statements on exact ARNs")
        trusted = [
            svc
            for st in as_list(props(roles[role]).get("AssumeRolePolicyDocument", {}).get("Statement"))
            for svc in as_list((st.get("Principal") or {}).get("Service"))
        ]
        if trusted != ["lambda.amazonaws.com"]:
            problems.append(f"{role}: trusted by {trusted}, expected lambda.amazonaws.com only")
    # A function role must not also serve anything else (state machine, schedule).
    for name, res in {**resources_of(template, STATE_MACHINE_TYPES), **resources_of(template, {"AWS::Scheduler::Schedule"})}.items():
        role = role_of(res) or (refs(props(res).get("Target", {}).get("RoleArn")) or {None}).pop()
        if role in seen:
            problems.append(f"{name}: uses the role of function {seen[role]}")
    return problems


def check_audit_put_read_only(template: dict) -> list[str]:
    problems = []
    audit_ids = audit_table_ids(template)
    for owner, statements in all_principals(template).items():
        for st in statements:
            if st.get("Effect") != "Allow":
                continue
            if "NotAction" in st or "NotResource" in st:
                problems.append(f"{owner}: NotAction/NotResource statement {st.get('Sid')!r}")
                continue
            touches = False
            for res in as_list(st.get("Resource")):
                if refs(res) & audit_ids:
                    touches = True
                text = literal_text(res)
                if text is not None:
                    tail = text.split(":table/", 1)[1] if ":table/" in text else None
                    if text == "*" or (tail is not None and fnmatch.fnmatchcase(AUDIT_TABLE_NAME, tail.split("/")[0])):
                        touches = True
            if not touches:
                continue
            actions = {str(a) for a in as_list(st.get("Action"))}
            for action in sorted(actions):
                if "*" in action and fnmatch.fnmatchcase("dynamodb:UpdateItem", action):
                    problems.append(f"{owner}: wildcard action {action} reaches the audit table")
                elif action.startswith("dynamodb:") and action not in AUDIT_ALLOWED:
                    problems.append(f"{owner}: {action} on the audit table (put and read only)")
    return problems


ARN_WILDCARD = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:(?:\*|[a-z-]+[/:]\*)$")


def check_no_star_resources(template: dict) -> list[str]:
    problems = []
    for owner, statements in all_principals(template).items():
        for st in statements:
            if st.get("Effect") != "Allow":
                continue
            actions = {str(a) for a in as_list(st.get("Action"))}
            for action in actions:
                if action == "*" or action.endswith(":*"):
                    problems.append(f"{owner}: action {action} (name the actions)")
            for res in as_list(st.get("Resource")):
                text = literal_text(res)
                if text is None:
                    continue
                # ${AWS::Region} and the like stand for one name each; only a literal * is wild.
                shape = re.sub(r"\$\{[^}]*\}", "x", text)
                # An S3 ARN's last field is bucket/key: `bucket/*` is one bucket's objects.
                is_s3 = shape.startswith(("arn:aws:s3:::", "arn:x:s3:::"))
                if shape == "*" or (ARN_WILDCARD.match(shape) and not is_s3) or shape.startswith(("arn:aws:s3:::*", "arn:x:s3:::*")):
                    extra = actions - ALLOWED_STAR
                    if extra:
                        problems.append(
                            f"{owner}: Resource {text!r} for {sorted(extra)}, which have ARNs to name"
                        )
    return problems


def check_state_machine_invokes_only_monday_functions(template: dict) -> list[str]:
    problems = []
    functions = resources_of(template, FUNCTION_TYPES)
    machines = resources_of(template, STATE_MACHINE_TYPES)
    if not machines:
        return ["no state machine in the template"]
    for name, res in machines.items():
        if role_of(res) is not None:
            statements = role_statements(template, role_of(res))
        else:
            statements, sam_problems = sam_policy_statements(name, props(res).get("Policies"))
            problems += sam_problems
        invoked: set[str] = set()
        for st in statements:
            if st.get("Effect") != "Allow":
                continue
            actions = {str(a) for a in as_list(st.get("Action"))}
            if actions <= ALLOWED_STAR:
                continue
            if actions != {"lambda:InvokeFunction"}:
                problems.append(f"{name}: role grants {sorted(actions - ALLOWED_STAR)}; only lambda:InvokeFunction")
                continue
            for target in as_list(st.get("Resource")):
                ids = refs(target) - {"AWS::Partition", "AWS::Region", "AWS::AccountId"}
                if len(ids) != 1 or not ids <= set(functions):
                    problems.append(f"{name}: invokes {target!r}, not one of this template's functions")
                    continue
                invoked.add(function_name(next(iter(ids)), functions[next(iter(ids))]))
        if invoked != MONDAY_FUNCTIONS:
            problems.append(f"{name}: invokes {sorted(invoked)}, expected {sorted(MONDAY_FUNCTIONS)}")
    return problems


def check_scheduler_only_starts_its_state_machine(template: dict) -> list[str]:
    problems = []
    schedules = resources_of(template, {"AWS::Scheduler::Schedule"})
    if not schedules:
        return ["no schedule in the template"]
    roles = resources_of(template, {"AWS::IAM::Role"})
    functions = resources_of(template, FUNCTION_TYPES)
    for name, res in schedules.items():
        target = props(res).get("Target", {})
        role_ids = refs(target.get("RoleArn"))
        target_ids = refs(target.get("Arn"))
        if len(role_ids) != 1 or not role_ids <= set(roles):
            problems.append(f"{name}: its RoleArn is not a role of this template")
            continue
        role = next(iter(role_ids))
        trusted = [
            svc
            for st in as_list(props(roles[role]).get("AssumeRolePolicyDocument", {}).get("Statement"))
            for svc in as_list((st.get("Principal") or {}).get("Service"))
        ]
        if trusted != ["scheduler.amazonaws.com"]:
            problems.append(f"{role}: trusted by {trusted}, expected scheduler.amazonaws.com only")
        if props(roles[role]).get("ManagedPolicyArns"):
            problems.append(f"{role}: managed policies attached")
        # A schedule starts its state machine or invokes its function, and may send to its own
        # dead-letter queue; nothing else.
        dlq_ids = refs((target.get("DeadLetterConfig") or {}).get("Arn"))
        for st in role_statements(template, role):
            if st.get("Effect") != "Allow":
                continue
            actions = {str(a) for a in as_list(st.get("Action"))}
            if actions == {"sqs:SendMessage"} and dlq_ids:
                for resource in as_list(st.get("Resource")):
                    if refs(resource) != dlq_ids:
                        problems.append(f"{role}: SendMessage on {resource!r}, not the schedule's dead-letter queue")
                continue
            if actions not in ({"states:StartExecution"}, {"lambda:InvokeFunction"}):
                problems.append(f"{role}: grants {sorted(actions)}; only states:StartExecution or lambda:InvokeFunction")
            for resource in as_list(st.get("Resource")):
                if refs(resource) != target_ids or literal_text(resource) is not None:
                    problems.append(f"{role}: {sorted(actions)} on {resource!r}, not the schedule's target")
    return problems


CHECKS = [
    check_own_roles,
    check_audit_put_read_only,
    check_no_star_resources,
    check_state_machine_invokes_only_monday_functions,
    check_scheduler_only_starts_its_state_machine,
]


# ---------------------------------------------------------------------------------------------
# The template holds every rule


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_template_holds(check):
    assert check(load()) == []


def test_every_function_has_its_own_role():
    template = load()
    functions = resources_of(template, FUNCTION_TYPES)
    assert {function_name(n, r) for n, r in functions.items()} >= MONDAY_FUNCTIONS | {
        "churn-drive-sync",
        "churn-order-import",
        "churn-mood-reader",
        "churn-outcome",
    }
    assert len({role_of(r) for r in functions.values()}) == len(functions)


def test_monday_roles_allow_exactly_what_the_engine_calls():
    """The send ledger's claims (docs/SPEC.md §4.6) and the run objects (§4.10): the handoff claims,
    prepares, marks sent, lapses and releases (GetItem, UpdateItem, DeleteItem; never a blind
    PutItem), reads shortlists and writes its owner's result; record marks recorded and builds the
    report from the owners' results; the scorer writes only shortlists."""
    template = load()
    functions = resources_of(template, FUNCTION_TYPES)
    by_binary = {function_name(n, r): r for n, r in functions.items()}

    def grants(binary: str) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
        statements = role_statements(template, role_of(by_binary[binary]))
        tables: dict[str, set[str]] = {}
        objects: set[tuple[str, str]] = set()
        for st in statements:
            actions = {str(a) for a in as_list(st.get("Action"))}
            for resource in as_list(st.get("Resource")):
                text = literal_text(resource) or ""
                if "RunsTable" in refs(resource):
                    tables.setdefault("runs", set()).update(actions)
                if text.startswith("${RunsBucket.Arn}"):
                    objects |= {(a, text.removeprefix("${RunsBucket.Arn}")) for a in actions}
        return tables, objects

    tables, objects = grants("churn-handoff")
    assert tables["runs"] == {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert objects == {("s3:GetObject", "/runs/*/shortlists/*"), ("s3:PutObject", "/runs/*/owners/*")}
    tables, objects = grants("churn-record")
    assert tables["runs"] == {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"}
    assert objects == {("s3:PutObject", "/runs/*/report.json"), ("s3:GetObject", "/runs/*/owners/*"),
                       ("s3:GetObject", "/runs/*/scores.json")}
    tables, objects = grants("churn-scorer")
    assert tables["runs"] <= {"dynamodb:GetItem", "dynamodb:Query"}
    assert objects == {("s3:PutObject", "/runs/*/shortlists/*"), ("s3:PutObject", "/runs/*/scores.json")}


def test_history_table_is_written_only_by_the_scorer_and_expires():
    """Score history (docs/SPEC.md §5): cp-history keyed by customer and week with a TTL; only the
    scorer touches it, with batch puts and batch gets and nothing else (no Scan, no delete)."""
    template = load()
    table = props(template["Resources"]["HistoryTable"])
    assert table["TableName"] == "cp-history"
    assert table["KeySchema"] == [{"AttributeName": "customer_id", "KeyType": "HASH"},
                                  {"AttributeName": "week", "KeyType": "RANGE"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    functions = resources_of(template, FUNCTION_TYPES)
    users = {}
    for n, r in functions.items():
        for st in role_statements(template, role_of(r)):
            if any("HistoryTable" in refs(res) for res in as_list(st.get("Resource"))):
                users.setdefault(function_name(n, r), set()).update(str(a) for a in as_list(st["Action"]))
    assert users == {"churn-scorer": {"dynamodb:BatchWriteItem", "dynamodb:BatchGetItem"}}
    scorer = next(r for n, r in functions.items() if function_name(n, r) == "churn-scorer")
    assert props(scorer)["Environment"]["Variables"]["HISTORY_TABLE"] == {"Ref": "HistoryTable"}
    # The sheet write: only with the sheet, the key secret only then.
    record = next(r for n, r in functions.items() if function_name(n, r) == "churn-record")
    sheet = props(record)["Environment"]["Variables"]["SHEET_ID"]
    assert sheet == {"Fn::If": ["HasDrive", {"Ref": "CustomerSheetId"}, ""]}
    assert template["Resources"]["SheetWriteFailureAlarm"]["Condition"] == "HasDrive"


def test_digest_and_summary_read_only_and_on_their_schedules():
    """Issue 4: the digest and summary only read the state and the audit, each has its own
    schedule in the business's time zone, and only the summary may call Bedrock and SES."""
    template = load()
    resources = template["Resources"]
    functions = resources_of(template, FUNCTION_TYPES)
    by_binary = {function_name(n, r): n for n, r in functions.items()}
    tables = {t: refs_name for t, refs_name in (("state", "StateTable"), ("audit", "AuditTable"))}
    for binary, schedule, cron in (
        ("churn-digest", "DigestSchedule", "cron(0 16 ? * 6 *)"),
        ("churn-summary", "SummarySchedule", "cron(0 9 ? * 2#1 *)"),
    ):
        logical_id = by_binary[binary]
        statements = role_statements(template, role_of(functions[logical_id]))
        actions = {str(a) for st in statements for a in as_list(st.get("Action"))}
        table_actions = {
            str(a)
            for st in statements
            if refs(st.get("Resource")) & set(tables.values())
            for a in as_list(st.get("Action"))
        }
        assert table_actions <= {"dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem"}, table_actions
        assert ("bedrock:InvokeModel" in actions) == (binary == "churn-summary")
        assert ("ses:SendEmail" in actions) == (binary == "churn-summary")
        sched = props(resources[schedule])
        assert sched["ScheduleExpression"] == cron
        assert refs(sched["ScheduleExpressionTimezone"]) == {"TimeZone"}
        assert refs(sched["Target"]["Arn"]) == {logical_id}


def test_summary_reads_the_order_history_and_rules_for_its_evidence():
    """Issue 13: the monthly summary's backtest evidence reads every kept order (Scan on
    cp-orders, read only), the rules in force and the list mirror, and nothing else of those."""
    template = load()
    functions = resources_of(template, FUNCTION_TYPES)
    by_binary = {function_name(n, r): n for n, r in functions.items()}
    logical_id = by_binary["churn-summary"]
    statements = role_statements(template, role_of(functions[logical_id]))
    orders = {
        str(a)
        for st in statements
        if refs(st.get("Resource")) & {"OrdersTable"}
        for a in as_list(st.get("Action"))
    }
    assert orders == {"dynamodb:Query", "dynamodb:Scan"}, orders
    s3 = {
        (str(a), str(st.get("Resource")))
        for st in statements
        for a in as_list(st.get("Action"))
        if str(a).startswith("s3:")
    }
    assert {a for a, _ in s3} == {"s3:GetObject"}, s3
    objects = sorted(r for _, r in s3)
    assert any("RulesBucket" in r and "/rules.txt" in r for r in objects), objects
    assert any("ListBucket" in r and "/customers.csv" in r for r in objects), objects
    assert len(objects) == 2, objects
    env = props(functions[logical_id])["Environment"]["Variables"]
    assert refs(env["ORDERS_TABLE"]) == {"OrdersTable"}


def test_mood_reader_wiring():
    """S3 put from the raw-mime bucket (SES inbound), failures to an SQS destination, 7-day logs,
    and a role that reads only the inbound prefix and the list mirror."""
    template = load()
    res = template["Resources"]
    fn = props(res["MoodReaderFunction"])
    (event,) = fn["Events"].values()
    assert event["Type"] == "S3"
    assert refs(event["Properties"]["Bucket"]) == {"RawMimeBucket"}
    on_failure = fn["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert refs(on_failure["Destination"]) == {"MoodReaderDeadLetterQueue"}
    assert props(res["MoodReaderLogGroup"])["RetentionInDays"] == 7
    statements = as_list(props(res["MoodReaderRole"])["Policies"][0]["PolicyDocument"]["Statement"])
    gets = [st for st in statements if "s3:GetObject" in as_list(st["Action"])]
    assert len(gets) == 2
    assert not any("s3:PutObject" in as_list(st["Action"]) for st in statements)
    # The sheet write-back: the service-account key, and the sheet it writes.
    (key,) = [st for st in statements if "secretsmanager:GetSecretValue" in as_list(st["Action"])]
    assert refs(key["Resource"]) == {"KeysSecret"}
    env = fn["Environment"]["Variables"]
    assert refs(env["SHEET_ID"]) == {"CustomerSheetId"}
    assert refs(env["GOOGLE_SECRET"]) == {"KeysSecret"}
    assert literal_text(env["GOOGLE_SECRET"]).endswith("#google_service_account")


def test_outcome_handler_is_public_capped_and_least_privilege():
    """The Function URL has no IAM auth (Slack cannot sign with SigV4), so the function
    verifies every request itself; its concurrency is capped; its role appends to and reads the
    audit, reads and updates state, and reads exactly its four secrets."""
    template = load()
    functions = resources_of(template, FUNCTION_TYPES)
    (name,) = [n for n, r in functions.items() if function_name(n, r) == "churn-outcome"]
    p = props(functions[name])
    assert p["FunctionUrlConfig"]["AuthType"] == "NONE"
    assert 1 <= int(p["ReservedConcurrentExecutions"]) <= 50
    assert p["Architectures"] if "Architectures" in p else template["Globals"]["Function"]["Architectures"] == ["arm64"]
    statements = role_statements(template, role_of(functions[name]))
    audit_ids = audit_table_ids(template)
    granted: dict[str, set[str]] = {}
    for st in statements:
        for res in as_list(st.get("Resource")):
            for ref in refs(res) or {str(res)}:
                granted.setdefault(ref, set()).update(as_list(st.get("Action")))
    (audit,) = audit_ids
    assert granted[audit] == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"}
    assert granted["StateTable"] == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    # Resolving a hashed customer id and the Home tab read the weeks' sent lists, and nothing
    # else of the ledger.
    assert granted["RunsTable"] == {"dynamodb:Query"}
    # The Home tab's owner lines: rules.txt, read only, and no other object of any bucket.
    s3 = {k: v for k, v in granted.items() if any(a.startswith("s3:") for a in v)}
    assert s3 == {"RulesBucket": {"s3:GetObject"}}, s3
    rules_reads = [res for st in statements for res in as_list(st.get("Resource"))
                   if "s3:GetObject" in as_list(st.get("Action"))]
    assert [literal_text(r) for r in rules_reads] == ["${RulesBucket.Arn}/rules.txt"], rules_reads
    secrets = {k for k, v in granted.items() if v == {"secretsmanager:GetSecretValue"}}
    # Every key lives in the one JSON secret (docs/aws-template.md, "One secret").
    assert secrets == {"KeysSecret"}
    resources = template["Resources"]
    alarms = [r for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"
              and props(r).get("MetricName") == "SlackSignatureFailures"]
    assert len(alarms) == 1
    a = props(alarms[0])
    assert (a["Period"], a["Threshold"], a["ComparisonOperator"]) == (3600, 5, "GreaterThanThreshold")
    filters = [r for r in resources.values() if r.get("Type") == "AWS::Logs::MetricFilter"
               and "slack_signature_refused" in props(r).get("FilterPattern", "")]
    assert len(filters) == 1


def test_audit_table_denies_changes_to_items():
    """Defence in depth: the table's own resource policy refuses updates and deletes."""
    template = load()
    (audit,) = audit_table_ids(template)
    statements = as_list(props(template["Resources"][audit])["ResourcePolicy"]["PolicyDocument"]["Statement"])
    denied = {a for st in statements if st["Effect"] == "Deny" for a in as_list(st["Action"])}
    assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} <= denied
    table = props(template["Resources"][audit])
    assert table["DeletionProtectionEnabled"] is True
    assert template["Resources"][audit]["DeletionPolicy"] == "Retain"
    # Deleting or reconfiguring the table (protection off, a new policy) is denied to every
    # principal but the stack's admin role.
    (guard,) = [st for st in statements if "dynamodb:DeleteTable" in as_list(st["Action"])]
    assert guard["Effect"] == "Deny" and guard["Principal"] == "*"
    assert {"dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:PutResourcePolicy",
            "dynamodb:DeleteResourcePolicy", "dynamodb:UpdateContinuousBackups"} <= set(as_list(guard["Action"]))
    # The admin role when given, else the account's root user (StackAdminRoleArn is optional).
    principal = guard["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert principal["Fn::If"][0] == "HasStackAdminRole"
    assert refs(principal["Fn::If"][1]) == {"StackAdminRoleArn"}
    assert literal_text(principal["Fn::If"][2]) == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
    # No admin by default: left empty (a first deploy with three answers), only root may.
    assert template["Parameters"]["StackAdminRoleArn"].get("Default", "") == "", "no admin by default"


# ---------------------------------------------------------------------------------------------
# The checks catch what they are for: deliberately bad snippets

HEADER = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  AuditTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: cp-audit
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: customer_id, AttributeType: S}]
      KeySchema: [{AttributeName: customer_id, KeyType: HASH}]
"""


def logical(binary: str) -> str:
    """churn-scorer -> ChurnScorer"""
    return "".join(part.title() for part in binary.split("-"))


def function(name: str, role: str | None, extra: str = "") -> str:
    role_line = f"      Role: !GetAtt {role}.Arn\n" if role else ""
    return f"""
  {logical(name)}:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: {name}
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
{role_line}{extra}"""


def role(name: str, statements: str, service: str = "lambda.amazonaws.com") -> str:
    return f"""
  {name}:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {{Service: {service}}}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: p
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
{statements}"""


def stmt(action: str, resource: str) -> str:
    return f"""              - Effect: Allow
                Action: {action}
                Resource: {resource}
"""


BAD = {
    "update on the audit table": (
        check_audit_put_read_only,
        role("R", stmt("[dynamodb:PutItem, dynamodb:UpdateItem]", "!GetAtt AuditTable.Arn")),
        "dynamodb:UpdateItem on the audit table",
    ),
    "delete on the audit table by name": (
        check_audit_put_read_only,
        role("R", stmt("dynamodb:DeleteItem", '!Sub "arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/cp-audit"')),
        "dynamodb:DeleteItem on the audit table",
    ),
    "batch write through a table wildcard": (
        check_audit_put_read_only,
        role("R", stmt("dynamodb:BatchWriteItem", '!Sub "arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/cp-*"')),
        "dynamodb:BatchWriteItem on the audit table",
    ),
    "dynamodb:* on the audit table": (
        check_audit_put_read_only,
        role("R", stmt("dynamodb:*", "!GetAtt AuditTable.Arn")),
        "wildcard action dynamodb:*",
    ),
    "resource star": (
        check_no_star_resources,
        role("R", stmt("s3:GetObject", '"*"')),
        "Resource '*' for ['s3:GetObject']",
    ),
    "bare wildcard ARN": (
        check_no_star_resources,
        role("R", stmt("secretsmanager:GetSecretValue", '!Sub "arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"')),
        "secretsmanager:GetSecretValue",
    ),
    "SAM policy template on a function": (
        check_no_star_resources,
        function("churn-scorer", None, "      Policies:\n        - Statement:\n            - Effect: Allow\n              Action: bedrock:InvokeModel\n              Resource: '*'\n"),
        "bedrock:InvokeModel",
    ),
    "shared role": (
        check_own_roles,
        role("Shared", stmt("s3:GetObject", "arn:aws:s3:::b/k")) + function("churn-scorer", "Shared") + function("churn-handoff", "Shared"),
        "shares role Shared",
    ),
    "function without its own role": (
        check_own_roles,
        function("churn-scorer", None, "      Policies:\n        - DynamoDBCrudPolicy:\n            TableName: cp-state\n"),
        "no Role of its own",
    ),
}

MACHINE = """
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachines/weekly.asl.json
      Policies:
{policies}"""
FUNCTIONS = "".join(function(n, f"Role{i}") + role(f"Role{i}", stmt("s3:GetObject", "arn:aws:s3:::b/k")) for i, n in enumerate(sorted(MONDAY_FUNCTIONS | {"churn-digest"})))

BAD.update(
    {
        "state machine invokes a fourth function": (
            check_state_machine_invokes_only_monday_functions,
            FUNCTIONS + MACHINE.format(policies="".join(f"        - LambdaInvokePolicy: {{FunctionName: !Ref {logical(n)}}}\n" for n in sorted(MONDAY_FUNCTIONS | {"churn-digest"}))),
            "invokes ['churn-digest', 'churn-handoff', 'churn-record', 'churn-scorer']",
        ),
        "state machine with a broad managed template": (
            check_state_machine_invokes_only_monday_functions,
            FUNCTIONS + MACHINE.format(policies="        - LambdaInvokePolicy: {FunctionName: !Ref ChurnScorer}\n        - DynamoDBCrudPolicy: {TableName: cp-audit}\n"),
            "is not an inline statement or LambdaInvokePolicy",
        ),
        "state machine invokes any function": (
            check_state_machine_invokes_only_monday_functions,
            FUNCTIONS + MACHINE.format(policies="        - Statement:\n            - Effect: Allow\n              Action: lambda:InvokeFunction\n              Resource: !Sub 'arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:*'\n"),
            "not one of this template's functions",
        ),
        "scheduler role does more than start": (
            check_scheduler_only_starts_its_state_machine,
            FUNCTIONS
            + MACHINE.format(policies="        - LambdaInvokePolicy: {FunctionName: !Ref ChurnScorer}\n")
            + role("SchedRole", stmt("[states:StartExecution, states:StopExecution]", "!Ref Machine"), "scheduler.amazonaws.com")
            + """
  Sched:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: cron(0 8 ? * 2 *)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !Ref Machine, RoleArn: !GetAtt SchedRole.Arn}
""",
            "only states:StartExecution",
        ),
        "scheduler role starts any state machine": (
            check_scheduler_only_starts_its_state_machine,
            FUNCTIONS
            + MACHINE.format(policies="        - LambdaInvokePolicy: {FunctionName: !Ref ChurnScorer}\n")
            + role("SchedRole", stmt("states:StartExecution", '"*"'), "scheduler.amazonaws.com")
            + """
  Sched:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: cron(0 8 ? * 2 *)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !Ref Machine, RoleArn: !GetAtt SchedRole.Arn}
""",
            "not the schedule's target",
        ),
    }
)


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_catches(case):
    check, snippet, expected = BAD[case]
    problems = check(load_str(HEADER + snippet))
    assert any(expected in p for p in problems), problems


def test_good_snippet_passes():
    """The snippets' building blocks are not themselves what trips the checks."""
    text = HEADER + role("R", stmt("[dynamodb:PutItem, dynamodb:Query]", "!GetAtt AuditTable.Arn")) + function("churn-scorer", "R")
    template = load_str(text)
    assert check_audit_put_read_only(template) == []
    assert check_no_star_resources(template) == []
    assert check_own_roles(template) == []


# ---------------------------------------------------------------------------------------------
# A first deploy with three answers; optional parts behind Conditions; nothing fails silently
# (issue 15, docs/aws-template.md "Parameters", "Optional parts" and "Alarms").

REQUIRED_PARAMETERS = {"SenderAddress", "FallbackOwner", "AlarmEmail"}
ALARM_TYPES = {"AWS::CloudWatch::Alarm"}
QUEUE_TYPES = {"AWS::SQS::Queue"}
# Each optional part: the parameter that switches it on, its condition, and the functions
# (by binary) that exist only with it.
OPTIONAL_PARTS = {
    "HasDrive": ("CustomerSheetId", {"churn-drive-sync", "churn-order-import"}),
    "HasDigest": ("DigestChannel", {"churn-digest"}),
    "HasSummary": ("SummaryRecipients", {"churn-summary"}),
}


def required_parameters(template: dict) -> set[str]:
    return {n for n, p in template.get("Parameters", {}).items() if "Default" not in p}


def test_a_first_deploy_needs_exactly_three_answers():
    assert required_parameters(load()) == REQUIRED_PARAMETERS


def test_required_parameters_check_catches_a_fourth():
    extra = load_str(
        "Parameters:\n  A:\n    Type: String\n  B:\n    Type: String\n    Default: ''\n"
        "Resources: {}\n"
    )
    assert required_parameters(extra) == {"A"}


def test_every_default_passes_its_own_pattern():
    """A default the parameter's AllowedPattern refuses would make the "three answers" deploy fail."""
    for name, p in load()["Parameters"].items():
        if "Default" in p and "AllowedPattern" in p:
            assert re.fullmatch(str(p["AllowedPattern"]), str(p["Default"])), name


def test_optional_parts_are_switched_by_an_empty_parameter():
    template = load()
    conditions = template["Conditions"]
    functions = resources_of(template, FUNCTION_TYPES)
    for condition, (parameter, binaries) in OPTIONAL_PARTS.items():
        assert conditions[condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}
        assert template["Parameters"][parameter]["Default"] == ""
        gated = {function_name(n, r) for n, r in functions.items() if r.get("Condition") == condition}
        assert gated == binaries, condition
        # The function's role, log group and schedule (and its schedule's role) go with it.
        for n, r in functions.items():
            if function_name(n, r) not in binaries:
                continue
            role = role_of(r)
            assert template["Resources"][role].get("Condition") == condition, role
            log_group = props(r).get("LoggingConfig", {}).get("LogGroup")
            for dep in refs(log_group):
                assert template["Resources"][dep].get("Condition") == condition, dep
    # Everything else always exists: the Monday run, the outcome handler, the mood reader.
    always = {function_name(n, r) for n, r in functions.items() if "Condition" not in r}
    assert always >= MONDAY_FUNCTIONS | {"churn-outcome", "churn-mood-reader"}


def existing(template: dict, parameters: dict[str, str]) -> set[str]:
    """The logical ids that exist for these parameter values (conditions of the Not/Equals/And/
    Or form over Refs to parameters, as the template writes them)."""
    values = {n: p.get("Default", "") for n, p in template.get("Parameters", {}).items()}
    values.update(parameters)

    def ev(expr):
        if isinstance(expr, dict):
            ((key, inner),) = expr.items()
            if key == "Fn::Not":
                return not ev(inner[0])
            if key == "Fn::And":
                return all(ev(x) for x in inner)
            if key == "Fn::Or":
                return any(ev(x) for x in inner)
            if key == "Fn::Equals":
                a, b = (values[x["Ref"]] if isinstance(x, dict) else x for x in inner)
                return str(a) == str(b)
            if key == "Condition":
                return ev(template["Conditions"][inner])
            raise AssertionError(f"unexpected condition form {key}")
        raise AssertionError(f"unexpected condition {expr!r}")

    truth = {n: ev(c) for n, c in template.get("Conditions", {}).items()}
    return {
        n for n, r in template["Resources"].items()
        if "Condition" not in r or truth[r["Condition"]]
    }, truth


def live_refs(value, truth: dict[str, bool]) -> set[str]:
    """refs(), following only the branch of each Fn::If that these conditions take."""
    if isinstance(value, dict):
        if "Fn::If" in value:
            cond, yes, no = value["Fn::If"]
            return live_refs(yes if truth[cond] else no, truth)
        found: set[str] = set()
        for key, inner in value.items():
            if key in ("Ref", "Fn::GetAtt", "Fn::Sub"):
                found |= refs({key: inner})
            else:
                found |= live_refs(inner, truth)
        return found
    if isinstance(value, list):
        return set().union(*(live_refs(v, truth) for v in value)) if value else set()
    return set()


def dangling(template: dict, parameters: dict[str, str]) -> list[str]:
    present, truth = existing(template, parameters)
    known = present | set(template.get("Parameters", {})) | {
        "AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::StackName", "AWS::StackId",
        "AWS::URLSuffix", "AWS::NoValue",
    }
    # SAM's generated resources (OutcomeFunctionUrl from FunctionUrlConfig, ...).
    generated = {n + "Url" for n in present
                 if template["Resources"][n].get("Type") == "AWS::Serverless::Function"
                 and "FunctionUrlConfig" in props(template["Resources"][n])}
    problems = []
    for n in present:
        for ref in live_refs(template["Resources"][n], truth):
            if ref not in known and ref not in generated:
                problems.append(f"{n} refers to {ref}, which does not exist")
    for n, out in template.get("Outputs", {}).items():
        if "Condition" in out and not truth[out["Condition"]]:
            continue
        for ref in live_refs(out, truth):
            if ref not in known and ref not in generated:
                problems.append(f"output {n} refers to {ref}, which does not exist")
    return problems


ANSWERS = {"SenderAddress": "shop@example.com", "FallbackOwner": "admin@example.com",
           "AlarmEmail": "admin@example.com"}
EVERYTHING_ON = {**ANSWERS, "CustomerSheetId": "sheet", "RulesDocId": "rules", "VoiceDocId": "voice",
                 "DigestChannel": "#churn", "SummaryRecipients": "boss@example.com",
                 "OutcomeUrl": "https://churn.example.com/"}


@pytest.mark.parametrize("parameters", [ANSWERS, EVERYTHING_ON,
                                        {**ANSWERS, "CustomerSheetId": "s", "RulesDocId": "r", "VoiceDocId": "v"},
                                        {**ANSWERS, "DigestChannel": "#churn"}],
                         ids=["three-answers", "everything-on", "drive-only", "digest-only"])
def test_every_reference_resolves_with_the_parts_on_or_off(parameters):
    template = load()
    assert dangling(template, parameters) == []
    present, _ = existing(template, parameters)
    functions = {function_name(n, template["Resources"][n]) for n in present
                 if template["Resources"][n].get("Type") in FUNCTION_TYPES}
    for condition, (parameter, binaries) in OPTIONAL_PARTS.items():
        assert (binaries <= functions) == bool(parameters.get(parameter)), condition


def test_dangling_catches_an_ungated_reference():
    template = load_str(
        "Parameters:\n  P:\n    Type: String\n    Default: ''\n"
        "Conditions:\n  On: !Not [!Equals [!Ref P, '']]\n"
        "Resources:\n"
        "  Q:\n    Condition: On\n    Type: AWS::SQS::Queue\n"
        "  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      Dimensions:\n"
        "        - Value: !GetAtt Q.QueueName\n"
    )
    assert dangling(template, {}) == ["A refers to Q, which does not exist"]
    assert dangling(template, {"P": "x"}) == []


def missing_alarms(template: dict) -> list[str]:
    """Every function and every SQS queue has an alarm that exists whenever it does: an alarm
    that names it, or, for a function, an alarm on the queue its failures go to. The alarm must
    publish somewhere (AlarmActions)."""
    res = template["Resources"]
    alarms = {n: r for n, r in resources_of(template, ALARM_TYPES).items()
              if as_list(props(r).get("AlarmActions"))}

    def alarmed(target: str) -> bool:
        cond = res[target].get("Condition")
        return any(target in refs(props(a).get("Dimensions")) | refs(props(a).get("Metrics"))
                   and a.get("Condition") in (None, cond)
                   for a in alarms.values())

    problems = []
    for q in resources_of(template, QUEUE_TYPES):
        if not alarmed(q):
            problems.append(f"queue {q} has no alarm")
    for n, r in resources_of(template, FUNCTION_TYPES).items():
        if alarmed(n):
            continue
        on_failure = (props(r).get("EventInvokeConfig", {}) or {}).get("DestinationConfig", {}) or {}
        destination = refs((on_failure.get("OnFailure", {}) or {}).get("Destination"))
        if any(d in res and res[d].get("Type") in QUEUE_TYPES and alarmed(d) for d in destination):
            continue
        problems.append(f"function {function_name(n, r)} has no alarm")
    return problems


def test_every_function_and_queue_has_an_alarm():
    assert missing_alarms(load()) == []


def test_missing_alarms_catches_an_unwatched_function_queue_and_condition():
    template = load()
    res = template["Resources"]
    del res["OutcomeErrorsAlarm"]
    assert missing_alarms(template) == ["function churn-outcome has no alarm"]
    template = load()
    del template["Resources"]["MoodReaderDeadLetterAlarm"]
    assert set(missing_alarms(template)) == {"queue MoodReaderDeadLetterQueue has no alarm",
                                             "function churn-mood-reader has no alarm"}
    template = load()
    template["Resources"]["DigestFailureAlarm"]["Condition"] = "HasSummary"
    assert missing_alarms(template) == ["function churn-digest has no alarm"]


def test_the_dead_letter_queues_alarm_on_a_visible_message():
    template = load()
    for n, a in resources_of(template, ALARM_TYPES).items():
        p = props(a)
        if p.get("Namespace") == "AWS/SQS":
            assert p["MetricName"] == "ApproximateNumberOfMessagesVisible", n
            assert p["ComparisonOperator"] == "GreaterThanThreshold" and p["Threshold"] == 0, n


def test_one_secret_holds_every_key():
    """Five secrets were $2.00 a month; one is $0.40 (README, Cost)."""
    template = load()
    secrets = resources_of(template, {"AWS::SecretsManager::Secret"})
    assert list(secrets) == ["KeysSecret"]
    generate = props(secrets["KeysSecret"])["GenerateSecretString"]
    assert generate["GenerateStringKey"] == "email_link_key"
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert literal_text(env["SLACK_TOKEN_SECRET"]) == "${KeysSecret}#slack_bot_token"
    assert literal_text(env["LINK_KEY_SECRET"]) == "${KeysSecret}#email_link_key"


def test_the_outcome_url_comes_from_the_stack():
    template = load()
    value = props(template["Resources"]["OutcomeUrlParameter"])["Value"]
    cond, override, own = value["Fn::If"]
    assert cond == "HasOutcomeUrlOverride" and refs(override) == {"OutcomeUrl"}
    assert own == {"Fn::GetAtt": ["OutcomeFunctionUrl", "FunctionUrl"]}
