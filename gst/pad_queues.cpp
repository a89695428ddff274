#include "pad_queues.h"

namespace {

GstClockTime play_time(GstMiniObject *item) {
  if (!GST_IS_BUFFER(item)) return 0;
  GstClockTime duration = GST_BUFFER_DURATION(GST_BUFFER_CAST(item));
  return GST_CLOCK_TIME_IS_VALID(duration) ? duration : 0;
}

// The timestamp of the oldest buffer waiting in `items`.
GstClockTime oldest_pts(const std::deque<GstMiniObject *> &items) {
  for (GstMiniObject *item : items)
    if (GST_IS_BUFFER(item)) return GST_BUFFER_PTS(GST_BUFFER_CAST(item));
  return GST_CLOCK_TIME_NONE;
}

}  // namespace

PadQueues::PadQueues() = default;

PadQueues::~PadQueues() {
  clear();
}

size_t PadQueues::add(GstPad *pad) {
  std::lock_guard<std::mutex> guard(mutex_);
  queues_.push_back(Queue{pad, {}, 0, GST_CLOCK_TIME_NONE, GST_FLOW_OK});
  return queues_.size() - 1;
}

void PadQueues::clear() {
  std::lock_guard<std::mutex> guard(mutex_);
  for (auto &queue : queues_)
    for (GstMiniObject *item : queue.items) gst_mini_object_unref(item);
  queues_.clear();
  combined_ = GST_FLOW_OK;
}

bool PadQueues::accepts_locked(size_t index) const {
  const Queue &queue = queues_[index];
  if (queue.queued < kLimit) return true;
  const GstClockTime waiting_from = oldest_pts(queue.items);
  for (size_t i = 0; i < queues_.size(); ++i) {
    const Queue &sibling = queues_[i];
    if (i == index || !sibling.items.empty() || sibling.last != GST_FLOW_OK) continue;
    // Nothing yet since the start or the last seek: its first data may lie a whole GOP further on
    // (a fragmented MP4 writes each fragment's video before its sound). No bound: a bound here
    // could keep the pipeline from ever prerolling.
    if (!GST_CLOCK_TIME_IS_VALID(sibling.pushed_end)) return true;
    if (queue.queued < kHardLimit &&
        (!GST_CLOCK_TIME_IS_VALID(waiting_from) || sibling.pushed_end <= waiting_from))
      return true;
  }
  return false;
}

void PadQueues::new_segment() {
  std::lock_guard<std::mutex> guard(mutex_);
  for (auto &queue : queues_) queue.pushed_end = GST_CLOCK_TIME_NONE;
  cond_.notify_all();
}

bool PadQueues::accepts(size_t index) {
  std::lock_guard<std::mutex> guard(mutex_);
  return accepts_locked(index);
}

GstFlowReturn PadQueues::push(size_t index, GstMiniObject *item) {
  std::unique_lock<std::mutex> guard(mutex_);
  cond_.wait(guard, [&] { return flushing_ || combined_ != GST_FLOW_OK || accepts_locked(index); });
  if (flushing_) {
    gst_mini_object_unref(item);
    return GST_FLOW_FLUSHING;
  }
  Queue &queue = queues_[index];
  queue.queued += play_time(item);
  if (GST_IS_BUFFER(item) && GST_BUFFER_PTS_IS_VALID(GST_BUFFER_CAST(item)))
    queue.pushed_end = GST_BUFFER_PTS(GST_BUFFER_CAST(item)) + play_time(item);
  queue.items.push_back(item);
  cond_.notify_all();
  return combined_;
}

GstClockTime PadQueues::take_back_buffers(size_t index, GstClockTime held) {
  std::lock_guard<std::mutex> guard(mutex_);
  Queue &queue = queues_[index];
  GstClockTime earliest = held;
  std::deque<GstMiniObject *> kept;
  for (GstMiniObject *item : queue.items) {
    if (!GST_IS_BUFFER(item)) {
      kept.push_back(item);
      continue;
    }
    const GstClockTime pts = GST_BUFFER_PTS(GST_BUFFER_CAST(item));
    if (GST_CLOCK_TIME_IS_VALID(pts) && (!GST_CLOCK_TIME_IS_VALID(earliest) || pts < earliest))
      earliest = pts;
    queue.queued -= MIN(queue.queued, play_time(item));
    gst_mini_object_unref(item);
  }
  queue.items.swap(kept);
  if (GST_CLOCK_TIME_IS_VALID(earliest)) queue.pushed_end = earliest;
  cond_.notify_all();
  return earliest;
}

void PadQueues::set_flushing(bool flushing) {
  std::lock_guard<std::mutex> guard(mutex_);
  flushing_ = flushing;
  for (auto &queue : queues_) {
    for (GstMiniObject *item : queue.items) gst_mini_object_unref(item);
    queue.items.clear();
    queue.queued = 0;
    queue.pushed_end = GST_CLOCK_TIME_NONE;
    queue.last = GST_FLOW_OK;
  }
  if (!flushing) combined_ = GST_FLOW_OK;
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
  queues_[index].last = ret;
  combined_ = combine_locked(ret);
  cond_.notify_all();
}

GstFlowReturn PadQueues::combine_locked(GstFlowReturn ret) const {
  if (ret == GST_FLOW_OK || ret == GST_FLOW_FLUSHING || ret < GST_FLOW_EOS) return ret;
  bool all_eos = true, all_not_linked = true;
  for (const Queue &queue : queues_) {
    if (queue.last != GST_FLOW_EOS) all_eos = false;
    if (queue.last != GST_FLOW_NOT_LINKED) all_not_linked = false;
  }
  if (all_not_linked) return GST_FLOW_NOT_LINKED;
  if (all_eos) return GST_FLOW_EOS;
  return GST_FLOW_OK;
}
