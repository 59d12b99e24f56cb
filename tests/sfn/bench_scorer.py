"""Benchmark (not a test): the scorer task on a large list against moto — by default 100,000
customers over 40 owners — timing the whole `churn-scorer` process (list and rules from S3, the
stored scores scanned, every changed score written to cp-state, candidate lists to S3 when they
are over the inline limit). Then a second run of the same week, where nothing changed.
Usage: CHURN_TASK_BIN_DIR=target/release .venv-test/bin/python tests/sfn/bench_scorer.py [CUSTOMERS]"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import BIN, World  # noqa: E402
from test_weekly import RULES, scale_list  # noqa: E402


def main(customers):
    owners_ = [f"owner{k:02d}@shop.example" for k in range(40)]
    rules = RULES.split("owner ")[0] + "".join(f"owner {o}: email\n" for o in owners_)
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        try:
            world.put_list(scale_list(customers, owners_), rules)
            for attempt in ("first run (every score new)", "same week again (nothing changed)"):
                started = time.perf_counter()
                done = subprocess.run([str(BIN / "churn-scorer"), "--invoke"], env=world.env, capture_output=True,
                                      input=json.dumps({"input": {"as_of": "2026-11-23T00:00:00Z"},
                                                        "execution": f"bench-{time.time_ns()}"}).encode())
                took = time.perf_counter() - started
                assert done.returncode == 0, done.stdout + done.stderr
                out = json.loads(done.stdout)
                via_s3 = sum(1 for o in out["owners"] if o.get("shortlist_key"))
                print(f"scorer, {customers:,} customers, {attempt}: {took:.2f} s; "
                      f"{len(out['owners'])} owners, {via_s3} shortlists via S3, "
                      f"output {len(done.stdout):,} bytes")
        finally:
            world.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
