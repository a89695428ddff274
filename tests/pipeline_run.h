// PipelineRun: parses a gst-launch description, plays it and records what tests look at: buffers
// reaching appsinks named sink*, and every bus message, until EOS, an error or a deadline. Also
// what tests read off a sink's pad besides buffers (SinkEvents: caps sizes, the TOC) and the
// chapters of a TOC.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace see2ai::test {

// What passes an appsink's sink pad besides buffers: the frame size of each caps event and the
// last table of contents (a demuxer or the element sends chapters as a TOC event).
struct SinkEvents {
  std::mutex lock;
  std::vector<std::string> sizes;  // "WxH" of each caps
  GstToc *toc = nullptr;
  SinkEvents() = default;
  SinkEvents(const SinkEvents &) = delete;
  SinkEvents &operator=(const SinkEvents &) = delete;
  ~SinkEvents();
  // Watches the sink pad of `sink`, an element of a pipeline that outlives this watch.
  void attach(GstElement *sink);
};

struct TocChapter {
  std::string title;
  gint64 start = -1, stop = -1;
};

// The chapters of a TOC in order, whether or not they sit under an edition.
std::vector<TocChapter> chapters_of(GstToc *toc);

struct SinkRecord {
  std::string caps;                     // caps of the first sample
  int width = 0, height = 0;            // of the first sample's caps
  int last_width = 0, last_height = 0;  // of the latest sample's caps
  int meta_mismatches = 0;              // samples whose GstVideoMeta size differs from their caps
  std::vector<GstClockTime> pts;
  std::vector<GstClockTime> durations;
  std::vector<bool> discont;
  uint64_t bytes = 0;
  GstClockTime first_sample_at = GST_CLOCK_TIME_NONE;  // gst_util_get_timestamp() clock
  GstClockTime last_sample_at = GST_CLOCK_TIME_NONE;
};

struct BusRecord {
  int errors = 0;
  int warnings = 0;
  std::vector<std::string> warning_texts;
  bool eos = false;
  bool segment_done = false;  // a segment seek's end (the run stops there, as at EOS)
  bool timed_out = false;
  GQuark error_domain = 0;
  int error_code = 0;
  std::string error_text;
  GstStructure *error_details = nullptr;            // owned copy, may be null
  std::vector<std::string> progress;                // "type:text"
  std::vector<GstStructure *> element_messages;     // owned copies
  std::vector<GstClockTime> element_message_times;  // GST_MESSAGE_TIMESTAMP of each
  ~BusRecord();
};

class PipelineRun {
 public:
  explicit PipelineRun(const std::string &description);
  ~PipelineRun();
  GstElement *pipeline() const { return pipeline_; }
  GstElement *by_name(const char *name) const;  // caller unrefs

  // Plays and waits for EOS, SEGMENT_DONE or the first error (or `timeout_s`), or until the appsink
  // named in stop_after() has received that many buffers.
  void play_to_end(double timeout_s = 120);
  // Goes to PAUSED and waits for the preroll (ASYNC_DONE); false on error or timeout.
  bool preroll(double timeout_s = 120);
  // Handles bus messages until an element message with this structure name has come (true) or
  // the run is over or `timeout_s` passes (false).
  bool wait_for_element_message(const std::string &name, double timeout_s = 60);
  // Handles bus messages until `done` holds (true), the run is over or `timeout_s` passes
  // (false).
  bool wait_for(const std::function<bool()> &done, double timeout_s = 60);
  void stop_after(const std::string &sink_name, size_t buffers);
  const SinkRecord &sink(const std::string &name) const;
  BusRecord bus;

 private:
  GstElement *pipeline_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, SinkRecord>> sinks_;
  std::string stop_sink_;
  size_t stop_buffers_ = 0;
  bool handle(GstMessage *msg);  // true when the run is over
  // Handles bus messages until `reached` says so for one (true), the run is over or `timeout_s`
  // passes (false).
  bool pump(double timeout_s, const std::function<bool(GstMessage *)> &reached);
  static GstFlowReturn on_sample(GstElement *appsink, gpointer user_data);
};

}  // namespace see2ai::test
