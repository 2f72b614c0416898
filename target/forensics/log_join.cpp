#include "target/forensics/log_join.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iterator>
#include <set>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace atsarray::forensics {
namespace {

using std::string_view;
using std::chrono::microseconds;
using std::chrono::milliseconds;

std::string lower(string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<uint8_t>(c))); });
    return out;
}

// "iqn.1998-01.com.vmware:esx-01-1,i,0x00023d000001" -> the IQN.
string_view iqn_of(string_view initiator) {
    return initiator.substr(0, initiator.find(','));
}

// "10:23:45.123": the clock part, enough in a sentence about one excerpt.
std::string clock(TimePoint t) {
    return format_time(t).substr(11, 12);
}

std::string signed_ms(milliseconds d) {
    return (d.count() >= 0 ? "+" : "") + std::to_string(d.count()) + " ms";
}

std::string duration_text(microseconds d) {
    char buf[32];
    if (d < std::chrono::milliseconds(1)) {
        std::snprintf(buf, sizeof buf, "%.1f ms", static_cast<double>(d.count()) / 1000.0);
    } else if (d < std::chrono::seconds(1)) {
        std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(d.count() / 1000));
    } else {
        std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1e6);
    }
    return buf;
}

milliseconds abs_ms(milliseconds d) {
    return d.count() < 0 ? -d : d;
}

enum class Fit { yes, unknown, no };

class Joiner {
  public:
    Joiner(JoinResult& r, const JoinOptions& o) : r_(r), o_(o) {
        for (size_t j = 0; j < r_.array_events.size(); ++j) {
            by_time_.push_back(j);
            const ArrayEvent& a = r_.array_events[j];
            if (a.lba) {
                by_lba_[*a.lba].push_back(j);
                by_byte_[*a.byte_offset()].push_back(j);
            }
            have_ats_successes_ = have_ats_successes_ || a.kind == ArrayEventKind::ats_success;
        }
        const auto earlier = [this](size_t x, size_t y) {
            return r_.array_events[x].time < r_.array_events[y].time;
        };
        std::stable_sort(by_time_.begin(), by_time_.end(), earlier);
        for (auto& [key, list] : by_lba_) {
            std::stable_sort(list.begin(), list.end(), earlier);
        }
        for (auto& [key, list] : by_byte_) {
            std::stable_sort(list.begin(), list.end(), earlier);
        }
        for (size_t i = 0; i < r_.host_events.size(); ++i) {
            const HostEvent& e = r_.host_events[i];
            const bool heartbeat_line =
                e.kind == HostEventKind::hb_waiting_timed_out ||
                e.kind == HostEventKind::hb_recovered ||
                (e.kind == HostEventKind::ats_miscompare && e.subject == "heartbeat");
            if (heartbeat_line && e.offset) {
                heartbeat_lines_[e.host].emplace_back(i, *e.offset);
            }
        }
        host_entry_.resize(r_.host_events.size());
        array_matches_.resize(r_.array_events.size());
        used_by_miscompare_lines_.assign(r_.array_events.size(), false);
        used_by_scsi_lines_.assign(r_.array_events.size(), false);
    }

    void run() {
        estimate_skew();
        for (size_t i = 0; i < r_.host_events.size(); ++i) {
            match_host(i);
        }
        flag_array();
        build_timeline();
    }

  private:
    // --- keys --------------------------------------------------------------------------------

    Fit initiator_fits(const std::string& host, const std::string& initiator) const {
        if (host.empty() || host == "sim" || initiator.empty()) {
            return Fit::unknown;  // esxi-sim's own lines ("sim") belong to no host
        }
        const std::string iqn = lower(iqn_of(initiator));
        if (auto it = o_.host_initiators.find(host); it != o_.host_initiators.end()) {
            return lower(iqn_of(it->second)) == iqn ? Fit::yes : Fit::no;
        }
        // ESXi names its software iSCSI initiator after the host ("iqn.1998-01.com.vmware:
        // esx01-6a3c12f4"), esxi-sim exactly ("...:esx-01-1").
        const std::string name = lower(string_view(host).substr(0, host.find('.')));
        const size_t colon = iqn.rfind(':');
        const string_view tail =
            colon == std::string::npos ? string_view(iqn) : string_view(iqn).substr(colon + 1);
        if (tail == name) {
            return Fit::yes;
        }
        if (tail.size() > name.size() && tail.starts_with(name) &&
            (tail[name.size()] == '-' || tail[name.size()] == '.')) {
            return Fit::yes;
        }
        return Fit::no;
    }

    bool naa_fits(const HostEvent& h, const ArrayEvent& a) const {
        if (!h.scsi || h.scsi->device.empty() || a.device_naa.empty()) {
            return true;
        }
        return lower(h.scsi->device) == lower(a.device_naa);
    }

    bool has_place(const HostEvent& h) const { return h.lba.has_value() || h.offset.has_value(); }

    // The array events on the block the host event names, oldest first (empty when none).
    const std::vector<size_t>& at_place(const HostEvent& h) const {
        static const std::vector<size_t> none;
        if (h.lba) {
            auto it = by_lba_.find(*h.lba);
            return it == by_lba_.end() ? none : it->second;
        }
        if (h.offset) {
            auto it = by_byte_.find(o_.volume_base + *h.offset);
            return it == by_byte_.end() ? none : it->second;
        }
        return none;
    }

    std::string place_text(const HostEvent& h) const {
        if (h.lba) {
            return "LBA " + std::to_string(*h.lba);
        }
        std::string text = "offset " + std::to_string(h.offset.value_or(0));
        const auto& here = at_place(h);
        if (!here.empty()) {
            text += " (LBA " + std::to_string(*r_.array_events[here.front()].lba) + ")";
        }
        return text;
    }

    std::string host_text(const HostEvent& h) const {
        return h.host.empty() ? std::string("this host") : h.host;
    }

    std::optional<TimePoint> corrected(const HostEvent& h) const {
        if (!h.time) {
            return std::nullopt;
        }
        return *h.time - r_.skew;
    }

    // "within ±2000 ms of 10:23:45.123 (the host's time corrected by +1500 ms)".
    std::string around(TimePoint t) const {
        std::string text = "within ±" + std::to_string(o_.window.count()) + " ms of " + clock(t);
        if (r_.skew.count() != 0) {
            text += " (the host's time corrected by " + signed_ms(-r_.skew) + ")";
        }
        return text;
    }

    // Indexes of `list` (sorted by time) whose time lies in [from, to].
    template <typename Keep>
    std::vector<size_t> in_range(const std::vector<size_t>& list, TimePoint from, TimePoint to,
                                 Keep keep) const {
        auto first =
            std::lower_bound(list.begin(), list.end(), from,
                             [this](size_t j, TimePoint t) { return r_.array_events[j].time < t; });
        std::vector<size_t> out;
        for (auto it = first; it != list.end() && r_.array_events[*it].time <= to; ++it) {
            if (keep(r_.array_events[*it])) {
                out.push_back(*it);
            }
        }
        return out;
    }

    // The candidate nearest to `t`, if any.
    std::optional<size_t> nearest(const std::vector<size_t>& candidates, TimePoint t) const {
        std::optional<size_t> best;
        for (size_t j : candidates) {
            if (!best ||
                abs_ms(r_.array_events[j].time - t) < abs_ms(r_.array_events[*best].time - t)) {
                best = j;
            }
        }
        return best;
    }

    // --- the skew ----------------------------------------------------------------------------

    // Pairs of a host miscompare line and an array miscompare on the same block and initiator,
    // each the other's nearest by a clear margin (the next candidate on either side is more than
    // two windows farther): their median time difference is the host's clock minus the array's.
    void estimate_skew() {
        if (o_.skew) {
            r_.skew = *o_.skew;
            r_.skew_source = "given";
            r_.skew_note =
                "the skew " + signed_ms(r_.skew) + " (host clock minus array clock) was given";
            return;
        }
        struct Pair {
            size_t host;
            size_t array;
            milliseconds dt;
        };
        std::vector<Pair> candidates;
        for (size_t i = 0; i < r_.host_events.size(); ++i) {
            const HostEvent& h = r_.host_events[i];
            if (h.kind != HostEventKind::ats_miscompare || !h.time || !has_place(h)) {
                continue;
            }
            const auto found = in_range(at_place(h), *h.time - o_.max_skew, *h.time + o_.max_skew,
                                        [&](const ArrayEvent& a) {
                                            return a.kind == ArrayEventKind::miscompare &&
                                                   initiator_fits(h.host, a.initiator) != Fit::no;
                                        });
            for (size_t j : found) {
                candidates.push_back({i, j, *h.time - r_.array_events[j].time});
            }
        }
        const milliseconds margin = 2 * o_.window;
        // Nearest and second nearest per host event and per array event.
        std::unordered_map<size_t, std::vector<const Pair*>> by_host;
        std::unordered_map<size_t, std::vector<const Pair*>> by_array;
        for (const Pair& p : candidates) {
            by_host[p.host].push_back(&p);
            by_array[p.array].push_back(&p);
        }
        const auto clear_nearest = [margin](std::vector<const Pair*>& list) -> const Pair* {
            std::sort(list.begin(), list.end(),
                      [](const Pair* x, const Pair* y) { return abs_ms(x->dt) < abs_ms(y->dt); });
            if (list.size() > 1 && abs_ms(list[1]->dt) - abs_ms(list[0]->dt) <= margin) {
                return nullptr;
            }
            return list.front();
        };
        std::vector<milliseconds> differences;
        for (auto& [host, list] : by_host) {
            const Pair* best = clear_nearest(list);
            if (best == nullptr) {
                continue;
            }
            if (clear_nearest(by_array[best->array]) == best) {
                differences.push_back(best->dt);
            }
        }
        r_.skew_pairs = differences.size();
        if (differences.empty()) {
            r_.skew_source = "none";
            r_.skew_note =
                "no host miscompare pairs with an array miscompare without ambiguity: times are "
                "compared as logged (skew 0 ms)";
            return;
        }
        std::sort(differences.begin(), differences.end());
        const size_t n = differences.size();
        r_.skew =
            n % 2 == 1 ? differences[n / 2] : (differences[n / 2 - 1] + differences[n / 2]) / 2;
        r_.skew_source = "estimated";
        const std::string pairs = " (the median of " + std::to_string(n) +
                                  " unambiguous miscompare pair" + (n == 1 ? "" : "s") + ")";
        if (r_.skew.count() == 0) {
            r_.skew_note = "the host's clock agrees with the array's" + pairs;
        } else {
            r_.skew_note = "the host's clock is " + std::to_string(abs_ms(r_.skew).count()) +
                           " ms " + (r_.skew.count() > 0 ? "ahead of" : "behind") + " the array's" +
                           pairs;
        }
    }

    // --- matching ----------------------------------------------------------------------------

    void matched(size_t i, size_t j) {
        host_entry_[i].state = "matched";
        host_entry_[i].matches.push_back(j);
        array_matches_[j].push_back(i);
    }

    void match_host(size_t i) {
        const HostEvent& h = r_.host_events[i];
        TimelineEntry& entry = host_entry_[i];
        entry.side = TimelineEntry::Side::host;
        entry.index = i;
        entry.time = corrected(h);
        entry.state = "unmatched";
        if (!entry.time) {
            entry.explanation = "the line has no time: it is listed, not matched";
            return;
        }
        switch (h.kind) {
            case HostEventKind::ats_miscompare:
                match_miscompare_line(i, *entry.time);
                break;
            case HostEventKind::scsi_cmd_failed:
                match_scsi_failure(i, *entry.time);
                break;
            case HostEventKind::hb_waiting_timed_out:
                match_heartbeat_io_timeout(i, *entry.time);
                break;
            case HostEventKind::hb_timeout:
                match_heartbeat_lost(i, *entry.time);
                break;
            case HostEventKind::hb_recovered:
            case HostEventKind::lock_check:
                match_same_block(i, *entry.time);
                break;
        }
    }

    void match_miscompare_line(size_t i, TimePoint t) {
        const HostEvent& h = r_.host_events[i];
        const auto fits = [&](const ArrayEvent& a) {
            return initiator_fits(h.host, a.initiator) != Fit::no && naa_fits(h, a);
        };
        const std::vector<size_t>& list = has_place(h) ? at_place(h) : by_time_;
        const auto found = in_range(list, t - o_.window, t + o_.window, [&](const ArrayEvent& a) {
            return a.kind == ArrayEventKind::miscompare && fits(a);
        });
        std::vector<size_t> free;
        std::copy_if(found.begin(), found.end(), std::back_inserter(free),
                     [this](size_t j) { return !used_by_miscompare_lines_[j]; });
        if (auto j = nearest(free, t)) {
            used_by_miscompare_lines_[*j] = true;
            matched(i, *j);
            if (r_.array_events[*j].injected) {
                host_entry_[i].explanation = "the array injected this miscompare (a fault rule): " +
                                             r_.array_events[*j].message;
            }
            return;
        }
        std::string text =
            "the array answered no miscompare" +
            (has_place(h) ? " at " + place_text(h) : std::string(" to ") + host_text(h)) + " " +
            around(t) + ": ";
        const auto others = in_range(list, t - o_.window, t + o_.window, [&](const ArrayEvent& a) {
            return a.is_ats() && a.kind != ArrayEventKind::miscompare && fits(a);
        });
        if (!others.empty()) {
            text += "it answered " + std::to_string(others.size()) +
                    " other ATS there in that window, "
                    "none a miscompare";
        } else if (have_ats_successes_) {
            text += "it logged no ATS there in that window";
        } else {
            text +=
                "it logged no miscompare there in that window (the array's side holds no ATS "
                "successes to compare with)";
        }
        if (has_place(h)) {
            const auto farther =
                in_range(list, t - o_.max_skew, t + o_.max_skew, [&](const ArrayEvent& a) {
                    return a.kind == ArrayEventKind::miscompare && fits(a);
                });
            if (auto j = nearest(farther, t)) {
                const ArrayEvent& a = r_.array_events[*j];
                text +=
                    "; its nearest miscompare there was at " + clock(a.time) + ", " +
                    duration_text(std::chrono::duration_cast<microseconds>(abs_ms(a.time - t))) +
                    " away";
            }
        }
        host_entry_[i].explanation = text;
    }

    void match_scsi_failure(size_t i, TimePoint t) {
        const HostEvent& h = r_.host_events[i];
        const ScsiFailure& f = *h.scsi;
        ArrayEventKind want = ArrayEventKind::ats_error;
        std::string what;
        if (f.miscompare()) {
            want = ArrayEventKind::miscompare;
            what = "miscompare";
        } else if (f.aborted()) {
            want = ArrayEventKind::abort;
            what = "abort";
        } else if (f.reset()) {
            want = ArrayEventKind::reset;
            what = "reset";
        } else if (f.host_status == 0x1) {
            want = ArrayEventKind::logout;  // H:0x1 VMK_SCSI_HOST_NO_CONNECT
        } else if (f.opcode != 0x89) {
            return;  // a non-ATS command: nothing on the array's side names it
        }
        const auto found =
            in_range(by_time_, t - o_.window, t + o_.window, [&](const ArrayEvent& a) {
                return a.kind == want && initiator_fits(h.host, a.initiator) != Fit::no &&
                       naa_fits(h, a);
            });
        std::vector<size_t> free;
        std::copy_if(found.begin(), found.end(), std::back_inserter(free),
                     [this](size_t j) { return !used_by_scsi_lines_[j]; });
        if (auto j = nearest(free, t)) {
            used_by_scsi_lines_[*j] = true;
            matched(i, *j);
            return;
        }
        if (!what.empty()) {
            host_entry_[i].explanation = "the array logged no " + what +
                                         (what == "miscompare" ? " answered to " : " from ") +
                                         host_text(h) + " " + around(t);
        }
    }

    // The ATS that timed out was issued about host_io_timeout before the line; the array may have
    // answered it at once or only after the host gave up.
    void match_heartbeat_io_timeout(size_t i, TimePoint t) {
        const HostEvent& h = r_.host_events[i];
        const bool named =
            h.timeout_seconds && *h.timeout_seconds >= 0 && *h.timeout_seconds <= 86400;
        const milliseconds timeout =
            named ? milliseconds(static_cast<int64_t>(*h.timeout_seconds * 1000))
                  : o_.host_io_timeout;
        const TimePoint issued = t - timeout;
        const auto found =
            in_range(has_place(h) ? at_place(h) : by_time_, issued - o_.window,
                     t + timeout + o_.window, [&](const ArrayEvent& a) {
                         return a.is_ats() && initiator_fits(h.host, a.initiator) != Fit::no &&
                                (has_place(h) || initiator_fits(h.host, a.initiator) == Fit::yes);
                     });
        // The one whose arrival is nearest the ATS's issue.
        std::optional<size_t> best;
        milliseconds best_distance{};
        for (size_t j : found) {
            const ArrayEvent& a = r_.array_events[j];
            const TimePoint arrival = a.time - std::chrono::duration_cast<milliseconds>(
                                                   a.ats_duration.value_or(microseconds{}));
            const milliseconds distance = abs_ms(arrival - issued);
            if (!best || distance < best_distance) {
                best = j;
                best_distance = distance;
            }
        }
        // A fault rule that hit an ATS on this slot while the host waited decides the case.
        const auto faults = in_range(has_place(h) ? at_place(h) : by_time_, issued - o_.window, t,
                                     [&](const ArrayEvent& a) {
                                         return a.kind == ArrayEventKind::fault && a.lba &&
                                                initiator_fits(h.host, a.initiator) != Fit::no;
                                     });
        if (auto fault = nearest(faults, issued)) {
            matched(i, *fault);
            if (best) {
                matched(i, *best);
            }
            const ArrayEvent& a = r_.array_events[*fault];
            host_entry_[i].explanation = "the array's fault injection hit an ATS on this slot at " +
                                         clock(a.time) + " (" + a.message +
                                         "): the delay was injected on the array";
            return;
        }
        if (!best) {
            host_entry_[i].explanation =
                "the array logged no ATS on this slot from " + host_text(h) + " between " +
                clock(issued - o_.window) + " and " + clock(t + timeout + o_.window) +
                (have_ats_successes_
                     ? ": the command did not reach the array (the host or the network)"
                     : " (the array's side holds no ATS successes: only its miscompares are "
                       "known)");
            return;
        }
        matched(i, *best);
        host_entry_[i].explanation = answer_sentence(r_.array_events[*best], "on this slot");
    }

    std::string answer_sentence(const ArrayEvent& a, const std::string& where) const {
        if (!a.ats_duration) {
            return "the array logged an ATS " + where + " at " + clock(a.time) + " (" +
                   std::string(to_string(a.kind)) + "; how long it took is not known)";
        }
        if (*a.ats_duration <= o_.fast_answer) {
            return "the array answered the ATS " + where + " in " + duration_text(*a.ats_duration) +
                   " at " + clock(a.time) +
                   ": the delay is on the host or the network, not the array";
        }
        return "the array took " + duration_text(*a.ats_duration) + " to answer the ATS " + where +
               " (answered at " + clock(a.time) + "): the delay is in the array";
    }

    // The host's heartbeat slot: the offset its heartbeat lines name, the nearest one before.
    std::optional<uint64_t> heartbeat_slot_of(size_t i) const {
        auto it = heartbeat_lines_.find(r_.host_events[i].host);
        if (it == heartbeat_lines_.end()) {
            return std::nullopt;
        }
        const auto& lines = it->second;  // (index, offset) in line order
        auto after = std::upper_bound(lines.begin(), lines.end(), i,
                                      [](size_t k, const auto& line) { return k < line.first; });
        return after == lines.begin() ? lines.front().second : std::prev(after)->second;
    }

    // Heartbeat lost: what did the array do with this host's heartbeat ATS in the seconds before?
    void match_heartbeat_lost(size_t i, TimePoint t) {
        const HostEvent& h = r_.host_events[i];
        const std::optional<uint64_t> slot = heartbeat_slot_of(i);
        HostEvent probe;
        probe.offset = slot;
        // esxi-sim's line says how long it went without a heartbeat; ESXi's is 16 s.
        const bool named =
            h.timeout_seconds && *h.timeout_seconds >= 0 && *h.timeout_seconds <= 86400;
        const milliseconds lost_after =
            named ? milliseconds(static_cast<int64_t>(*h.timeout_seconds * 1000))
                  : o_.heartbeat_lost_after;
        const auto in_lost_window = [&](auto keep) {
            return in_range(slot ? at_place(probe) : by_time_, t - lost_after - o_.window,
                            t + o_.window, [&](const ArrayEvent& a) {
                                const Fit fit = initiator_fits(h.host, a.initiator);
                                return keep(a) && fit != Fit::no && (slot || fit == Fit::yes);
                            });
        };
        const auto found = in_lost_window([](const ArrayEvent& a) { return a.is_ats(); });
        const std::string where =
            slot ? "on this host's heartbeat slot (offset " + std::to_string(*slot) + ")"
                 : "from " + host_text(h);
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.1f s",
                      static_cast<double>(lost_after.count()) / 1000.0);
        const std::string span = seconds;
        const auto faults = in_lost_window(
            [](const ArrayEvent& a) { return a.kind == ArrayEventKind::fault && a.lba; });
        if (!faults.empty()) {
            for (size_t j : faults) {
                matched(i, j);
            }
            const ArrayEvent& last = r_.array_events[faults.back()];
            host_entry_[i].explanation =
                "the array's fault injection hit " + std::to_string(faults.size()) + " ATS " +
                where + " in the " + span + " before, the last at " + clock(last.time) + " (" +
                last.message + "): the delay was injected on the array";
            return;
        }
        if (found.empty()) {
            host_entry_[i].explanation =
                "the array logged no ATS " + where + " in the " + span + " before " + clock(t) +
                (have_ats_successes_ ? ": the heartbeat I/O did not reach the array (the host or "
                                       "the network)"
                                     : " (the array's side holds no ATS successes: only its "
                                       "miscompares are known)");
            return;
        }
        // The slowest answer decides whose delay it was.
        size_t slowest = found.front();
        for (size_t j : found) {
            if (r_.array_events[j].ats_duration.value_or(microseconds{}) >
                r_.array_events[slowest].ats_duration.value_or(microseconds{})) {
                slowest = j;
            }
        }
        for (size_t j : found) {
            matched(i, j);
        }
        const ArrayEvent& a = r_.array_events[slowest];
        if (!a.ats_duration) {
            host_entry_[i].explanation = "the array logged " + std::to_string(found.size()) +
                                         " ATS " + where + " in the " + span +
                                         " before (how long they took is not known)";
        } else if (*a.ats_duration <= o_.fast_answer) {
            host_entry_[i].explanation =
                "the array answered " + std::to_string(found.size()) + " ATS " + where +
                " in the " + span + " before, the slowest in " + duration_text(*a.ats_duration) +
                " at " + clock(a.time) + ": the delay is on the host or the network, not the array";
        } else {
            host_entry_[i].explanation = "the array took " + duration_text(*a.ats_duration) +
                                         " to answer an ATS " + where + " (answered at " +
                                         clock(a.time) + "): the delay is in the array";
        }
    }

    void match_same_block(size_t i, TimePoint t) {
        const HostEvent& h = r_.host_events[i];
        if (!has_place(h)) {
            return;
        }
        const bool recovered = h.kind == HostEventKind::hb_recovered;
        const auto found =
            in_range(at_place(h), t - o_.window, t + o_.window, [&](const ArrayEvent& a) {
                return (recovered ? a.kind == ArrayEventKind::ats_success : a.is_ats()) &&
                       initiator_fits(h.host, a.initiator) != Fit::no;
            });
        if (auto j = nearest(found, t)) {
            matched(i, *j);
        }
    }

    // --- the array's side --------------------------------------------------------------------

    void flag_array() {
        std::optional<TimePoint> first;
        std::optional<TimePoint> last;
        std::set<std::string> hosts;
        for (const TimelineEntry& e : host_entry_) {
            if (e.time) {
                first = first ? std::min(*first, *e.time) : *e.time;
                last = last ? std::max(*last, *e.time) : *e.time;
            }
        }
        for (const HostEvent& h : r_.host_events) {
            if (!h.host.empty() && h.host != "sim") {
                hosts.insert(h.host);
            }
        }
        array_entry_.resize(r_.array_events.size());
        for (size_t j = 0; j < r_.array_events.size(); ++j) {
            const ArrayEvent& a = r_.array_events[j];
            TimelineEntry& entry = array_entry_[j];
            entry.side = TimelineEntry::Side::array;
            entry.index = j;
            entry.time = a.time;
            entry.matches = array_matches_[j];
            if (!entry.matches.empty()) {
                entry.state = "matched";
                continue;
            }
            entry.state = "context";
            if (a.kind != ArrayEventKind::miscompare || !first || a.time < *first - o_.window ||
                a.time > *last + o_.window) {
                continue;
            }
            const bool ours = hosts.empty() || a.initiator.empty() ||
                              std::any_of(hosts.begin(), hosts.end(), [&](const std::string& host) {
                                  return initiator_fits(host, a.initiator) == Fit::yes;
                              });
            if (!ours) {
                continue;
            }
            entry.state = "unlogged";
            ++r_.array_unlogged_miscompares;
            std::string where =
                a.lba ? "LBA " + std::to_string(*a.lba) : std::string("an unknown block");
            if (a.lba && *a.byte_offset() >= o_.volume_base) {
                where +=
                    " (volume offset " + std::to_string(*a.byte_offset() - o_.volume_base) + ")";
            }
            entry.explanation =
                "the array answered a miscompare on " + where + " to " +
                std::string(iqn_of(a.initiator).empty() ? "an unnamed initiator"
                                                        : iqn_of(a.initiator)) +
                " at " + clock(a.time) + (a.injected ? " (injected by a fault rule)" : "") +
                "; no host line shows it within ±" + std::to_string(o_.window.count()) + " ms";
        }
    }

    void build_timeline() {
        // Host lines without a time sit after the timed line before them.
        struct Keyed {
            TimePoint key;
            int order;  // host lines before array events at the same instant: the host logs first
            TimelineEntry entry;
        };
        std::vector<Keyed> all;
        all.reserve(host_entry_.size() + array_entry_.size());
        TimePoint previous = TimePoint::min();
        for (TimelineEntry& e : host_entry_) {
            if (e.time) {
                previous = *e.time;
            }
            e.state == "matched" ? ++r_.host_matched : ++r_.host_unmatched;
            all.push_back({previous, 0, std::move(e)});
        }
        for (TimelineEntry& e : array_entry_) {
            all.push_back({*e.time, 1, std::move(e)});
        }
        std::stable_sort(all.begin(), all.end(), [](const Keyed& x, const Keyed& y) {
            return x.key < y.key || (x.key == y.key && x.order < y.order);
        });
        r_.timeline.reserve(all.size());
        for (Keyed& k : all) {
            r_.timeline.push_back(std::move(k.entry));
        }
    }

    JoinResult& r_;
    const JoinOptions& o_;
    std::vector<size_t> by_time_;
    std::unordered_map<uint64_t, std::vector<size_t>> by_lba_;
    std::unordered_map<uint64_t, std::vector<size_t>> by_byte_;
    bool have_ats_successes_ = false;
    // Per host, its heartbeat lines (index, slot offset) in line order: the slot a "lost access"
    // line is about.
    std::map<std::string, std::vector<std::pair<size_t, uint64_t>>, std::less<>> heartbeat_lines_;
    std::vector<TimelineEntry> host_entry_;
    std::vector<TimelineEntry> array_entry_;
    std::vector<std::vector<size_t>> array_matches_;
    // An array miscompare answers one miscompare line and one failed-command line of a host.
    std::vector<bool> used_by_miscompare_lines_;
    std::vector<bool> used_by_scsi_lines_;
};

}  // namespace

JoinResult join_logs(std::vector<HostEvent> host, std::vector<ArrayEvent> array,
                     const JoinOptions& options) {
    JoinResult result;
    result.host_events = std::move(host);
    result.array_events = std::move(array);
    Joiner(result, options).run();
    return result;
}

}  // namespace atsarray::forensics
