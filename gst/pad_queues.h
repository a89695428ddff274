// PadQueues: bounded hand-over of buffers and serialized events from the decoding task to one
// streaming task per source pad, so a sink blocked in preroll on one pad never starves the other.
#pragma once

#include <gst/base/gstflowcombiner.h>
#include <gst/gst.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

class PadQueues {
 public:
  PadQueues();
  ~PadQueues();
  PadQueues(const PadQueues &) = delete;
  PadQueues &operator=(const PadQueues &) = delete;

  // Registers a pad (the caller keeps its reference) and returns its queue index.
  size_t add(GstPad *pad);
  // Drops every queue; the pads' tasks must be stopped.
  void clear();

  // Decoding side: queues `item` (takes it). Waits while this queue holds more than its limit of
  // play time, unless a sibling queue is empty (the way multiqueue avoids a preroll deadlock).
  // Returns the combined flow of all pads: anything but OK means stop decoding.
  GstFlowReturn push(size_t index, GstMiniObject *item);
  // Flushing: drops what is queued, wakes every waiter; pop() returns nullptr until unset.
  void set_flushing(bool flushing);

  // Pad task side: the next item (caller owns it), or nullptr when flushing.
  GstMiniObject *pop(size_t index);
  // Records the pad's last flow return, combined across pads with a GstFlowCombiner.
  void report(size_t index, GstFlowReturn ret);

 private:
  struct Queue {
    GstPad *pad;
    std::deque<GstMiniObject *> items;
    GstClockTime queued = 0;
  };
  static constexpr GstClockTime kLimit = GST_SECOND / 3;
  bool sibling_empty(size_t index) const;

  std::mutex mutex_;
  std::condition_variable cond_;
  std::vector<Queue> queues_;
  GstFlowCombiner *combiner_;
  GstFlowReturn combined_ = GST_FLOW_OK;
  bool flushing_ = false;
};
