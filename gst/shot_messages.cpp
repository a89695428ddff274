#include "shot_messages.h"

GST_DEBUG_CATEGORY_EXTERN(gst_see2ai_video_src_debug);
#define GST_CAT_DEFAULT gst_see2ai_video_src_debug

ShotMessages::ShotMessages(GstElement *element, see2ai::ClipPlaylist &playlist, JobMessages &first)
    : element_(element), playlist_(playlist), first_(first) {}

void ShotMessages::start(bool resumable) {
  std::lock_guard<std::mutex> guard(lock_);
  later_.clear();
  resumable_ = resumable;
  on_air_ = 0;
}

void ShotMessages::clear() {
  std::lock_guard<std::mutex> guard(lock_);
  later_.clear();
  on_air_ = 0;
}

JobMessages &ShotMessages::of(size_t index) {
  if (index == 0) return first_;
  std::lock_guard<std::mutex> guard(lock_);
  return of_locked(index);
}

JobMessages &ShotMessages::of_locked(size_t index) {
  if (index == 0) return first_;
  if (later_.size() < index) later_.resize(index);
  std::unique_ptr<JobMessages> &messages = later_[index - 1];
  if (!messages) {
    messages = std::make_unique<JobMessages>(element_, playlist_, index);
    // A shot after the first always says which it is: it runs beside others.
    messages->start("", resumable_, true);
  }
  return *messages;
}

std::string ShotMessages::on_air_task_id() {
  std::lock_guard<std::mutex> guard(lock_);
  return of_locked(on_air_).task_id();
}

GstStructure *ShotMessages::dup_on_air_result() {
  std::lock_guard<std::mutex> guard(lock_);
  return of_locked(on_air_).dup_result();
}

void ShotMessages::post_on_air(size_t index, const std::string &title, const std::string &prompt,
                               GstClockTime running_time, GstClockTime stream_time) {
  {
    std::lock_guard<std::mutex> guard(lock_);
    on_air_ = index;
  }
  const std::string task = of(index).task_id();
  GST_INFO_OBJECT(element_, "shot %zu (task %s) on air at running time %" GST_TIME_FORMAT, index,
                  task.c_str(), GST_TIME_ARGS(running_time));
  gst_element_post_message(
      element_,
      gst_message_new_element(
          GST_OBJECT(element_),
          gst_structure_new("see2ai-shot", "index", G_TYPE_UINT, static_cast<guint>(index),
                            "task-id", G_TYPE_STRING, task.c_str(), "title", G_TYPE_STRING,
                            title.c_str(), "prompt", G_TYPE_STRING, prompt.c_str(), "running-time",
                            G_TYPE_UINT64, static_cast<guint64>(running_time), "stream-time",
                            G_TYPE_UINT64, static_cast<guint64>(stream_time), nullptr)));
}

see2ai::JobEvents &ShotMessages::shot_events(size_t index) {
  return of(index);
}

void ShotMessages::shot_succeeded(size_t index, const see2ai::JobResult &result) {
  of(index).succeeded(result);
}

void ShotMessages::shot_failed(size_t index, const see2ai::ServiceError &error) {
  of(index).failed(error);
}
