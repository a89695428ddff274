// ClipPlaylist: the hand-over of result files from the generation jobs (their threads) to the
// streaming side (the decoding thread), and the rules of what plays next. A run plays a sequence
// of shots (one shot: one request's clip); each shot's files play in order as their downloads
// start, then the next shot's. Looping, the current shot plays again until a later one is ready
// (generated and downloaded), and the stream switches to it at the end of a play, or at once when
// asked. A failed shot is skipped (a warning) when another shot plays instead, unless the policy
// says a failure ends the run; a run where no other shot was ever on air ends with the failure.
// It also keeps the run's state (stopped, generating, streaming, ended) and says when a seek can be
// served.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
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

// What a failed shot does to the run.
enum class ShotFailurePolicy {
  Skip,  // a warning, and another shot plays instead (an error only if none ever was on air)
  End,   // the run ends with the failure when the failed shot's turn comes
};

class ClipPlaylist {
 public:
  // What the streaming side does next.
  struct Next {
    enum class Kind {
      File,          // play `file` (result `index` of shot `shot`)
      Skipped,       // shot `shot` failed (`error`) and is passed over: a warning; ask again
      Stopping,      // the run is stopping (flush, state change): end quietly
      EndRequested,  // the application asked for the end (an EOS event)
      Failed,        // the run ends with a failure: `error` says why (Cancelled when stopped)
      Finished,      // every shot was played
    };
    Kind kind = Kind::Stopping;
    std::shared_ptr<GrowingFile> file;
    size_t shot = 0;
    size_t index = 0;
    // File: this file puts shot `shot` on air (its first file, not a loop's replay of it).
    bool new_shot = false;
    // Finished: no file was ever played (a task that succeeded without a result file).
    bool nothing_aired = false;
    std::optional<ServiceError> error;
  };

  // A new run with no shot and no file: state Generating. `loop`: the current shot plays again
  // until a later one is ready, forever.
  void start(bool loop, ShotFailurePolicy policy = ShotFailurePolicy::Skip);
  // Stopping: state Stopped, every file's readers and every wait woken.
  void stop();
  // Drops the run's files once nothing plays them any more (the jobs and the decoder are gone), so
  // temporary ones are deleted.
  void forget_files();
  // An EOS event sent to the element: next() returns EndRequested instead of waiting.
  void request_end();
  bool end_requested() const;

  // A shot joins the sequence (before its job runs); returns its index. The job-side calls below
  // also make room for a shot they name.
  size_t add_shot();
  size_t shot_count() const;

  // Job side. A download of shot `shot` started: the file grows while it is played.
  void file_started(size_t index, std::shared_ptr<GrowingFile> file, size_t shot = 0);
  // The shot's task succeeded with `count` result files (before their downloads start): how many
  // files it has is known from now on, so a seek need not wait for the downloads to end.
  void set_file_count(size_t count, size_t shot = 0);
  // The shot's job ended well: `files` are all complete (those not reported by file_started are
  // added).
  void job_succeeded(const std::vector<std::shared_ptr<GrowingFile>> &files, size_t shot = 0);
  void job_failed(const ServiceError &error, size_t shot = 0);

  // Streaming side. Waits for the file that plays next (the current one, as long as finish_file
  // was not called), or for a reason to stop. Failed or Finished move the state to Ended.
  Next next();
  // The current file was played to its end: true when another follows (or may still come, or the
  // run is stopping: next() tells), false at the end (state Ended).
  bool finish_file();
  // Looping: a later shot is ready, so the stream may leave the current one now.
  bool switch_due() const;
  // Leaves the current shot now for the ready one (switch_due()); next() hands its first file.
  void switch_now();
  // After a media error on the current file: waits for its shot's job to end when the file's
  // download failed, and returns the job's failure (which explains the media error), if any.
  std::optional<ServiceError> failure_behind_media_error();
  // After a media error on the current file that failure_behind_media_error explained or not:
  // true when the stream goes on with another shot (the policy skips, another shot can play), and
  // the current shot is left behind; false when the run ends with it.
  bool skip_broken_shot();
  // The single result file a seek can be served from: one shot whose task has that one file and
  // its download has started (whole or still growing: the decoder waits for the bytes the seek
  // needs); nothing while the run stops or after the job failed.
  std::shared_ptr<GrowingFile> seekable_file() const;
  // The files a seek across a sequence may land in: the (single, whole) file of each shot from the
  // first on, as long as each is ready; empty when the run plays one shot or is stopping.
  std::vector<std::shared_ptr<GrowingFile>> ready_shot_files() const;
  // Plays shot `shot`'s file from here on (a seek landed in it): the shots after it follow.
  void seek_to_shot(size_t shot);
  // A seek is coming while the decoder may be waiting for bytes of the current file: its reads
  // return at once (-1, cancelled) until resume_reads().
  void interrupt_reads();
  // After the seek: reads wait for the bytes again (not once the run is stopping: stop() wins).
  void resume_reads();
  // Plays from the first file again (after a seek): the current file is result 0 of shot 0.
  void rewind();

  RunState state() const;

 private:
  struct ShotFiles {
    std::vector<std::shared_ptr<GrowingFile>> files;
    std::optional<size_t> file_count;  // once the task's success said it
    bool done = false;                 // the job ended
    std::optional<ServiceError> error;
    bool aired = false;     // one of its files was handed to the streaming side
    bool reported = false;  // its failure was handed out (Skipped or Failed)
  };

  ShotFiles &shot_at(size_t shot);  // grows the sequence to hold `shot`
  bool ready(size_t shot) const;    // generated and downloaded, all its files whole
  bool other_shot_aired(size_t shot) const;
  // The first ready shot after the current one, passing failed ones, when looping.
  std::optional<size_t> ready_after_current() const;
  // Moves on to `shot` (its first file), queueing the failures of the shots passed over.
  void move_to(size_t shot);
  bool leave_played_shot();
  bool leave_failed_shot();
  bool finish_after_skip(size_t failed);

  mutable std::mutex mutex_;
  std::condition_variable cond_;
  RunState state_ = RunState::Stopped;
  std::vector<ShotFiles> shots_;
  std::deque<size_t> skipped_;  // failed shots passed over, not yet reported
  bool end_requested_ = false;
  bool loop_ = false;
  ShotFailurePolicy policy_ = ShotFailurePolicy::Skip;
  size_t shot_ = 0;       // the current shot
  size_t index_ = 0;      // the current file of the current shot
  bool entering_ = true;  // the current shot's next file puts it on air
};

}  // namespace see2ai
