// The host-log parser: every line format of ../shared/REFERENCES.md ("ESXi host logs") with
// real-looking samples, esxi-sim's lines as its own Log writes them, unknown lines counted, the
// limits refused with their names, lines without a time kept.
#include "target/forensics/host_log.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tools/esxi_sim/log.hpp"

namespace atsarray::forensics {
namespace {

using std::chrono::milliseconds;

TimePoint at(std::string_view text) {
    return parse_log_time(text).value();
}

ParseResult parse(std::string_view text, std::string host = "esx-a") {
    ParseOptions options;
    options.host = std::move(host);
    return parse_host_log(text, options);
}

const HostEvent& only_event(const ParseResult& r) {
    EXPECT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.events.size(), 1U);
    EXPECT_EQ(r.unknown_lines, 0U);
    static const HostEvent none;
    return r.events.empty() ? none : r.events.front();
}

TEST(LogTime, ReadsUtcWithMillisecondsAndOffsets) {
    EXPECT_EQ(format_time(at("2024-01-15T10:23:45.123Z")), "2024-01-15T10:23:45.123Z");
    EXPECT_EQ(format_time(at("2024-01-15T10:23:45Z")), "2024-01-15T10:23:45.000Z");
    EXPECT_EQ(format_time(at("2024-01-15T10:23:45.123456Z")), "2024-01-15T10:23:45.123Z");
    EXPECT_EQ(format_time(at("2024-01-15T10:23:45.5Z")), "2024-01-15T10:23:45.500Z");
    EXPECT_EQ(format_time(at("2024-01-15T11:23:45.123+01:00")), "2024-01-15T10:23:45.123Z");
    EXPECT_EQ(format_time(at("2024-01-15T00:10:00.000-00:30")), "2024-01-15T00:40:00.000Z");
    EXPECT_EQ(format_time(at("2024-12-31T23:59:59.999Z") + milliseconds(1)),
              "2025-01-01T00:00:00.000Z");
    size_t used = 0;
    ASSERT_TRUE(parse_log_time("2024-01-15T10:23:45.123Z: [vmfsCorrelator]", &used));
    EXPECT_EQ(used, 24U);
    for (std::string_view bad :
         {"2024-02-30T10:00:00Z", "2024-01-15T24:00:00Z", "2024-13-01T00:00:00Z",
          "cpu12:2098765)HBX", "2024-01-15T10:23", "2024-01-15T10:23:45.Z", "2024-01-15T10:2x:45Z",
          "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", ""}) {
        EXPECT_FALSE(parse_log_time(bad)) << bad;
    }
}

// VMware KB 2113956's line: the slot's offset and the volume.
TEST(HostLog, VmkernelAtsMiscompare) {
    const auto r = parse(
        "2015-11-18T01:50:07.409Z cpu0:33226)HBX: 1936: ATS Miscompare detected between test and "
        "set HB images at offset 3735552 on vol 'datastore1'.\n");
    const HostEvent& e = only_event(r);
    EXPECT_EQ(e.kind, HostEventKind::ats_miscompare);
    EXPECT_EQ(e.format, LogFormat::vmkernel);
    EXPECT_EQ(e.module, "HBX");
    EXPECT_EQ(e.offset, 3735552U);
    EXPECT_EQ(e.volume, "datastore1");
    EXPECT_EQ(e.subject, "heartbeat");
    EXPECT_EQ(e.host, "esx-a");  // the caller's name: vmkernel.log carries none
    EXPECT_EQ(e.line, 1U);
    ASSERT_TRUE(e.time);
    EXPECT_EQ(format_time(*e.time), "2015-11-18T01:50:07.409Z");
}

// "Waiting for timed out HB:" with the slot's tuple on the next line, as vmkernel writes it.
TEST(HostLog, WaitingForTimedOutHeartbeatWithItsTupleOnTheNextLine) {
    const auto r = parse(
        "2024-01-15T10:23:45.123Z cpu12:2098765)HBX: 2956: 'ds1': HB at offset 3735552 - Waiting "
        "for timed out HB:\n"
        "2024-01-15T10:23:45.123Z cpu12:2098765)  [HB state abcdef02 offset 3735552 gen 547 "
        "stampUS 1208427785706 uuid 58f6b785-5ad1e0c4-8d7e-005056aabb01 jrnl <FB 0> drv 14.73 "
        "lockImpl 4 ip 10.2.0.31]\n");
    const HostEvent& e = only_event(r);
    EXPECT_EQ(e.kind, HostEventKind::hb_waiting_timed_out);
    EXPECT_EQ(e.volume, "ds1");
    EXPECT_EQ(e.offset, 3735552U);
    ASSERT_TRUE(e.heartbeat);
    EXPECT_EQ(e.heartbeat->state, 0xabcdef02U);
    EXPECT_EQ(e.heartbeat->offset, 3735552U);
    EXPECT_EQ(e.heartbeat->gen, 547U);
    EXPECT_EQ(e.heartbeat->stamp_us, 1208427785706U);
    EXPECT_EQ(e.heartbeat->uuid, "58f6b785-5ad1e0c4-8d7e-005056aabb01");
    EXPECT_EQ(e.heartbeat->journal, 0U);
    EXPECT_EQ(e.heartbeat->driver, "14.73");
    EXPECT_EQ(r.continuation_lines, 1U);
    EXPECT_EQ(r.lines, 2U);
}

// ESXi 7+ writes a severity and the program before the vmkernel line; a syslog server adds the
// host's name, which then wins over the caller's.
TEST(HostLog, NewerPrefixesWithAndWithoutAHostName) {
    const auto r = parse(
        "2024-01-15T10:23:45.123Z In(182) vmkernel: cpu12:2098765)HBX: 2956: 'ds1': HB at offset "
        "3735552 - Waiting for timed out HB:\n"
        "2024-01-15T10:23:46.000Z esx07.lab.local Wa(180) vmkernel: cpu3:2097594 opID=3e8c1d55)"
        "WARNING: HBX: 1936: ATS Miscompare detected between test and set HB images at offset "
        "3866624 on vol 'ds1'.\n");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.events.size(), 2U);
    EXPECT_EQ(r.events[0].kind, HostEventKind::hb_waiting_timed_out);
    EXPECT_EQ(r.events[0].module, "HBX");
    EXPECT_EQ(r.events[0].offset, 3735552U);
    EXPECT_EQ(r.events[0].host, "esx-a");
    EXPECT_EQ(r.events[1].kind, HostEventKind::ats_miscompare);
    EXPECT_EQ(r.events[1].offset, 3866624U);
    EXPECT_EQ(r.events[1].host, "esx07.lab.local");
    EXPECT_EQ(r.events[1].module, "HBX");
}

// A syslog server's copy: the priority, the host's name, the program, no severity.
TEST(HostLog, SyslogServerCopies) {
    const auto r = parse(
        "<166>2024-01-15T10:23:45.123Z esx03 vmkernel: cpu12:2098765)HBX: 2956: 'ds1': HB at "
        "offset 3735552 - Waiting for timed out HB:\n"
        "<14>2024-01-15T10:23:46.123Z esx03 vobd: [vmfsCorrelator] 3289578406us: "
        "[esx.problem.vmfs.heartbeat.timedout] 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 ds1\n");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.events.size(), 2U);
    EXPECT_EQ(r.events[0].kind, HostEventKind::hb_waiting_timed_out);
    EXPECT_EQ(r.events[0].format, LogFormat::vmkernel);
    EXPECT_EQ(r.events[0].module, "HBX");
    EXPECT_EQ(r.events[0].host, "esx03");
    EXPECT_EQ(format_time(*r.events[0].time), "2024-01-15T10:23:45.123Z");
    EXPECT_EQ(r.events[1].kind, HostEventKind::hb_timeout);
    EXPECT_EQ(r.events[1].format, LogFormat::vobd);
    EXPECT_EQ(r.events[1].host, "esx03");
    EXPECT_EQ(r.events[1].volume, "ds1");
}

TEST(HostLog, ScsiDeviceIoAbortedAts) {
    const auto r = parse(
        "2024-01-15T10:23:45.123Z cpu20:2097261)ScsiDeviceIO: 2652: Cmd(0x43be1974bb80) 0x89, "
        "CmdSN 0x1aa23 from world 32814 to dev \"naa.6001405f8b1e3e7c8e34b8b1c2d4e5f6\" failed "
        "H:0x5 D:0x0 P:0x0\n");
    const HostEvent& e = only_event(r);
    EXPECT_EQ(e.kind, HostEventKind::scsi_cmd_failed);
    EXPECT_EQ(e.module, "ScsiDeviceIO");
    ASSERT_TRUE(e.scsi);
    EXPECT_EQ(e.scsi->opcode, 0x89);
    EXPECT_EQ(e.scsi->cmd_sn, 0x1aa23U);
    EXPECT_EQ(e.scsi->world, 32814U);
    EXPECT_EQ(e.scsi->device, "naa.6001405f8b1e3e7c8e34b8b1c2d4e5f6");
    EXPECT_EQ(e.scsi->host_status, 0x5);
    EXPECT_EQ(e.scsi->device_status, 0x0);
    EXPECT_TRUE(e.scsi->aborted());
    EXPECT_FALSE(e.scsi->miscompare());
    EXPECT_FALSE(e.scsi->sense_key);
}

// A genuine miscompare: CHECK CONDITION with sense 0xe 0x1d 0x0; an "Invalid" sense is not one.
TEST(HostLog, ScsiDeviceIoMiscompareAndResetAndInvalidSense) {
    const auto r = parse(
        "2024-01-15T10:23:45.123Z cpu4:2098051)ScsiDeviceIO: 4124: Cmd(0x45b9d4d0c040) 0x89, "
        "CmdSN 0x1e5 from world 2098051 to dev \"naa.600a\" failed H:0x0 D:0x2 P:0x0 Valid sense "
        "data: 0xe 0x1d 0x0.\n"
        "2024-01-15T10:23:46.123Z cpu4:2098051)ScsiDeviceIO: 4124: Cmd(0x45b9d4d0c041) 0x89, "
        "CmdSN 0x1e6 from world 2098051 to dev \"naa.600a\" failed H:0x8 D:0x0 P:0x0 Invalid "
        "sense data: 0xe 0x1d 0x0.\n");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.events.size(), 2U);
    const ScsiFailure& miscompare = *r.events[0].scsi;
    EXPECT_EQ(miscompare.device_status, 0x2);
    EXPECT_TRUE(miscompare.sense_valid);
    EXPECT_EQ(miscompare.sense_key, 0xe);
    EXPECT_EQ(miscompare.asc, 0x1d);
    EXPECT_EQ(miscompare.ascq, 0x0);
    EXPECT_TRUE(miscompare.miscompare());
    const ScsiFailure& reset = *r.events[1].scsi;
    EXPECT_TRUE(reset.reset());
    EXPECT_FALSE(reset.sense_valid);
    EXPECT_FALSE(reset.miscompare());
}

TEST(HostLog, NmpThrottledFailure) {
    const auto r = parse(
        "2024-01-15T10:23:45.123Z cpu2:2097316)NMP: nmp_ThrottleLogForDevice:3867: Cmd 0x89 "
        "(0x45a2c0c7b9c0, 2097316) to dev \"naa.600a\" on path \"vmhba64:C0:T1:L0\" Failed: "
        "H:0x0 D:0x2 P:0x0 Valid sense data: 0xe 0x1d 0x0. Act:NONE\n");
    const HostEvent& e = only_event(r);
    EXPECT_EQ(e.module, "NMP");
    ASSERT_TRUE(e.scsi);
    EXPECT_EQ(e.scsi->world, 2097316U);
    EXPECT_EQ(e.scsi->path, "vmhba64:C0:T1:L0");
    EXPECT_EQ(e.path, "vmhba64:C0:T1:L0");
    EXPECT_TRUE(e.scsi->miscompare());
    EXPECT_EQ(e.scsi->action, "NONE");
    EXPECT_FALSE(e.scsi->cmd_sn);
}

TEST(HostLog, Fs3LockCheck) {
    const auto r = parse(
        "2024-01-15T10:23:45.123Z cpu9:2099001)FS3: 1974: Checking if lock holders are live for "
        "lock [type 10c00001 offset 67555328 v 34, hb offset 3526656 gen 7154, mode 1, owner "
        "5a3c4e2b-1f2a3b4c-5d6e-005056aabb02 mtime 4089393 num 0 gblnum 0 gblgen 0 gblbrk 0]\n");
    const HostEvent& e = only_event(r);
    EXPECT_EQ(e.kind, HostEventKind::lock_check);
    EXPECT_EQ(e.module, "FS3");
    ASSERT_TRUE(e.lock);
    EXPECT_EQ(e.lock->type, 0x10c00001U);
    EXPECT_EQ(e.lock->offset, 67555328U);
    EXPECT_EQ(e.lock->version, 34U);
    EXPECT_EQ(e.lock->hb_offset, 3526656U);
    EXPECT_EQ(e.lock->hb_gen, 7154U);
    EXPECT_EQ(e.lock->mode, 1U);
    EXPECT_EQ(e.lock->owner, "5a3c4e2b-1f2a3b4c-5d6e-005056aabb02");
    EXPECT_EQ(e.lock->mtime, 4089393U);
    EXPECT_EQ(e.offset, 67555328U);  // the lock's own offset: what the join looks up
}

// DLX's liveness check names the lock's offset; the lock's tuple follows on the next line.
TEST(HostLog, DlxLivenessCheckWithTheLockOnTheNextLine) {
    const auto r = parse(
        "2024-01-15T10:23:45.123Z cpu7:2098100)DLX: 4262: vol 'datastore1', lock at 184107008: "
        "[Req mode 1] Checking liveness:\n"
        "2024-01-15T10:23:45.123Z cpu7:2098100)[type 10c00001 offset 184107008 v 5, hb offset "
        "3719168 gen 37, mode 1, owner 5a3c4e2b-1f2a3b4c-5d6e-005056aabb02 mtime 1020 num 0 "
        "gblnum 0 gblgen 0 gblbrk 0]\n");
    const HostEvent& e = only_event(r);
    EXPECT_EQ(e.kind, HostEventKind::lock_check);
    EXPECT_EQ(e.module, "DLX");
    EXPECT_EQ(e.volume, "datastore1");
    EXPECT_EQ(e.offset, 184107008U);
    ASSERT_TRUE(e.lock);
    EXPECT_EQ(e.lock->hb_offset, 3719168U);
    EXPECT_EQ(e.lock->hb_gen, 37U);
    EXPECT_EQ(e.lock->version, 5U);
    EXPECT_EQ(r.continuation_lines, 1U);
}

// vobd.log, both generations: "TIME: [vmfsCorrelator] Nus: [...]" and "TIME In(14) vobd[pid]:".
TEST(HostLog, VobdHeartbeatTimedOutAndRecovered) {
    const auto r = parse(
        "2019-03-28T12:02:02.426Z: [vmfsCorrelator] 3289578562us: "
        "[esx.problem.vmfs.heartbeat.timedout] 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 datastore1\n"
        "2019-03-28T12:02:04.446Z: [vmfsCorrelator] 3289598433us: [vob.vmfs.heartbeat.recovered] "
        "Reclaimed heartbeat for volume 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 (datastore1): "
        "[Timeout] [HB state abcdef02 offset 3866624 gen 4923 stampUS 14806948640524 uuid "
        "5c9b8e69-1a2b3c4d-5e6f-005056aabb01 jrnl <FB 41943053> drv 24.82]\n"
        "2024-01-15T10:23:45.123Z In(14) vobd[2097878]:  [vmfsCorrelator] 3289578406us: "
        "[vob.vmfs.heartbeat.timedout] 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 datastore1\n");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.events.size(), 3U);
    const HostEvent& timedout = r.events[0];
    EXPECT_EQ(timedout.kind, HostEventKind::hb_timeout);
    EXPECT_EQ(timedout.format, LogFormat::vobd);
    EXPECT_EQ(timedout.volume_uuid, "5c9b8e69-3b5ad1e0-8d7e-005056aabb01");
    EXPECT_EQ(timedout.volume, "datastore1");
    EXPECT_EQ(format_time(*timedout.time), "2019-03-28T12:02:02.426Z");
    const HostEvent& recovered = r.events[1];
    EXPECT_EQ(recovered.kind, HostEventKind::hb_recovered);
    EXPECT_EQ(recovered.volume_uuid, "5c9b8e69-3b5ad1e0-8d7e-005056aabb01");
    EXPECT_EQ(recovered.volume, "datastore1");
    ASSERT_TRUE(recovered.heartbeat);
    EXPECT_EQ(recovered.heartbeat->offset, 3866624U);
    EXPECT_EQ(recovered.heartbeat->gen, 4923U);
    EXPECT_EQ(recovered.heartbeat->stamp_us, 14806948640524U);
    EXPECT_EQ(recovered.heartbeat->journal, 41943053U);
    EXPECT_EQ(recovered.heartbeat->driver, "24.82");
    EXPECT_EQ(recovered.offset, 3866624U);
    EXPECT_EQ(r.events[2].kind, HostEventKind::hb_timeout);
    EXPECT_EQ(r.events[2].format, LogFormat::vobd);
    EXPECT_EQ(r.events[2].volume, "datastore1");
}

// esxi-sim's lines, written by its own Log (tools/esxi_sim/log.cpp) with the format strings of
// heartbeat.cpp, lock_manager.cpp, io_channel.cpp and records.cpp's describe().
TEST(HostLog, EsxiSimLinesAsItsLogWritesThem) {
    sim::Log log(nullptr, true);
    const char* tuple =
        "[HB state abcdef02 offset 3145728 gen 7 stampUS 1208427785 uuid "
        "65a1b2c3-00000001-0001-005056aa0001 jrnl <FB 3> drv 14.61]";
    log.line("esx-01-1", "HBX",
             "ATS Miscompare detected between test and set HB images at offset %llu on vol "
             "'%s' (first differing byte %lld: %s).",
             3145728ULL, "atsarray-lab", 20LL, "stamp");
    log.line("esx-01-1", "HBX",
             "HB at offset %llu on vol '%s': ATS timed out after %.1f s on path %s; aborted, "
             "reissuing",
             3145728ULL, "atsarray-lab", 8.0, "vmhba64:C0:T0:L0");
    log.line("esx-01-1", "NMP",
             "nmp_ThrottleLogForDevice: Cmd 0x%02x (%p) to dev \"%s\" on path \"%s\" Failed: "
             "H:0x%x D:0x%x P:0x0 %s sense data: 0x%x 0x%x 0x%x. Act:%s",
             0x89, static_cast<const void*>(&log), "naa.6001405abcdef0123456789abcdef01",
             "vmhba64:C0:T0:L0", 0x5, 0, "Possible", 0, 0, 0, "EVAL");
    log.line("esx-01-1", "vobd",
             "Lost access to volume %s due to connectivity issues (no heartbeat for %.1f s). "
             "Recovery attempt is in progress and outcome will be reported shortly.",
             "atsarray-lab", 16.2);
    log.line("esx-01-1", "vobd",
             "Successfully restored access to volume %s following connectivity issues (lost for "
             "%.1f s).",
             "atsarray-lab", 18.0);
    log.line("esx-01-2", "DLX",
             "atomic test and set of disk block %llu returned false for equality (expected=%u, "
             "got=%u)%s",
             8200ULL, 1001U, 1002U, "");
    log.line("esx-01-2", "DLX", "Lock %s is not free on volume '%s'",
             "[type 10c00001 offset 4198400 v 3, hb offset 3146240 gen 9, mode 1, owner "
             "65a1b2c3-00000001-0001-005056aa0001 mtime 1700000000]",
             "atsarray-lab");
    log.line("esx-01-2", "DLX", "Checking liveness of %s (node %u)", tuple, 1001U);
    log.line("esx-01-1", "HBX", "Acquired heartbeat on vol '%s' %s", "atsarray-lab", tuple);
    log.line("esx-01-2", "DLX",
             "releasing the lock at offset %llu on vol '%s': ATS miscompared although "
             "the block equals the test image (a false miscompare); retrying",
             4198400ULL, "atsarray-lab");

    const auto before = std::chrono::system_clock::now();
    const auto r = parse(log.text(), "ignored");
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(r.events.size(), 9U);
    for (const HostEvent& e : r.events) {
        EXPECT_EQ(e.format, LogFormat::esxi_sim);
        ASSERT_TRUE(e.time);
        EXPECT_LT(std::chrono::abs(*e.time - std::chrono::floor<milliseconds>(before)),
                  std::chrono::minutes(1));
    }
    const HostEvent& miscompare = r.events[0];
    EXPECT_EQ(miscompare.host, "esx-01-1");  // the sim's host column, not the caller's name
    EXPECT_EQ(miscompare.module, "HBX");
    EXPECT_EQ(miscompare.kind, HostEventKind::ats_miscompare);
    EXPECT_EQ(miscompare.offset, 3145728U);
    EXPECT_EQ(miscompare.volume, "atsarray-lab");
    EXPECT_EQ(miscompare.first_differing_byte, 20);
    const HostEvent& timed_out = r.events[1];
    EXPECT_EQ(timed_out.kind, HostEventKind::hb_waiting_timed_out);
    EXPECT_EQ(timed_out.offset, 3145728U);
    EXPECT_EQ(timed_out.timeout_seconds, 8.0);
    EXPECT_EQ(timed_out.path, "vmhba64:C0:T0:L0");
    const HostEvent& failed = r.events[2];
    EXPECT_EQ(failed.kind, HostEventKind::scsi_cmd_failed);
    EXPECT_EQ(failed.module, "NMP");
    EXPECT_EQ(failed.scsi->opcode, 0x89);
    EXPECT_EQ(failed.scsi->device, "naa.6001405abcdef0123456789abcdef01");
    EXPECT_EQ(failed.scsi->path, "vmhba64:C0:T0:L0");
    EXPECT_TRUE(failed.scsi->aborted());
    EXPECT_FALSE(failed.scsi->sense_valid);
    EXPECT_EQ(failed.scsi->action, "EVAL");
    EXPECT_EQ(r.events[3].kind, HostEventKind::hb_timeout);
    EXPECT_EQ(r.events[3].volume, "atsarray-lab");
    EXPECT_EQ(r.events[3].timeout_seconds, 16.2);
    EXPECT_EQ(r.events[4].kind, HostEventKind::hb_recovered);
    EXPECT_EQ(r.events[4].volume, "atsarray-lab");
    const HostEvent& dlx = r.events[5];
    EXPECT_EQ(dlx.kind, HostEventKind::ats_miscompare);
    EXPECT_EQ(dlx.host, "esx-01-2");
    EXPECT_EQ(dlx.lba, 8200U);
    EXPECT_FALSE(dlx.offset);
    EXPECT_EQ(dlx.subject, "lock");
    const HostEvent& not_free = r.events[6];
    EXPECT_EQ(not_free.kind, HostEventKind::lock_check);
    ASSERT_TRUE(not_free.lock);
    EXPECT_EQ(not_free.lock->offset, 4198400U);
    EXPECT_EQ(not_free.lock->hb_offset, 3146240U);
    EXPECT_EQ(not_free.offset, 4198400U);
    EXPECT_EQ(not_free.volume, "atsarray-lab");
    const HostEvent& liveness = r.events[7];
    EXPECT_EQ(liveness.kind, HostEventKind::lock_check);
    ASSERT_TRUE(liveness.heartbeat);
    EXPECT_EQ(liveness.heartbeat->offset, 3145728U);
    const HostEvent& release = r.events[8];
    EXPECT_EQ(release.kind, HostEventKind::ats_miscompare);
    EXPECT_EQ(release.offset, 4198400U);
    EXPECT_EQ(release.subject, "lock");
    EXPECT_EQ(release.line, 10U);
    // "Acquired heartbeat ..." is not an event of the join: counted and kept as unknown.
    EXPECT_EQ(r.unknown_lines, 1U);
    ASSERT_EQ(r.unknown_kept.size(), 1U);
    EXPECT_EQ(r.unknown_kept[0].line, 9U);
    EXPECT_NE(r.unknown_kept[0].text.find("Acquired heartbeat"), std::string::npos);
}

TEST(HostLog, UnknownLinesAreCountedAndTheFirstKeptWithTheirNumbers) {
    std::string text =
        "2024-01-15T10:23:45.123Z cpu1:1)NMP: nmp_ResetDeviceLogThrottling:3776: last error "
        "status from device naa.600a repeated 2 times\n\n";
    for (int i = 0; i < 10; ++i) {
        text += "garbage line " + std::to_string(i) + "\n";
    }
    text +=
        "2024-01-15T10:23:45.123Z cpu0:33226)HBX: 1936: ATS Miscompare detected between test "
        "and set HB images at offset 3735552 on vol 'ds1'.";  // no newline at the end
    ParseOptions options;
    options.limits.max_unknown_kept = 3;
    const auto r = parse_host_log(text, options);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.lines, 13U);
    EXPECT_EQ(r.events.size(), 1U);
    EXPECT_EQ(r.events[0].line, 13U);
    EXPECT_EQ(r.unknown_lines, 11U);  // the empty line is not counted
    ASSERT_EQ(r.unknown_kept.size(), 3U);
    EXPECT_EQ(r.unknown_kept[0].line, 1U);
    EXPECT_EQ(r.unknown_kept[1].line, 3U);
    EXPECT_EQ(r.unknown_kept[1].text, "garbage line 0");
    EXPECT_EQ(r.unknown_kept[2].line, 4U);
}

TEST(HostLog, LinesWithoutATimeAreKept) {
    const auto r = parse(
        "cpu0:33226)HBX: 1936: ATS Miscompare detected between test and set HB images at offset "
        "3735552 on vol 'ds1'.\r\n"
        "[esx.problem.vmfs.heartbeat.timedout] 5c9b8e69-3b5ad1e0-8d7e-005056aabb01 ds1\r\n");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r.events.size(), 2U);
    EXPECT_FALSE(r.events[0].time);
    EXPECT_EQ(r.events[0].offset, 3735552U);
    EXPECT_EQ(r.events[1].kind, HostEventKind::hb_timeout);
    EXPECT_EQ(r.untimed_events, 2U);
    const nlohmann::json j = to_json(r);
    EXPECT_TRUE(j["events"][0]["time"].is_null());
    EXPECT_EQ(j["untimed_events"], 2);
}

TEST(HostLog, AnUploadOverTheLimitIsRefusedNamingIt) {
    ParseOptions options;
    options.limits.max_upload_bytes = 100;
    const auto r = parse_host_log(std::string(101, 'x'), options);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error, "the upload is 101 bytes; the limit is 100 bytes (max_upload_bytes)");
    EXPECT_TRUE(r.events.empty());
    EXPECT_EQ(to_json(r)["error"], r.error);
}

TEST(HostLog, ALineOverTheLimitIsRefusedNamingIt) {
    ParseOptions options;
    options.limits.max_line_bytes = 64;
    const std::string text = "short\nshort\n" + std::string(65, 'y') + "\nshort\n";
    const auto r = parse_host_log(text, options);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error, "line 3 is 65 bytes long; the limit is 64 bytes per line (max_line_bytes)");
    EXPECT_TRUE(r.unknown_kept.empty());
}

TEST(HostLog, EventsOverTheLimitAreCountedNotKept) {
    std::string text;
    for (int i = 0; i < 5; ++i) {
        text +=
            "2024-01-15T10:23:45.123Z cpu0:1)HBX: 1: ATS Miscompare detected between test and "
            "set HB images at offset 3735552 on vol 'ds1'.\n";
    }
    ParseOptions options;
    options.limits.max_events = 2;
    const auto r = parse_host_log(text, options);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.events.size(), 2U);
    EXPECT_EQ(r.events_not_kept, 3U);
}

// Half-lines, overflowing numbers, binary bytes: counted as unknown or read leniently, never a
// crash.
TEST(HostLog, MalformedLinesNeverBreakIt) {
    const std::string text =
        std::string(
            "2024-01-15T10:23:45.123Z cpu0:1)HBX: 1: ATS Miscompare detected "
            "at offset 99999999999999999999999 on vol '\n"
            "2024-01-15T10:23:45.123Z cpu0:1)ScsiDeviceIO: 1: Cmd( 0x89 failed H:0x\n"
            "2024-01-15T10:23:45.123Z cpu0:1)ScsiDeviceIO: 1: Cmd(0x1) 0x1ff, failed H:0x5\n"
            "[HB state zz offset]\n[type\n"
            "2024-01-15T10:23:45.123Z: [esx.problem.vmfs.heartbeat.recovered]\n"
            "\xff\xfe") +
        std::string("\0\0\n", 3);
    const auto r = parse(text);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.lines, 7U);
    EXPECT_EQ(r.events.size() + r.unknown_lines + r.continuation_lines, 7U);
    ASSERT_FALSE(r.events.empty());
    EXPECT_EQ(r.events[0].kind, HostEventKind::ats_miscompare);
    EXPECT_FALSE(r.events[0].offset);  // out of range: not a number
    (void)to_json(r).dump();
}

TEST(HostLog, KeptTextIsPrintableUtf8) {
    EXPECT_EQ(printable_utf8("vol 'däta±' ok\tyes"), "vol 'däta±' ok\tyes");
    // Stray bytes, an overlong, control characters, a surrogate, a cut-off sequence.
    EXPECT_EQ(printable_utf8("a\xff\xc0\x80"
                             "b\x01\x7f\xed\xa0\x80\xe2\x82"),
              "a???b???????");
    const auto r = parse(std::string("garbage \xff\0 line\n", 16));
    ASSERT_EQ(r.unknown_kept.size(), 1U);
    EXPECT_EQ(r.unknown_kept[0].text, "garbage ?? line");
}

TEST(HostLog, JsonNamesEveryField) {
    const auto r = parse(
        "2024-01-15T10:23:45.123Z cpu4:2098051)ScsiDeviceIO: 4124: Cmd(0x45b9d4d0c040) 0x89, "
        "CmdSN 0x1e5 from world 2098051 to dev \"naa.600a\" failed H:0x0 D:0x2 P:0x0 Valid sense "
        "data: 0xe 0x1d 0x0.\n");
    const nlohmann::json j = to_json(r);
    ASSERT_EQ(j["events"].size(), 1U);
    const nlohmann::json& e = j["events"][0];
    EXPECT_EQ(e["kind"], "scsi_cmd_failed");
    EXPECT_EQ(e["time"], "2024-01-15T10:23:45.123Z");
    EXPECT_EQ(e["host"], "esx-a");
    EXPECT_EQ(e["format"], "vmkernel");
    EXPECT_EQ(e["scsi"]["opcode"], "0x89");
    EXPECT_EQ(e["scsi"]["cmd_sn"], "0x1e5");
    EXPECT_EQ(e["scsi"]["device_status"], "0x2");
    EXPECT_EQ(e["scsi"]["sense"], nlohmann::json({"0xe", "0x1d", "0x0"}));
    EXPECT_EQ(e["scsi"]["miscompare"], true);
    EXPECT_EQ(j["lines"], 1);
    EXPECT_EQ(j["event_count"], 1);
    EXPECT_EQ(j["unknown_lines"], 0);
    const nlohmann::json summary = to_json(r, false);
    EXPECT_FALSE(summary.contains("events"));
    EXPECT_EQ(summary["event_count"], 1);
}

}  // namespace
}  // namespace atsarray::forensics
