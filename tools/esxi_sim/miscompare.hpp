#pragma once
// How a host reads one of its ATS miscompares once it has read the block again, in the classes
// the array's console counts per initiator (target/ats/accounting.hpp): the block holds this
// ATS's own set image, so an earlier attempt of it landed (a late retry, KB 2113956); it holds
// the test image, so nothing on the medium caused the miscompare (a false one: what the
// false_miscompare fault injects); anything else is genuine (another host wrote the block). A
// block that could not be read again is left unclassified.

#include "tools/esxi_sim/io_channel.hpp"
#include "tools/esxi_sim/report.hpp"

namespace atsarray::sim {

enum class MiscompareClass { genuine, late_retry, no_cause, unread };

inline MiscompareClass classify_miscompare(const IoResult& reread, const Sector& test,
                                           const Sector& set) {
    if (reread.status != IoStatus::good) {
        return MiscompareClass::unread;
    }
    if (reread.data == set) {
        return MiscompareClass::late_retry;
    }
    if (reread.data == test) {
        return MiscompareClass::no_cause;
    }
    return MiscompareClass::genuine;
}

// Classifies the miscompare and counts it in its class.
inline MiscompareClass count_miscompare(HostStats& stats, const IoResult& reread,
                                        const Sector& test, const Sector& set) {
    const MiscompareClass k = classify_miscompare(reread, test, set);
    stats.update([k](HostCounters& c) {
        c.miscompares_genuine += k == MiscompareClass::genuine ? 1 : 0;
        c.miscompares_late_retry += k == MiscompareClass::late_retry ? 1 : 0;
        c.miscompares_no_cause += k == MiscompareClass::no_cause ? 1 : 0;
    });
    return k;
}

}  // namespace atsarray::sim
