"""The Monday run, executed for real: moto runs statemachines/weekly.asl.json with every Lambda
invoke forwarded to the task binaries (tests/sfn/harness.py); Slack and Bedrock are local servers
that behave like the documented APIs. Nothing leaves 127.0.0.1."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A listen backlog like a real server's: the default 5 makes the 6th concurrent connection wait for a
# SYN retransmit (1 s), which is the fake's delay, not ours.
ThreadingHTTPServer.request_queue_size = 128
from pathlib import Path
from urllib.parse import parse_qs

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CHURN_TASK_BIN_DIR", ROOT / "target" / "debug"))
REGION = "ap-southeast-1"
SLACK_TOKEN = "xoxb-test-token"
SENDER = "churn@shop.example"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def socket_inodes(client_port):
    """Inodes of the local TCP sockets bound to `client_port` (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == client_port:
                inodes.add(cols[9])
    return inodes


def holds_socket(pid, inodes):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").removeprefix("socket:[").rstrip("]") in inodes:
                return True
        except OSError:
            continue
    return False


def kill_running(binary_name, env_marker, client_port):
    """SIGKILLs the running `<binary_name> --invoke` process (a Lambda that dies mid-task) whose
    request came from `client_port` and whose environment holds `env_marker`: two owners'
    handoffs run at once and only the one that posted dies, and tests running side by side
    (pytest -n) keep theirs."""
    marker = env_marker.encode()
    inodes = socket_inodes(client_port)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(binary_name.encode()) and b"--invoke" in argv:
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if marker not in f.read().split(b"\0"):
                        continue
            except OSError:
                continue
            if not holds_socket(pid, inodes):
                continue
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


class FakeSlack:
    """Slack's Web API for users.lookupByEmail, conversations.open, chat.postMessage and
    conversations.history: bearer token checked, Block Kit limits enforced, message metadata kept
    (and returned only with include_all_metadata, as Slack does), per-user failures on demand."""

    def __init__(self):
        self.posts = []  # (channel, body)
        self.users = {}  # email -> user id
        self.failing_users = set()  # conversations.open answers 500 for these
        self.crash_after_posts = 0  # > 0: kill the running handoff right after that many posts
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if self.headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
                    return self.reply(200, {"ok": False, "error": "invalid_auth"})
                method = self.path.rsplit("/", 1)[-1]
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("application/json"):
                    args = json.loads(raw or b"{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                return fake.handle(self, method, args)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, h, method, args):
        if method == "users.lookupByEmail":
            email = args.get("email", "")
            if email not in self.users:
                return h.reply(200, {"ok": False, "error": "users_not_found"})
            return h.reply(200, {"ok": True, "user": {"id": self.users[email]}})
        if method == "conversations.open":
            user = args.get("users", "")
            if user in self.failing_users:
                return h.reply(500, {"ok": False, "error": "internal_error"})
            return h.reply(200, {"ok": True, "channel": {"id": "D" + user}})
        if method == "chat.postMessage":
            blocks = args.get("blocks", [])
            problems = [
                len(blocks) > 50,
                any(len(json.dumps(b.get("text", {}).get("text", ""))) > 3100 for b in blocks),
                any(
                    len(e.get("value", "")) > 2000
                    for b in blocks
                    for e in b.get("elements", [])
                    if isinstance(e, dict)
                ),
                not args.get("channel"),
            ]
            if any(problems):
                return h.reply(200, {"ok": False, "error": "invalid_blocks"})
            meta = args.get("metadata")
            if meta is not None and (not isinstance(meta, dict) or "event_type" not in meta or "event_payload" not in meta):
                return h.reply(200, {"ok": False, "error": "invalid_metadata_format"})
            with self.lock:
                ts = f"{time.time():.6f}"
                self.posts.append((args["channel"], {**args, "ts": ts}))
                crash = self.crash_after_posts > 0 and len(self.posts) >= self.crash_after_posts
                if crash:
                    self.crash_after_posts = 0
            if crash:
                # The post landed; the sender dies before it hears back or writes its ledger.
                kill_running("churn-handoff", f"SLACK_API_URL={self.url}", h.client_address[1])
                return
            return h.reply(200, {"ok": True, "channel": args["channel"], "ts": ts})
        if method == "conversations.history":
            channel = args.get("channel", "")
            with_meta = str(args.get("include_all_metadata", "false")).lower() in ("true", "1")
            limit = int(args.get("limit", 100))
            with self.lock:
                found = [b for ch, b in self.posts if ch == channel]
            messages = []
            for b in reversed(found[-limit:]):
                m = {"type": "message", "ts": b["ts"], "text": b.get("text", ""), "blocks": b.get("blocks", [])}
                if with_meta and b.get("metadata"):
                    m["metadata"] = b["metadata"]
                messages.append(m)
            return h.reply(200, {"ok": True, "messages": messages, "has_more": False})
        return h.reply(200, {"ok": False, "error": "unknown_method"})

    def posts_to(self, channel):
        return [b for ch, b in self.posts if ch == channel]

    def customers_posted_to(self, channel):
        ids = []
        for ch, body in self.posts:
            if ch != channel:
                continue
            for b in body.get("blocks", []):
                if b.get("type") == "actions":
                    ids.append(json.loads(b["elements"][0]["value"])["c"])
        return ids


class FakeBedrock:
    """The Bedrock Converse API: checks the request shape and SigV4 header; answers a grounded
    one-line reason (no numbers, no signal names)."""

    def __init__(self, delay=0.0):
        self.calls = 0
        self.delay = delay  # seconds before each reply (a slow model)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                ok = (
                    self.path.startswith("/model/")
                    and self.path.endswith("/converse")
                    and self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256")
                    and body["messages"][0]["role"] == "user"
                    and body["messages"][0]["content"][0]["text"]
                )
                fake.calls += 1
                if fake.delay:
                    time.sleep(fake.delay)
                if not ok:
                    data = json.dumps({"message": "bad request"}).encode()
                    self.send_response(400)
                    self.send_header("x-amzn-ErrorType", "ValidationException")
                else:
                    data = json.dumps({
                        "output": {"message": {"role": "assistant", "content": [{"text": "Orders have slowed well below their usual rhythm."}]}},
                        "stopReason": "end_turn",
                        "usage": {"inputTokens": 50, "outputTokens": 10, "totalTokens": 60},
                        "metrics": {"latencyMs": 5},
                    }).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class World:
    """One moto server with the Monday run deployed, and the fakes."""

    def __init__(self, tmp: Path, timezone="Asia/Singapore", bedrock_delay=0.0, extra_env=None):
        self.slack = FakeSlack()
        self.bedrock = FakeBedrock(bedrock_delay)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.fail_file = tmp / "fail-functions"
        env = dict(os.environ)
        env.update({
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.bedrock.url, "S3_FORCE_PATH_STYLE": "true",
            "STATE_TABLE": "cp-state", "AUDIT_TABLE": "cp-audit", "RUNS_TABLE": "cp-runs",
            "HISTORY_TABLE": "cp-history",
            "LIST_BUCKET": "cp-list", "RULES_BUCKET": "cp-rules", "RUNS_BUCKET": "cp-runs-bucket",
            "CONFIG_PATH": "/cp/config/", "SLACK_API_URL": self.slack.url,
            "SLACK_TOKEN_SECRET": "cp/keys#slack_bot_token", "LINK_KEY_SECRET": "cp/keys#email_link_key",
            "HARNESS_FAIL_FILE": str(self.fail_file), "RUST_LOG": "warn",
            "AWS_EC2_METADATA_DISABLED": "true", "HARNESS_SIZES_FILE": str(tmp / "payload-sizes"),
        })
        env.update(extra_env or {})
        self.sizes_file = tmp / "payload-sizes"
        self.env = env
        functions = {f"churn-{t}": str(BIN / f"churn-{t}") for t in ("scorer", "handoff", "record")}
        for path in functions.values():
            assert Path(path).exists(), f"{path} is missing: build it with `cargo build -p churn-lambda`"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/sfn/harness.py"), str(self.port), json.dumps(functions)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        line = self.proc.stdout.readline().decode()
        assert line.startswith("ready"), line
        kw = dict(endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
        self.s3 = boto3.client("s3", **kw)
        self.ddb = boto3.client("dynamodb", **kw)
        self.ssm = boto3.client("ssm", **kw)
        self.sm = boto3.client("secretsmanager", **kw)
        self.ses = boto3.client("sesv2", **kw)
        self.sfn = boto3.client("stepfunctions", **kw)
        self.lam = boto3.client("lambda", **kw)
        self.iam = boto3.client("iam", **kw)
        self.timezone = timezone
        self.deploy()

    def deploy(self):
        for name, keys in {"cp-state": [("customer_id", "HASH")], "cp-audit": [("customer_id", "HASH"), ("ts", "RANGE")],
                           "cp-runs": [("week", "HASH"), ("owner", "RANGE")],
                           "cp-history": [("customer_id", "HASH"), ("week", "RANGE")]}.items():
            self.ddb.create_table(
                TableName=name, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
            )
        for b in ("cp-list", "cp-rules", "cp-runs-bucket"):
            self.s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": REGION})
        params = {"timezone": self.timezone, "fallback_owner": "ops@shop.example", "sender": SENDER,
                  "model_id": "global.anthropic.claude-haiku-4-5-20251001-v1:0", "outcome_url": "https://outcome.example",
                  "digest_channel": "C-digest", "summary_recipients": "boss@shop.example"}
        for k, v in params.items():
            self.ssm.put_parameter(Name=f"/cp/config/{k}", Value=v, Type="String")
        # Every key in one JSON secret, as template.yaml deploys it (cp/keys).
        self.sm.create_secret(Name="cp/keys", SecretString=json.dumps(
            {"slack_bot_token": SLACK_TOKEN, "email_link_key": "link-key-for-tests"}))
        role = self.iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
        arns = {}
        for t, key in (("scorer", "ScorerFunctionArn"), ("handoff", "HandoffFunctionArn"), ("record", "RecordFunctionArn")):
            arns[key] = self.lam.create_function(
                FunctionName=f"churn-{t}", Runtime="provided.al2023", Role=role, Handler="bootstrap",
                Code={"ZipFile": buf.getvalue()}, Architectures=["arm64"])["FunctionArn"]
        definition = (ROOT / "statemachines/weekly.asl.json").read_text()
        for k, v in arns.items():
            definition = definition.replace("${" + k + "}", v)
        self.machine = self.sfn.create_state_machine(name="cp-weekly", definition=definition, roleArn=role)["stateMachineArn"]

    def verify_sender(self):
        self.ses.create_email_identity(EmailIdentity=SENDER)

    def put_list(self, csv: str, rules: str):
        self.s3.put_object(Bucket="cp-list", Key="customers.csv", Body=csv.encode())
        self.s3.put_object(Bucket="cp-rules", Key="rules.txt", Body=rules.encode())

    def fail(self, *functions):
        self.fail_file.write_text("\n".join(functions))

    def heal(self):
        self.fail_file.unlink(missing_ok=True)

    def run(self, name, input_=None, timeout=120):
        return self.wait(self.start(name, input_), timeout)

    def sent_emails(self):
        """Mail SES accepted (moto's `ses.Message` in /moto-api/data.json)."""
        import urllib.request
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json") as r:
            data = json.load(r)
        return data.get("ses", {}).get("Message", [])

    def emails_to(self, address):
        return [m for m in self.sent_emails() if address in m["destinations"]["ToAddresses"]]

    def items(self, table):
        items, kw = [], {}
        while True:
            page = self.ddb.scan(TableName=table, **kw)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def start(self, name, input_=None):
        return self.sfn.start_execution(stateMachineArn=self.machine, name=name, input=json.dumps(input_ or {}))["executionArn"]

    def wait(self, arn, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            d = self.sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                d["outputJson"] = json.loads(d["output"]) if d.get("output") else None
                return d
            time.sleep(0.3)
        raise AssertionError(f"execution {arn} still running after {timeout}s")

    def payload_sizes(self):
        """(function, input bytes, output bytes) of every task invocation so far."""
        if not self.sizes_file.exists():
            return []
        rows = [line.split() for line in self.sizes_file.read_text().splitlines() if line.strip()]
        return [(f, int(i), int(o)) for f, i, o in rows]

    def report(self, name):
        """The run report the Report state wrote for execution `name`."""
        for k in self.s3.list_objects_v2(Bucket="cp-runs-bucket").get("Contents", []):
            if k["Key"].endswith(f"/{name}/report.json"):
                return json.loads(self.s3.get_object(Bucket="cp-runs-bucket", Key=k["Key"])["Body"].read())
        raise AssertionError(f"no report for {name}")

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # moto's server can hang on shutdown with idle keep-alive connections open.
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.slack.server.shutdown()
        self.bedrock.server.shutdown()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()
