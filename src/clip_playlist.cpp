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

void ClipPlaylist::start(bool loop, ShotFailurePolicy policy) {
  std::lock_guard<std::mutex> guard(mutex_);
  state_ = RunState::Generating;
  shots_.clear();
  skipped_.clear();
  end_requested_ = false;
  loop_ = loop;
  policy_ = policy;
  shot_ = 0;
  index_ = 0;
  entering_ = true;
}

void ClipPlaylist::stop() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    state_ = RunState::Stopped;
    for (auto &shot : shots_)
      for (auto &file : shot.files)
        if (file) file->cancel();
  }
  cond_.notify_all();
}

void ClipPlaylist::forget_files() {
  std::lock_guard<std::mutex> guard(mutex_);
  shots_.clear();
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

size_t ClipPlaylist::add_shot() {
  size_t index;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    shots_.emplace_back();
    index = shots_.size() - 1;
  }
  cond_.notify_all();
  return index;
}

size_t ClipPlaylist::shot_count() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return shots_.size();
}

ClipPlaylist::ShotFiles &ClipPlaylist::shot_at(size_t shot) {
  if (shots_.size() <= shot) shots_.resize(shot + 1);
  return shots_[shot];
}

void ClipPlaylist::file_started(size_t index, std::shared_ptr<GrowingFile> file, size_t shot) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    ShotFiles &files = shot_at(shot);
    if (files.files.size() <= index) files.files.resize(index + 1);
    files.files[index] = std::move(file);
  }
  cond_.notify_all();
}

void ClipPlaylist::set_file_count(size_t count, size_t shot) {
  std::lock_guard<std::mutex> guard(mutex_);
  shot_at(shot).file_count = count;
}

void ClipPlaylist::job_succeeded(const std::vector<std::shared_ptr<GrowingFile>> &files,
                                 size_t shot) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    ShotFiles &known = shot_at(shot);
    if (known.files.size() < files.size()) known.files.resize(files.size());
    for (size_t i = 0; i < files.size(); ++i)
      if (!known.files[i]) known.files[i] = files[i];
    known.done = true;
  }
  cond_.notify_all();
}

void ClipPlaylist::job_failed(const ServiceError &error, size_t shot) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    ShotFiles &known = shot_at(shot);
    known.error = error;
    known.done = true;
  }
  cond_.notify_all();
}

bool ClipPlaylist::ready(size_t shot) const {
  const ShotFiles &files = shots_[shot];
  if (!files.done || files.error || files.files.empty()) return false;
  for (const auto &file : files.files)
    if (!file) return false;
  return true;
}

bool ClipPlaylist::other_shot_aired(size_t shot) const {
  for (size_t i = 0; i < shots_.size(); ++i)
    if (i != shot && shots_[i].aired) return true;
  return false;
}

std::optional<size_t> ClipPlaylist::ready_after_current() const {
  for (size_t i = shot_ + 1; i < shots_.size(); ++i) {
    if (ready(i)) return i;
    // Shots go on air in order: one still generating holds the ones after it back, and so does
    // a failed one when a failure ends the run (its turn comes, with the failure).
    if (!shots_[i].done || policy_ == ShotFailurePolicy::End) return std::nullopt;
  }
  return std::nullopt;
}

void ClipPlaylist::move_to(size_t shot) {
  for (size_t i = shot_ + 1; i < shot && i < shots_.size(); ++i) {
    if (shots_[i].error && !shots_[i].reported) {
      shots_[i].reported = true;
      skipped_.push_back(i);
    }
  }
  shot_ = shot;
  index_ = 0;
  entering_ = true;
}

// The current shot has played all its files (its job ended): loop it, switch to a ready shot, go
// on with the next one, or end (false).
bool ClipPlaylist::leave_played_shot() {
  if (loop_) {
    if (std::optional<size_t> later = ready_after_current()) {
      move_to(*later);
      return true;
    }
    const size_t after = shot_ + 1;
    if (policy_ == ShotFailurePolicy::End && after < shots_.size() && shots_[after].error) {
      move_to(after);  // next() ends the run with its failure
      return true;
    }
    if (!shots_[shot_].files.empty()) {
      // Failed shots after this one are passed over for good: reported now, while it loops.
      for (size_t i = after; i < shots_.size() && shots_[i].done; ++i) {
        if (shots_[i].error && !shots_[i].reported) {
          shots_[i].reported = true;
          skipped_.push_back(i);
        }
      }
      index_ = 0;
      return true;
    }
  }
  if (shot_ + 1 < shots_.size()) {
    move_to(shot_ + 1);
    return true;
  }
  return false;
}

// The current shot failed: another shot plays instead (true; its failure is queued as skipped),
// or the run ends with it (false).
bool ClipPlaylist::leave_failed_shot() {
  if (policy_ == ShotFailurePolicy::End) return false;
  const size_t failed = shot_;
  if (failed + 1 < shots_.size()) {
    move_to(failed + 1);
  } else if (loop_) {
    // Keeps the last good shot on air.
    size_t good = failed;
    for (size_t i = failed; i-- > 0;) {
      if (shots_[i].aired && ready(i)) {
        good = i;
        break;
      }
    }
    if (good == failed) return other_shot_aired(failed) ? finish_after_skip(failed) : false;
    shot_ = good;
    index_ = 0;
    entering_ = true;
  } else {
    return other_shot_aired(failed) ? finish_after_skip(failed) : false;
  }
  if (!shots_[failed].reported) {
    shots_[failed].reported = true;
    skipped_.push_front(failed);
  }
  return true;
}

// The last shot failed after others were on air: it is reported as skipped, then the run ends.
bool ClipPlaylist::finish_after_skip(size_t failed) {
  if (!shots_[failed].reported) {
    shots_[failed].reported = true;
    skipped_.push_front(failed);
  }
  shot_ = shots_.size();
  index_ = 0;
  return true;
}

ClipPlaylist::Next ClipPlaylist::next() {
  std::unique_lock<std::mutex> guard(mutex_);
  for (;;) {
    Next next;
    next.shot = shot_;
    next.index = index_;
    if (state_ == RunState::Stopped) {
      next.kind = Next::Kind::Stopping;
      return next;
    }
    if (end_requested_) {
      next.kind = Next::Kind::EndRequested;
      return next;
    }
    if (!skipped_.empty()) {
      const size_t failed = skipped_.front();
      skipped_.pop_front();
      next.kind = Next::Kind::Skipped;
      next.shot = failed;
      next.error = shots_[failed].error;
      return next;
    }
    if (shot_ >= shots_.size()) {
      if (shot_ > 0 && !shots_.empty()) {
        // Passed the last shot (its failure was reported): the end.
        next.kind = Next::Kind::Finished;
        state_ = RunState::Ended;
        return next;
      }
      cond_.wait(guard);
      continue;
    }
    ShotFiles &current = shots_[shot_];
    if (index_ < current.files.size() && current.files[index_]) {
      next.kind = Next::Kind::File;
      next.file = current.files[index_];
      next.new_shot = entering_;
      entering_ = false;
      current.aired = true;
      state_ = RunState::Streaming;
      return next;
    }
    if (!current.done) {
      cond_.wait(guard);
      continue;
    }
    if (current.error) {
      if (leave_failed_shot()) continue;
      if (current.reported) {
        // Its failure ended the run once already (a seek played the shots before it again).
        next.kind = Next::Kind::Finished;
        state_ = RunState::Ended;
        return next;
      }
      next.kind = Next::Kind::Failed;
      next.error = current.error;
      current.reported = true;
      state_ = RunState::Ended;
      return next;
    }
    // Every file of the shot was played before its job ended (or it had none).
    if (current.aired || current.files.empty()) {
      if (leave_played_shot()) continue;
    }
    next.kind = Next::Kind::Finished;
    next.nothing_aired = !current.aired && !other_shot_aired(shot_);
    state_ = RunState::Ended;
    return next;
  }
}

bool ClipPlaylist::finish_file() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (state_ == RunState::Stopped) return true;  // next() says so
  ++index_;
  const ShotFiles &current = shots_[shot_];
  if (!current.done || index_ < current.files.size()) return true;
  if (current.error) return true;  // next() reports it: a failed job ends even a loop
  if (leave_played_shot()) return true;
  state_ = RunState::Ended;
  return false;
}

bool ClipPlaylist::switch_due() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return loop_ && state_ == RunState::Streaming && shot_ < shots_.size() &&
         ready_after_current().has_value();
}

void ClipPlaylist::switch_now() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (!loop_ || shot_ >= shots_.size()) return;
  if (std::optional<size_t> later = ready_after_current()) move_to(*later);
}

std::optional<ServiceError> ClipPlaylist::failure_behind_media_error() {
  std::unique_lock<std::mutex> guard(mutex_);
  if (shot_ >= shots_.size()) return std::nullopt;
  const size_t shot = shot_;
  const auto download_failed = [&] {
    const ShotFiles &current = shots_[shot];
    return index_ < current.files.size() && current.files[index_] &&
           !current.files[index_]->error().empty();
  };
  if (download_failed())
    cond_.wait(guard, [&] { return shots_[shot].done || state_ == RunState::Stopped; });
  ShotFiles &current = shots_[shot];
  if (current.reported) return std::nullopt;
  if (current.error) current.reported = true;
  return current.error;
}

bool ClipPlaylist::skip_broken_shot() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (state_ == RunState::Stopped || shot_ >= shots_.size()) return false;
  ShotFiles &current = shots_[shot_];
  current.reported = true;  // the element reports this failure itself
  if (!current.error)
    current.error = ServiceError(ErrorKind::BadMedia, "the clip cannot be played");
  if (leave_failed_shot()) return true;
  state_ = RunState::Ended;
  return false;
}

std::shared_ptr<GrowingFile> ClipPlaylist::seekable_file() const {
  std::lock_guard<std::mutex> guard(mutex_);
  if (state_ == RunState::Stopped || shots_.size() != 1) return nullptr;
  const ShotFiles &only = shots_[0];
  const std::optional<size_t> count =
      only.done ? std::optional<size_t>(only.files.size()) : only.file_count;
  if (only.error || count != 1u || only.files.empty() || !only.files[0]) return nullptr;
  return only.files[0];
}

std::vector<std::shared_ptr<GrowingFile>> ClipPlaylist::ready_shot_files() const {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<std::shared_ptr<GrowingFile>> files;
  if (state_ == RunState::Stopped || shots_.size() < 2) return files;
  for (size_t i = 0; i < shots_.size() && ready(i) && shots_[i].files.size() == 1; ++i)
    files.push_back(shots_[i].files[0]);
  return files;
}

void ClipPlaylist::seek_to_shot(size_t shot) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (shot >= shots_.size()) return;
  shot_ = shot;
  index_ = 0;
  entering_ = false;
  shots_[shot].aired = true;
  if (state_ == RunState::Ended) state_ = RunState::Streaming;
}

void ClipPlaylist::interrupt_reads() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (shot_ >= shots_.size()) return;
  const ShotFiles &current = shots_[shot_];
  if (index_ < current.files.size() && current.files[index_]) current.files[index_]->cancel();
}

void ClipPlaylist::resume_reads() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (state_ == RunState::Stopped) return;
  for (auto &shot : shots_)
    for (auto &file : shot.files)
      if (file) file->reset_cancel();
}

void ClipPlaylist::rewind() {
  std::lock_guard<std::mutex> guard(mutex_);
  shot_ = 0;
  index_ = 0;
  entering_ = false;
  if (state_ == RunState::Ended) state_ = RunState::Streaming;
}

RunState ClipPlaylist::state() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return state_;
}

}  // namespace see2ai
