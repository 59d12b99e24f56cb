#!/usr/bin/env bash
# Regenerates the README's pictures of what owners see, from the real output of the code:
#   docs/img/slack-list.png  the Monday list message (`churn demo`'s outbox, Block Kit)
#   docs/img/slack-home.png  an owner's Home tab (the view `churn serve` publishes on
#                            app_home_opened, captured from a stand-in for Slack's Web API)
#   docs/img/email.png       the same list as an email owner gets it (`churn demo`'s outbox)
# Block Kit is drawn by a small HTML preview (sections, mrkdwn bold/italic/strike/code/links,
# context, buttons, dividers, headers), not by Slack; a headless Chromium takes the pictures.
# Not part of the test suite. Needs cargo, python3 and chromium (Debian: apt-get install chromium).
# Usage: scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${CHROMIUM:-chromium}
command -v "$CHROMIUM" >/dev/null || { echo "chromium is needed (apt-get install -y chromium)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }

cargo build -q -p churn-cli --bin churn
CHURN=target/debug/churn
OUT=docs/img
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. The demo's list message and email (the fixed demo week, 2026-W48).
"$CHURN" demo --out "$WORK/demo" >/dev/null
LIST_JSON="$WORK/demo/outbox/2026-W48/alex@northwind.example.slack.1.json"
EMAIL_HTML="$WORK/demo/outbox/2026-W48/jo@northwind.example.email.html"

# --- 2. A Home tab: the demo data run as of today (a list this week), two outcomes recorded, then
# the Home `churn serve` publishes when Alex (U01234567 in the demo rules) opens it.
mkdir -p "$WORK/home"
cp "$WORK/demo/"{customers.csv,rules.txt,voice.txt,config.toml} "$WORK/home/"
"$CHURN" weekly --data "$WORK/home" --json >"$WORK/weekly.json"
mapfile -t ALEX < <(python3 - "$WORK/weekly.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
for o in run["owners"]:
    if o["owner"] == "alex@northwind.example":
        for c in o["customers"][:3]:
            print(c["customer_id"])
PY
)
"$CHURN" outcome "${ALEX[0]}" reached-out --data "$WORK/home" --by U01234567 >/dev/null
"$CHURN" outcome "${ALEX[1]}" won-back --value 1850 --data "$WORK/home" --by U01234567 >/dev/null

# A stand-in for Slack's Web API: answers views.publish (keeping the view) and users.info.
cat >"$WORK/fake_slack.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
out = sys.argv[1]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        method = self.path.rsplit("/", 1)[-1]
        if method == "views.publish":
            with open(out, "w") as f:
                json.dump(json.loads(body)["view"], f)
            answer = {"ok": True, "view": {"id": "V1"}}
        elif method == "users.info":
            answer = {"ok": False, "error": "user_not_found"}
        else:
            answer = {"ok": False, "error": "unknown_method"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
s = HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$WORK/fake_slack.py" "$WORK/home.json" >"$WORK/fake.port" &
PIDS+=($!)
for _ in $(seq 50); do [[ -s "$WORK/fake.port" ]] && break; sleep 0.1; done
SLACK_PORT=$(head -1 "$WORK/fake.port")

SLACK_SIGNING_SECRET=screenshots-secret SLACK_BOT_TOKEN=xoxb-screenshots \
  CHURN_SLACK_API_URL="http://127.0.0.1:$SLACK_PORT/api/" \
  "$CHURN" serve --port 0 --data "$WORK/home" >"$WORK/serve.out" 2>/dev/null &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)

python3 - "$ADDR" <<'PY'
import hashlib, hmac, json, sys, time, urllib.request
addr = sys.argv[1]
body = json.dumps({"type": "event_callback", "event_id": "EvShots1", "event_time": int(time.time()),
                   "event": {"type": "app_home_opened", "user": "U01234567", "channel": "D1",
                             "tab": "home", "event_ts": "1.1"}}).encode()
ts = str(int(time.time()))
sig = "v0=" + hmac.new(b"screenshots-secret", b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
req = urllib.request.Request(addr + "/slack/events", data=body, method="POST", headers={
    "content-type": "application/json", "x-slack-request-timestamp": ts, "x-slack-signature": sig})
assert urllib.request.urlopen(req).status == 200
PY
[[ -s "$WORK/home.json" ]] || { echo "no Home tab was published" >&2; exit 1; }

# --- 3. Block Kit → HTML.
cat >"$WORK/render.py" <<'PY'
"""Block Kit JSON (a chat.postMessage body or a home view) to a Slack-like HTML page."""
import html, json, re, sys

kind, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
doc = json.load(open(src))
blocks = doc["blocks"]

LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]+))?>")

def inline(text):
    # text is Slack-escaped (&amp; &lt; &gt;), which is already safe HTML.
    text = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", text)
    text = re.sub(r"(^|[\s(])\*([^*\n]+)\*", r"\1<b>\2</b>", text)
    text = re.sub(r"(^|[\s(])_([^_\n]+)_", r"\1<i>\2</i>", text)
    text = re.sub(r"(^|[\s(])~([^~\n]+)~", r"\1<s>\2</s>", text)
    return text

def mrkdwn(text):
    out, pos = [], 0
    for m in LINK.finditer(text):
        out.append(inline(text[pos:m.start()]))
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            out.append('<span class="mention">@%s</span>' % html.escape(label or "alex"))
        elif target.startswith("!"):
            out.append('<span class="mention">@%s</span>' % html.escape(target[1:]))
        else:
            out.append('<a href="%s">%s</a>' % (html.escape(target), inline(label or target)))
        pos = m.end()
    out.append(inline(text[pos:]))
    return "".join(out).replace("\n", "<br>")

def text_of(t):
    if t is None:
        return ""
    if t.get("type") == "mrkdwn":
        return mrkdwn(t.get("text", ""))
    return html.escape(t.get("text", "")).replace("\n", "<br>")

def block(b):
    k = b["type"]
    if k == "header":
        return '<div class="header">%s</div>' % text_of(b["text"])
    if k == "section":
        return '<div class="section">%s</div>' % text_of(b["text"])
    if k == "context":
        return '<div class="context">%s</div>' % " ".join(text_of(e) for e in b["elements"])
    if k == "divider":
        return '<hr>'
    if k == "actions":
        return '<div class="actions">%s</div>' % "".join(
            '<span class="button %s">%s</span>' % (e.get("style", ""), text_of(e["text"]))
            for e in b["elements"])
    return '<div class="section">[%s]</div>' % html.escape(k)

body = "\n".join(block(b) for b in blocks)
if kind == "message":
    frame = """<div class="channel">churn <span class="muted">· direct message</span></div>
<div class="msg"><div class="avatar">C</div><div class="content">
<div class="who"><b>churn</b> <span class="app">APP</span> <span class="muted">9:00 AM</span></div>
%s</div></div>""" % body
else:
    frame = """<div class="channel">churn</div>
<div class="tabs"><span class="tab on">Home</span><span class="tab">Messages</span><span class="tab">About</span></div>
<div class="home">%s</div>""" % body

page = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; background: #fff; font: 15px/1.46668 -apple-system, "Segoe UI", Lato, "Helvetica Neue", Arial, sans-serif; color: #1d1c1d; }
.channel { padding: 14px 20px; font-weight: 900; font-size: 18px; border-bottom: 1px solid #ddd; }
.muted { color: #616061; font-weight: 400; font-size: 13px; }
.msg { display: flex; padding: 12px 20px 24px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #2c3e50; color: #fff; font-weight: 700; display: flex; align-items: center; justify-content: center; margin-right: 10px; flex: none; }
.content { flex: 1; max-width: 780px; }
.who { margin-bottom: 4px; }
.app { background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700; padding: 1px 3px; border-radius: 2px; }
.tabs { padding: 0 20px; border-bottom: 1px solid #ddd; }
.tab { display: inline-block; padding: 10px 4px; margin-right: 18px; color: #616061; }
.tab.on { color: #1d1c1d; font-weight: 700; border-bottom: 2px solid #007a5a; }
.home { padding: 16px 20px 24px; max-width: 820px; }
.header { font-weight: 900; font-size: 18px; margin: 10px 0 6px; }
.section { margin: 8px 0 4px; white-space: normal; }
.context { color: #616061; font-size: 12.5px; margin: 2px 0 6px; }
.actions { margin: 6px 0 14px; }
.button { display: inline-block; border: 1px solid #bbb; border-radius: 4px; padding: 3px 12px; margin-right: 8px; font-size: 13px; font-weight: 700; }
.button.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
.button.danger { background: #e01e5a; color: #fff; border-color: #e01e5a; }
hr { border: 0; border-top: 1px solid #ddd; margin: 16px 0; }
code { font-family: Monaco, Menlo, Consolas, monospace; font-size: 12px; background: #f6f6f6; border: 1px solid #ddd; border-radius: 3px; padding: 1px 3px; color: #e01e5a; }
a { color: #1264a3; text-decoration: none; }
.mention { color: #1264a3; background: #e8f5fa; padding: 0 2px; border-radius: 3px; }
</style></head><body>%s</body></html>""" % frame
open(dst, "w").write(page)
PY

python3 "$WORK/render.py" message "$LIST_JSON" "$WORK/slack-list.html"
python3 "$WORK/render.py" home "$WORK/home.json" "$WORK/slack-home.html"
cp "$EMAIL_HTML" "$WORK/email.html"

# --- 4. Pictures: the page's height is measured first, so each picture is as tall as its content.
chrome() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$(mktemp -d -p "$WORK")" "$@" 2>/dev/null
}
shoot() {
  local html=$1 png=$2 width=900 height
  # The height, written into the title by a script, read back from the dumped DOM.
  cp "$html" "$html.measure.html"
  echo '<script>document.title = "H=" + document.documentElement.scrollHeight;</script>' >>"$html.measure.html"
  height=$(chrome --window-size=$width,800 --dump-dom "file://$html.measure.html" | grep -o 'H=[0-9]*' | head -1 | cut -d= -f2)
  height=$(( ${height:-1200} + 8 ))
  chrome --window-size=$width,$height --screenshot="$png" "file://$html" >/dev/null
  echo "$png ($width×$height)"
}
shoot "$WORK/slack-list.html" "$PWD/$OUT/slack-list.png"
shoot "$WORK/slack-home.html" "$PWD/$OUT/slack-home.png"
shoot "$WORK/email.html" "$PWD/$OUT/email.png"
