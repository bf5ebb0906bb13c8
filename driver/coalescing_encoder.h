// Model calls from several dataset handles merged into larger batches. While
// the model runs one call, the calls that arrive meanwhile queue up; the next
// caller to run takes every queued call of the same image size (up to
// kMaxMergedImages images), runs them as one batch and hands each caller its
// own rows. On a GPU a few large batches keep it busier than many small ones
// (QGIS renders with one handle per thread). On the CPU the model calls take
// turns before they get here (cpu_turn.h), so nothing is merged there unless
// VITFEAT_CPU_LOCK=NO.
//
// A tile's features may differ from those of a call of its own in the last
// bits: kernels round differently for other batch sizes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>

#include "models/encoder.h"

namespace vitfeat {

class CoalescingEncoder final : public Encoder {
 public:
  static constexpr int64_t kMaxMergedImages = 64;

  explicit CoalescingEncoder(std::shared_ptr<const Encoder> inner);

  const EncoderInfo& info() const override { return inner_->info(); }
  // The inner encoder's forward of x, possibly run in one batch with other
  // callers' inputs; its exception, if it throws, goes to every caller of that batch.
  torch::Tensor forward(const torch::Tensor& x) const override;

  // Calls made to the inner encoder, and calls received.
  uint64_t innerCalls() const { return innerCalls_; }
  uint64_t requests() const { return requests_; }

 private:
  struct Request {
    torch::Tensor input;
    torch::Tensor output;
    std::exception_ptr error;
    bool done = false;
  };
  using Group = std::vector<std::shared_ptr<Request>>;
  Group takeGroup() const;             // requires mutex_ held
  void run(const Group& group) const;  // fills outputs or errors, without mutex_

  const std::shared_ptr<const Encoder> inner_;
  mutable std::mutex mutex_;
  mutable std::condition_variable finished_;
  mutable std::deque<std::shared_ptr<Request>> queue_;
  mutable bool running_ = false;
  mutable std::atomic<uint64_t> innerCalls_{0};
  mutable std::atomic<uint64_t> requests_{0};
};

}  // namespace vitfeat
