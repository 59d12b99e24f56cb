"""The weekly state machine, executed: a normal week, the same week again, a failing owner and a
New execution, Record failing after a send, dry run, resend, and an as-of near midnight."""

import json

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
weekly cap: 2
contact pause: 21 days
owner alex@shop.example: slack U0ALEX
owner sam@shop.example: slack
owner jo@shop.example: email
"""

# As of 2026-11-23: alex has C1, C2 (churning) and C3 (at-risk); sam has C4; jo has C5; C6 steady.
LIST = """customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value
C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-09-01,30,-0.8,500
C2,Maple Cafe,alex@shop.example,c2@cust.example,2026-09-10,30,-0.6,900
C3,Copper Deli,alex@shop.example,c3@cust.example,2026-10-01,30,-0.55,100
C4,Sunny Books,sam@shop.example,c4@cust.example,2026-09-20,30,,2000
C5,Willow Yoga,jo@shop.example,c5@cust.example,2026-09-15,30,-0.9,
C6,Cedar Salon,jo@shop.example,c6@cust.example,2026-11-20,30,0.5,50
"""

MONDAY = {"as_of": "2026-11-23T00:00:00Z"}


def owners(result):
    return {o["owner"]: o for o in result["outputJson"]["owners"]}


def ready(world, list_=LIST, rules=RULES):
    world.put_list(list_, rules)
    world.slack.users["sam@shop.example"] = "U0SAM"
    world.verify_sender()


def ledger(world):
    return {(i["week"]["S"], i["owner"]["S"]): i["status"]["S"] for i in world.items("cp-runs")}


def audit_actions(world):
    return sorted(i["action"]["S"] for i in world.items("cp-audit"))


def test_a_normal_week_then_the_same_week_again(world):
    ready(world)
    r = world.run("monday-1", MONDAY)
    assert r["status"] == "SUCCEEDED", r
    o = owners(r)
    assert {k: v["status"] for k, v in o.items()} == {
        "alex@shop.example": "sent", "sam@shop.example": "sent", "jo@shop.example": "sent"}
    # Slack DMs: alex by member id (capped at 2, C2 first: same score, larger value), sam found by email.
    assert world.slack.customers_posted_to("DU0ALEX") == ["C2", "C1"]
    assert world.slack.customers_posted_to("DU0SAM") == ["C4"]
    # jo by SES email; never to a customer address.
    mails = world.emails_to("jo@shop.example")
    assert len(mails) == 1 and "Willow Yoga" in mails[0]["body"]
    assert all(not a.endswith("@cust.example") for m in world.sent_emails() for a in m["destinations"]["ToAddresses"])
    assert ledger(world) == {("2026-W48", o): "recorded" for o in o}
    assert audit_actions(world).count("surfaced") == 4
    # Bedrock wrote the reasons (checked) for the names sent.
    assert world.bedrock.calls == 4
    assert o["alex@shop.example"]["names"] == 2
    stored = {i["customer_id"]["S"]: i for i in world.items("cp-state")}
    assert stored["C2"]["surfaced_date"]["S"] == "2026-11-23"
    assert stored["C6"]["band"]["S"] == "steady", "every customer's score and band is stored"

    posts, mails_before = len(world.slack.posts), len(world.sent_emails())
    again = world.run("monday-1-again", MONDAY)
    assert again["status"] == "SUCCEEDED", again
    assert {v["status"] for v in owners(again).values()} == {"already_sent"}
    assert len(world.slack.posts) == posts and len(world.sent_emails()) == mails_before
    assert audit_actions(world).count("surfaced") == 4


def test_one_owner_failing_for_good_then_a_new_execution_sends_only_them(world):
    # sam's Slack is down and mail cannot go out yet (the sender is not verified): sam fails.
    world.put_list(LIST.replace("jo@shop.example", "alex@shop.example"), RULES)
    world.slack.users["sam@shop.example"] = "U0SAM"
    world.slack.failing_users.add("U0SAM")
    r = world.run("monday-fail", MONDAY)
    assert r["status"] == "FAILED", r
    assert r.get("error") == "churn.OwnersFailed"
    assert "sam@shop.example" in r.get("cause", "") and "alex@shop.example" not in r.get("cause", "")
    assert world.slack.customers_posted_to("DU0ALEX") == ["C2", "C1"]
    assert ledger(world) == {("2026-W48", "alex@shop.example"): "recorded"}

    # Fixed: the sender is verified. A New execution with the same input sends exactly sam (by
    # email, as Slack is still down) and nobody twice.
    world.verify_sender()
    alex_posts = len(world.slack.customers_posted_to("DU0ALEX"))
    r = world.run("monday-fail-new", MONDAY)
    assert r["status"] == "SUCCEEDED", r
    o = owners(r)
    assert o["alex@shop.example"]["status"] == "already_sent"
    assert o["sam@shop.example"]["status"] == "sent" and o["sam@shop.example"]["via"] == "email"
    assert "Slack failed" in (o["sam@shop.example"]["note"] or "")
    assert len(world.slack.customers_posted_to("DU0ALEX")) == alex_posts
    assert len(world.emails_to("sam@shop.example")) == 1
    assert ledger(world)[("2026-W48", "sam@shop.example")] == "recorded"


def test_record_failing_after_a_send_is_recorded_later_without_sending_again(world):
    ready(world)
    world.fail("churn-record")
    r = world.run("monday-record-down", MONDAY)
    assert r["status"] == "FAILED", r
    assert set(ledger(world).values()) == {"sent"}, "sent as soon as the send succeeded"
    assert audit_actions(world).count("surfaced") == 0
    posts, mails = len(world.slack.posts), len(world.sent_emails())

    world.heal()
    r = world.run("monday-record-up", MONDAY)
    assert r["status"] == "SUCCEEDED", r
    assert len(world.slack.posts) == posts and len(world.sent_emails()) == mails, "never sent twice"
    assert set(ledger(world).values()) == {"recorded"}
    assert audit_actions(world).count("surfaced") == 4


def test_dry_run_writes_and_sends_nothing(world):
    ready(world)
    r = world.run("monday-dry", {**MONDAY, "dry_run": True})
    assert r["status"] == "SUCCEEDED", r
    assert {v["status"] for v in owners(r).values()} == {"dry_run"}
    assert owners(r)["alex@shop.example"]["names"] == 2
    assert world.items("cp-state") == [] and world.items("cp-audit") == [] and world.items("cp-runs") == []
    assert world.slack.posts == [] and world.sent_emails() == []
    # Only the run's report (what the dry run found) is written, under the run's own prefix.
    keys = [k["Key"] for k in world.s3.list_objects_v2(Bucket="cp-runs-bucket").get("Contents", [])]
    assert keys and all(k.startswith("runs/2026-W48/monday-dry/") for k in keys), keys
    report = world.report("monday-dry")
    alex = next(o for o in report["owners"] if o["owner"] == "alex@shop.example")
    assert [c["customer_id"] for c in alex["customers"]] == ["C2", "C1"]


def test_resend_sends_the_recorded_list_again_unchanged(world):
    ready(world)
    assert world.run("monday", MONDAY)["status"] == "SUCCEEDED"
    first = world.slack.customers_posted_to("DU0ALEX")
    # The list changes afterwards; a resend still sends what was recorded.
    world.put_list(LIST.replace("C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-09-01",
                                "C1,Harbor Bakery,alex@shop.example,c1@cust.example,2026-11-20"), RULES)
    surfaced = audit_actions(world).count("surfaced")
    r = world.run("monday-resend", {**MONDAY, "resend": True})
    assert r["status"] == "SUCCEEDED", r
    assert world.slack.customers_posted_to("DU0ALEX") == first + first
    assert len(world.emails_to("jo@shop.example")) == 2
    assert audit_actions(world).count("surfaced") == surfaced


def test_as_of_near_midnight_is_the_local_monday(world):
    ready(world)
    # 23:30 UTC on Sunday is 07:30 on Monday in Singapore: week 48, not 47.
    r = world.run("sunday-night-utc", {"as_of": "2026-11-22T23:30:00Z", "dry_run": True})
    assert r["status"] == "SUCCEEDED", r
    report = json.loads(json.dumps(r["outputJson"]))
    assert report["owners"][0]["status"] == "dry_run"
    r = world.run("sunday-night-utc-real", {"as_of": "2026-11-22T23:30:00Z"})
    assert r["status"] == "SUCCEEDED", r
    assert {week for week, _ in ledger(world)} == {"2026-W48"}
    stored = {i["customer_id"]["S"]: i for i in world.items("cp-state")}
    assert stored["C2"]["surfaced_date"]["S"] == "2026-11-23"


def test_a_bad_list_stops_the_run_and_tells_the_admin_once(world):
    # 3 of 6 rows have unreadable dates: more than 20% bad, so nothing is written or sent.
    bad = LIST.replace("2026-09-01", "soon").replace("2026-09-10", "later").replace("2026-10-01", "?")
    world.put_list(bad, RULES)
    world.verify_sender()
    r = world.run("monday-bad-list", MONDAY)
    assert r["status"] == "FAILED", r
    assert r.get("error") == "churn.BadList"
    assert "nothing was scored or sent" in r.get("cause", "")
    assert "line 2:" in r.get("cause", ""), r.get("cause")
    assert world.items("cp-state") == [] and world.items("cp-audit") == [] and world.items("cp-runs") == []
    assert world.slack.posts == []
    # The admin is the fallback owner, with no slack line in the rules: told by email, once.
    (notice,) = world.sent_emails()
    assert notice["destinations"]["ToAddresses"] == ["ops@shop.example"]
    assert "stopped" in notice["subject"], notice
    # The admin is told which lines to fix.
    assert all(f"line {n}:" in notice["body"] for n in (2, 3, 4)), notice["body"]

    # A dry run of the same bad list tells nobody.
    r = world.run("monday-bad-list-dry", {**MONDAY, "dry_run": True})
    assert r["status"] == "FAILED" and r.get("error") == "churn.BadList", r
    assert len(world.sent_emails()) == 1


def test_bad_rules_tell_the_admin_on_slack_when_they_have_a_slack_line(world):
    world.put_list(LIST, RULES + "owner ops@shop.example: slack U0OPS\nband churning: at least lots\n")
    world.verify_sender()
    r = world.run("monday-bad-rules", MONDAY)
    assert r["status"] == "FAILED" and r.get("error") == "churn.BadRules", r
    # The rules in force are unreadable, so the admin's slack line cannot be known: email.
    (notice,) = world.sent_emails()
    assert notice["destinations"]["ToAddresses"] == ["ops@shop.example"]
    assert "rules doc" in notice["subject"]

    # With readable rules naming the admin's Slack, a bad list is told on Slack, not by email.
    bad = LIST.replace("2026-09-01", "soon").replace("2026-09-10", "later").replace("2026-10-01", "?")
    world.put_list(bad, RULES + "owner ops@shop.example: slack U0OPS\n")
    r = world.run("monday-bad-list-slack", MONDAY)
    assert r["status"] == "FAILED" and r.get("error") == "churn.BadList", r
    ((channel, body),) = world.slack.posts
    assert channel == "DU0OPS" and "stopped" in body["text"]
    assert len(world.sent_emails()) == 1


def scale_list(customers, owners_, overdue_every=10):
    """A list where every `overdue_every`-th customer is overdue and sour, spread over the owners."""
    rows = ["customer_id,name,owner,email,last_order_date,order_pace_days,support_mood"]
    for i in range(customers):
        overdue = i % overdue_every == min(3, overdue_every - 1)
        rows.append(f"K{i:06d},Shop {i},{owners_[(i // overdue_every) % len(owners_)]},k{i}@cust.example,"
                    f"{'2026-08-01' if overdue else '2026-11-10'},30,{'-0.9' if overdue else '0.2'}")
    return "\n".join(rows) + "\n"


def test_large_candidate_lists_move_through_s3(world):
    # 5 owners with 120 flagged customers each and a weekly cap of 40: the scorer keeps 120
    # candidates per owner (spares for the pause), which together are over its 16 KB inline
    # limit (Step Functions' state limit is 256 KB), so each shortlist travels as an S3 object
    # that the handoff reads. (100,000 customers through the same path: tests/sfn/bench_scorer.py.)
    # The table stays small because moto copies the whole table for every transaction action.
    owners_ = [f"owner{k}@shop.example" for k in range(5)]
    rules = RULES.split("weekly cap")[0] + "weekly cap: 40\ncontact pause: 21 days\n" + "".join(
        f"owner {o}: email\n" for o in owners_)
    world.put_list(scale_list(600, owners_, overdue_every=1), rules)
    world.verify_sender()
    r = world.run("monday-large", MONDAY, timeout=600)
    assert r["status"] == "SUCCEEDED", r
    o = owners(r)
    assert {k: (v["status"], v["names"]) for k, v in o.items()} == {k: ("sent", 40) for k in owners_}
    keys = [k["Key"] for k in world.s3.list_objects_v2(Bucket="cp-runs-bucket")["Contents"]]
    assert sorted(k for k in keys if "/shortlists/" in k) == sorted(
        f"runs/2026-W48/monday-large/shortlists/{o}.json" for o in owners_), keys
    assert len(world.sent_emails()) == 5 and len(world.items("cp-runs")) == 5
    assert audit_actions(world).count("surfaced") == 200
    pages = world.ddb.get_paginator("scan").paginate(TableName="cp-state", Select="COUNT")
    assert sum(p["Count"] for p in pages) == 600, "every customer's score and band is stored"


def posts_per_owner(world):
    counts = {}
    for _, body in world.slack.posts:
        p = (body.get("metadata") or {}).get("event_payload", {})
        counts[p.get("owner")] = counts.get(p.get("owner"), 0) + 1
    return counts


def test_two_executions_of_the_same_monday_started_together_send_each_owner_once(world):
    # The Scheduler delivers at least once, and a console run can overlap the scheduled one.
    ready(world)
    a = world.start("monday-a", MONDAY)
    b = world.start("monday-b", MONDAY)
    ra, rb = world.wait(a), world.wait(b)
    assert ra["status"] == "SUCCEEDED", ra
    assert rb["status"] == "SUCCEEDED", rb
    assert posts_per_owner(world) == {"alex@shop.example": 1, "sam@shop.example": 1}
    assert len(world.emails_to("jo@shop.example")) == 1
    assert ledger(world) == {("2026-W48", o): "recorded" for o in ("alex@shop.example", "sam@shop.example", "jo@shop.example")}
    assert audit_actions(world).count("surfaced") == 4, "each name recorded once"
    statuses = [(owners(ra)[o]["status"], owners(rb)[o]["status"]) for o in owners(ra)]
    for pair in statuses:
        assert "sent" in pair, statuses


def test_a_handoff_that_dies_after_the_slack_post_is_retried_without_posting_again(world):
    ready(world)
    # The first Slack post lands, then the handoff process is killed before it writes the ledger
    # (Lambda reports Runtime.ExitError); the state machine retries the handoff.
    world.slack.crash_after_posts = 1
    r = world.run("monday-crash", MONDAY)
    assert r["status"] == "SUCCEEDED", r
    assert posts_per_owner(world) == {"alex@shop.example": 1, "sam@shop.example": 1}
    o = owners(r)
    crashed = [k for k, v in o.items() if "not posted again" in (v.get("note") or "")]
    assert len(crashed) == 1, o
    assert o[crashed[0]]["status"] == "sent" and o[crashed[0]]["via"] == "slack"
    assert set(ledger(world).values()) == {"recorded"}
    assert audit_actions(world).count("surfaced") == 4


def test_fifty_owners_with_a_cap_of_fifty_stay_small_in_the_state(world):
    owners_ = [f"owner{k:02d}@shop.example" for k in range(50)]
    rules = RULES.split("weekly cap")[0] + "weekly cap: 50\ncontact pause: 21 days\n" + "".join(
        f"owner {o}: email\n" for o in owners_)
    world.put_list(scale_list(2500, owners_, overdue_every=1), rules)
    world.verify_sender()
    r = world.run("monday-fifty", MONDAY, timeout=900)
    assert r["status"] == "SUCCEEDED", r
    assert {v["status"] for v in owners(r).values()} == {"sent"} and len(owners(r)) == 50
    assert all(v["names"] == 50 for v in owners(r).values())
    sizes = world.payload_sizes()
    scorer_out = max(o for f, _, o in sizes if f == "churn-scorer")
    report_in = max(i for f, i, _ in sizes if f == "churn-record")
    largest = max(max(i, o) for _, i, o in sizes)
    # The state after the Map holds the scorer's output and the Map's results together.
    print(f"largest task payload {largest} bytes; scorer output {scorer_out} + Map results {report_in} bytes")
    assert largest < 64 * 1024 and scorer_out + report_in < 64 * 1024
    report = world.report("monday-fifty")
    assert sum(len(o["customers"]) for o in report["owners"]) == 2500, "the lists are in the report"


def test_the_laptop_and_the_state_machine_send_the_same_lists(tmp_path):
    """Parity: the same list and rules through `churn weekly` and through the state machine, with
    the deterministic reason writer on both, give the same owners, names, order, reasons and
    breakdown details."""
    import subprocess
    from conftest import World, ROOT, BIN

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "customers.csv").write_text(LIST)
    (folder / "rules.txt").write_text(RULES)
    (folder / "config.toml").write_text('timezone = "Asia/Singapore"\nfallback_owner = "ops@shop.example"\n')
    churn = BIN / "churn"
    assert churn.exists(), f"{churn} is missing: build it with `cargo build -p churn-cli`"
    out = subprocess.run([str(churn), "weekly", "--data", str(folder), "--as-of", "2026-11-23", "--json"],
                         capture_output=True, check=True)
    local = json.loads(out.stdout)

    (tmp_path / "aws").mkdir()
    w = World(tmp_path / "aws", extra_env={"REASONS": "deterministic"})
    try:
        ready(w)
        r = w.run("monday-parity", MONDAY)
        assert r["status"] == "SUCCEEDED", r
        aws = w.report("monday-parity")
    finally:
        w.close()

    def lists(report):
        return {o["owner"]: [(c["customer_id"], c["name"], c["band"], c["score"], c["reason"],
                              [(b["signal"], b["points"], b["value"], b["detail"], b["facts"]) for b in c["breakdown"]])
                             for c in o["customers"]]
                for o in report["owners"]}

    assert local["week"] == aws["run"]["week"] and local["rules_version"] == aws["run"]["rules_version"]
    assert lists(local) == lists(aws)
    assert sum(len(v) for v in lists(local).values()) == 4
