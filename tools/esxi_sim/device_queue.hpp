#pragma once
// ESXi's per-device queue (DQLEN) with its adaptive queue depth (VMware KB 1008113 and KB
// 1010922, "Controlling LUN queue depth throttling"): "When the number of QUEUE FULL or BUSY
// conditions reaches the QFullSampleSize value, the LUN queue depth reduces to half of the
// original value. When the number of good status conditions received reaches the
// QFullThreshold value, the LUN queue depth increases one at a time." QFullSampleSize is 0..64
// (0, ESXi's default, turns the algorithm off) and QFullThreshold 1..16 (at most
// QFullSampleSize); the KB names 32 for QFullSampleSize on a NetApp array. KB 311232 says the
// same of ESXi 7 and 8. The simulator's defaults (--qfull-sample-size 32, --qfull-threshold 8)
// turn it on: 32 is the KB's value, 8 is ours (the KB's NetApp threshold is cut off in our copy).
//
// Read here as: BUSY/TASK SET FULL answers are counted until QFullSampleSize, then the depth
// halves (at least 1) and both counts restart; while below the configured DQLEN every
// QFullThreshold good answers raise it by one.

#include <cstdint>

namespace atsarray::sim {

class AdaptiveQueueDepth {
  public:
    AdaptiveQueueDepth(int max_depth, int qfull_sample_size, int qfull_threshold);

    int depth() const { return depth_; }
    int max_depth() const { return max_depth_; }
    int min_depth_seen() const { return min_depth_; }
    uint64_t queue_full_answers() const { return queue_full_; }
    uint64_t halvings() const { return halvings_; }
    uint64_t raises() const { return raises_; }

    // Each returns true when the depth changed.
    bool on_queue_full();
    bool on_good();

  private:
    int max_depth_;
    int sample_size_;
    int threshold_;
    int depth_;
    int min_depth_;
    int queue_full_count_ = 0;
    int good_count_ = 0;
    uint64_t queue_full_ = 0;
    uint64_t halvings_ = 0;
    uint64_t raises_ = 0;
};

}  // namespace atsarray::sim
