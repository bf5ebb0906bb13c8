// CoalescingEncoder: concurrent model calls merged into one batch, each caller
// getting exactly its own rows, errors going to the callers whose batch failed.
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "driver/coalescing_encoder.h"
#include "tests/support/catch_torch.h"

using vitfeat::CoalescingEncoder;
using vitfeat::Encoder;
using vitfeat::EncoderInfo;

namespace {

// out[b, i, j, d] = mean(x[b]) + 10 i + 100 j + 1000 d on a 2 x 2 grid of 3
// features; slow, so that callers arriving meanwhile queue up; throws when an
// input holds -999.
class SlowEncoder final : public Encoder {
 public:
  SlowEncoder() {
    info_.in_chans = 3;
    info_.patch_size = 16;
    info_.embed_dim = 3;
    info_.dynamic_input = true;
  }
  const EncoderInfo& info() const override { return info_; }
  torch::Tensor forward(const torch::Tensor& x) const override {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      batches.push_back(x.size(0));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    if ((x == -999).any().item<bool>()) throw std::runtime_error("inner failure");
    const torch::Tensor mean = x.mean({1, 2, 3}).view({-1, 1, 1, 1});
    const torch::Tensor i = torch::arange(2).view({1, 2, 1, 1}) * 10;
    const torch::Tensor j = torch::arange(2).view({1, 1, 2, 1}) * 100;
    const torch::Tensor d = torch::arange(3).view({1, 1, 1, 3}) * 1000;
    return (mean + i + j + d).to(torch::kFloat32).contiguous();
  }
  std::vector<int64_t> recorded() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return batches;
  }

 private:
  EncoderInfo info_;
  mutable std::mutex mutex_;
  mutable std::vector<int64_t> batches;
};

torch::Tensor expected(const torch::Tensor& x) {
  torch::Tensor out = torch::empty({x.size(0), 2, 2, 3});
  for (int64_t b = 0; b < x.size(0); ++b)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        for (int d = 0; d < 3; ++d)
          out[b][i][j][d] = x[b].mean().item<float>() + 10 * i + 100 * j + 1000 * d;
  return out;
}

// Runs calls[k]() on thread k, all released at once.
void together(const std::vector<std::function<void()>>& calls) {
  std::mutex m;
  std::condition_variable go;
  bool open = false;
  std::vector<std::thread> threads;
  for (const auto& call : calls)
    threads.emplace_back([&, call] {
      {
        std::unique_lock<std::mutex> lock(m);
        go.wait(lock, [&] { return open; });
      }
      call();
    });
  {
    const std::lock_guard<std::mutex> lock(m);
    open = true;
  }
  go.notify_all();
  for (auto& t : threads) t.join();
}

}  // namespace

TEST_CASE("coalescing: concurrent calls are merged and each gets its own rows", "[coalescing]") {
  auto inner = std::make_shared<SlowEncoder>();
  const CoalescingEncoder merged(inner);
  constexpr int kCallers = 6;
  std::vector<torch::Tensor> inputs, outputs(kCallers);
  for (int k = 0; k < kCallers; ++k) inputs.push_back(torch::full({2, 3, 32, 32}, 1.0f + k));
  std::vector<std::function<void()>> calls;
  for (int k = 0; k < kCallers; ++k)
    calls.push_back([&, k] { outputs[k] = merged.forward(inputs[k]); });
  together(calls);
  for (int k = 0; k < kCallers; ++k) {
    INFO("caller " << k);
    REQUIRE(outputs[k].sizes() == torch::IntArrayRef({2, 2, 2, 3}));
    CHECK(torch::allclose(outputs[k], expected(inputs[k])));
  }
  CHECK(merged.requests() == kCallers);
  // The first call runs alone; the callers that arrive while it runs share one.
  INFO("inner calls: " << merged.innerCalls());
  CHECK(merged.innerCalls() < kCallers);
  CHECK(merged.innerCalls() == inner->recorded().size());
}

TEST_CASE("coalescing: only inputs of one size are merged, up to the cap", "[coalescing]") {
  auto inner = std::make_shared<SlowEncoder>();
  const CoalescingEncoder merged(inner);
  const torch::Tensor small = torch::full({40, 3, 32, 32}, 2.0f),
                      large = torch::full({1, 3, 64, 64}, 3.0f),
                      alone =
                          torch::full({CoalescingEncoder::kMaxMergedImages + 6, 3, 32, 32}, 4.0f);
  std::vector<torch::Tensor> out(5);
  together({[&] { out[0] = merged.forward(small); }, [&] { out[1] = merged.forward(small); },
            [&] { out[2] = merged.forward(large); }, [&] { out[3] = merged.forward(small); },
            [&] { out[4] = merged.forward(alone); }});
  for (const int k : {0, 1, 3}) CHECK(torch::allclose(out[k], expected(small)));
  CHECK(out[2].sizes() == torch::IntArrayRef({1, 2, 2, 3}));
  CHECK(out[4].size(0) == CoalescingEncoder::kMaxMergedImages + 6);
  for (const int64_t b : inner->recorded()) {
    INFO("batch of " << b);
    CHECK(
        (b <= CoalescingEncoder::kMaxMergedImages || b == CoalescingEncoder::kMaxMergedImages + 6));
  }
}

TEST_CASE("coalescing: a failed batch fails its callers only", "[coalescing]") {
  auto inner = std::make_shared<SlowEncoder>();
  const CoalescingEncoder merged(inner);
  // The first call is alone; whatever merges after it, the bad input's batch
  // fails for every caller in it and the others succeed.
  std::atomic<int> failed{0}, succeeded{0};
  std::vector<std::function<void()>> calls;
  for (int k = 0; k < 4; ++k)
    calls.push_back([&, k] {
      try {
        const torch::Tensor x = torch::full({1, 3, 32, 32}, k == 2 ? -999.0f : 1.0f);
        const torch::Tensor y = merged.forward(x);
        if (torch::allclose(y, expected(x))) ++succeeded;
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "inner failure") ++failed;
      }
    });
  together(calls);
  CHECK(failed >= 1);
  CHECK(failed + succeeded == 4);
  // Alone, a good input still works after a failure.
  const torch::Tensor x = torch::full({1, 3, 32, 32}, 5.0f);
  CHECK(torch::allclose(merged.forward(x), expected(x)));
}
