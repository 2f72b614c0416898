#include "target/forensics/flight_recorder_causes.hpp"

#include <cstdio>
#include <vector>

#include "target/forensics/host_log.hpp"
#include "target/forensics/vmfs_decode.hpp"

namespace atsarray::forensics {
namespace {

// A command that replaced the block's image when it succeeded: its new image is `set`.
bool installs(const HistoryEntry& e) {
    return e.outcome == Outcome::good && e.kind != CommandKind::read;
}

// `a` came after `b`: in the order they reached the medium when both have one (their LBA locks
// order them), else by status times, the recorder's order on a tie (notes from two I/O threads
// may arrive in either order, so the time decides).
bool answered_after(const HistoryEntry& a, const HistoryEntry& b) {
    if (a.order != 0 && b.order != 0) {
        return a.order > b.order;
    }
    if (a.answered != b.answered) {
        return a.answered > b.answered;
    }
    return a.seq > b.seq;
}

std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

// "iqn.1998-01.com.vmware:esx-01 (10.0.0.1:51000, relative target port 2)".
std::string who(const Origin& o) {
    std::string s =
        o.initiator_name.empty() ? std::string("an unnamed initiator") : o.initiator_name;
    s += " (";
    s += o.address.empty() ? std::string("address unknown") : o.address;
    s += ", relative target port " + std::to_string(o.relative_target_port) + ")";
    return s;
}

std::string command_name(CommandKind kind) {
    switch (kind) {
        case CommandKind::ats:
            return "ATS";
        case CommandKind::write:
            return "WRITE";
        case CommandKind::write_same:
            return "WRITE SAME";
        case CommandKind::unmap:
            return "UNMAP";
        case CommandKind::xcopy:
            return "XCOPY";
        case CommandKind::read:
            return "READ";
        case CommandKind::other_write:
            break;
    }
    return "write";
}

// "its WRITE (ITT 0x1f) answered at 2026-12-07T15:37:37.123Z".
std::string command(const HistoryEntry& e) {
    return command_name(e.kind) + " (ITT " + hex(e.itt) + ") answered at " + rfc3339_ms(e.answered);
}

// The image as ESXi's logs print the VMFS record it holds, else by its recorder id.
std::string image_text(const CauseContext& c, ImageId id) {
    if (id == 0) {
        return "an image not recorded";
    }
    if (auto text = describe_vmfs_image(c.image(id))) {
        return *text;
    }
    return "image #" + std::to_string(id);
}

// "compared [HB state ...] but the block held [HB state ...]".
std::string images(const CauseContext& c, const HistoryEntry& m) {
    return "compared " + image_text(c, m.compare) + " but the block held " +
           image_text(c, m.on_disk);
}

// One image the block held, as far as its history shows, in order.
struct Version {
    ImageId image = 0;
    size_t index = 0;        // the entry that showed it
    bool installed = false;  // that entry wrote it (else it read or compared it)
};

// The images the block held before entries[end], as far as the history shows them. A read that a
// fault rule served shows nothing about the medium.
std::vector<Version> versions_before(const std::deque<HistoryEntry>& entries, size_t end) {
    std::vector<Version> out;
    auto push = [&out](ImageId image, size_t index, bool installed) {
        if (installed || out.empty() || out.back().image != image) {
            out.push_back({image, index, installed});
        }
    };
    for (size_t i = 0; i < end; ++i) {
        const HistoryEntry& e = entries[i];
        if (e.kind == CommandKind::ats) {
            if (e.outcome == Outcome::good) {
                push(e.compare, i, false);
                push(e.set, i, true);
            } else if (e.outcome == Outcome::miscompare && e.on_disk != 0) {
                push(e.on_disk, i, false);
            }
        } else if (e.kind == CommandKind::read) {
            if (e.outcome == Outcome::good && e.fault_rule.empty() && e.on_disk != 0) {
                push(e.on_disk, i, false);
            }
        } else if (installs(e)) {
            push(e.set, i, true);  // 0 for XCOPY: the chain of known images breaks there
        }
    }
    return out;
}

// Why the history cannot tell, most telling first.
std::string gap(const CauseContext& c, const HistoryEntry& m, const char* otherwise) {
    const HistoryEntry& first = c.entries.front();
    const std::string start = "the block's history starts at " + rfc3339_ms(first.answered);
    if (c.evicted_before) {
        return start + ", after its earlier history was evicted (max_blocks or max_image_bytes)";
    }
    if (c.truncated) {
        return start + ", after older entries were dropped (" +
               std::to_string(c.entries_per_block) + " entries per block)";
    }
    if (c.notes_dropped > 0) {
        return std::to_string(c.notes_dropped) +
               (c.notes_dropped == 1 ? " note was" : " notes were") +
               " dropped while the recorder's queue was full";
    }
    if (first.seq == m.seq) {
        return start + ", with this ATS: no earlier command on it was recorded";
    }
    return otherwise;
}

CauseFinding unknown(const CauseContext& c, const HistoryEntry& m, const char* otherwise) {
    return {Cause::unknown,
            "unknown: the " + command(m) + " from " + who(m.origin) + " miscompared (it " +
                images(c, m) + ") and the history cannot tell why: " + gap(c, m, otherwise),
            std::nullopt};
}

}  // namespace

std::string rfc3339_ms(SystemTime t) {
    return format_time(std::chrono::floor<std::chrono::milliseconds>(t));
}

CauseFinding explain_miscompare(const CauseContext& c) {
    const std::deque<HistoryEntry>& entries = c.entries;
    const size_t n = entries.size() - 1;
    const HistoryEntry& m = entries[n];
    const std::string& me = m.origin.initiator_name;

    if (m.outcome == Outcome::injected_miscompare) {
        return {Cause::injected,
                "injected: fault rule " + (m.fault_rule.empty() ? "(unnamed)" : m.fault_rule) +
                    " forced a miscompare on the " + command(m) + " from " + who(m.origin),
                std::nullopt};
    }

    // KB 2113956: the medium holds exactly this host's own set image from an ATS whose status it
    // never saw, so the ATS landed late and the host's retry compares against its own write.
    for (size_t i = n; m.on_disk != 0 && i-- > 0;) {
        const HistoryEntry& e = entries[i];
        // An ATS that miscompared or failed wrote nothing, whatever its status became.
        const bool may_have_landed =
            (e.outcome == Outcome::good && !e.status_seen) || e.outcome == Outcome::aborted;
        if (e.kind == CommandKind::ats && e.origin.initiator_name == me && e.set == m.on_disk &&
            may_have_landed) {
            return {Cause::late_retry,
                    "late_retry: the block holds the set image of an earlier ATS (ITT " +
                        hex(e.itt) + ", arrived at " + rfc3339_ms(e.arrived) + ") from " +
                        who(e.origin) + " whose status it never saw (" +
                        (e.outcome == Outcome::aborted ? "aborted" : "status dropped") +
                        "), so its retry, an " + command(m) + ", compared " +
                        image_text(c, m.compare) + " against its own write " +
                        image_text(c, m.on_disk) + " (VMware KB 2113956)",
                    e.seq};
        }
    }

    // W: the latest command that installed the image the medium held.
    std::optional<size_t> w;
    for (size_t i = n; m.on_disk != 0 && i-- > 0;) {
        if (installs(entries[i]) && entries[i].set == m.on_disk) {
            w = i;
            break;
        }
    }
    if (!w) {
        return unknown(c, m, "no recorded command installed the image the block held");
    }
    const HistoryEntry& writer = entries[*w];

    // Was the compare image a version the block held before W (or a write after it) replaced it?
    // W's own compare counts: W replaced it directly.
    const std::vector<Version> versions = versions_before(entries, *w + 1);
    std::optional<size_t> held;
    for (size_t v = 0; v < versions.size(); ++v) {
        const bool before_w = versions[v].index < *w || !versions[v].installed;
        if (versions[v].image == m.compare && before_w) {
            held = v;
        }
    }
    if (!held) {
        return unknown(c, m, "the image compared was never seen on this block");
    }
    // The entry that replaced the compare image: the first one installing something else after it.
    size_t replaced_by = *w;
    for (size_t v = *held + 1; v < versions.size(); ++v) {
        if (versions[v].installed && versions[v].image != m.compare) {
            replaced_by = versions[v].index;
            break;
        }
    }

    const HistoryEntry* last_read = nullptr;
    for (size_t i = n; i-- > 0;) {
        const HistoryEntry& e = entries[i];
        if (e.kind == CommandKind::read && e.outcome == Outcome::good &&
            e.origin.initiator_name == me) {
            last_read = &e;
            break;
        }
    }

    if (writer.origin.initiator_name == me &&
        (writer.origin.nexus_id != m.origin.nexus_id ||
         writer.origin.relative_target_port != m.origin.relative_target_port)) {
        return {Cause::failover,
                "failover: " + me + "'s own " + command(writer) + " on another path, " +
                    who(writer.origin) +
                    ", replaced the image it compared (a stale in-flight write after a path "
                    "change), so its " +
                    command(m) + " on " + who(m.origin) + " " + images(c, m),
                writer.seq};
    }
    if (writer.origin.initiator_name != me &&
        (last_read == nullptr || answered_after(writer, *last_read))) {
        const std::string read_text =
            last_read == nullptr
                ? ", and no read of the block by " + me + " is recorded"
                : ", after " + me + "'s last read of it (its " + command(*last_read) + ")";
        return {Cause::contention,
                "contention: " + who(writer.origin) + " changed the block with its " +
                    command(writer) + read_text + ", so the " + command(m) + " from " +
                    who(m.origin) + " " + images(c, m),
                writer.seq};
    }
    if (last_read != nullptr && answered_after(*last_read, entries[replaced_by])) {
        const HistoryEntry& r = *last_read;
        const HistoryEntry& x = entries[replaced_by];
        return {Cause::stale_read,
                "stale_read: " + me + "'s last read of the block, its " + command(r) + " on " +
                    who(r.origin) + ", came after " + who(x.origin) + "'s " + command(x) +
                    " had replaced the image it then compared" +
                    (r.fault_rule.empty() ? std::string(" (a stale cached copy)")
                                          : " (fault rule " + r.fault_rule + " served it stale)") +
                    ", so its " + command(m) + " " + images(c, m),
                r.seq};
    }
    if (writer.origin.initiator_name == me) {
        return unknown(c, m,
                       "the write that replaced the compared image came from this initiator on "
                       "this same path");
    }
    return unknown(c, m,
                   "the times of the write that replaced the compared image and of this "
                   "initiator's last read do not tell which came first");
}

}  // namespace atsarray::forensics
