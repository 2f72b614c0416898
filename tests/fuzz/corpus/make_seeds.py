#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer harnesses (tests/fuzz/corpus/<harness>/): valid
inputs in each harness's layout, so that a run starts deep in the code instead of at its first
length check. Run it again after changing a harness's input layout.

    make_seeds.py        (re)writes every seed file beside this script
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def write(harness, name, data):
    folder = os.path.join(HERE, harness)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def text(*pairs):
    return b"".join(p.encode() + b"\0" for p in pairs)


# fuzz_chap: [control][text]. control bit 0: the harness computes the right CHAP_R (bit 1:
# base64); bit 2: no mutual secret configured; bit 3: AuthMethod=None,CHAP; bit 4: T bit.
CHALLENGE = "0x" + "".join(f"{i:02x}" for i in range(16))
write("fuzz_chap", "one_way", bytes([0x11]) + text("CHAP_A=5", "CHAP_N=user", "CHAP_R=0x00"))
write("fuzz_chap", "one_way_base64", bytes([0x13]) + text("CHAP_A=7,5", "CHAP_N=user",
                                                           "CHAP_R=0bAA=="))
write("fuzz_chap", "mutual", bytes([0x11]) + text("CHAP_A=5", "CHAP_N=user", "CHAP_R=0x00",
                                                   "CHAP_I=42", "CHAP_C=" + CHALLENGE))
write("fuzz_chap", "mutual_base64", bytes([0x13]) + text(
    "CHAP_A=5", "CHAP_N=user", "CHAP_R=0x00", "CHAP_I=0x2a", "CHAP_C=0bAAECAwQFBgcICQoLDA0ODw=="))
write("fuzz_chap", "mutual_not_configured", bytes([0x05]) + text(
    "CHAP_A=5", "CHAP_N=user", "CHAP_R=0x00", "CHAP_I=1", "CHAP_C=" + CHALLENGE))
write("fuzz_chap", "overlong_response", bytes([0x00]) + text(
    "CHAP_A=5", "CHAP_N=user", "CHAP_R=0x" + "ab" * 1024))
write("fuzz_chap", "wrong_algorithm", bytes([0x08]) + text("CHAP_A=6,7", "CHAP_N=user"))


# fuzz_param_lists: records [selector][a][b][length, 2 bytes][list]. selector bits 0-2: 0 PR OUT,
# 1 UNMAP, 2 EXTENDED COPY, 3 MODE SELECT(6), 4 MODE SELECT(10), 5 PR IN, 6/7 MODE SENSE(10);
# bit 3: nexus B; bit 4: LUN 1; bit 5: SET TARGET PORT GROUPS (then REPORT TARGET PORT GROUPS,
# a bit 5: extended header, b: allocation length).
def record(selector, a, b, payload, length=None):
    n = len(payload) if length is None else length
    return bytes([selector, a, b]) + struct.pack(">H", n) + payload


def pr_out_list(key, sa_key, flags=0, extra=b""):
    return struct.pack(">QQ", key, sa_key) + bytes(4) + bytes([flags, 0, 0, 0]) + extra


def transport_id(name):
    raw = name.encode() + b"\0"
    raw += bytes((-len(raw)) % 4)
    return bytes([0x05, 0]) + struct.pack(">H", len(raw)) + raw


KEY_A, KEY_B = 0x1122334455667788, 0x99AABBCCDDEEFF00
register_a = record(0x00, 0x00, 0x00, pr_out_list(0, KEY_A))
register_b = record(0x08, 0x00, 0x00, pr_out_list(0, KEY_B))
reserve_a = record(0x00, 0x01, 0x05, pr_out_list(KEY_A, 0))  # WRITE EXCLUSIVE - REGS ONLY
read_keys = record(0x05, 0x00, 0x00, b"", 0x200)
full_status = record(0x05, 0x03, 0x00, b"", 0x200)
write("fuzz_param_lists", "pr_register_reserve",
      register_a + reserve_a + read_keys + full_status)
write("fuzz_param_lists", "pr_preempt",
      register_a + reserve_a + register_b +
      record(0x08, 0x04, 0x05, pr_out_list(KEY_B, KEY_A)) + full_status)
write("fuzz_param_lists", "pr_preempt_and_abort_release",
      register_a + reserve_a + register_b +
      record(0x08, 0x05, 0x05, pr_out_list(KEY_B, KEY_A)) +
      record(0x08, 0x02, 0x05, pr_out_list(KEY_B, 0)) + full_status)
# REGISTER AND MOVE and SPEC_I_PT are refused (persistent_reserve.cpp): the refusals are paths too.
write("fuzz_param_lists", "pr_register_and_move",
      register_a + reserve_a +
      record(0x00, 0x07, 0x05, struct.pack(">QQ", KEY_A, KEY_B) + bytes([0, 0, 0, 1]) +
             struct.pack(">I", len(transport_id("iqn.2026-11.org.atsarray:fuzzer-b,i,0x"
                                                "000000000002"))) +
             transport_id("iqn.2026-11.org.atsarray:fuzzer-b,i,0x000000000002")) + full_status)
write("fuzz_param_lists", "pr_register_ignore_release_clear",
      record(0x00, 0x06, 0x00, pr_out_list(0, KEY_A)) + reserve_a +
      record(0x00, 0x02, 0x05, pr_out_list(KEY_A, 0)) + record(0x00, 0x03, 0x00,
                                                                pr_out_list(KEY_A, 0)) +
      read_keys)
write("fuzz_param_lists", "pr_spec_i_pt",
      record(0x00, 0x00, 0x00, pr_out_list(0, KEY_A, 0x0C) +
             struct.pack(">I", len(transport_id("iqn.2026-11.org.atsarray:fuzzer-b"))) +
             transport_id("iqn.2026-11.org.atsarray:fuzzer-b")) + full_status)


def unmap_list(*ranges):
    descriptors = b"".join(struct.pack(">QI", lba, n) + bytes(4) for lba, n in ranges)
    return struct.pack(">HH", 6 + len(descriptors), len(descriptors)) + bytes(4) + descriptors


write("fuzz_param_lists", "unmap", record(0x01, 0, 0, unmap_list((0, 8), (100, 16))) +
      record(0x11, 0, 0, unmap_list((1, 2))))


def naa(lun):
    return bytes([0x60, 0x01, 0x40, 0x5F] + [0] * 11 + [lun])


def cscd(lun, block_size):
    return (bytes([0xE4, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 16]) + naa(lun) + bytes(4) +
            bytes([0]) + struct.pack(">I", block_size)[1:])


def segment(src, dst, blocks, src_lba, dst_lba, flags=0):
    return (bytes([0x02, flags]) + struct.pack(">HHH", 24, src, dst) + bytes(2) +
            struct.pack(">HQQ", blocks, src_lba, dst_lba))


def xcopy(cscds, segments, list_id=1, usage=0):
    c = b"".join(cscds)
    s = b"".join(segments)
    return (bytes([list_id, usage << 3]) + struct.pack(">H", len(c)) + bytes(4) +
            struct.pack(">II", len(s), 0) + c + s)


write("fuzz_param_lists", "xcopy_same_lun",
      record(0x02, 0, 0, xcopy([cscd(0, 512)], [segment(0, 0, 8, 0, 64)])))
write("fuzz_param_lists", "xcopy_across_luns",
      record(0x02, 0, 0, xcopy([cscd(0, 512), cscd(1, 4096)],
                               [segment(0, 1, 8, 0, 1), segment(1, 0, 8, 2, 16, 0x02)],
                               usage=3)))
# The pages as MODE SENSE reports them, with WCE cleared and D_SENSE set (the changeable bits).
CACHING = bytes([0x08, 0x12, 0x00]) + bytes(17)
CONTROL = bytes([0x0A, 0x0A, 0x04, 0x10]) + bytes(8)
write("fuzz_param_lists", "mode_select_10",
      record(0x04, 0x10, 0, bytes(8) + CACHING + CONTROL) + record(0x06, 0, 0x3F, b"", 0x400))
write("fuzz_param_lists", "mode_select_6",
      record(0x03, 0x10, 0, bytes(4) + CACHING) + record(0x07, 0, 0x08, b"", 0x100))
# SET TARGET PORT GROUPS: [reserved 4][state, reserved, group id 2] descriptors. A failover
# (group 2 active/optimized, group 1 standby), then back from nexus B.
write("fuzz_param_lists", "stpg_failover",
      record(0x20, 0x20, 0xFF, bytes(4) + bytes([0x00, 0, 0, 2, 0x02, 0, 0, 1])) +
      record(0x28, 0x00, 0x40, bytes(4) + bytes([0x00, 0, 0, 1, 0x01, 0, 0, 2])))
write("fuzz_param_lists", "mode_select_block_descriptor",
      record(0x14, 0x10, 0, bytes([0, 0, 0, 0, 0, 0, 0, 8]) + bytes(5) +
             struct.pack(">I", 4096)[1:] + CONTROL))


# fuzz_config: the example configs and a few small ones.
for name in sorted(os.listdir(os.path.join(ROOT, "configs"))):
    if name.endswith(".toml"):
        with open(os.path.join(ROOT, "configs", name), "rb") as f:
            write("fuzz_config", name, f.read())
write("fuzz_config", "memory_luns.toml", """
[[portal]]
address = "127.0.0.1"
port = 3260
[console]
enabled = true
port = 8080
[fault]
enabled = true
presets = ["lost-ats-ack"]
[[target]]
name = "iqn.2026-11.org.atsarray:a"
[[target.lun]]
id = 0
backend = "memory"
size = "16MiB"
block_size = 4096
[[target.lun]]
id = 1
backend = "memory"
size = "1GiB"
read_only = true
""")

# fuzz_console: [flags][the connection's bytes]; flags bit 0: the console listens beyond loopback.
TOKEN = "0123456789abcdef0123456789abcdef"


def http(method, target, body="", auth=True, host="127.0.0.1:8080", extra=""):
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
    if auth:
        head += f"Authorization: Bearer {TOKEN}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n"
    return head + extra + "\r\n" + body


RULE = ('{"name": "slow ats", "action": "delay", "command": "ats", "lun": 0, '
        '"probability": 0.5, "delay_ms": 10, "stage": "before_execute"}')
write("fuzz_console", "reads", "\0" + http("GET", "/api/v1/overview", auth=False) +
      http("GET", "/api/v1/targets") + http("GET", "/api/v1/events?since=0&limit=10") +
      http("GET", "/metrics") + http("HEAD", "/api/v1/ats") +
      http("GET", "/api/v1/targets/iqn.2026-11.org.atsarray%3Aa/luns/0"))
write("fuzz_console", "note", "\0" + http("POST", "/api/v1/events", '{"message": "lab note"}'))
write("fuzz_console", "fault_rules", "\0" + http("POST", "/api/v1/faults", RULE) +
      http("PATCH", "/api/v1/faults/1", '{"enabled": false}') +
      http("GET", "/api/v1/faults/1") + http("DELETE", "/api/v1/faults/1"))
write("fuzz_console", "preset", "\0" + http("GET", "/api/v1/faults/presets") +
      http("POST", "/api/v1/faults/presets/lost-ats-ack") + http("GET", "/api/v1/faults"))
write("fuzz_console", "session_token", "\0" + http("GET", "/api/v1/session-token", auth=False))
write("fuzz_console", "beyond_loopback", "\x01" + http("GET", "/api/v1/sessions",
                                                        host="192.0.2.1:8080") +
      http("GET", "/api/v1/latency", auth=False) + http("GET", "/index.html", auth=False))
write("fuzz_console", "chunked", "\0" + "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
      f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n17\r\n{\"message\": \"chunked!\"}\r\n0\r\n\r\n")
write("fuzz_console", "static_traversal", "\0" + http("GET", "/../../etc/passwd", auth=False) +
      http("GET", "/", auth=False))
