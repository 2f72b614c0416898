#!/usr/bin/env python3
"""Classify `iscsi-test-cu -v` output per test as pass, skip or fail.

CUnit counts a skipped test as passed. A test is skipped when a "[SKIPPED]" message appears
between its "Test: NAME ..." line and its verdict; messages printed after the verdict belong to the
next test's set-up and are not attributed to it.
usage: classify.py CU_LOG EXPECTED_SKIPS [JSON_OUT]
Prints the failures and unexpected skips, then 'N passed, N failed, N skipped'. Exit 1 when a test
failed or skipped without being listed in EXPECTED_SKIPS (one "Suite.Test  reason" per line)."""
import json
import re
import sys

log = open(sys.argv[1], errors="replace").read()
expected = {}
for line in open(sys.argv[2]):
    line = line.strip()
    if line and not line.startswith("#"):
        name, _, reason = line.partition(" ")
        expected[name] = reason.strip()

results = {}
suite = None
for m in re.finditer(r"^Suite: (\S+)|^  Test: (\S+) \.\.\.(.*?)(?<!\[)(passed|FAILED)(?!\])", log, re.M | re.S):
    if m.group(1):
        suite = m.group(1)
        continue
    name = f"{suite}.{m.group(2)}"
    body = m.group(3)
    results[name] = "fail" if m.group(4) == "FAILED" else ("skip" if "[SKIPPED]" in body else "pass")

if len(sys.argv) > 3:
    json.dump(results, open(sys.argv[3], "w"), indent=1, sort_keys=True)
bad = False
for name, verdict in sorted(results.items()):
    if verdict == "fail":
        print(f"FAILED {name}")
        bad = True
    elif verdict == "skip" and name not in expected:
        print(f"UNEXPECTED SKIP {name}")
        bad = True
    elif verdict == "skip":
        print(f"skipped {name}: {expected[name]}")
if not results:
    print("no test ran")
    bad = True
counts = {v: sum(1 for r in results.values() if r == v) for v in ("pass", "fail", "skip")}
print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
sys.exit(1 if bad else 0)
