"""Benchmark (not a test): one owner's handoff of 10 names, the Bedrock-like server answering each
reason in 400 ms. Times the whole `churn-handoff` process (start, Parameter Store and Secrets
Manager reads, ledger, fresh state, 10 reasons, Slack post, ledger `sent`) against moto and the
local Slack server. Usage (release binaries): CHURN_TASK_BIN_DIR=target/release
.venv-test/bin/python tests/sfn/bench_handoff.py [RUNS]"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import BIN, World  # noqa: E402

RULES = """signal overdue
  measure: overdue_ratio
  at least 2.0: 60 points
  at least 1.5: 40 points
signal mood
  measure: support_mood
  at most -0.5: 30 points
band churning: at least 75
band at-risk: at least 50
band watch: at least 25
weekly cap: 10
contact pause: 21 days
owner alex@shop.example: slack U0ALEX
"""


def main(runs):
    rows = ["customer_id,name,owner,email,last_order_date,order_pace_days,support_mood"]
    for i in range(1, 13):
        rows.append(f"C{i},Shop {i},alex@shop.example,c{i}@cust.example,2026-08-{i:02d},30,-0.8")
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp), bedrock_delay=0.4)
        try:
            world.put_list("\n".join(rows) + "\n", RULES)
            world.verify_sender()
            scored = subprocess.run([str(BIN / "churn-scorer"), "--invoke"], env=world.env, check=True,
                                    input=json.dumps({"input": {"as_of": "2026-11-23T00:00:00Z"},
                                                      "execution": "bench"}).encode(),
                                    capture_output=True)
            out = json.loads(scored.stdout)
            event = json.dumps({"run": out["run"], "item": out["owners"][0]}).encode()
            times = []
            for _ in range(runs):
                for item in world.items("cp-runs"):
                    world.ddb.delete_item(TableName="cp-runs", Key={"week": item["week"], "owner": item["owner"]})
                calls = world.bedrock.calls
                started = time.perf_counter()
                done = subprocess.run([str(BIN / "churn-handoff"), "--invoke"], env=world.env, input=event,
                                      capture_output=True)
                times.append(time.perf_counter() - started)
                result = json.loads(done.stdout)
                assert done.returncode == 0, done.stdout + done.stderr
                assert result["status"] == "sent" and result["names"] == 10, result
                assert world.bedrock.calls - calls == 10, world.bedrock.calls - calls
            times.sort()
            print(f"handoff, 10 names, Bedrock 400 ms/reply, {runs} runs: median {statistics.median(times):.3f} s, "
                  f"min {times[0]:.3f} s, max {times[-1]:.3f} s (whole process, cold each time)")
        finally:
            world.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
