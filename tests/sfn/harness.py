"""Runs moto's server in-process with Step Functions executing state machines for real, and with
every Lambda invoke forwarded to the project's task binaries (their `--invoke` entry point reads the
event on stdin and writes the result on stdout).

Usage: python harness.py PORT FUNCTIONS_JSON
  FUNCTIONS_JSON maps function names to binaries: {"churn-scorer": "/path/to/churn-scorer", ...}
The task processes inherit this process's environment (endpoints, table and bucket names).
Prints "ready PORT" when serving; exits when stdin closes (so it never outlives its test).
"""

import json
import os
import subprocess
import sys
import threading
import time

port = int(sys.argv[1])
functions = json.loads(sys.argv[2])
# moto's Step Functions interpreter calls Lambda through its own server on this port.
os.environ["MOTO_PORT"] = str(port)

import moto.awslambda.models as lambda_models  # noqa: E402
from moto.core.config import default_user_config  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402

default_user_config["stepfunctions"] = {"execute_state_machine": True}

invocations = []
lock = threading.Lock()


def invoke(self, body, request_headers, response_headers):
    """Runs the task binary for this function once, like the Lambda runtime would."""
    binary = functions.get(self.function_name)
    if binary is None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(
            {"errorType": "harness.UnknownFunction", "errorMessage": self.function_name}
        ).encode()
    # A test can make a task fail for good (as a crashed Lambda would) by naming it in this file.
    fail_file = os.environ.get("HARNESS_FAIL_FILE")
    if fail_file and os.path.exists(fail_file):
        with open(fail_file) as f:
            if self.function_name in f.read().split():
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(
                    {"errorType": "harness.Crashed", "errorMessage": "the task crashed"}
                ).encode()
    env = dict(os.environ)
    env["AWS_LAMBDA_FUNCTION_NAME"] = self.function_name
    started = time.perf_counter()
    proc = subprocess.run(
        [binary, "--invoke"],
        input=(body or "{}").encode(),
        capture_output=True,
        env=env,
        timeout=120,
    )
    sys.stderr.buffer.write(proc.stderr)
    if os.environ.get("HARNESS_TIMINGS"):
        sys.stderr.write(f"harness: {self.function_name} {started:.2f}..{time.perf_counter():.2f} took {time.perf_counter() - started:.2f} s\n")
    sys.stderr.flush()
    with lock:
        invocations.append(self.function_name)
        sizes = os.environ.get("HARNESS_SIZES_FILE")
        if sizes:
            with open(sizes, "a") as f:
                f.write(f"{self.function_name} {len(body or b'')} {len(proc.stdout)}\n")
    if proc.returncode < 0:
        # Killed (as a Lambda that runs out of memory or is stopped): what Lambda reports.
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(
            {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited with error: signal {-proc.returncode}"}
        ).encode()
    if proc.returncode != 0:
        response_headers["x-amz-function-error"] = "Unhandled"
        out = proc.stdout.strip() or json.dumps(
            {"errorType": "churn.Internal", "errorMessage": f"exit code {proc.returncode}"}
        ).encode()
        return out
    return proc.stdout


lambda_models.LambdaFunction.invoke = invoke

# moto's TransactWriteItems backs up a table by deep-copying it once per action (100 copies of
# cp-state for one Record of 50 names), which made a 50-owner run take minutes and gigabytes.
# The copies are identical (nothing is written while they are made), so one per table and
# transaction keeps moto's rollback exactly as it is. Thread-local: moto serves threads at once.
import copy  # noqa: E402
import types  # noqa: E402

import moto.dynamodb.models as dynamodb_models  # noqa: E402

_backup = threading.local()


def _deepcopy_once(obj, memo=None):
    cache = getattr(_backup, "cache", None)
    if cache is None:
        return copy.deepcopy(obj, memo)
    if id(obj) not in cache:
        cache[id(obj)] = copy.deepcopy(obj, memo)
    return cache[id(obj)]


dynamodb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy_once, copy=copy.copy)
_transact = dynamodb_models.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    _backup.cache = {}
    try:
        return _transact(self, transact_items)
    finally:
        _backup.cache = None


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items

# No Docker here, and none is needed (invocations run the binaries above); moto's data dump
# (/moto-api/data.json, where tests read the mail SES accepted) would otherwise try to reach it.
import moto.utilities.docker_utilities as docker_utilities  # noqa: E402

docker_utilities.DockerModel.docker_client = property(lambda self: None)

server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print(f"ready {port}", flush=True)
sys.stdin.read()
server.stop()
