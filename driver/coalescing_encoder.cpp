#include "driver/coalescing_encoder.h"

#include <torch/torch.h>

namespace vitfeat {

CoalescingEncoder::CoalescingEncoder(std::shared_ptr<const Encoder> inner)
    : inner_(std::move(inner)) {}

torch::Tensor CoalescingEncoder::forward(const torch::Tensor& x) const {
  auto request = std::make_shared<Request>();
  request->input = x;
  std::unique_lock<std::mutex> lock(mutex_);
  queue_.push_back(request);
  ++requests_;
  while (!request->done) {
    if (running_) {
      finished_.wait(lock);
      continue;
    }
    running_ = true;
    const Group group = takeGroup();
    lock.unlock();
    run(group);
    lock.lock();
    for (const auto& r : group) r->done = true;
    running_ = false;
    finished_.notify_all();
  }
  if (request->error) std::rethrow_exception(request->error);
  return request->output;
}

CoalescingEncoder::Group CoalescingEncoder::takeGroup() const {
  Group group;
  int64_t images = 0;
  for (auto it = queue_.begin(); it != queue_.end();) {
    const torch::Tensor& in = (*it)->input;
    const bool joins =
        group.empty() ||
        (in.dim() == 4 && in.sizes().slice(1) == group.front()->input.sizes().slice(1) &&
         in.scalar_type() == group.front()->input.scalar_type() &&
         images + in.size(0) <= kMaxMergedImages);
    if (!joins) {
      ++it;
      continue;
    }
    images += in.dim() > 0 ? in.size(0) : 0;
    group.push_back(*it);
    it = queue_.erase(it);
  }
  return group;
}

void CoalescingEncoder::run(const Group& group) const {
  ++innerCalls_;
  try {
    if (group.size() == 1) {
      group.front()->output = inner_->forward(group.front()->input);
    } else {
      std::vector<torch::Tensor> inputs;
      for (const auto& r : group) inputs.push_back(r->input);
      const torch::Tensor out = inner_->forward(torch::cat(inputs));
      int64_t offset = 0;
      for (const auto& r : group) {
        r->output = out.narrow(0, offset, r->input.size(0));
        offset += r->input.size(0);
      }
    }
  } catch (...) {
    for (const auto& r : group) r->error = std::current_exception();
  }
}

}  // namespace vitfeat
