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


# fuzz_host_log: [control][an uploaded log excerpt]. control bit 0: the caller names the host;
# bit 1: small limits (512-byte upload, 96-byte lines, 4 events); bits 2-5: the array's clock
# behind by n x 250 ms; bit 6: array events on non-miscompare lines answer GOOD.
VMKERNEL = """\
2015-11-18T01:50:07.409Z cpu0:33226)HBX: 1936: ATS Miscompare detected between test and set HB images at offset 3735552 on vol 'datastore1'.
2024-01-15T10:23:45.123Z cpu12:2098765)HBX: 2956: 'ds1': HB at offset 3735552 - Waiting for timed out HB:
2024-01-15T10:23:45.123Z cpu12:2098765)  [HB state abcdef02 offset 3735552 gen 547 stampUS 1208427785706 uuid 58f6b785-5ad1e0c4-8d7e-005056aabb01 jrnl <FB 0> drv 14.73 lockImpl 4 ip 10.2.0.31]
2024-01-15T10:23:45.200Z cpu20:2097261)ScsiDeviceIO: 2652: Cmd(0x43be1974bb80) 0x89, CmdSN 0x1aa23 from world 32814 to dev "naa.6001405f8b1e3e7c8e34b8b1c2d4e5f6" failed H:0x5 D:0x0 P:0x0
2024-01-15T10:23:46.123Z cpu4:2098051)ScsiDeviceIO: 4124: Cmd(0x45b9d4d0c040) 0x89, CmdSN 0x1e5 from world 2098051 to dev "naa.6001405f8b1e3e7c8e34b8b1c2d4e5f6" failed H:0x0 D:0x2 P:0x0 Valid sense data: 0xe 0x1d 0x0.
2024-01-15T10:23:47.000Z cpu9:2099001)FS3: 1974: Checking if lock holders are live for lock [type 10c00001 offset 67555328 v 34, hb offset 3526656 gen 7154, mode 1, owner 5a3c4e2b-1f2a3b4c-5d6e-005056aabb02 mtime 4089393 num 0 gblnum 0 gblgen 0 gblbrk 0]
2024-01-15T10:23:48.000Z cpu1:1)NMP: nmp_ResetDeviceLogThrottling:3776: last error status from device naa.600a repeated 2 times
"""
VOBD = """\
2019-03-28T12:02:02.426Z: [vmfsCorrelator] 3289578562us: [esx.problem.vmfs.heartbeat.timedout] 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 datastore1
2019-03-28T12:02:04.446Z: [vmfsCorrelator] 3289598433us: [vob.vmfs.heartbeat.recovered] Reclaimed heartbeat for volume 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 (datastore1): [Timeout] [HB state abcdef02 offset 3866624 gen 4923 stampUS 14806948640524 uuid 5c9b8e69-1a2b3c4d-5e6f-005056aabb01 jrnl <FB 41943053> drv 24.82]
2024-01-15T10:23:45.123Z In(14) vobd[2097878]:  [vmfsCorrelator] 3289578406us: [vob.vmfs.heartbeat.timedout] 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 datastore1
2024-01-15T10:23:46.000Z esx07.lab.local Wa(180) vmkernel: cpu3:2097594 opID=3e8c1d55)WARNING: HBX: 1936: ATS Miscompare detected between test and set HB images at offset 3866624 on vol 'ds1'.
"""
ESXI_SIM = """\
2026-11-03T10:00:00.123Z esx-01-1 HBX: ATS Miscompare detected between test and set HB images at offset 3145728 on vol 'atsarray-lab' (first differing byte 20: stamp).
2026-11-03T10:00:08.200Z esx-01-1 HBX: HB at offset 3145728 on vol 'atsarray-lab': ATS timed out after 8.0 s on path vmhba64:C0:T0:L0; aborted, reissuing
2026-11-03T10:00:08.201Z esx-01-1 NMP: nmp_ThrottleLogForDevice: Cmd 0x89 (0x55d0c0a0b0c0) to dev "naa.6001405abcdef0123456789abcdef01" on path "vmhba64:C0:T0:L0" Failed: H:0x5 D:0x0 P:0x0 Possible sense data: 0x0 0x0 0x0. Act:EVAL
2026-11-03T10:00:16.300Z esx-01-1 vobd: Lost access to volume atsarray-lab due to connectivity issues (no heartbeat for 16.2 s). Recovery attempt is in progress and outcome will be reported shortly.
2026-11-03T10:00:18.000Z esx-01-1 vobd: Successfully restored access to volume atsarray-lab following connectivity issues (lost for 18.0 s).
2026-11-03T10:00:19.000Z esx-01-2 DLX: atomic test and set of disk block 8200 returned false for equality (expected=1001, got=1002)
2026-11-03T10:00:19.500Z esx-01-2 DLX: Lock [type 10c00001 offset 4198400 v 3, hb offset 3146240 gen 9, mode 1, owner 65a1b2c3-00000001-0001-005056aa0001 mtime 1700000000] is not free on volume 'atsarray-lab'
2026-11-03T10:00:20.000Z esx-01-2 DLX: Checking liveness of [HB state abcdef02 offset 3145728 gen 7 stampUS 1208427785 uuid 65a1b2c3-00000001-0001-005056aa0001 jrnl <FB 3> drv 14.61] (node 1001)
2026-11-03T10:00:21.000Z esx-01-1 HBX: Acquired heartbeat on vol 'atsarray-lab' [HB state abcdef02 offset 3145728 gen 8 stampUS 1208430000 uuid 65a1b2c3-00000001-0001-005056aa0001 jrnl <FB 3> drv 14.61]
"""
write("fuzz_host_log", "vmkernel", bytes([0x01]) + VMKERNEL.encode())
write("fuzz_host_log", "vobd", bytes([0x05]) + VOBD.encode())
write("fuzz_host_log", "esxi_sim", bytes([0x40]) + ESXI_SIM.encode())
write("fuzz_host_log", "esxi_sim_skewed", bytes([0x10]) + ESXI_SIM.encode())
write("fuzz_host_log", "small_limits", bytes([0x03]) + VMKERNEL.encode())
write("fuzz_host_log", "untimed", bytes([0x01]) + b"cpu0:33226)HBX: 1936: ATS Miscompare detected "
      b"between test and set HB images at offset 3735552 on vol 'ds1'.\r\n"
      b"[esx.problem.vmfs.heartbeat.timedout] 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 ds1\r\n")
with open(os.path.join(ROOT, "tests/unit/forensics/data/esxi_sim_hb_timeout.log"), "rb") as f:
    write("fuzz_host_log", "recorded_esxi_sim", bytes([0x40]) + f.read())
