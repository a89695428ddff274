#include "pipeline_run.h"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include <stdexcept>

namespace see2ai::test {

BusRecord::~BusRecord() {
  if (error_details) gst_structure_free(error_details);
  for (auto *s : element_messages) gst_structure_free(s);
}

struct SinkContext {
  PipelineRun *run;
  std::string name;
};

PipelineRun::PipelineRun(const std::string &description) {
  GError *error = nullptr;
  pipeline_ = gst_parse_launch(description.c_str(), &error);
  if (!pipeline_ || error) {
    std::string message = error ? error->message : "unknown";
    g_clear_error(&error);
    throw std::runtime_error("cannot parse pipeline: " + message);
  }
  // Stamps each message when it is posted, on the posting thread.
  GstBus *bus_ = gst_element_get_bus(pipeline_);
  gst_bus_set_sync_handler(
      bus_,
      [](GstBus *, GstMessage *msg, gpointer) {
        if (!GST_CLOCK_TIME_IS_VALID(GST_MESSAGE_TIMESTAMP(msg)))
          GST_MESSAGE_TIMESTAMP(msg) = gst_util_get_timestamp();
        return GST_BUS_PASS;
      },
      nullptr, nullptr);
  gst_object_unref(bus_);
  GstIterator *it = gst_bin_iterate_recurse(GST_BIN(pipeline_));
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
    GstElement *element = GST_ELEMENT(g_value_get_object(&item));
    if (GST_IS_APP_SINK(element)) {
      gchar *name = gst_element_get_name(element);
      sinks_.emplace_back(name, SinkRecord{});
      auto *context = new SinkContext{this, name};
      g_free(name);
      g_object_set(element, "emit-signals", TRUE, "sync", FALSE, nullptr);
      g_signal_connect_data(
          element, "new-sample", G_CALLBACK(on_sample), context,
          [](gpointer data, GClosure *) { delete static_cast<SinkContext *>(data); },
          static_cast<GConnectFlags>(0));
    }
    g_value_reset(&item);
  }
  g_value_unset(&item);
  gst_iterator_free(it);
}

PipelineRun::~PipelineRun() {
  if (pipeline_) {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(pipeline_);
  }
}

GstElement *PipelineRun::by_name(const char *name) const {
  return gst_bin_get_by_name(GST_BIN(pipeline_), name);
}

GstFlowReturn PipelineRun::on_sample(GstElement *appsink, gpointer user_data) {
  auto *context = static_cast<SinkContext *>(user_data);
  GstSample *sample = gst_app_sink_pull_sample(GST_APP_SINK(appsink));
  if (!sample) return GST_FLOW_OK;
  GstBuffer *buffer = gst_sample_get_buffer(sample);
  std::lock_guard<std::mutex> guard(context->run->mutex_);
  for (auto &[name, record] : context->run->sinks_) {
    if (name != context->name) continue;
    if (record.caps.empty()) {
      GstCaps *caps = gst_sample_get_caps(sample);
      gchar *text = gst_caps_to_string(caps);
      record.caps = text;
      g_free(text);
      GstStructure *s = gst_caps_get_structure(caps, 0);
      gst_structure_get_int(s, "width", &record.width);
      gst_structure_get_int(s, "height", &record.height);
    }
    GstStructure *current = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
    gst_structure_get_int(current, "width", &record.last_width);
    gst_structure_get_int(current, "height", &record.last_height);
    if (GstVideoMeta *meta = gst_buffer_get_video_meta(buffer))
      if (static_cast<int>(meta->width) != record.last_width ||
          static_cast<int>(meta->height) != record.last_height)
        ++record.meta_mismatches;
    record.last_sample_at = gst_util_get_timestamp();
    if (record.pts.empty()) record.first_sample_at = record.last_sample_at;
    record.pts.push_back(GST_BUFFER_PTS(buffer));
    record.durations.push_back(GST_BUFFER_DURATION(buffer));
    record.discont.push_back(GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DISCONT));
    record.bytes += gst_buffer_get_size(buffer);
    if (name == context->run->stop_sink_ && record.pts.size() == context->run->stop_buffers_)
      gst_element_post_message(
          appsink,
          gst_message_new_application(GST_OBJECT(appsink), gst_structure_new_empty("enough")));
  }
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

const SinkRecord &PipelineRun::sink(const std::string &name) const {
  for (auto &[n, record] : sinks_)
    if (n == name) return record;
  throw std::runtime_error("no appsink named " + name);
}

void PipelineRun::stop_after(const std::string &sink_name, size_t buffers) {
  stop_sink_ = sink_name;
  stop_buffers_ = buffers;
}

bool PipelineRun::handle(GstMessage *msg) {
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_EOS:
      bus.eos = true;
      return true;
    case GST_MESSAGE_SEGMENT_DONE:
      bus.segment_done = true;
      return true;
    case GST_MESSAGE_APPLICATION:
      return true;
    case GST_MESSAGE_ERROR: {
      GError *error = nullptr;
      gst_message_parse_error(msg, &error, nullptr);
      if (bus.errors++ == 0) {
        bus.error_domain = error->domain;
        bus.error_code = error->code;
        bus.error_text = error->message;
        const GstStructure *details = nullptr;
        gst_message_parse_error_details(msg, &details);
        if (details) bus.error_details = gst_structure_copy(details);
      }
      g_error_free(error);
      return true;
    }
    case GST_MESSAGE_WARNING: {
      bus.warnings++;
      GError *error = nullptr;
      gst_message_parse_warning(msg, &error, nullptr);
      bus.warning_texts.push_back(error ? error->message : "");
      if (error) g_error_free(error);
      return false;
    }
    case GST_MESSAGE_PROGRESS: {
      GstProgressType type;
      gchar *code = nullptr, *text = nullptr;
      gst_message_parse_progress(msg, &type, &code, &text);
      static const char *names[] = {"start", "continue", "complete", "canceled", "error"};
      bus.progress.push_back(std::string(names[type]) + ":" + (text ? text : ""));
      g_free(code);
      g_free(text);
      return false;
    }
    case GST_MESSAGE_ELEMENT:
      if (gst_message_get_structure(msg)) {
        bus.element_messages.push_back(gst_structure_copy(gst_message_get_structure(msg)));
        bus.element_message_times.push_back(GST_MESSAGE_TIMESTAMP(msg));
      }
      return false;
    default:
      return false;
  }
}

bool PipelineRun::pump(double timeout_s, const std::function<bool(GstMessage *)> &reached) {
  GstBus *bus_ = gst_element_get_bus(pipeline_);
  gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout_s * G_USEC_PER_SEC);
  bool done = false;
  while (!done) {
    gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0) {
      bus.timed_out = true;
      break;
    }
    GstMessage *msg = gst_bus_timed_pop(bus_, static_cast<GstClockTime>(left) * GST_USECOND);
    if (!msg) continue;
    const bool over = handle(msg);
    done = reached(msg);
    gst_message_unref(msg);
    if (over) break;
  }
  gst_object_unref(bus_);
  return done;
}

bool PipelineRun::preroll(double timeout_s) {
  gst_element_set_state(pipeline_, GST_STATE_PAUSED);
  return pump(timeout_s, [this](GstMessage *msg) {
    return GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ASYNC_DONE &&
           GST_MESSAGE_SRC(msg) == GST_OBJECT(pipeline_);
  });
}

bool PipelineRun::wait_for_element_message(const std::string &name, double timeout_s) {
  auto seen = [&] {
    for (auto *s : bus.element_messages)
      if (gst_structure_has_name(s, name.c_str())) return true;
    return false;
  };
  return seen() || pump(timeout_s, [&](GstMessage *) { return seen(); });
}

bool PipelineRun::wait_for(const std::function<bool()> &done, double timeout_s) {
  // Checked every 20 ms too: what it waits for (buffers at a sink) may come without a message.
  GstBus *bus_ = gst_element_get_bus(pipeline_);
  const gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout_s * G_USEC_PER_SEC);
  bool reached = done();
  while (!reached && g_get_monotonic_time() < deadline) {
    GstMessage *msg = gst_bus_timed_pop(bus_, 20 * GST_MSECOND);
    bool over = false;
    if (msg) {
      over = handle(msg);
      gst_message_unref(msg);
    }
    reached = done();
    if (over) break;
  }
  gst_object_unref(bus_);
  return reached;
}

void PipelineRun::play_to_end(double timeout_s) {
  // A state change that fails leaves its error on the bus: it is collected below.
  gst_element_set_state(pipeline_, GST_STATE_PLAYING);
  pump(timeout_s, [](GstMessage *) { return false; });
  GstBus *bus_ = gst_element_get_bus(pipeline_);
  // A second error right after the first would be a double report: drain and count them.
  while (GstMessage *msg = gst_bus_pop_filtered(bus_, GST_MESSAGE_ERROR)) {
    bus.errors++;
    gst_message_unref(msg);
  }
  gst_object_unref(bus_);
}

SinkEvents::~SinkEvents() {
  if (toc) gst_toc_unref(toc);
}

void SinkEvents::attach(GstElement *sink) {
  GstPad *pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      [](GstPad *, GstPadProbeInfo *info, gpointer data) {
        auto *self = static_cast<SinkEvents *>(data);
        GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
        std::lock_guard<std::mutex> guard(self->lock);
        if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
          GstCaps *caps = nullptr;
          gst_event_parse_caps(event, &caps);
          int width = 0, height = 0;
          gst_structure_get_int(gst_caps_get_structure(caps, 0), "width", &width);
          gst_structure_get_int(gst_caps_get_structure(caps, 0), "height", &height);
          self->sizes.push_back(std::to_string(width) + "x" + std::to_string(height));
        } else if (GST_EVENT_TYPE(event) == GST_EVENT_TOC) {
          GstToc *received = nullptr;
          gst_event_parse_toc(event, &received, nullptr);
          if (self->toc) gst_toc_unref(self->toc);
          self->toc = received;
        }
        return GST_PAD_PROBE_OK;
      },
      this, nullptr);
  gst_object_unref(pad);
}

std::vector<TocChapter> chapters_of(GstToc *toc) {
  std::vector<TocChapter> chapters;
  std::vector<GstTocEntry *> pending;
  for (GList *l = gst_toc_get_entries(toc); l; l = l->next)
    pending.push_back(static_cast<GstTocEntry *>(l->data));
  for (size_t i = 0; i < pending.size(); ++i) {
    GstTocEntry *entry = pending[i];
    if (gst_toc_entry_get_entry_type(entry) != GST_TOC_ENTRY_TYPE_CHAPTER) {
      for (GList *l = gst_toc_entry_get_sub_entries(entry); l; l = l->next)
        pending.push_back(static_cast<GstTocEntry *>(l->data));
      continue;
    }
    TocChapter chapter;
    gst_toc_entry_get_start_stop_times(entry, &chapter.start, &chapter.stop);
    const GstTagList *tags = gst_toc_entry_get_tags(entry);
    gchar *title = nullptr;
    if (tags && gst_tag_list_get_string(tags, GST_TAG_TITLE, &title)) chapter.title = title;
    g_free(title);
    chapters.push_back(chapter);
  }
  return chapters;
}

}  // namespace see2ai::test
