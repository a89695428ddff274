// ShotMessages: the element's side of a sequence of shots. It is the ShotRunner's Listener: each
// shot's job gets its own JobMessages (shot 0's is the element's own), which posts that task's
// progress and results and hands its files to the playlist. It knows which shot is on air (the
// task-id and result properties follow it) and posts the see2ai-shot message when one goes on air.
#pragma once

#include <gst/gst.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "job_messages.h"
#include "shot_runner.h"

class ShotMessages : public see2ai::ShotRunner::Listener {
 public:
  // `first`: the element's JobMessages, which follows shot 0.
  ShotMessages(GstElement *element, see2ai::ClipPlaylist &playlist, JobMessages &first);

  // A new run: shots after the first get new JobMessages; shot 0 is on air until another is.
  // `resumable` as in JobMessages::start.
  void start(bool resumable);
  // Drops the JobMessages of the last run's later shots (once its jobs are over).
  void clear();

  // The JobMessages of shot `index` (made on first use).
  JobMessages &of(size_t index);
  // The task id and a copy of the result structure (nullptr before any) of the shot on air, read
  // under the lock that keeps its JobMessages alive.
  std::string on_air_task_id();
  GstStructure *dup_on_air_result();
  // Shot `index` goes on air at `running_time` (its first buffer's): the see2ai-shot message
  // (index, task-id, title, prompt, running-time, stream-time).
  void post_on_air(size_t index, const std::string &title, const std::string &prompt,
                   GstClockTime running_time, GstClockTime stream_time);

  // ShotRunner::Listener, on the runner's threads.
  see2ai::JobEvents &shot_events(size_t index) override;
  void shot_succeeded(size_t index, const see2ai::JobResult &result) override;
  void shot_failed(size_t index, const see2ai::ServiceError &error) override;

 private:
  GstElement *element_;
  see2ai::ClipPlaylist &playlist_;
  JobMessages &first_;
  JobMessages &of_locked(size_t index);

  std::mutex lock_;                                  // guards what follows
  std::vector<std::unique_ptr<JobMessages>> later_;  // shot i + 1 at i
  bool resumable_ = false;
  size_t on_air_ = 0;
};
