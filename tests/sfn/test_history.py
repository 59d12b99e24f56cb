"""Score history on AWS (docs/SPEC.md §5, §10): every Monday execution keeps each customer's week in
cp-history (a rerun of the week replaces it, a dry run keeps nothing), listed rows say how the
score moved, and a customer sheet that cannot be written never fails or repeats the sends."""

import json
import time

from conftest import World
from test_weekly import LIST, MONDAY, RULES, owners, ready

MONDAYS = ["2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z"]


def history(world):
    """{customer_id: [(week, score, band, rules_version), ...]} oldest first, and the raw items."""
    items = world.items("cp-history")
    out = {}
    for i in items:
        out.setdefault(i["customer_id"]["S"], []).append(
            (i["week"]["S"], int(i["score"]["N"]), i["band"]["S"], i["rules_version"]["S"]))
    return {k: sorted(v) for k, v in out.items()}, items


def sections_to(world, channel):
    return [b["text"]["text"] for body in world.slack.posts_to(channel) for b in body["blocks"]
            if b["type"] == "section"]


def test_three_mondays_keep_three_entries_per_customer_and_rows_show_the_trend(world):
    ready(world)
    for n, monday in enumerate(MONDAYS):
        r = world.run(f"monday-{n}", {"as_of": monday})
        assert r["status"] == "SUCCEEDED", r
    h, items = history(world)
    assert set(h) == {"C1", "C2", "C3", "C4", "C5", "C6"}, "every customer, listed or not"
    assert [w for w, *_ in h["C1"]] == ["2026-W48", "2026-W49", "2026-W50"]
    assert len(items) == 18
    # Two years after the week's date (DynamoDB TTL, Unix seconds).
    first = next(i for i in items if i["customer_id"]["S"] == "C1" and i["week"]["S"] == "2026-W48")
    assert int(first["expires_at"]["N"]) == 1858550400  # 2028-11-23T00:00:00Z
    # Week 2: C2 and C1 are paused; C3 (70 -> 90) comes up and its row says how it moved.
    week2 = [s for s in sections_to(world, "DU0ALEX") if s.startswith("Copper Deli")]
    assert week2 and week2[0].startswith("Copper Deli — churning · score 90 (up 20 in 1 week)\n"), week2
    # Week 1 rows had no history before them.
    assert all(" in 1 week)" not in s and "weeks)" not in s for s in sections_to(world, "DU0ALEX")[:2])

    # The same week again (a New execution): no duplicate entries, and nothing sent twice.
    posts = len(world.slack.posts)
    r = world.run("monday-2-again", {"as_of": MONDAYS[2]})
    assert r["status"] == "SUCCEEDED", r
    assert len(history(world)[1]) == 18 and len(world.slack.posts) == posts


def test_a_dry_run_keeps_no_history_and_a_rerun_replaces_the_week(world):
    ready(world)
    r = world.run("monday-dry", {**MONDAY, "dry_run": True})
    assert r["status"] == "SUCCEEDED", r
    assert world.items("cp-history") == []
    assert world.run("monday", MONDAY)["status"] == "SUCCEEDED"
    before, _ = history(world)
    assert before["C6"] == [("2026-W48", 0, "steady", before["C6"][0][3])]
    # C6's mood sours; the week is run again: its one W48 entry now holds the new score.
    world.put_list(LIST.replace("2026-11-20,30,0.5,50", "2026-11-20,30,-0.9,50"), RULES)
    assert world.run("monday-rerun", MONDAY)["status"] == "SUCCEEDED"
    after, items = history(world)
    assert after["C6"] == [("2026-W48", 30, "watch", before["C6"][0][3])]
    assert len(items) == 6


def test_a_sheet_that_cannot_be_written_fails_nothing_and_sends_once(tmp_path):
    # The sheet is configured, but Google cannot be reached (nothing listens on port 9).
    w = World(tmp_path, extra_env={"SHEET_ID": "1SheetIdCustomers", "GOOGLE_SHEETS_URL": "http://127.0.0.1:9",
                                   "GOOGLE_SECRET": "cp/keys#google_service_account"})
    try:
        ready(w)
        r = w.run("monday-sheet-down", MONDAY)
        assert r["status"] == "SUCCEEDED", r
        assert {v["status"] for v in owners(r).values()} == {"sent"}
        posts, mails = len(w.slack.posts), len(w.sent_emails())
        report = w.report("monday-sheet-down")
        assert report["sheet"]["error"], report["sheet"]
        assert report["sheet"]["cells"] == 0
        # Step Functions did not retry the Report step into a second send.
        time.sleep(0.5)
        assert len(w.slack.posts) == posts and len(w.sent_emails()) == mails
        # The week's scores were kept for the write, under the run's prefix.
        keys = [k["Key"] for k in w.s3.list_objects_v2(Bucket="cp-runs-bucket")["Contents"]]
        assert "runs/2026-W48/monday-sheet-down/scores.json" in keys
        scores = json.loads(w.s3.get_object(Bucket="cp-runs-bucket",
                                            Key="runs/2026-W48/monday-sheet-down/scores.json")["Body"].read())
        assert scores["C2"] == [90, "churning"] and len(scores) == 6
    finally:
        w.close()
