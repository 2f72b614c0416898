#!/usr/bin/env python3
"""The layer rules of STYLE.md, checked on every build (cmake/AtsarrayLayers.cmake).

Each library's include directories already keep most forbidden includes from compiling. What
they cannot express is a layer that sees another one through a header it may include: whoever
sees target/scsi/lun.hpp sees backend/block_store.hpp, so the console could name a store. This
check reads every `#include` in the source folders and compares it with the table below; a
forbidden one fails the build with the file, the line and the rule.

    check_layers.py ROOT    exit 0 when ROOT's sources keep the rules, 1 with one line per breach
"""

import os
import re
import sys

# The folders of the project root whose headers an include can name.
PROJECT_FOLDERS = ("backend", "formats", "target", "webui", "tools", "bench", "tests", "configs")

# Per folder: the include paths (prefixes from the project root) it may use, and why. The
# longest folder that contains a file decides. Folders not listed (tests/, docker/, scripts/)
# have no rule: a test may reach anything it tests.
RULES = {
    "backend": (
        ["backend/"],
        "stores know nothing above them",
    ),
    "formats": (
        ["formats/"],
        "formats both sides know (VMFS records) include nothing of either side",
    ),
    "target/ats": (
        ["target/ats/"],
        "the lock table and ATS accounting know nothing above them",
    ),
    "target/fault": (
        ["target/fault/"],
        "fault rules know nothing above them",
    ),
    "target/forensics": (
        ["target/forensics/", "target/ats/", "formats/"],
        "the flight recorder and host-log forensics read notes and the array's events, nothing "
        "of iSCSI, SCSI, the daemon or the console",
    ),
    "target/net": (
        ["target/net/", "target/ats/rate_limit.hpp"],
        "the accept loops' backoff knows Asio and the log's rate limit, nothing of iSCSI or HTTP",
    ),
    "target/scsi": (
        ["target/scsi/", "target/ats/", "target/fault/", "backend/",
         "target/forensics/flight_recorder.hpp", "target/forensics/capture.hpp", "formats/trace.hpp"],
        "SCSI never names iSCSI or the console; it tells the flight recorder what it did",
    ),
    "target/iscsi": (
        [
            "target/iscsi/",
            # The SCSI layer's interface to a transport: the same headers target/scsi/CMakeLists.txt
            # stages for atsarray_scsi_api (change both together).
            "target/scsi/command.hpp",
            "target/scsi/target_device.hpp",
            # The console's event log (logins, logouts), which ServerState carries.
            "target/ats/event_log.hpp",
            # Log lines that come in storms (connections refused over the limits).
            "target/ats/rate_limit.hpp",
            # The accept loop's backoff, shared with the console.
            "target/net/",
        ],
        "iSCSI never names a store; it sees SCSI only through command.hpp and target_device.hpp",
    ),
    "webui/server": (
        [
            "webui/server/",
            "target/iscsi/",
            "target/scsi/",
            "target/ats/",
            "target/fault/",
            "target/net/",
            "target/forensics/",
            "formats/trace",
            "formats/pcapng",
        ],
        "the console reads stores only through the SCSI layer and never names the daemon",
    ),
    "target/daemon": (
        ["target/", "backend/", "webui/server/"],
        "the daemon assembles the layers but never names tools, benchmarks or tests",
    ),
    "tools": (
        ["tools/", "formats/"],
        "initiator-side tools know nothing of the target",
    ),
    "bench": (
        [
            "bench/",
            "tools/",
            "target/ats/",
            # lun_bench: the SCSI command path in process, on a memory store, with fault rules.
            "target/scsi/",
            "target/fault/",
            "backend/memory_store.hpp",
        ],
        "benchmarks drive the target from outside, except the lock table's and the SCSI "
        "command path's in-process ones",
    ),
}

# Explicit, temporary exceptions: (file, include) pairs allowed although the table forbids
# them, each with the reason. Keep this empty; an entry is a debt to pay.
ALLOWED = {
}

SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc")
SKIP_FOLDERS = {".git", "node_modules", "static"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def rule_for(path):
    """The (folder, rule) governing a file path relative to the root, or (None, None)."""
    best = None
    for folder in RULES:
        if path.startswith(folder + "/") and (best is None or len(folder) > len(best)):
            best = folder
    return (best, RULES[best]) if best else (None, None)


def project_path(include, quote, file_dir):
    """The include as a path from the project root, or None when it names no project file."""
    if quote == '"' and include.startswith((".", "/")):
        include = os.path.normpath(os.path.join(file_dir, include))
    first = include.split("/", 1)[0]
    return include if first in PROJECT_FOLDERS and "/" in include else None


def check(root):
    breaches = []
    for folder in RULES:
        top = os.path.join(root, folder)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_FOLDERS)
            for name in sorted(filenames):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                governing, (allowed, why) = rule_for(rel)
                if governing != folder:
                    continue  # a sub-folder with a rule of its own is read under that rule
                with open(full, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = project_path(m.group(2), m.group(1), os.path.dirname(rel))
                        if target is None or target.startswith(tuple(allowed)):
                            continue
                        if (rel, target) in ALLOWED:
                            continue
                        breaches.append(
                            f'{rel}:{number}: error: layer rule broken: "{target}" is outside '
                            f"what {governing}/ may include ({', '.join(allowed)}): {why}"
                        )
    return breaches


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = argv[1]
    if not os.path.isdir(os.path.join(root, "target")):
        print(f"check_layers.py: {root} is not the project root", file=sys.stderr)
        return 2
    breaches = check(root)
    for b in breaches:
        print(b, file=sys.stderr)
    if breaches:
        print(f"check_layers.py: {len(breaches)} include(s) break the layer rules (STYLE.md)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
