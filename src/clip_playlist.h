// ClipPlaylist: the hand-over of result files from the generation job (its thread) to the
// streaming side (the decoding thread), and the rules of what plays next: files in order as their
// downloads start, the first one again when looping, the end, a failure, or a stop. It also keeps
// the run's state (stopped, generating, streaming, ended) and says when a seek can be served.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "service_error.h"

namespace see2ai {

class GrowingFile;

enum class RunState {
  Stopped,     // not started, or stopping: every wait returns at once
  Generating,  // started, no file handed to the streaming side yet
  Streaming,   // files are being played
  Ended,       // nothing more will be played (end of the last file, a failure, an end request)
};

const char *run_state_name(RunState state);

class ClipPlaylist {
 public:
  // What the streaming side does next.
  struct Next {
    enum class Kind {
      File,          // play `file` (result `index`)
      Stopping,      // the run is stopping (flush, state change): end quietly
      EndRequested,  // the application asked for the end (an EOS event)
      Failed,        // the job failed: `error` says why (Cancelled when it was stopped)
      Finished,      // the job ended and every file was played
    };
    Kind kind = Kind::Stopping;
    std::shared_ptr<GrowingFile> file;
    size_t index = 0;
    std::optional<ServiceError> error;
  };

  // A new run: no file, the job running, state Generating. `loop`: the first file follows the
  // last one, forever.
  void start(bool loop);
  // Stopping: state Stopped, every file's readers and every wait woken.
  void stop();
  // Drops the run's files once nothing plays them any more (the job and the decoder are gone), so
  // temporary ones are deleted.
  void forget_files();
  // An EOS event sent to the element: next() returns EndRequested instead of waiting.
  void request_end();
  bool end_requested() const;

  // Job side. A download started: the file grows while it is played.
  void file_started(size_t index, std::shared_ptr<GrowingFile> file);
  // The task succeeded with `count` result files (before their downloads start): how many files
  // the run has is known from now on, so a seek need not wait for the downloads to end.
  void set_file_count(size_t count);
  // The job ended well: `files` are all complete (those not reported by file_started are added).
  void job_succeeded(const std::vector<std::shared_ptr<GrowingFile>> &files);
  void job_failed(const ServiceError &error);

  // Streaming side. Waits for the file that plays next (the current one, as long as finish_file
  // was not called), or for a reason to stop. A failure or Finished moves the state to Ended.
  Next next();
  // The current file was played to its end: true when another follows (or may still come, or the
  // run is stopping: next() tells), false at the end (state Ended). Looping wraps to the first
  // file once the job ended.
  bool finish_file();
  // After a media error on the current file: waits for the job to end when the file's download
  // failed, and returns the job's failure (which explains the media error), if any.
  std::optional<ServiceError> failure_behind_media_error();
  // The single result file a seek can be served from: the task has that one file and its download
  // has started (whole or still growing: the decoder waits for the bytes the seek needs); nothing
  // while the run stops or after the job failed. Several files play as one stream, which is not
  // seekable.
  std::shared_ptr<GrowingFile> seekable_file() const;
  // A seek is coming while the decoder may be waiting for bytes of the current file: its reads
  // return at once (-1, cancelled) until resume_reads().
  void interrupt_reads();
  // After the seek: reads wait for the bytes again (not once the run is stopping: stop() wins).
  void resume_reads();
  // Plays from the first file again (after a seek): the current file is result 0.
  void rewind();

  RunState state() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cond_;
  RunState state_ = RunState::Stopped;
  std::vector<std::shared_ptr<GrowingFile>> files_;
  std::optional<size_t> file_count_;  // once the task's success said it
  bool job_done_ = false;
  std::optional<ServiceError> job_error_;
  bool end_requested_ = false;
  bool loop_ = false;
  size_t index_ = 0;
};

}  // namespace see2ai
