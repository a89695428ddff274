#include "pad_queues.h"

namespace {

GstClockTime play_time(GstMiniObject *item) {
  if (!GST_IS_BUFFER(item)) return 0;
  GstClockTime duration = GST_BUFFER_DURATION(GST_BUFFER_CAST(item));
  return GST_CLOCK_TIME_IS_VALID(duration) ? duration : 0;
}

}  // namespace

PadQueues::PadQueues() : combiner_(gst_flow_combiner_new()) {}

PadQueues::~PadQueues() {
  clear();
  gst_flow_combiner_free(combiner_);
}

size_t PadQueues::add(GstPad *pad) {
  std::lock_guard<std::mutex> guard(mutex_);
  queues_.push_back(Queue{pad, {}, 0});
  gst_flow_combiner_add_pad(combiner_, pad);
  return queues_.size() - 1;
}

void PadQueues::clear() {
  std::lock_guard<std::mutex> guard(mutex_);
  for (auto &queue : queues_)
    for (GstMiniObject *item : queue.items) gst_mini_object_unref(item);
  queues_.clear();
  gst_flow_combiner_clear(combiner_);
  combined_ = GST_FLOW_OK;
}

bool PadQueues::sibling_empty(size_t index) const {
  for (size_t i = 0; i < queues_.size(); ++i)
    if (i != index && queues_[i].items.empty()) return true;
  return false;
}

GstFlowReturn PadQueues::push(size_t index, GstMiniObject *item) {
  std::unique_lock<std::mutex> guard(mutex_);
  cond_.wait(guard, [&] {
    const Queue &queue = queues_[index];
    return flushing_ || combined_ != GST_FLOW_OK || queue.queued < kLimit || sibling_empty(index);
  });
  if (flushing_) {
    gst_mini_object_unref(item);
    return GST_FLOW_FLUSHING;
  }
  Queue &queue = queues_[index];
  queue.queued += play_time(item);
  queue.items.push_back(item);
  cond_.notify_all();
  return combined_;
}

void PadQueues::set_flushing(bool flushing) {
  std::lock_guard<std::mutex> guard(mutex_);
  flushing_ = flushing;
  for (auto &queue : queues_) {
    for (GstMiniObject *item : queue.items) gst_mini_object_unref(item);
    queue.items.clear();
    queue.queued = 0;
  }
  if (!flushing) {
    gst_flow_combiner_reset(combiner_);
    combined_ = GST_FLOW_OK;
  }
  cond_.notify_all();
}

GstMiniObject *PadQueues::pop(size_t index) {
  std::unique_lock<std::mutex> guard(mutex_);
  cond_.wait(guard, [&] { return flushing_ || !queues_[index].items.empty(); });
  if (flushing_) return nullptr;
  Queue &queue = queues_[index];
  GstMiniObject *item = queue.items.front();
  queue.items.pop_front();
  queue.queued -= MIN(queue.queued, play_time(item));
  cond_.notify_all();
  return item;
}

void PadQueues::report(size_t index, GstFlowReturn ret) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (index >= queues_.size()) return;
  combined_ = gst_flow_combiner_update_pad_flow(combiner_, queues_[index].pad, ret);
  cond_.notify_all();
}
