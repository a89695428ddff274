#include "output_pads.h"

#include "frame_buffers.h"

GST_DEBUG_CATEGORY_EXTERN(gst_see2ai_video_src_debug);
#define GST_CAT_DEFAULT gst_see2ai_video_src_debug

using see2ai::MediaError;
using see2ai::StreamKind;

namespace {

GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE("{ I420, Y42B, Y444, NV12, I420_10LE, I422_10LE, "
                                        "Y444_10LE, P010_10LE, GRAY8, RGB, RGBA, BGRA }")));
GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS("audio/x-raw, format = (string) { F32LE, S16LE, S32LE, F64LE, U8 }, "
                    "layout = (string) interleaved, rate = (int) [ 1, MAX ], "
                    "channels = (int) [ 1, 8 ]"));

// One shape for both kinds of stream: the GStreamer description of a decoder stream, whether two
// descriptions are the same, and their caps.
bool info_from_stream(const see2ai::VideoStreamInfo &stream, GstVideoInfo *info) {
  return video_info_from_stream(stream, info);
}
bool info_from_stream(const see2ai::AudioStreamInfo &stream, GstAudioInfo *info) {
  return audio_info_from_stream(stream, info);
}
// A zeroed description (no caps sent yet) equals nothing.
bool same_info(const GstVideoInfo *a, const GstVideoInfo *b) {
  return a->finfo && b->finfo && gst_video_info_is_equal(a, b);
}
bool same_info(const GstAudioInfo *a, const GstAudioInfo *b) {
  return a->finfo && b->finfo && gst_audio_info_is_equal(a, b);
}
GstCaps *info_caps(const GstVideoInfo *info) {
  return gst_video_info_to_caps(info);
}
GstCaps *info_caps(const GstAudioInfo *info) {
  return gst_audio_info_to_caps(info);
}
const char *kind_name(const GstVideoInfo *) {
  return "video";
}
const char *kind_name(const GstAudioInfo *) {
  return "audio";
}

// Takes `stream` as the stream's description; the caps when they differ from the current ones,
// else nullptr.
template <typename Stream, typename Info>
GstCaps *caps_for(Stream &current_stream, Info &current_info, const Stream &stream) {
  Info next;
  if (!info_from_stream(stream, &next))
    throw MediaError(true,
                     std::string("the clip's ") + kind_name(&next) + " format is not supported");
  current_stream = stream;
  if (same_info(&next, &current_info)) return nullptr;
  current_info = next;
  return info_caps(&next);
}

}  // namespace

void OutputPads::add_static_pad_templates(GstElementClass *klass) {
  gst_element_class_add_static_pad_template(klass, &video_template);
  gst_element_class_add_static_pad_template(klass, &audio_template);
}

OutputPads::OutputPads(GstElement *element, GstPadQueryFunction query, GstPadEventFunction event)
    : element_(element), query_(query), event_(event) {}

void OutputPads::start(bool live, const std::string &title, const std::string &stream_prefix) {
  live_ = live;
  title_ = title;
  stream_prefix_ = stream_prefix;
  group_id_ = gst_util_group_id_next();
  video_ = Pad();
  audio_ = Pad();
  video_format_ = {};
  audio_format_ = {};
  sent_video_info_ = {};
  copy_frames_ = false;
  allocation_known_ = false;
  segment_done_left_ = 0;
  queues_.set_flushing(false);
  std::lock_guard<std::mutex> guard(gate_lock_);
  stopping_ = false;
}

void OutputPads::set_stopping() {
  queues_.set_flushing(true);
  {
    std::lock_guard<std::mutex> guard(gate_lock_);
    stopping_ = true;
  }
  gate_cond_.notify_all();
  unschedule_clock_waits();
}

namespace {

// uridecodebin (GStreamer 1.22) ghosts a source's raw pads but watches pad-removed only on its
// decodebins: the ghost of a removed raw pad stays, linked downstream, and a consumer that
// restarts the source (nlecomposition does between two stacks of a GES timeline) cannot link the
// next run's pad where the old one was. The ghost is removed with the pad it stands for, as
// uridecodebin does for a decodebin's pads.
GstPad *uridecodebin_ghost_of(GstPad *pad) {
  GstPad *peer = gst_pad_get_peer(pad);
  if (!peer) return nullptr;
  GstPad *ghost = nullptr;
  if (GST_IS_PROXY_PAD(peer)) {
    GstProxyPad *internal = gst_proxy_pad_get_internal(GST_PROXY_PAD(peer));
    if (internal && GST_IS_GHOST_PAD(internal)) {
      GstObject *parent = gst_object_get_parent(GST_OBJECT(internal));
      if (parent && g_strcmp0(G_OBJECT_TYPE_NAME(parent), "GstURIDecodeBin") == 0)
        ghost = GST_PAD(gst_object_ref(internal));
      if (parent) gst_object_unref(parent);
    }
    if (internal) gst_object_unref(internal);
  }
  gst_object_unref(peer);
  return ghost;
}

}  // namespace

void OutputPads::remove() {
  queues_.set_flushing(true);
  for (Pad *out : {&video_, &audio_}) {
    if (!out->pad) continue;
    gst_pad_stop_task(out->pad);
    GstPad *ghost = uridecodebin_ghost_of(out->pad);
    gst_pad_set_active(out->pad, FALSE);
    gst_element_remove_pad(element_, out->pad);
    out->pad = nullptr;
    if (ghost) {
      if (GstObject *parent = gst_object_get_parent(GST_OBJECT(ghost))) {
        gst_pad_set_active(ghost, FALSE);
        gst_element_remove_pad(GST_ELEMENT(parent), ghost);
        gst_object_unref(parent);
      }
      gst_object_unref(ghost);
    }
  }
  queues_.clear();
}

void OutputPads::configure(const see2ai::ClipInfo &info, const GstSegment *segment,
                           guint32 seqnum) {
  if (has_pads()) {
    if (video_.pad && info.video) announce(video_, video_format_, *info.video);
    if (audio_.pad && info.audio) announce(audio_, audio_format_, *info.audio);
    return;
  }
  // Every stream first: each pad carries the whole collection, right after its stream-start.
  GstStreamCollection *collection = gst_stream_collection_new(stream_prefix_.c_str());
  GstCaps *video_caps = nullptr, *audio_caps = nullptr;
  GstStream *video_stream = nullptr, *audio_stream = nullptr;
  if (info.video) {
    video_caps = caps_for(video_format_.stream, video_format_.info, *info.video);
    sent_video_info_ = video_format_.info;
    video_stream = new_stream(&video_template, video_caps);
    gst_stream_collection_add_stream(collection, GST_STREAM(gst_object_ref(video_stream)));
  }
  if (info.audio) {
    audio_caps = caps_for(audio_format_.stream, audio_format_.info, *info.audio);
    audio_stream = new_stream(&audio_template, audio_caps);
    gst_stream_collection_add_stream(collection, GST_STREAM(gst_object_ref(audio_stream)));
  }
  if (video_stream)
    add_pad(video_, &video_template, video_stream, video_caps, GST_TAG_VIDEO_CODEC,
            info.video->codec_name, info.container, collection, segment, seqnum);
  if (audio_stream)
    add_pad(audio_, &audio_template, audio_stream, audio_caps, GST_TAG_AUDIO_CODEC,
            info.audio->codec_name, info.container, collection, segment, seqnum);
  gst_element_post_message(element_,
                           gst_message_new_stream_collection(GST_OBJECT(element_), collection));
  gst_object_unref(collection);
  gst_element_no_more_pads(element_);
  for (Pad *out : {&video_, &audio_})
    if (out->pad) out->queue = queues_.add(out->pad);
  start_tasks();
}

// Buffers described differently from now on (a later result file, or frames whose size, pixel
// format, rate or channels differ from what the container said): new caps, in stream order.
template <typename Stream, typename Info>
void OutputPads::announce(Pad &out, Format<Stream, Info> &format, const Stream &stream) {
  GstCaps *caps = caps_for(format.stream, format.info, stream);
  if (!caps) return;
  GST_INFO_OBJECT(element_, "%s caps now %" GST_PTR_FORMAT, kind_name(&format.info), caps);
  queues_.push(out.queue, GST_MINI_OBJECT_CAST(gst_event_new_caps(caps)));
  gst_caps_unref(caps);
}

GstStream *OutputPads::new_stream(GstStaticPadTemplate *templ, GstCaps *caps) const {
  const std::string id = stream_prefix_ + "/" + templ->name_template;
  return gst_stream_new(id.c_str(), caps,
                        templ == &video_template ? GST_STREAM_TYPE_VIDEO : GST_STREAM_TYPE_AUDIO,
                        GST_STREAM_FLAG_NONE);
}

// Takes `stream` and `caps`. The sticky events go out in a demuxer's order: decodebin3 links a
// stream-aware input (a GstStream on its stream-start) only once the collection came.
void OutputPads::add_pad(Pad &out, GstStaticPadTemplate *templ, GstStream *stream, GstCaps *caps,
                         const char *codec_tag, const std::string &codec,
                         const std::string &container, GstStreamCollection *collection,
                         const GstSegment *segment, guint32 seqnum) {
  GstPad *pad = gst_pad_new_from_static_template(templ, templ->name_template);
  gst_pad_set_query_function(pad, query_);
  gst_pad_set_event_function(pad, event_);
  gst_pad_use_fixed_caps(pad);
  gst_pad_set_active(pad, TRUE);
  GstEvent *start = gst_event_new_stream_start(gst_stream_get_stream_id(stream));
  gst_event_set_group_id(start, group_id_);
  gst_event_set_stream(start, stream);
  gst_object_unref(stream);
  gst_pad_push_event(pad, start);
  gst_pad_push_event(pad, gst_event_new_stream_collection(collection));
  gst_pad_set_caps(pad, caps);
  gst_caps_unref(caps);
  GstEvent *segment_event = gst_event_new_segment(segment);
  gst_event_set_seqnum(segment_event, seqnum);
  gst_pad_push_event(pad, segment_event);
  GstTagList *tags = gst_tag_list_new_empty();
  gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, codec_tag, codec.c_str(), GST_TAG_CONTAINER_FORMAT,
                   container.c_str(), nullptr);
  if (!title_.empty())
    gst_tag_list_add(tags, GST_TAG_MERGE_REPLACE, GST_TAG_TITLE, title_.c_str(), nullptr);
  gst_pad_push_event(pad, gst_event_new_tag(tags));
  gst_element_add_pad(element_, pad);
  out.pad = pad;
}

// The decoder's frames are the truth: HE-AAC doubles the rate the container gives, parametric
// stereo turns mono into stereo, a stream may change its picture size.
void OutputPads::follow_frame_format(const see2ai::DecodedFrame &frame) {
  const AVFrame *f = frame.frame;
  if (frame.kind == StreamKind::Video) {
    const see2ai::VideoStreamInfo &now = video_format_.stream;
    if (f->width == now.width && f->height == now.height && f->format == now.pixel_format) return;
    see2ai::VideoStreamInfo next = now;
    next.width = f->width;
    next.height = f->height;
    next.pixel_format = static_cast<AVPixelFormat>(f->format);
    announce(video_, video_format_, next);
    return;
  }
  const see2ai::AudioStreamInfo &now = audio_format_.stream;
  if (f->sample_rate == now.sample_rate && f->ch_layout.nb_channels == now.channels &&
      f->format == now.sample_format)
    return;
  see2ai::AudioStreamInfo next = now;
  next.sample_rate = f->sample_rate;
  next.channels = f->ch_layout.nb_channels;
  next.channel_mask = f->ch_layout.order == AV_CHANNEL_ORDER_NATIVE ? f->ch_layout.u.mask : 0;
  next.sample_format = static_cast<AVSampleFormat>(f->format);
  announce(audio_, audio_format_, next);
}

GstBuffer *OutputPads::buffer_for(const see2ai::DecodedFrame &frame) {
  if (!pad_of(frame.kind).pad) return nullptr;
  follow_frame_format(frame);
  GstBuffer *buffer = frame.kind == StreamKind::Video
                          ? video_buffer_from_frame(frame.frame, &video_format_.info)
                          : audio_buffer_from_frame(frame.frame, &audio_format_.info);
  if (!buffer) throw MediaError(true, "a decoded frame does not match the stream's format");
  return buffer;
}

GstBuffer *OutputPads::truncate_audio(GstBuffer *buffer, guint64 samples) const {
  return gst_audio_buffer_truncate(buffer, GST_AUDIO_INFO_BPF(&audio_format_.info), 0, samples);
}

GstBuffer *OutputPads::silence(guint64 samples) const {
  const GstAudioInfo *info = &audio_format_.info;
  const gsize size = samples * static_cast<gsize>(GST_AUDIO_INFO_BPF(info));
  GstBuffer *buffer = gst_buffer_new_allocate(nullptr, size, nullptr);
  GstMapInfo map;
  if (size > 0 && gst_buffer_map(buffer, &map, GST_MAP_WRITE)) {
    gst_audio_format_info_fill_silence(info->finfo, map.data, map.size);
    gst_buffer_unmap(buffer, &map);
  }
  return buffer;
}

// A global table with one edition of chapters, as a demuxer of a file with chapters sends it;
// matroskamux writes it as the file's chapters.
void OutputPads::push_toc(const std::vector<see2ai::Chapter> &chapters, bool update) {
  GstToc *toc = gst_toc_new(GST_TOC_SCOPE_GLOBAL);
  GstTocEntry *edition = gst_toc_entry_new(GST_TOC_ENTRY_TYPE_EDITION, "shots");
  for (size_t i = 0; i < chapters.size(); ++i) {
    const std::string uid = "shot-" + std::to_string(chapters[i].index);
    GstTocEntry *chapter = gst_toc_entry_new(GST_TOC_ENTRY_TYPE_CHAPTER, uid.c_str());
    gst_toc_entry_set_start_stop_times(chapter, static_cast<gint64>(chapters[i].start_ns),
                                       static_cast<gint64>(chapters[i].stop_ns));
    gst_toc_entry_set_tags(chapter,
                           gst_tag_list_new(GST_TAG_TITLE, chapters[i].title.c_str(), nullptr));
    gst_toc_entry_append_sub_entry(edition, chapter);
  }
  gst_toc_append_entry(toc, edition);
  push_event(gst_event_new_toc(toc, update));
  gst_toc_unref(toc);
}

GstClockTime OutputPads::take_back(StreamKind kind) {
  const Pad &out = pad_of(kind);
  if (!out.pad) return GST_CLOCK_TIME_NONE;
  // The buffer the task waits with is taken back too: it has not gone out, and it is the next
  // frame the clock would show. The queue is emptied under the same lock, so the task, which
  // needs it to let go of that buffer, cannot take the next one out of the queue meanwhile.
  std::lock_guard<std::mutex> guard(clock_lock_);
  ClockWait &wait = clock_waits_[out.queue];
  GstClockTime held = GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID(wait.pts) && !wait.taken_back) {
    wait.taken_back = true;
    held = wait.pts;
    if (wait.id) gst_clock_id_unschedule(wait.id);
  }
  const GstClockTime earliest = queues_.take_back_buffers(out.queue, held);
  GST_DEBUG_OBJECT(out.pad,
                   "taken back from %" GST_TIME_FORMAT " (held by the task: %" GST_TIME_FORMAT ")",
                   GST_TIME_ARGS(earliest), GST_TIME_ARGS(held));
  return earliest;
}

GstFlowReturn OutputPads::push(StreamKind kind, GstBuffer *buffer) {
  return queues_.push(pad_of(kind).queue, GST_MINI_OBJECT_CAST(buffer));
}

// Serialized events travel through the queues, in order with the buffers; flushes go at once.
void OutputPads::push_event(GstEvent *event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT_DONE) {
    const int pads = (video_.pad ? 1 : 0) + (audio_.pad ? 1 : 0);
    segment_done_left_ = pads;
    if (pads == 0) post_segment_done(event);
  }
  for (Pad *out : {&video_, &audio_}) {
    if (!out->pad) continue;
    // FLUSH_STOP is serialized but comes from the seeking thread while the pad tasks are paused:
    // pushed at once, so each pad accepts events again (a second sink's copy of the same seek,
    // say) before the seek returns.
    if (GST_EVENT_IS_SERIALIZED(event) && GST_EVENT_TYPE(event) != GST_EVENT_FLUSH_STOP)
      queues_.push(out->queue, GST_MINI_OBJECT_CAST(gst_event_ref(event)));
    else
      gst_pad_push_event(out->pad, gst_event_ref(event));
  }
  gst_event_unref(event);
}

void OutputPads::flush_start(guint32 seqnum) {
  GstEvent *event = gst_event_new_flush_start();
  gst_event_set_seqnum(event, seqnum);
  push_event(event);
  queues_.set_flushing(true);
  pause_tasks();
  segment_done_left_ = 0;
}

void OutputPads::flush_stop(guint32 seqnum) {
  GstEvent *event = gst_event_new_flush_stop(TRUE);
  gst_event_set_seqnum(event, seqnum);
  queues_.set_flushing(false);
  push_event(event);
  start_tasks();
}

void OutputPads::new_segment() {
  queues_.new_segment();
}

// Asked on the video pad's own thread: a query from the decoding thread could wait on a pad
// block that uridecodebin only lifts at no-more-pads. Live, the query is not asked at all: a
// serialized query that reaches a live aggregator through tee and queue can wait forever on the
// aggregator's running output, so live peers are taken to read GstVideoMeta (compositor,
// videoconvert, videoscale and the encoders all do).
GstBuffer *OutputPads::adapt_to_peer(GstBuffer *buffer) {
  if (live_) return buffer;
  if (gst_pad_check_reconfigure(video_.pad) || !allocation_known_) {
    GstCaps *caps = gst_pad_get_current_caps(video_.pad);
    GstQuery *query = gst_query_new_allocation(caps, FALSE);
    copy_frames_ = !gst_pad_peer_query(video_.pad, query) ||
                   !gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
    allocation_known_ = true;
    gst_query_unref(query);
    if (caps) gst_caps_unref(caps);
    GST_DEBUG_OBJECT(element_, "downstream %s GstVideoMeta", copy_frames_ ? "lacks" : "reads");
  }
  return copy_frames_ ? video_buffer_to_default_layout(buffer, &sent_video_info_) : buffer;
}

void OutputPads::pad_loop(Pad &out) {
  GstPad *pad = out.pad;
  GstMiniObject *item = queues_.pop(out.queue);
  if (!item) {
    gst_pad_pause_task(pad);
    return;
  }
  if (GST_IS_BUFFER(item)) {
    GstBuffer *buffer = GST_BUFFER_CAST(item);
    if (live_) {
      const Hold hold = wait_for_running_time(out.queue, GST_BUFFER_PTS(buffer));
      if (hold != Hold::Due) {
        gst_buffer_unref(buffer);
        if (hold == Hold::Stopping) gst_pad_pause_task(pad);
        return;
      }
    }
    if (out.downstream_eos) {
      // Like a demuxer: once downstream said EOS on this pad, it gets nothing more.
      gst_buffer_unref(buffer);
      queues_.report(out.queue, GST_FLOW_EOS);
      return;
    }
    if (&out == &video_) buffer = adapt_to_peer(buffer);
    GstFlowReturn ret = buffer ? gst_pad_push(pad, buffer) : GST_FLOW_ERROR;
    if (ret == GST_FLOW_NOT_LINKED && out.was_linked) {
      // Linked before, unlinked now: a consumer relinking its graph (nlecomposition does between
      // two stacks, then seeks). Like decodebin's multiqueue, the data goes nowhere meanwhile;
      // only a pad never linked counts as not linked.
      GST_DEBUG_OBJECT(pad, "unlinked while streaming: buffer dropped");
      ret = GST_FLOW_OK;
    } else if (ret != GST_FLOW_NOT_LINKED) {
      out.was_linked = true;
    }
    if (ret == GST_FLOW_EOS) out.downstream_eos = true;
    queues_.report(out.queue, ret);
    if (ret == GST_FLOW_FLUSHING) gst_pad_pause_task(pad);
    return;
  }
  GstEvent *event = GST_EVENT_CAST(item);
  const bool last =
      GST_EVENT_TYPE(event) == GST_EVENT_EOS || GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT_DONE;
  if (GST_EVENT_TYPE(event) == GST_EVENT_CAPS) {
    // A later result file in another format: the pad's GstStream, the very object in the
    // collection every pad carries, describes it from now on (the collection stays in step), and
    // the video frames after this event have its layout.
    GstCaps *caps = nullptr;
    gst_event_parse_caps(event, &caps);
    if (GstStream *stream = gst_pad_get_stream(pad)) {
      gst_stream_set_caps(stream, caps);
      gst_object_unref(stream);
    }
    if (&out == &video_) {
      gst_video_info_from_caps(&sent_video_info_, caps);
      allocation_known_ = false;
    }
  }
  const bool segment_done = GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT_DONE;
  if (segment_done) gst_event_ref(event);
  gst_pad_push_event(pad, event);
  if (segment_done) {
    if (segment_done_left_.fetch_sub(1) == 1) post_segment_done(event);
    gst_event_unref(event);
  }
  if (last) gst_pad_pause_task(pad);
}

void OutputPads::post_segment_done(GstEvent *event) {
  GstFormat format = GST_FORMAT_TIME;
  gint64 position = -1;
  gst_event_parse_segment_done(event, &format, &position);
  GstMessage *done = gst_message_new_segment_done(GST_OBJECT(element_), format, position);
  gst_message_set_seqnum(done, gst_event_get_seqnum(event));
  gst_element_post_message(element_, done);
}

void OutputPads::start_tasks() {
  for (Pad *out : {&video_, &audio_}) {
    if (!out->pad) continue;
    out->downstream_eos = false;
    // A paused task restarts with the data it was created with (gst_pad_start_task would drop
    // new data without freeing it).
    if (GstTask *existing = GST_PAD_TASK(out->pad)) {
      gst_task_start(existing);
      continue;
    }
    struct TaskData {
      OutputPads *pads;
      Pad *out;
    };
    gst_pad_start_task(
        out->pad,
        [](gpointer data) {
          auto *task = static_cast<TaskData *>(data);
          task->pads->pad_loop(*task->out);
        },
        new TaskData{this, out}, [](gpointer data) { delete static_cast<TaskData *>(data); });
  }
}

void OutputPads::pause_tasks() {
  for (Pad *out : {&video_, &audio_})
    if (out->pad) gst_pad_pause_task(out->pad);
}

void OutputPads::set_playing(bool playing) {
  {
    std::lock_guard<std::mutex> guard(gate_lock_);
    playing_ = playing;
  }
  gate_cond_.notify_all();
  if (!playing) unschedule_clock_waits();
}

bool OutputPads::wait_until_playing() {
  std::unique_lock<std::mutex> guard(gate_lock_);
  gate_cond_.wait(guard, [this] { return playing_ || stopping_; });
  return playing_ && !stopping_;
}

GstClockTime OutputPads::running_time_now() const {
  GstClock *clock = gst_element_get_clock(element_);
  if (!clock) return 0;
  const GstClockTime now = gst_clock_get_time(clock);
  const GstClockTime base = gst_element_get_base_time(element_);
  gst_object_unref(clock);
  return now > base ? now - base : 0;
}

// A live source hands each buffer over at its running time, like a capture device would, so
// sinks that do not sync (filesink, hlssink2's, appsink sync=false) still get real time. Until
// then take_back() may claim the buffer (TakenBack); Stopping when the element stops.
OutputPads::Hold OutputPads::wait_for_running_time(size_t index, GstClockTime running_time) {
  ClockWait &wait = clock_waits_[index];
  {
    std::lock_guard<std::mutex> guard(clock_lock_);
    wait.pts = running_time;
    wait.taken_back = false;
  }
  // The buffer's outcome, and the wait forgets it.
  const auto settle = [&](Hold hold) {
    std::lock_guard<std::mutex> guard(clock_lock_);
    if (wait.id) gst_clock_id_unref(wait.id);
    wait.id = nullptr;
    if (wait.taken_back) hold = Hold::TakenBack;
    wait.pts = GST_CLOCK_TIME_NONE;
    wait.taken_back = false;
    return hold;
  };
  while (true) {
    if (!wait_until_playing()) return settle(Hold::Stopping);
    GstClock *clock = gst_element_get_clock(element_);
    if (!clock) return settle(Hold::Due);
    GstClockID id =
        gst_clock_new_single_shot_id(clock, gst_element_get_base_time(element_) + running_time);
    gst_object_unref(clock);
    bool taken_back;
    {
      std::lock_guard<std::mutex> guard(clock_lock_);
      taken_back = wait.taken_back;
      if (!taken_back) wait.id = id;
    }
    if (taken_back) {
      gst_clock_id_unref(id);
      return settle(Hold::TakenBack);
    }
    bool still_playing;
    {
      std::lock_guard<std::mutex> guard(gate_lock_);
      still_playing = playing_ && !stopping_;
    }
    // Unscheduled before or during the wait (pause, stop, taken back): the wait returns
    // UNSCHEDULED.
    GstClockReturn ret = still_playing ? gst_clock_id_wait(id, nullptr) : GST_CLOCK_UNSCHEDULED;
    if (ret != GST_CLOCK_UNSCHEDULED) return settle(Hold::Due);
    {
      std::lock_guard<std::mutex> guard(clock_lock_);
      taken_back = wait.taken_back;
      if (!taken_back) {
        gst_clock_id_unref(wait.id);
        wait.id = nullptr;
      }
    }
    if (taken_back) return settle(Hold::TakenBack);
  }
}

void OutputPads::unschedule_clock_waits() {
  std::lock_guard<std::mutex> guard(clock_lock_);
  for (const ClockWait &wait : clock_waits_)
    if (wait.id) gst_clock_id_unschedule(wait.id);
}
