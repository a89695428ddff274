#include "clip_verifier.h"

#include <glib/gstdio.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <stdexcept>

#include "clip_cache.h"
#include "clip_decoder.h"
#include "growing_file.h"
#include "play_hold.h"

namespace see2ai {
namespace {

// Demuxes and decodes the whole file. The problem, or empty when it plays to its end.
std::string decode_problem(const std::string &path) {
  GStatBuf st;
  if (g_stat(path.c_str(), &st) != 0) return "the clip file " + path + " is missing";
  if (st.st_size <= 0) return "the clip file " + path + " is empty";
  auto file = std::make_shared<GrowingFile>(path);
  file->set_expected_size(static_cast<uint64_t>(st.st_size));
  file->finish();
  try {
    ClipDecoder decoder(file, 1);
    while (decoder.next()) {
    }
  } catch (const MediaError &e) {
    return path + ": " + e.what();
  }
  return {};
}

// Under the key's lock and the removal claim: nobody plays or rewrites the clip meanwhile.
VerifyOutcome check(const std::string &dir, const CachedClip &clip) {
  VerifyOutcome outcome{clip, VerifyStatus::InUse, {}};
  ClipCache cache(dir, clip.key);
  cache.prepare();
  std::unique_ptr<KeyLock> lock = cache.key_lock();
  if (!lock->try_acquire()) return outcome;
  RemovalClaim claim(dir, clip.key);
  if (!claim.held()) return outcome;
  CacheLookup found = cache.lookup();
  std::string problem = found.problem;
  const std::optional<TaskOutput> &output = found.hit;
  if (output) {
    for (size_t i = 0; i < output->result_urls.size() && problem.empty(); ++i)
      problem = decode_problem(cache.clip_path(i));
  } else if (problem.empty()) {
    problem = "the entry is gone";
  }
  if (problem.empty()) {
    outcome.status = VerifyStatus::Good;
    return outcome;
  }
  outcome.status = VerifyStatus::Dropped;
  outcome.problem = problem;
  // Its task is paid for: back into the journal (unless a newer one is there already), so it is
  // downloaded again rather than submitted anew.
  std::string task_id = clip.output ? clip.output->task_id : std::string();
  GStatBuf st;
  if (!task_id.empty() && g_stat(cache.journal_path().c_str(), &st) != 0)
    cache.write_journal(task_id);
  cache.forget();
  for (const std::string &path : cached_clip_files(dir, clip.key))
    if (g_remove(path.c_str()) != 0 && errno != ENOENT)
      throw std::runtime_error("cannot remove " + path + ": " + g_strerror(errno));
  claim.remove_lock_file();
  return outcome;
}

}  // namespace

std::vector<VerifyOutcome> verify_cache(
    const std::string &cache_dir, const std::function<void(const VerifyOutcome &)> &on_outcome) {
  std::vector<VerifyOutcome> outcomes;
  for (const CachedClip &clip : CacheInventory(cache_dir).clips()) {
    outcomes.push_back(check(cache_dir, clip));
    if (on_outcome) on_outcome(outcomes.back());
  }
  return outcomes;
}

}  // namespace see2ai
