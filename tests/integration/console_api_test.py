#!/usr/bin/python3
"""The web console against the real daemon: every endpoint's answer validated against
webui/openapi.json, the errors (unknown LUN, bad JSON, missing token, limits), /metrics parsed as
Prometheus text with counters equal to what libiscsi clients (tools/ats-counter) saw, and the
WebSocket stream (ticks, token, cross-site refusal).

usage: console_api_test.py ATSARRAY_BINARY ATS_COUNTER_BINARY OPENAPI_JSON
Debian's python3-jsonschema, python3-prometheus-client and python3-websocket."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

import jsonschema
import websocket
from prometheus_client.parser import text_string_to_metric_families

# RefResolver is deprecated in newer jsonschema releases, and the only resolver in Debian's 4.10.
warnings.filterwarnings("ignore", category=DeprecationWarning)

DAEMON, COUNTER, OPENAPI = sys.argv[1:4]
TARGET = "iqn.2026-11.org.atsarray:console"
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


spec = json.load(open(OPENAPI))
resolver = jsonschema.RefResolver.from_schema(spec)


def validate(body, schema_ref, what):
    try:
        jsonschema.Draft202012Validator(schema_ref, resolver=resolver).validate(body)
    except jsonschema.ValidationError as e:
        check(False, f"{what}: does not match openapi.json: {e.message} at {list(e.path)}")


def response_schema(path, method, status):
    return spec["paths"][path][method]["responses"][str(status)]["content"]


def request(method, path, body=None, headers=None, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", console_port, timeout=10)
    h = dict(headers or {})
    if host:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host)
        for k, v in h.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body.encode() if isinstance(body, str) else body)
    else:
        conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    ctype = r.getheader("Content-Type", "")
    parsed = json.loads(data) if ctype.startswith("application/json") and data else data
    return r.status, parsed


def get_valid(path, spec_path=None):
    status, body = request("GET", path)
    check(status == 200, f"GET {path}: status {status}")
    schema = response_schema(spec_path or path.split("?")[0], "get", 200)["application/json"]
    validate(body, schema["schema"], f"GET {path}")
    return body


def error_valid(status, body, expected, what):
    check(status == expected, f"{what}: status {status}, wanted {expected}")
    validate(body, {"$ref": "#/components/schemas/Error"}, what)
    if isinstance(body, dict) and "error" in body:
        check(body["error"]["status"] == expected, f"{what}: error.status {body['error']}")


work = tempfile.mkdtemp(prefix="atsarray-console-")
portal_port, console_port = free_port(), free_port()
with open(os.path.join(work, "atsarray.toml"), "w") as f:
    f.write(f"""log_level = "warn"
[console]
address = "127.0.0.1"
port = {console_port}
[[portal]]
address = "127.0.0.1"
port = {portal_port}
[[target]]
name = "{TARGET}"
[[target.lun]]
id = 0
backend = "memory"
size = "16MiB"
read_delay_us = 300
[[target.lun]]
id = 1
backend = "file"
path = "lun1.img"
size = "8MiB"
write_cache = false
""")
daemon = subprocess.Popen([DAEMON, "--config", os.path.join(work, "atsarray.toml")],
                          stdout=open(os.path.join(work, "daemon.log"), "w"),
                          stderr=subprocess.STDOUT)
try:
    check(wait_port(console_port) and wait_port(portal_port), "daemon and console listen")

    # Every GET before any traffic, against the spec.
    overview = get_valid("/api/v1/overview")
    check(overview.get("luns") == 2 and overview.get("targets") == 1, f"overview {overview}")
    targets = get_valid("/api/v1/targets")
    check([l["id"] for l in targets[0]["luns"]] == [0, 1], f"targets {targets}")
    check(targets[0]["luns"][1]["write_cache"] is False and
          targets[0]["luns"][1]["store"] == "file", f"LUN 1 {targets[0]['luns'][1]}")
    lun = get_valid(f"/api/v1/targets/{TARGET}/luns/0", "/api/v1/targets/{target}/luns/{id}")
    check(lun["size_bytes"] == 16 << 20, f"LUN 0 size {lun}")
    portals = get_valid("/api/v1/portals")
    check(portals == [{"address": f"127.0.0.1:{portal_port}"}], f"portals {portals}")
    get_valid("/api/v1/sessions")
    paths = get_valid("/api/v1/paths")
    check(paths["initiators"] == [] and paths["keep_ended_s"] == 60, f"paths {paths}")
    groups = get_valid(f"/api/v1/targets/{TARGET}/port-groups",
                       "/api/v1/targets/{target}/port-groups")
    check(len(groups["groups"]) == 1 and groups["groups"][0]["state"] == "active_optimized" and
          groups["groups"][0]["portals"] == [f"127.0.0.1:{portal_port}"],
          f"the single implicit group {groups}")
    get_valid(f"/api/v1/targets/{TARGET}/port-groups/1",
              "/api/v1/targets/{target}/port-groups/{id}")
    get_valid("/api/v1/ats")
    get_valid("/api/v1/latency")
    get_valid("/api/v1/events")
    faults = get_valid("/api/v1/faults")
    check(faults == {"enabled": False, "rules": []}, f"faults without [fault]: {faults}")
    presets = get_valid("/api/v1/faults/presets")
    check(any(p["name"] == "esxi-heartbeat-timeout" for p in presets), f"presets {presets}")

    # The WebSocket stream: the page's own origin and non-browser clients stream, another
    # site's page does not (unless it has the token).
    ws = websocket.create_connection(f"ws://127.0.0.1:{console_port}/api/v1/stream",
                                     subprotocols=["atsarray.v1"], timeout=10)
    check(ws.getsubprotocol() == "atsarray.v1", f"subprotocol {ws.getsubprotocol()}")
    tick = json.loads(ws.recv())
    validate(tick, {"$ref": "#/components/schemas/Tick"}, "first tick")
    try:
        websocket.create_connection(f"ws://127.0.0.1:{console_port}/api/v1/stream",
                                    origin="http://evil.example", timeout=5).close()
        check(False, "a cross-site WebSocket without the token was accepted")
    except websocket.WebSocketBadStatusException as e:
        check(e.status_code == 401, f"cross-site WebSocket: status {e.status_code}")

    # The token: only for the console's own Host; POST without it is refused.
    status, body = request("GET", "/api/v1/session-token", host="evil.example:80")
    error_valid(status, body, 403, "session-token for a foreign Host")
    status, body = request("GET", "/api/v1/session-token", host=f"127.0.0.1:{console_port}")
    check(status == 200 and len(body.get("token", "")) >= 32, f"session-token {status}")
    token = body["token"]
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    ws_foreign = websocket.create_connection(
        f"ws://127.0.0.1:{console_port}/api/v1/stream", origin="http://elsewhere.example",
        subprotocols=["atsarray.v1", "atsarray.bearer." + token], timeout=10)
    ws_foreign.close()

    # Errors: JSON, with the right status.
    status, body = request("GET", f"/api/v1/targets/{TARGET}/luns/7")
    error_valid(status, body, 404, "unknown LUN")
    status, body = request("GET", f"/api/v1/targets/{TARGET}/luns/x")
    error_valid(status, body, 400, "LUN not a number")
    status, body = request("GET", "/api/v1/targets/iqn.2026-11.org.none:x/luns/0")
    error_valid(status, body, 404, "unknown target")
    status, body = request("GET", "/api/v1/nothing")
    error_valid(status, body, 404, "unknown path")
    status, body = request("DELETE", "/api/v1/targets", headers=auth)
    error_valid(status, body, 405, "DELETE on targets")
    status, body = request("GET", "/api/v1/events?limit=0")
    error_valid(status, body, 400, "limit 0")
    status, body = request("POST", "/api/v1/events", body='{"message": "x"}',
                           headers={"Content-Type": "application/json"})
    error_valid(status, body, 401, "POST without token")
    status, body = request("POST", "/api/v1/events", body='{"message": "x"}',
                           headers={"Authorization": "Bearer " + "0" * len(token),
                                    "Content-Type": "application/json"})
    error_valid(status, body, 401, "POST with a wrong token")
    status, body = request("POST", "/api/v1/faults",
                           body='{"name": "x", "action": "false_miscompare"}', headers=auth)
    error_valid(status, body, 409, "a fault rule while injection is off")
    status, body = request("POST", "/api/v1/events", body="{not json", headers=auth)
    error_valid(status, body, 400, "bad JSON")
    group_path = f"/api/v1/targets/{TARGET}/port-groups/1"
    status, body = request("PATCH", group_path, body='{"state": "standby"}',
                           headers={"Content-Type": "application/json"})
    error_valid(status, body, 401, "PATCH of a group without token")
    status, body = request("PATCH", group_path, body='{"state": "standby"}', headers=auth)
    error_valid(status, body, 400, "standby for the implicit group (only active/optimized)")
    status, body = request("PATCH", group_path, body='{"state": "sleepy"}', headers=auth)
    error_valid(status, body, 400, "an unknown state")
    status, body = request("PATCH", f"/api/v1/targets/{TARGET}/port-groups/2",
                           body='{"state": "standby"}', headers=auth)
    error_valid(status, body, 404, "an unknown group")
    status, body = request("PATCH", group_path, body='{"state": "active_optimized"}', headers=auth)
    check(status == 200, f"PATCH to the state it is in: status {status}")
    validate(body, response_schema("/api/v1/targets/{target}/port-groups/{id}", "patch",
                                   200)["application/json"]["schema"], "PATCH of a group")
    status, body = request("POST", "/api/v1/events", body='{"text": "x"}', headers=auth)
    error_valid(status, body, 400, "no message")
    status, body = request("POST", "/api/v1/events", body='{"message": ""}', headers=auth)
    error_valid(status, body, 422, "empty message")
    status, body = request("POST", "/api/v1/events", body="message=x",
                           headers={"Authorization": "Bearer " + token,
                                    "Content-Type": "application/x-www-form-urlencoded"})
    error_valid(status, body, 415, "form body")
    status, body = request("POST", "/api/v1/events", body="x" * (100 << 10), headers=auth)
    check(status == 413, f"100 KiB body: status {status}")
    status, body = request("GET", "/api/v1/overview", headers={"X-Big": "y" * (16 << 10)})
    check(status == 431, f"16 KiB header: status {status}")
    status, body = request("GET", "/../../etc/passwd")
    check(status in (400, 404), f"path traversal: status {status}")

    # A lab note: recorded, in GET /events and in the stream.
    status, note = request("POST", "/api/v1/events",
                           body=json.dumps({"message": "contention test starts"}), headers=auth)
    check(status == 201, f"note: status {status}")
    validate(note, response_schema("/api/v1/events", "post", 201)["application/json"]["schema"],
             "note")
    check(token not in json.dumps(note), "the token leaks into a response")

    # ATS contention from libiscsi sessions, while the stream runs.
    counter = subprocess.Popen(
        [COUNTER, "--portal", f"127.0.0.1:{portal_port}", "--target", TARGET, "--lba", "1000",
         "--sessions", "3", "--writers", "1", "--increments", "400",
         "--initiator-prefix", "iqn.2026-11.org.atsarray:console-test"],
        stdout=subprocess.PIPE, text=True)
    seen_sessions = set()
    seen_note = False
    deadline = time.time() + 60
    while counter.poll() is None and time.time() < deadline:
        tick = json.loads(ws.recv())
        seen_sessions |= {s["initiator_name"] for s in tick["sessions"]}
        seen_note = seen_note or any(e["kind"] == "note" for e in tick["events"])
    out = counter.communicate(timeout=60)[0]
    check(counter.returncode == 0, f"ats-counter failed:\n{out}")
    validate(tick, {"$ref": "#/components/schemas/Tick"}, "tick under load")
    check(seen_note, "the lab note never came through the stream")
    check(any(n.startswith("iqn.2026-11.org.atsarray:console-test-") for n in seen_sessions),
          f"the stream never showed the test's sessions: {seen_sessions}")
    ws.close()

    per_session = {}
    for m in re.finditer(r"session (\d+): (\d+) successful ATS, (\d+) miscompares", out):
        per_session[f"iqn.2026-11.org.atsarray:console-test-{m[1]}"] = (int(m[2]), int(m[3]))
    check(len(per_session) == 3, f"ats-counter output:\n{out}")
    successes = sum(s for s, _ in per_session.values())
    miscompares = sum(m for _, m in per_session.values())

    ats = get_valid("/api/v1/ats")
    for entry in ats["initiators"]:
        if entry["initiator_name"] in per_session:
            s, m = per_session[entry["initiator_name"]]
            check(entry["successes"] == s and entry["miscompares"] == m,
                  f"{entry['initiator_name']}: console {entry['successes']}/"
                  f"{entry['miscompares']}, client {s}/{m}")
    lun0 = [l for l in ats["luns"] if l["lun"] == 0][0]
    check(lun0["successes"] == successes and lun0["miscompares"] == miscompares,
          f"LUN 0: console {lun0['successes']}/{lun0['miscompares']}, "
          f"clients {successes}/{miscompares}")
    if miscompares:
        check(ats["hot_blocks"] and ats["hot_blocks"][0]["lba"] == 1000, "hot block 1000")
    paths = get_valid("/api/v1/paths")
    check(any(i["initiator_name"].startswith("iqn.2026-11.org.atsarray:console-test-")
              for i in paths["initiators"]), f"paths after the run {paths}")
    latency = get_valid("/api/v1/latency")
    check(any(l["ops"]["ats"]["commands"] > 0 for l in latency), "ATS latency per initiator")
    events = get_valid("/api/v1/events?since=0&limit=1000")
    kinds = {e["kind"] for e in events["events"]}
    check({"login", "logout", "note"} <= kinds, f"event kinds {kinds}")
    check(miscompares == 0 or "miscompare" in kinds, f"no miscompare event: {kinds}")

    # /metrics: valid Prometheus text, and the same counts.
    status, text = request("GET", "/metrics")
    check(status == 200, f"/metrics status {status}")
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    ats_ok = sum(s.value for s in families["atsarray_ats_successes"].samples
                 if s.name == "atsarray_ats_successes_total")
    ats_mis = sum(s.value for s in families["atsarray_ats_miscompares"].samples
                  if s.name == "atsarray_ats_miscompares_total" and s.labels["cause"] == "genuine")
    check(ats_ok == successes and ats_mis == miscompares,
          f"/metrics ATS {ats_ok}/{ats_mis}, clients {successes}/{miscompares}")
    check(families["atsarray_ats_latency_seconds"].type == "histogram", "latency histogram")
    check(token.encode() not in text, "the token leaks into /metrics")
finally:
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=15)
    except subprocess.TimeoutExpired:
        daemon.kill()
        failures.append("daemon did not stop on SIGTERM")
    log = open(os.path.join(work, "daemon.log")).read()
    if failures:
        print("daemon log:\n" + log[-4000:])

print("console API:", "FAILED" if failures else "OK", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
