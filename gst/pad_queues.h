// PadQueues: bounded hand-over of buffers and serialized events from the decoding task to one
// streaming task per source pad, so a sink blocked in preroll on one pad never starves the other.
#pragma once

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

  // Decoding side: queues `item` (takes it), waiting until accepts(index). Returns the combined
  // flow of all pads: anything but OK means stop decoding.
  GstFlowReturn push(size_t index, GstMiniObject *item);
  // True when push(index) would not wait: the queue holds less than kLimit of play time, or a
  // sibling is starving for data this stream's backlog does not cover yet: empty, still linked,
  // and either given nothing since the start or the last seek (no bound), or behind this queue's
  // oldest buffer in time (up to kHardLimit). That is how multiqueue avoids a preroll deadlock (a
  // sink holding this pad in preroll waits for the sibling's first buffer, further on in the
  // file) without letting an unlinked or fast sibling pull the whole clip into memory.
  bool accepts(size_t index);
  // A seek (flushing or not): what each pad had been given no longer says where it stands.
  void new_segment();
  // Takes back every buffer still queued for the pad (events stay, in order) and returns the
  // timestamp of the earliest one, or GST_CLOCK_TIME_NONE when none was queued. `held` is the
  // timestamp of a buffer taken back from the pad's task (already out of the queue, so earlier
  // than any queued), or GST_CLOCK_TIME_NONE.
  GstClockTime take_back_buffers(size_t index, GstClockTime held = GST_CLOCK_TIME_NONE);
  // Flushing: drops what is queued, wakes every waiter; pop() returns nullptr until unset.
  void set_flushing(bool flushing);

  // Pad task side: the next item (caller owns it), or nullptr when flushing.
  GstMiniObject *pop(size_t index);
  // Records the pad's last flow return, combined across pads as GstFlowCombiner does (any OK
  // keeps decoding; NOT_LINKED or EOS only once every pad says so; other errors at once), but
  // from the returns reported here, not the pads' own last ones: a pad task may report a push it
  // forgives (a transient not-linked) as OK.
  void report(size_t index, GstFlowReturn ret);

  static constexpr GstClockTime kLimit = GST_SECOND / 3;
  static constexpr GstClockTime kHardLimit = 3 * GST_SECOND;

 private:
  struct Queue {
    GstPad *pad;
    std::deque<GstMiniObject *> items;
    GstClockTime queued = 0;
    GstClockTime pushed_end = GST_CLOCK_TIME_NONE;  // end of the newest buffer queued so far
    GstFlowReturn last = GST_FLOW_OK;               // the pad's last push downstream
  };

  bool accepts_locked(size_t index) const;
  GstFlowReturn combine_locked(GstFlowReturn ret) const;

  std::mutex mutex_;
  std::condition_variable cond_;
  std::vector<Queue> queues_;
  GstFlowReturn combined_ = GST_FLOW_OK;
  bool flushing_ = false;
};
