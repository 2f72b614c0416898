#pragma once
// A latency histogram with log-linear buckets (HdrHistogram's shape, 4 sub-buckets per power of
// two from 1 µs to ~1 h): fixed size, mergeable, percentiles within 25 %. Not thread-safe by
// itself; the registry keeps one per shard.

#include <array>
#include <cstdint>

namespace atsarray::ats {

class Histogram {
  public:
    static constexpr int sub_buckets = 4;
    static constexpr int powers = 32;  // 2^32 µs ~ 71 minutes
    static constexpr int bucket_count = sub_buckets * powers;

    void record(uint64_t micros);
    void merge(const Histogram& other);
    // What was recorded since `earlier`, a snapshot of this histogram (a console tick). The
    // maximum stays the running maximum: percentiles of the difference are capped by it.
    Histogram since(const Histogram& earlier) const;

    uint64_t count() const { return count_; }
    uint64_t sum_micros() const { return sum_; }
    uint64_t max_micros() const { return max_; }
    double mean_micros() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
    // The upper bound of the bucket holding the q-quantile (0 < q <= 1); 0 when empty.
    uint64_t percentile_micros(double q) const;

    // Bucket i holds values in [lower_bound(i), lower_bound(i + 1)).
    static uint64_t lower_bound(int bucket);
    static int bucket_of(uint64_t micros);
    const std::array<uint64_t, bucket_count>& buckets() const { return buckets_; }

  private:
    std::array<uint64_t, bucket_count> buckets_{};
    uint64_t count_ = 0;
    uint64_t sum_ = 0;
    uint64_t max_ = 0;
};

}  // namespace atsarray::ats
