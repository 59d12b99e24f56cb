"""The holdout (docs/SPEC.md §3 `holdout: P%`) through the deployed Monday run on moto: held-out
customers are audited `held_out` in cp-audit and never reach an owner (Slack DM or SES email);
lists are still filled to the cap; a rerun records nobody twice; `holdout: 0%` changes nothing;
the laptop and the state machine hold out the same customers."""

import json
import subprocess

from conftest import BIN, World
from test_weekly import MONDAY, RULES, ledger, owners, ready

# Every customer churning: 14 for alex (Slack by id), 12 for sam (Slack by email), 12 for jo (email).
NAMES = ["Harbor", "Maple", "Copper", "Golden", "Riverside", "Juniper", "Cedar", "Willow", "Kettle",
         "Lantern", "Silver", "Orchard", "Meadow", "Granite"]
SHOPS = ["Bakery", "Cafe", "Deli"]


def holdout_list():
    rows = ["customer_id,name,owner,email,last_order_date,order_pace_days,support_mood,lifetime_value"]
    owners_ = ["alex@shop.example"] * 14 + ["sam@shop.example"] * 12 + ["jo@shop.example"] * 12
    for i, owner in enumerate(owners_, start=1):
        name = f"{NAMES[i % len(NAMES)]} {SHOPS[i % len(SHOPS)]} {i}"
        rows.append(f"H{i:02},{name},{owner},h{i}@cust.example,2026-08-01,30,-0.8,{1000 + i}")
    return "\n".join(rows) + "\n"


LIST = holdout_list()
HOLDOUT_RULES = RULES.replace("weekly cap: 2", "weekly cap: 5\nholdout: 40%")
NAME_OF = {line.split(",")[0]: line.split(",")[1] for line in LIST.splitlines()[1:]}


def bucket(customer_id, week):
    """run::holdout::bucket, written again here: FNV-1a 64 over id, 0x1F, week; then fmix64."""
    m = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for b in customer_id.encode() + b"\x1f" + week.encode():
        h = ((h ^ b) * 0x100000001B3) & m
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & m
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & m
    h ^= h >> 33
    return h % 10000


def expected(percent=40, cap=5, week="2026-W48"):
    """Per owner: (listed ids, held-out ids). Every candidate scores the same, so the rank is by
    lifetime value, highest first; the holdout walks it until the cap is filled."""
    by_owner = {}
    for line in LIST.splitlines()[1:]:
        cid, _, owner, _, _, _, _, ltv = line.split(",")
        by_owner.setdefault(owner, []).append((float(ltv), cid))
    out = {}
    for owner, cands in by_owner.items():
        listed, held = [], []
        for _, cid in sorted(cands, reverse=True):
            if len(listed) >= cap:
                break
            (held if bucket(cid, week) < percent * 100 else listed).append(cid)
        out[owner] = (listed, held)
    return out


def held_out_items(world):
    return [i for i in world.items("cp-audit") if i["action"]["S"] == "held_out"]


def test_held_out_customers_are_audited_and_never_reach_an_owner(world):
    ready(world, LIST, HOLDOUT_RULES)
    r = world.run("monday-holdout", MONDAY)
    assert r["status"] == "SUCCEEDED", r
    o = owners(r)
    assert {k: v["status"] for k, v in o.items()} == {
        "alex@shop.example": "sent", "sam@shop.example": "sent", "jo@shop.example": "sent"}
    want = expected()
    assert {k: v["names"] for k, v in o.items()} == {k: len(v[0]) for k, v in want.items()}
    assert world.slack.customers_posted_to("DU0ALEX") == want["alex@shop.example"][0]
    assert world.slack.customers_posted_to("DU0SAM") == want["sam@shop.example"][0]

    held = held_out_items(world)
    held_ids = {i["customer_id"]["S"] for i in held}
    assert held_ids == {c for _, h in want.values() for c in h}
    assert len(held_ids) >= 3, held_ids
    for i in held:
        notes = json.loads(i["notes"]["S"])
        assert (notes["week"], notes["as_of"], notes["band"]) == ("2026-W48", "2026-11-23", "churning")
        assert json.loads(i["before"]["S"]) == {} and json.loads(i["after"]["S"]) == {}
    # Slack: the ids in the buttons; email: the names in the body.
    posted = set(world.slack.customers_posted_to("DU0ALEX")) | set(world.slack.customers_posted_to("DU0SAM"))
    assert len(posted) == len(want["alex@shop.example"][0]) + len(want["sam@shop.example"][0])
    assert not (held_ids & posted)
    slack_text = json.dumps(world.slack.posts)
    mails = world.emails_to("jo@shop.example")
    assert len(mails) == 1
    bodies = " ".join(m["body"] for m in world.sent_emails())
    surfaced = {i["customer_id"]["S"] for i in world.items("cp-audit") if i["action"]["S"] == "surfaced"}
    assert surfaced == {c for l, _ in want.values() for c in l} and not (surfaced & held_ids)
    for cid in held_ids:
        assert NAME_OF[cid] not in slack_text and NAME_OF[cid] not in bodies, cid
    for cid in surfaced:
        assert NAME_OF[cid] in slack_text or NAME_OF[cid] in bodies, cid
    # The report counts them; it never names them.
    report = world.report("monday-holdout")
    assert sum(ow.get("held_out", 0) for ow in report["owners"]) == len(held_ids)
    assert not any(cid in json.dumps(report) for cid in held_ids)
    # Not contacted: no surfaced date, so no contact pause.
    state = {i["customer_id"]["S"]: i for i in world.items("cp-state")}
    for cid in held_ids:
        assert "surfaced_date" not in state[cid] and "last_contact" not in state[cid], state[cid]
        assert state[cid]["held_out_week"]["S"] == "2026-W48"
    # The ledger keeps who was held out beside the list.
    runs = {i["owner"]["S"]: i for i in world.items("cp-runs")}
    stored = {h["customer_id"] for ow in runs.values() if "held_out" in ow for h in json.loads(ow["held_out"]["S"])}
    assert stored == held_ids

    # The same week again: nothing sent, nobody recorded twice.
    posts, sent = len(world.slack.posts), len(world.sent_emails())
    again = world.run("monday-holdout-again", MONDAY)
    assert again["status"] == "SUCCEEDED", again
    assert {v["status"] for v in owners(again).values()} == {"already_sent"}
    assert len(world.slack.posts) == posts and len(world.sent_emails()) == sent
    assert len(held_out_items(world)) == len(held)


def test_record_retried_after_a_failure_records_the_held_out_once(world):
    ready(world, LIST, HOLDOUT_RULES)
    world.fail("churn-record")
    r = world.run("monday-holdout-record-down", MONDAY)
    assert r["status"] == "FAILED", r
    assert held_out_items(world) == []
    world.heal()
    r = world.run("monday-holdout-record-up", MONDAY)
    assert r["status"] == "SUCCEEDED", r
    first = held_out_items(world)
    assert first
    assert set(ledger(world).values()) == {"recorded"}
    assert len({i["customer_id"]["S"] for i in first}) == len(first), "one item per customer"


def test_a_holdout_of_zero_changes_nothing(world):
    ready(world, rules=RULES + "holdout: 0%\n")
    r = world.run("monday-zero", MONDAY)
    assert r["status"] == "SUCCEEDED", r
    # Exactly the lists of the normal week (test_weekly.py), nothing held out, no new attribute.
    assert world.slack.customers_posted_to("DU0ALEX") == ["C2", "C1"]
    assert world.slack.customers_posted_to("DU0SAM") == ["C4"]
    assert held_out_items(world) == []
    assert all("held_out" not in i for i in world.items("cp-runs"))
    assert all("held_out_week" not in i for i in world.items("cp-state"))
    assert all("held_out" not in ow for ow in world.report("monday-zero")["owners"])


def test_the_laptop_and_the_state_machine_hold_out_the_same_customers(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "customers.csv").write_text(LIST)
    (folder / "rules.txt").write_text(HOLDOUT_RULES)
    (folder / "config.toml").write_text('timezone = "Asia/Singapore"\nfallback_owner = "ops@shop.example"\n')
    churn = BIN / "churn"
    assert churn.exists(), f"{churn} is missing: build it with `cargo build -p churn-cli`"
    out = subprocess.run([str(churn), "weekly", "--data", str(folder), "--as-of", "2026-11-23", "--json"],
                         capture_output=True, check=True)
    local = json.loads(out.stdout)
    import sqlite3
    db = sqlite3.connect(folder / "churn.db")
    local_held = {r[0] for r in db.execute("SELECT customer_id FROM audit WHERE action = 'held_out'")}

    (tmp_path / "aws").mkdir()
    w = World(tmp_path / "aws", extra_env={"REASONS": "deterministic"})
    try:
        ready(w, LIST, HOLDOUT_RULES)
        r = w.run("monday-holdout-parity", MONDAY)
        assert r["status"] == "SUCCEEDED", r
        aws = w.report("monday-holdout-parity")
        aws_held = {i["customer_id"]["S"] for i in held_out_items(w)}
    finally:
        w.close()

    def lists(report):
        return {o["owner"]: [c["customer_id"] for c in o["customers"]] for o in report["owners"]}

    assert local_held and local_held == aws_held
    assert lists(local) == lists(aws)
