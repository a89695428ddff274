#include "clip_playlist.h"

#include <utility>

#include "growing_file.h"

namespace see2ai {

const char *run_state_name(RunState state) {
  switch (state) {
    case RunState::Stopped:
      return "stopped";
    case RunState::Generating:
      return "generating";
    case RunState::Streaming:
      return "streaming";
    case RunState::Ended:
      return "ended";
  }
  return "unknown";
}

void ClipPlaylist::start(bool loop) {
  std::lock_guard<std::mutex> guard(mutex_);
  state_ = RunState::Generating;
  files_.clear();
  file_count_.reset();
  job_done_ = false;
  job_error_.reset();
  end_requested_ = false;
  loop_ = loop;
  index_ = 0;
}

void ClipPlaylist::stop() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    state_ = RunState::Stopped;
    for (auto &file : files_)
      if (file) file->cancel();
  }
  cond_.notify_all();
}

void ClipPlaylist::forget_files() {
  std::lock_guard<std::mutex> guard(mutex_);
  files_.clear();
}

void ClipPlaylist::request_end() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    end_requested_ = true;
  }
  cond_.notify_all();
}

bool ClipPlaylist::end_requested() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return end_requested_;
}

void ClipPlaylist::file_started(size_t index, std::shared_ptr<GrowingFile> file) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (files_.size() <= index) files_.resize(index + 1);
    files_[index] = std::move(file);
  }
  cond_.notify_all();
}

void ClipPlaylist::set_file_count(size_t count) {
  std::lock_guard<std::mutex> guard(mutex_);
  file_count_ = count;
}

void ClipPlaylist::job_succeeded(const std::vector<std::shared_ptr<GrowingFile>> &files) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (files_.size() < files.size()) files_.resize(files.size());
    for (size_t i = 0; i < files.size(); ++i)
      if (!files_[i]) files_[i] = files[i];
    job_done_ = true;
  }
  cond_.notify_all();
}

void ClipPlaylist::job_failed(const ServiceError &error) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    job_error_ = error;
    job_done_ = true;
  }
  cond_.notify_all();
}

ClipPlaylist::Next ClipPlaylist::next() {
  std::unique_lock<std::mutex> guard(mutex_);
  cond_.wait(guard, [this] {
    return state_ == RunState::Stopped || job_done_ || end_requested_ ||
           (index_ < files_.size() && files_[index_]);
  });
  Next next;
  next.index = index_;
  if (state_ == RunState::Stopped) {
    next.kind = Next::Kind::Stopping;
  } else if (end_requested_) {
    next.kind = Next::Kind::EndRequested;
  } else if (index_ < files_.size() && files_[index_]) {
    next.kind = Next::Kind::File;
    next.file = files_[index_];
    state_ = RunState::Streaming;
  } else if (job_done_ && loop_ && !job_error_ && !files_.empty() && files_[0]) {
    // The last file ended before the job did (its download had just finished): the loop wraps now.
    index_ = 0;
    next.index = 0;
    next.kind = Next::Kind::File;
    next.file = files_[0];
    state_ = RunState::Streaming;
  } else if (job_error_) {
    next.kind = Next::Kind::Failed;
    next.error = std::move(job_error_);
    job_error_.reset();
    state_ = RunState::Ended;
  } else {
    next.kind = Next::Kind::Finished;
    state_ = RunState::Ended;
  }
  return next;
}

bool ClipPlaylist::finish_file() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (state_ == RunState::Stopped) return true;  // next() says so
  ++index_;
  if (!job_done_ || index_ < files_.size()) return true;
  if (job_error_) return true;  // next() reports it: a failed job ends even a loop
  if (loop_ && !files_.empty()) {
    index_ = 0;
    return true;
  }
  state_ = RunState::Ended;
  return false;
}

std::optional<ServiceError> ClipPlaylist::failure_behind_media_error() {
  std::unique_lock<std::mutex> guard(mutex_);
  const bool download_failed =
      index_ < files_.size() && files_[index_] && !files_[index_]->error().empty();
  if (download_failed)
    cond_.wait(guard, [this] { return job_done_ || state_ == RunState::Stopped; });
  std::optional<ServiceError> error = std::move(job_error_);
  job_error_.reset();
  return error;
}

std::shared_ptr<GrowingFile> ClipPlaylist::seekable_file() const {
  std::lock_guard<std::mutex> guard(mutex_);
  const std::optional<size_t> count =
      job_done_ ? std::optional<size_t>(files_.size()) : file_count_;
  if (state_ == RunState::Stopped || job_error_ || count != 1u || files_.empty() || !files_[0])
    return nullptr;
  return files_[0];
}

void ClipPlaylist::interrupt_reads() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (index_ < files_.size() && files_[index_]) files_[index_]->cancel();
}

void ClipPlaylist::resume_reads() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (state_ == RunState::Stopped) return;
  for (auto &file : files_)
    if (file) file->reset_cancel();
}

void ClipPlaylist::rewind() {
  std::lock_guard<std::mutex> guard(mutex_);
  index_ = 0;
  if (state_ == RunState::Ended) state_ = RunState::Streaming;
}

RunState ClipPlaylist::state() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return state_;
}

}  // namespace see2ai
