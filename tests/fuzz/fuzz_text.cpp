// libFuzzer harness for the login text path: parse_text on the raw bytes, then the same bytes cut
// into a sequence of Login Requests driving a LoginNegotiation.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "target/iscsi/login_negotiation.hpp"
#include "target/iscsi/text.hpp"

namespace {

using namespace atsarray::iscsi;

class FuzzDirectory : public TargetDirectory {
  public:
    FuzzDirectory() {
        open_.name = "iqn.2024-01.fuzz:open";
        open_.alias = "open";
        chap_.name = "iqn.2024-01.fuzz:chap";
        chap_.chap = ChapSecret{"user", "initiator-secret"};
        chap_.mutual_chap = ChapSecret{"target", "target-secret-x"};
        chap_.allowed_initiators = {"iqn.2024-01.fuzz:initiator"};
    }
    std::shared_ptr<const TargetInfo> find(std::string_view name) const override {
        // Not owned: the directory holds both.
        if (name == open_.name) {
            return {std::shared_ptr<const TargetInfo>(), &open_};
        }
        if (name == chap_.name) {
            return {std::shared_ptr<const TargetInfo>(), &chap_};
        }
        return nullptr;
    }

  private:
    TargetInfo open_;
    TargetInfo chap_;
};

void check_values(const std::vector<TextKey>& keys) {
    for (const TextKey& k : keys) {
        std::vector<uint8_t> binary;
        if (!decode_binary(k.value, binary, max_chap_challenge_length)) {
            std::vector<uint8_t> again;
            if (decode_binary(encode_hex(binary), again) || again != binary) {
                std::abort();
            }
        }
        uint64_t n = 0;
        (void)parse_number(k.value, 0, UINT64_MAX, n);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> input(data, size);

    // 1. The whole input as one data segment; a parsed segment re-serializes to the same keys.
    std::vector<TextKey> keys;
    if (!parse_text(input, keys)) {
        check_values(keys);
        std::vector<uint8_t> serialized;
        for (const TextKey& k : keys) {
            append_key(serialized, k.key, k.value);
        }
        std::vector<TextKey> reparsed;
        if (parse_text(serialized, reparsed) || reparsed.size() != keys.size()) {
            std::abort();
        }
        // Splitting and joining gives the same bytes back.
        TextAccumulator accumulator;
        for (auto chunk : split_text(serialized, 1 + size % 97)) {
            if (accumulator.append(chunk)) {
                std::abort();
            }
        }
        if (accumulator.take() != serialized) {
            std::abort();
        }
    }

    // 2. Requests: [flags][length][length bytes of text] repeated. flags: bits 0-1 CSG,
    //    bits 2-3 NSG, bit 4 T, bit 5 version_min=1.
    static const FuzzDirectory directory;
    TargetLimits limits;
    limits.immediate_data = (size & 1) != 0;
    limits.max_burst_length = (size & 2) != 0 ? 65536 : 1048576;
    LoginNegotiation login(directory, limits, ChapSecret{"disco", "discovery-secret"});
    std::size_t pos = 0;
    while (pos + 2 <= size && !login.complete() && !login.failed()) {
        const uint8_t flags = data[pos];
        const std::size_t length = std::min<std::size_t>(data[pos + 1] * 4, size - pos - 2);
        pos += 2;
        LoginRequestView request;
        request.csg = flags & 3;
        request.nsg = (flags >> 2) & 3;
        request.transit = (flags & 0x10) != 0;
        request.version_min = (flags & 0x20) != 0 ? 1 : 0;
        const LoginStep step = [&] {
            if (auto ec = parse_text(input.subspan(pos, length), request.keys)) {
                return login_failure(ec);
            }
            return login.step(request);
        }();
        pos += length;
        std::vector<TextKey> response;
        if (parse_text(step.text, response)) {
            std::abort();  // the target's own text must always parse
        }
        if (step.failed()) {
            break;
        }
    }
    if (login.complete()) {
        SessionParams params = login.params();
        if (params.first_burst_length > params.max_burst_length) {
            std::abort();
        }
        std::vector<uint8_t> response;
        (void)negotiate_ffp_keys(keys, params, response);
    }
    return 0;
}
