// GenerationJob: one clip from request to local files: cache lookup, journal, submit (never twice),
// follow the task, download (kept only once whole, partial files removed on failure). Blocking;
// runs on the element's worker thread; cancel() from anywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client_config.h"
#include "generation_request.h"
#include "task_history.h"
#include "task_output.h"

namespace see2ai {

class GrowingFile;

enum class CacheMode { Reuse, Refresh, Off };

// Called on the job's thread. Keep them short; they must not call back into the job.
class JobEvents {
 public:
  virtual ~JobEvents() = default;
  virtual void on_submitting() {}
  // A task id is known (submitted, attached, or found in the journal). resumed: this run did not
  // submit it (attached, journal, cache).
  virtual void on_task_id(const std::string &task_id, bool resumed) {
    (void)task_id;
    (void)resumed;
  }
  // Each state change, including the first answer. elapsed_ms: since submit/attach.
  virtual void on_state(const TaskOutput &output, int64_t elapsed_ms) {
    (void)output;
    (void)elapsed_ms;
  }
  // What the history of finished tasks of this kind (in the cache) says about this one: with every
  // answer while it is in progress, before on_state when that answer changes the state. Never
  // without such a history. Its elapsed_ms counts from the submit, also in a resumed run.
  virtual void on_estimate(const TaskOutput &output, const TimeEstimate &estimate) {
    (void)output;
    (void)estimate;
  }
  // Another run of the same request (this process or another) is generating it: this run waits
  // for it, then plays its clip from the cache.
  virtual void on_waiting_for_other_run() {}
  // The clip comes from the cache (no request at all); on_state(output, 0) follows.
  virtual void on_cache_hit(const TaskOutput &output) { (void)output; }
  // Damaged cache or journal entries, a cache that cannot be written, and the service's own
  // `warnings` (each once per run).
  virtual void on_warning(const std::string &message) { (void)message; }
  // Download of result `index` started: the file grows while this runs (progressive decode).
  virtual void on_download_started(size_t index, std::shared_ptr<GrowingFile> file) {
    (void)index;
    (void)file;
  }
};

struct JobResult {
  TaskOutput output;
  std::vector<std::shared_ptr<GrowingFile>> files;  // one per result URL, all complete
  bool from_cache = false;
};

class GenerationJob {
 public:
  GenerationJob(ClientConfig config, GenerationRequest request, JobEvents &events);
  ~GenerationJob();
  GenerationJob(const GenerationJob &) = delete;
  GenerationJob &operator=(const GenerationJob &) = delete;

  // Attach to this task instead of submitting (no POST at all). An attached task may belong to
  // any request, so it is neither looked up in, nor stored to, the cache, and has no journal;
  // on_task_id reports it with resumed=true.
  void set_attach_task_id(std::string task_id);
  // Cache directory (also holds the journal) and policy. Empty dir: no cache, no journal.
  // Reuse: a finished clip of the same request is returned with no request at all (events:
  // on_task_id(id, true), on_state(output, 0), on_download_started(i, complete file)); an entry
  // whose clips are missing or damaged is dropped with a warning and its clips are fetched again
  // from its task (no submit; an error when the task or its result URL is gone).
  // Refresh: no lookup, a new clip replaces the old one; the journal still re-attaches to a task
  // of a run that died. Off: no cache and no journal; clips go to temporary files that are
  // deleted with the last reference to their GrowingFile.
  // The journal records a submit before it is sent. A run that finds such a record without a task
  // id (a run died while its submit was on its way, or during a sync submit) does not submit: it
  // fails saying the earlier submit may have been charged, unless the mode is Refresh.
  void set_cache(std::string cache_dir, CacheMode mode);
  // After storing a clip, least recently played clips are evicted until the cache holds at most
  // this many bytes (prune_cache's rules: never a clip an element plays). 0: unbounded.
  void set_cache_max_size(uint64_t bytes);

  // Throws ServiceError; ErrorKind::Cancelled after cancel().
  JobResult run();
  void cancel();  // thread-safe, idempotent; wakes any wait (network, backoff, download)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace see2ai
