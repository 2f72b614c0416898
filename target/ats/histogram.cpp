#include "target/ats/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace atsarray::ats {

int Histogram::bucket_of(uint64_t micros) {
    if (micros < sub_buckets) {
        return static_cast<int>(micros);  // 0..3 µs: one bucket each
    }
    const int power = std::bit_width(micros) - 1;  // >= 2
    const auto sub = static_cast<int>((micros >> (power - 2)) & (sub_buckets - 1));
    const int bucket = (power - 1) * sub_buckets + sub;
    return std::min(bucket, bucket_count - 1);
}

uint64_t Histogram::lower_bound(int bucket) {
    if (bucket < sub_buckets) {
        return static_cast<uint64_t>(bucket);
    }
    const int power = bucket / sub_buckets + 1;
    const int sub = bucket % sub_buckets;
    return (uint64_t{1} << power) + (static_cast<uint64_t>(sub) << (power - 2));
}

void Histogram::record(uint64_t micros) {
    ++buckets_[static_cast<size_t>(bucket_of(micros))];
    ++count_;
    sum_ += micros;
    max_ = std::max(max_, micros);
}

void Histogram::merge(const Histogram& other) {
    for (size_t i = 0; i < buckets_.size(); ++i) {
        buckets_[i] += other.buckets_[i];
    }
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
}

Histogram Histogram::since(const Histogram& earlier) const {
    Histogram d = *this;
    for (size_t i = 0; i < buckets_.size(); ++i) {
        d.buckets_[i] -= std::min(d.buckets_[i], earlier.buckets_[i]);
    }
    d.count_ -= std::min(count_, earlier.count_);
    d.sum_ -= std::min(sum_, earlier.sum_);
    return d;
}

uint64_t Histogram::percentile_micros(double q) const {
    if (count_ == 0) {
        return 0;
    }
    const auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
    uint64_t seen = 0;
    for (int i = 0; i < bucket_count; ++i) {
        seen += buckets_[static_cast<size_t>(i)];
        if (seen >= std::max<uint64_t>(rank, 1)) {
            return std::min(max_, i + 1 < bucket_count ? lower_bound(i + 1) - 1 : max_);
        }
    }
    return max_;
}

}  // namespace atsarray::ats
