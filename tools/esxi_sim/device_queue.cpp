#include "tools/esxi_sim/device_queue.hpp"

#include <algorithm>

namespace atsarray::sim {

AdaptiveQueueDepth::AdaptiveQueueDepth(int max_depth, int qfull_sample_size, int qfull_threshold)
    : max_depth_(std::max(1, max_depth)),
      sample_size_(std::max(0, qfull_sample_size)),
      threshold_(std::max(1, qfull_threshold)),
      depth_(max_depth_),
      min_depth_(max_depth_) {}

bool AdaptiveQueueDepth::on_queue_full() {
    ++queue_full_;
    if (sample_size_ == 0) {
        return false;  // the algorithm is off (ESXi's default QFullSampleSize 0)
    }
    good_count_ = 0;
    if (++queue_full_count_ < sample_size_) {
        return false;
    }
    queue_full_count_ = 0;
    const int next = std::max(1, depth_ / 2);
    if (next == depth_) {
        return false;
    }
    depth_ = next;
    min_depth_ = std::min(min_depth_, depth_);
    ++halvings_;
    return true;
}

bool AdaptiveQueueDepth::on_good() {
    if (sample_size_ == 0 || depth_ >= max_depth_) {
        return false;
    }
    if (++good_count_ < threshold_) {
        return false;
    }
    good_count_ = 0;
    ++depth_;
    ++raises_;
    return true;
}

}  // namespace atsarray::sim
