// The cache tools' core: sizes and ages, the history's estimate and the poll schedule it shapes,
// the inventory with its pruning rules and play holds, verify and collect, on hand-made caches
// (real MP4 files) and on caches filled by GenerationJob against the real dev server.
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache_inventory.h"
#include "cache_units.h"
#include "clip_cache.h"
#include "clip_collector.h"
#include "clip_renderer.h"
#include "clip_verifier.h"
#include "devserver_process.h"
#include "generation_job.h"
#include "play_hold.h"
#include "poll_schedule.h"
#include "request_record.h"
#include "service_error.h"
#include "task_history.h"

using namespace std::chrono_literals;
using see2ai::CachedClip;
using see2ai::CacheInventory;
using see2ai::CacheMode;
using see2ai::ClientConfig;
using see2ai::ClipCache;
using see2ai::CollectStatus;
using see2ai::EndWindow;
using see2ai::ExpectedDuration;
using see2ai::GenerationJob;
using see2ai::GenerationRequest;
using see2ai::JobEvents;
using see2ai::JobResult;
using see2ai::KeyLock;
using see2ai::PendingTask;
using see2ai::PlayHold;
using see2ai::PollSchedule;
using see2ai::PruneResult;
using see2ai::PruneRules;
using see2ai::RemovalOutcome;
using see2ai::RequestRecord;
using see2ai::TaskOutput;
using see2ai::TimeEstimate;
using see2ai::VerifyStatus;
using see2ai::test::DevServerArgs;
using see2ai::test::DevServerProcess;
using see2ai::test::make_temp_dir;

namespace {

constexpr const char *kKey = "test-key-0123456789";
constexpr const char *kSubmitPath = "/api/v1/actions/see2ai_video_generation_v1";

// ---- sizes and ages --------------------------------------------------------------------------

TEST(CacheUnits, SizesAsWrittenOnACommandLine) {
  EXPECT_EQ(see2ai::parse_size("1048576"), 1048576u);
  EXPECT_EQ(see2ai::parse_size("500M"), 500ull * 1024 * 1024);
  EXPECT_EQ(see2ai::parse_size("2G"), 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(see2ai::parse_size("1.5K"), 1536u);
  EXPECT_EQ(see2ai::parse_size("10KiB"), 10240u);
  EXPECT_EQ(see2ai::parse_size("7mb"), 7ull * 1024 * 1024);
  EXPECT_EQ(see2ai::parse_size(" 3 G "), 3ull * 1024 * 1024 * 1024);
  EXPECT_EQ(see2ai::parse_size("0"), 0u);
  for (const char *bad : {"", "M", "-1M", "5Q", "1.2.3", "12 parsecs", "1e30T", "2GG"})
    EXPECT_FALSE(see2ai::parse_size(bad)) << bad;
}

TEST(CacheUnits, AgesAsWrittenOnACommandLine) {
  EXPECT_EQ(see2ai::parse_age("30"), 30 * 1000000ll);
  EXPECT_EQ(see2ai::parse_age("90m"), 90 * 60 * 1000000ll);
  EXPECT_EQ(see2ai::parse_age("12h"), 12 * 3600 * 1000000ll);
  EXPECT_EQ(see2ai::parse_age("7d"), 7 * 86400 * 1000000ll);
  EXPECT_EQ(see2ai::parse_age("1w"), 7 * 86400 * 1000000ll);
  EXPECT_EQ(see2ai::parse_age("1.5h"), 5400 * 1000000ll);
  for (const char *bad : {"", "d", "-1d", "3y", "7 days"})
    EXPECT_FALSE(see2ai::parse_age(bad)) << bad;
}

TEST(CacheUnits, SizesAndAgesShown) {
  EXPECT_EQ(see2ai::format_size(0), "0 B");
  EXPECT_EQ(see2ai::format_size(1023), "1023 B");
  EXPECT_EQ(see2ai::format_size(1536), "1.5 KB");
  EXPECT_EQ(see2ai::format_size(3ull * 1024 * 1024 * 1024), "3.0 GB");
  EXPECT_EQ(see2ai::format_age(45 * 1000000ll), "45 s");
  EXPECT_EQ(see2ai::format_age(30 * 60 * 1000000ll), "30 min");
  EXPECT_EQ(see2ai::format_age(5 * 3600 * 1000000ll), "5 h");
  EXPECT_EQ(see2ai::format_age(9 * 86400 * 1000000ll), "9 d");
}

// ---- the history, its estimate and the poll schedule -------------------------------------------

TEST(TaskHistory, MedianAndRangeOfTheRecentSamples) {
  EXPECT_FALSE(see2ai::summarize_history({}));
  EXPECT_FALSE(see2ai::summarize_history({40000})) << "one sample says too little";
  EXPECT_FALSE(see2ai::summarize_history({40000, 0, -5})) << "unknown times do not count";

  auto three = see2ai::summarize_history({30000, 10000, 20000});
  ASSERT_TRUE(three);
  EXPECT_EQ(three->typical_ms, 20000);
  EXPECT_EQ(three->earliest_ms, 10000);
  EXPECT_EQ(three->latest_ms, 30000);
  EXPECT_EQ(three->samples, 3u);

  // From eight samples on, one outlier at each end is left out of the range.
  auto many = see2ai::summarize_history({40000, 41000, 39000, 5000, 42000, 38000, 300000, 40500});
  ASSERT_TRUE(many);
  EXPECT_EQ(many->earliest_ms, 38000);
  EXPECT_EQ(many->latest_ms, 42000);
  EXPECT_EQ(many->typical_ms, 40250);

  // Only the most recent kMaxHistorySamples count: the service got faster.
  std::vector<int64_t> drifting(see2ai::kMaxHistorySamples, 20000);
  drifting.insert(drifting.end(), 10, 90000);
  auto recent = see2ai::summarize_history(drifting);
  ASSERT_TRUE(recent);
  EXPECT_EQ(recent->typical_ms, 20000);
  EXPECT_EQ(recent->latest_ms, 20000);
}

TEST(TaskHistory, EstimateInWords) {
  ExpectedDuration expected{40000, 35000, 46000, 5};
  TimeEstimate start = see2ai::estimate_time(expected, 0);
  EXPECT_EQ(start.remaining_ms, 40000);
  EXPECT_DOUBLE_EQ(start.fraction, 0.0);
  EXPECT_EQ(see2ai::describe(start), "about 40 s left");

  TimeEstimate half = see2ai::estimate_time(expected, 20000);
  EXPECT_EQ(half.remaining_ms, 20000);
  EXPECT_DOUBLE_EQ(half.fraction, 0.5);
  EXPECT_EQ(see2ai::describe(half), "about 20 s left");
  EXPECT_EQ(see2ai::describe(see2ai::estimate_time(expected, 23000)), "about 15 s left");
  EXPECT_EQ(see2ai::describe(see2ai::estimate_time(expected, 35000)), "a few seconds left");

  TimeEstimate due = see2ai::estimate_time(expected, 41000);
  EXPECT_EQ(due.remaining_ms, 0);
  EXPECT_DOUBLE_EQ(due.fraction, see2ai::kMaxFraction);
  EXPECT_FALSE(due.late);
  EXPECT_EQ(see2ai::describe(due), "any moment now (usually 40 s)");

  TimeEstimate late = see2ai::estimate_time(expected, 47000);
  EXPECT_TRUE(late.late);
  EXPECT_EQ(see2ai::describe(late), "longer than usual (usually 40 s)");

  ExpectedDuration long_task{200000, 180000, 240000, 4};
  EXPECT_EQ(see2ai::describe(see2ai::estimate_time(long_task, 20000)), "about 3 min left");
  EXPECT_EQ(see2ai::describe(see2ai::estimate_time(long_task, 250000)),
            "longer than usual (usually 3 min 20 s)");
}

// The poll moments of a schedule, from the submit until `until`.
std::vector<std::chrono::milliseconds> poll_times(PollSchedule schedule,
                                                  std::chrono::milliseconds until) {
  std::vector<std::chrono::milliseconds> times;
  std::chrono::milliseconds now{0};
  while (now < until) {
    now += schedule.next(std::nullopt, now);
    times.push_back(now);
  }
  return times;
}

TEST(PollScheduleWindow, SparseUntilTheExpectedEndDenseAroundItThenBackingOff) {
  EndWindow window = see2ai::end_window(ExpectedDuration{40000, 36000, 44000, 8});
  // The range widened by 2% of the typical time on each side.
  EXPECT_EQ(window.start, 35200ms);
  EXPECT_EQ(window.end, 44800ms);
  EXPECT_EQ(window.dense, PollSchedule::kDenseLongest);

  auto times = poll_times(PollSchedule(0, window), 70000ms);
  auto start = std::find(times.begin(), times.end(), window.start);
  ASSERT_NE(start, times.end()) << "a poll lands on the window's start";
  std::chrono::milliseconds previous{0};
  for (auto it = times.begin(); it != times.end(); ++it) {
    std::chrono::milliseconds gap = *it - previous;
    if (*it <= window.start) {
      EXPECT_LE(gap, PollSchedule::kSparseLongest);
      EXPECT_GT(gap, 10000ms) << "evenly spread: 35.2 s in three polls";
    } else if (previous < window.end) {
      EXPECT_EQ(gap, window.dense);
    } else {
      EXPECT_GE(gap, window.dense);
      EXPECT_LE(gap, PollSchedule::kLongest) << "back to the adaptive ceiling";
    }
    previous = *it;
  }
  EXPECT_EQ(std::count_if(times.begin(), times.end(), [](auto t) { return t <= 35200ms; }), 3);
  // Past the window, the intervals grow again.
  auto late = std::find_if(times.begin(), times.end(), [&](auto t) { return t > window.end; });
  ASSERT_NE(late, times.end());
  ASSERT_NE(late + 1, times.end());
  EXPECT_GT(*(late + 1) - *late, window.dense);
}

TEST(PollScheduleWindow, ShortRangesArePolledMoreDensely) {
  EndWindow window = see2ai::end_window(ExpectedDuration{3000, 2900, 3100, 4});
  EXPECT_EQ(window.start, 2400ms);
  EXPECT_EQ(window.end, 3600ms);
  EXPECT_EQ(window.dense, 250ms);
  auto times = poll_times(PollSchedule(0, window), 3600ms);
  EXPECT_EQ(times.front(), 2400ms) << "one sparse poll, on the window's start";
}

TEST(PollScheduleWindow, WithoutAHistoryTheAdaptiveScheduleIsUnchanged) {
  auto times = poll_times(PollSchedule(0), 20000ms);
  std::vector<std::chrono::milliseconds> gaps;
  std::chrono::milliseconds previous{0};
  for (auto t : times) gaps.push_back(t - std::exchange(previous, t));
  std::vector<std::chrono::milliseconds> expected = {500ms, 750ms, 1125ms, 1687ms, 2530ms, 3795ms};
  ASSERT_GE(gaps.size(), expected.size() + 1);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(gaps[i], expected[i]) << i;
  EXPECT_EQ(gaps[expected.size()], PollSchedule::kLongest);
}

TEST(PollScheduleWindow, AFixedIntervalAndServerHintsWin) {
  EndWindow window = see2ai::end_window(ExpectedDuration{40000, 36000, 44000, 8});
  PollSchedule fixed(100, window);
  EXPECT_EQ(fixed.next(std::nullopt, 0ms), 100ms);
  EXPECT_EQ(fixed.next(std::nullopt, 38000ms), 100ms);
  PollSchedule hinted(0, window);
  EXPECT_EQ(hinted.next(7000ms, 0ms), 7000ms);
  EXPECT_EQ(hinted.next(std::nullopt, 37000ms), window.dense);
}

// ---- hand-made caches -------------------------------------------------------------------------

std::string key_for(int n) {
  return std::string(64 - std::to_string(n).size(), 'a') + std::to_string(n);
}

void write_bytes(const std::string &path, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  out << std::string(bytes, 'x');
}

// A finished entry with one clip of `bytes` bytes (not a playable MP4: pruning does not look).
// The entry of the clip at its path now (its size is recorded), and the request's record.
void store_entry(const std::string &dir, const std::string &key, const std::string &task_id) {
  ClipCache cache(dir, key);
  TaskOutput output;
  output.task_id = task_id;
  output.state_text = "succeeded";
  output.state = see2ai::TaskState::Succeeded;
  output.total_tokens = 1000;
  output.result_urls = {"http://results.invalid/" + task_id + ".mp4"};
  cache.store(output);
  RequestRecord record;
  record.prompt = "prompt of " + task_id;
  record.model = "doubao-seedance-2-0-260128";
  record.resolution = "480p";
  record.duration = 4;
  record.submitted_at_us = g_get_real_time();
  see2ai::write_request_record(dir, key, record);
}

void add_entry(const std::string &dir, const std::string &key, const std::string &task_id,
               size_t bytes) {
  ClipCache(dir, key).prepare();
  write_bytes(ClipCache(dir, key).clip_path(0), bytes);
  store_entry(dir, key, task_id);
}

void set_mtime(const std::string &path, int64_t seconds_ago) {
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = time(nullptr) - seconds_ago;
  times[0].tv_nsec = times[1].tv_nsec = 0;
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// Marks the clip played `seconds_ago` (a hold taken and released, then its stamp set back).
void played(const std::string &dir, const std::string &key, int64_t seconds_ago) {
  { PlayHold hold(dir, key); }
  set_mtime(see2ai::play_lock_path(dir, key), seconds_ago);
}

std::vector<std::string> task_ids(const std::vector<CachedClip> &clips) {
  std::vector<std::string> ids;
  for (const CachedClip &clip : clips) ids.push_back(clip.output ? clip.output->task_id : "?");
  return ids;
}

bool exists(const std::string &path) {
  return g_file_test(path.c_str(), G_FILE_TEST_EXISTS);
}

TEST(CachePrune, LeastRecentlyPlayedFirstAndNeverAHeldClip) {
  std::string dir = make_temp_dir("prune-lru");
  add_entry(dir, key_for(1), "task-1", 10000);
  add_entry(dir, key_for(2), "task-2", 10000);
  add_entry(dir, key_for(3), "task-3", 10000);
  add_entry(dir, key_for(4), "task-4", 10000);
  // Stored 1..4 in that order, played 3 (long ago), then 1, then 4; 2 never (its store counts).
  set_mtime(ClipCache(dir, key_for(2)).entry_path(), 4000);
  played(dir, key_for(3), 5000);
  played(dir, key_for(1), 3000);
  played(dir, key_for(4), 1000);
  EXPECT_EQ(task_ids(CacheInventory(dir).clips()),
            (std::vector<std::string>{"task-3", "task-2", "task-1", "task-4"}));

  // task-3 is the least recently played, but an element plays it now (taking the hold stamped a
  // play: set it back).
  auto hold = std::make_unique<PlayHold>(dir, key_for(3));
  set_mtime(see2ai::play_lock_path(dir, key_for(3)), 5000);
  uint64_t one = CacheInventory(dir).clips().front().bytes;
  PruneResult result =
      see2ai::prune_cache(dir, PruneRules{one * 2, std::nullopt}, g_get_real_time());
  EXPECT_EQ(task_ids(result.removed), (std::vector<std::string>{"task-2", "task-1"}));
  ASSERT_EQ(task_ids(result.kept_in_use), std::vector<std::string>{"task-3"});
  EXPECT_TRUE(result.kept_in_use[0].held);
  EXPECT_TRUE(result.rules_met) << "within the size once two others went";
  EXPECT_EQ(result.bytes_after, 2 * one);
  EXPECT_FALSE(exists(ClipCache(dir, key_for(2)).clip_path(0)));
  EXPECT_FALSE(exists(see2ai::request_record_path(dir, key_for(1))));
  EXPECT_FALSE(exists(see2ai::play_lock_path(dir, key_for(1))));
  EXPECT_TRUE(exists(ClipCache(dir, key_for(3)).clip_path(0)));

  // Nothing may stay: the held clip does, and the rules are not met.
  result = see2ai::prune_cache(dir, PruneRules{0, std::nullopt}, g_get_real_time());
  EXPECT_EQ(task_ids(result.removed), std::vector<std::string>{"task-4"});
  EXPECT_EQ(task_ids(result.kept_in_use), std::vector<std::string>{"task-3"});
  EXPECT_FALSE(result.rules_met);
  EXPECT_TRUE(exists(ClipCache(dir, key_for(3)).clip_path(0)));

  hold.reset();
  result = see2ai::prune_cache(dir, PruneRules{0, std::nullopt}, g_get_real_time());
  EXPECT_EQ(task_ids(result.removed), std::vector<std::string>{"task-3"});
  EXPECT_TRUE(result.rules_met);
  EXPECT_TRUE(CacheInventory(dir).clips().empty());
}

TEST(CachePrune, OlderThanCountsFromTheLastPlay) {
  std::string dir = make_temp_dir("prune-age");
  add_entry(dir, key_for(1), "task-old", 1000);
  add_entry(dir, key_for(2), "task-replayed", 1000);
  set_mtime(ClipCache(dir, key_for(1)).entry_path(), 10 * 86400);
  set_mtime(ClipCache(dir, key_for(2)).entry_path(), 10 * 86400);
  played(dir, key_for(2), 3600);  // stored long ago, played an hour ago
  PruneResult result = see2ai::prune_cache(dir, PruneRules{std::nullopt, see2ai::parse_age("7d")},
                                           g_get_real_time());
  EXPECT_EQ(task_ids(result.removed), std::vector<std::string>{"task-old"});
  EXPECT_EQ(task_ids(CacheInventory(dir).clips()), std::vector<std::string>{"task-replayed"});
}

TEST(CachePrune, ARunOnTheKeyKeepsItsClipAndStraysGo) {
  std::string dir = make_temp_dir("prune-busy");
  add_entry(dir, key_for(1), "task-busy", 1000);
  // A download cut short whose task was dropped: its clip file and record only.
  write_bytes(dir + "/clips/" + key_for(2) + "-0.mp4", 500);
  see2ai::write_request_record(dir, key_for(2), RequestRecord{});
  // A run downloading now: a clip file and a journal entry, no finished entry.
  write_bytes(dir + "/clips/" + key_for(3) + "-0.mp4", 700);
  ClipCache(dir, key_for(3)).write_journal("task-downloading");

  auto lock = ClipCache(dir, key_for(1)).key_lock();
  ASSERT_TRUE(lock->try_acquire());
  CachedClip busy = CacheInventory(dir).clips().front();
  EXPECT_EQ(see2ai::remove_cached_clip(dir, busy), RemovalOutcome::Busy);
  PruneResult result = see2ai::prune_cache(dir, PruneRules{0, std::nullopt}, g_get_real_time());
  EXPECT_TRUE(result.removed.empty());
  ASSERT_EQ(task_ids(result.kept_in_use), std::vector<std::string>{"task-busy"});
  EXPECT_FALSE(result.kept_in_use[0].held) << "busy, not held";
  ASSERT_EQ(result.strays_removed.size(), 1u);
  EXPECT_EQ(result.strays_removed[0].key, key_for(2));
  EXPECT_FALSE(exists(dir + "/clips/" + key_for(2) + "-0.mp4"));
  EXPECT_FALSE(exists(see2ai::request_record_path(dir, key_for(2))));
  EXPECT_TRUE(exists(dir + "/clips/" + key_for(3) + "-0.mp4")) << "a pending task's files stay";
  lock.reset();
  EXPECT_EQ(see2ai::remove_cached_clip(dir, busy), RemovalOutcome::Removed);
}

TEST(CachePending, JournalEntriesWithoutTheirClip) {
  std::string dir = make_temp_dir("pending");
  // A refresh that died: the old clip is cached, the new task (paid) is not.
  add_entry(dir, key_for(1), "task-old-clip", 1000);
  ClipCache(dir, key_for(1)).write_journal("task-refresh");
  // A run that stored its clip and died before clearing its journal entry: nothing owed.
  add_entry(dir, key_for(2), "task-done", 1000);
  ClipCache(dir, key_for(2)).write_journal("task-done");
  // A submit whose answer never came: no task id.
  ClipCache(dir, key_for(3)).prepare();
  ASSERT_TRUE(g_file_set_contents(ClipCache(dir, key_for(3)).journal_path().c_str(),
                                  "{\"written_at_us\": 1700000000000000}", -1, nullptr));
  std::vector<PendingTask> pending = CacheInventory(dir).pending();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].key, key_for(3)) << "oldest first";
  EXPECT_EQ(pending[0].task_id, "");
  EXPECT_EQ(pending[0].submitted_at_us, 1700000000000000);
  EXPECT_EQ(pending[1].task_id, "task-refresh");
  ASSERT_TRUE(pending[1].record);
  EXPECT_EQ(pending[1].record->prompt, "prompt of task-old-clip");
  EXPECT_FALSE(pending[1].in_progress);

  // Removing the old clip keeps the record the pending task still needs.
  CachedClip old = CacheInventory(dir).clips().front();
  ASSERT_EQ(see2ai::remove_cached_clip(dir, old), RemovalOutcome::Removed);
  EXPECT_TRUE(exists(see2ai::request_record_path(dir, key_for(1))));

  auto lock = ClipCache(dir, key_for(1)).key_lock();
  ASSERT_TRUE(lock->try_acquire());
  pending = CacheInventory(dir).pending();
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_TRUE(pending[1].in_progress);
}

TEST(CacheVerify, DamagedClipsAreDroppedAndTheirTasksPendingAgain) {
  std::string dir = make_temp_dir("verify");
  see2ai::dev::RenderSpec spec;
  spec.width = 320;
  spec.height = 240;
  spec.duration_s = 1.0;
  spec.seed_text = "verify";
  for (int n : {1, 2, 3}) {
    ClipCache(dir, key_for(n)).prepare();
    see2ai::dev::render_clip(spec, ClipCache(dir, key_for(n)).clip_path(0));
    store_entry(dir, key_for(n), "task-" + std::to_string(n));
  }
  // Clip 2 loses its second half; clip 3 is played by an element.
  std::string cut = ClipCache(dir, key_for(2)).clip_path(0);
  GStatBuf st;
  ASSERT_EQ(g_stat(cut.c_str(), &st), 0);
  ASSERT_EQ(truncate(cut.c_str(), st.st_size / 2), 0);
  PlayHold hold(dir, key_for(3));

  std::vector<see2ai::VerifyOutcome> heard;
  auto outcomes = see2ai::verify_cache(dir, [&](const auto &o) { heard.push_back(o); });
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(heard.size(), 3u);
  std::map<std::string, see2ai::VerifyOutcome> by_task;
  for (const auto &o : outcomes) by_task.emplace(o.clip.output->task_id, o);
  EXPECT_EQ(by_task.at("task-1").status, VerifyStatus::Good);
  EXPECT_EQ(by_task.at("task-2").status, VerifyStatus::Dropped);
  EXPECT_NE(by_task.at("task-2").problem.find("bytes instead of"), std::string::npos)
      << by_task.at("task-2").problem;
  EXPECT_EQ(by_task.at("task-3").status, VerifyStatus::InUse);

  EXPECT_EQ(task_ids(CacheInventory(dir).clips()).size(), 2u);
  EXPECT_FALSE(exists(cut));
  std::vector<PendingTask> pending = CacheInventory(dir).pending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].task_id, "task-2");
  ASSERT_TRUE(pending[0].record);
  EXPECT_EQ(pending[0].record->prompt, "prompt of task-2");
}

// ---- caches filled by GenerationJob against the dev server -------------------------------------

class Events : public JobEvents {
 public:
  void on_task_id(const std::string &task_id, bool) override {
    std::lock_guard<std::mutex> guard(mutex);
    ids.push_back(task_id);
    changed.notify_all();
  }
  void on_estimate(const TaskOutput &, const TimeEstimate &estimate) override {
    std::lock_guard<std::mutex> guard(mutex);
    estimates.push_back(estimate);
  }
  void on_warning(const std::string &message) override {
    std::lock_guard<std::mutex> guard(mutex);
    warnings.push_back(message);
  }
  bool wait_for_task_id() {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, 30s, [&] { return !ids.empty(); });
  }
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> ids;
  std::vector<TimeEstimate> estimates;
  std::vector<std::string> warnings;
};

ClientConfig config_for(const DevServerProcess &server) {
  ClientConfig config;
  config.api_url = server.url();
  config.api_key = kKey;
  config.timeout_s = 60;
  return config;
}

GenerationRequest request_for(const std::string &prompt) {
  GenerationRequest request;
  request.prompt = prompt;
  request.duration = 4;
  request.resolution = "480p";
  request.generate_audio = false;
  request.sync = false;
  return request;
}

struct LogLine {
  std::string method, path, event, state, task_id;
  int64_t t_ms = 0;
};

std::vector<LogLine> read_log(DevServerProcess &server) {
  std::vector<LogLine> lines;
  for (const std::string &text : server.request_log()) {
    JsonParser *parser = json_parser_new();
    if (json_parser_load_from_data(parser, text.c_str(), -1, nullptr)) {
      JsonObject *object = json_node_get_object(json_parser_get_root(parser));
      auto member = [&](const char *name) {
        return std::string(json_object_get_string_member_with_default(object, name, ""));
      };
      LogLine line{member("method"),  member("path"),
                   member("event"),   member("state"),
                   member("task_id"), json_object_get_int_member_with_default(object, "t_ms", 0)};
      lines.push_back(line);
    }
    g_object_unref(parser);
  }
  return lines;
}

int count_submits(DevServerProcess &server) {
  auto log = read_log(server);
  return static_cast<int>(std::count_if(log.begin(), log.end(), [](const LogLine &l) {
    return l.event.empty() && l.method == "POST" && l.path == kSubmitPath;
  }));
}

// Records of `count` finished tasks of the kind request_for() asks, each having taken `ms`.
void seed_history(const std::string &dir, int count, int64_t ms) {
  for (int i = 0; i < count; ++i) {
    RequestRecord record = see2ai::record_for(request_for("history " + std::to_string(i)), {});
    record.submitted_at_us = g_get_real_time() - int64_t{3600} * G_USEC_PER_SEC;
    record.finished_at_us = record.submitted_at_us + ms * 1000;
    record.generation_ms = ms;
    see2ai::write_request_record(dir, key_for(100 + i), record);
  }
}

TEST(CacheHistory, SeededHistoryGivesEstimatesAndNoPollBeforeTheExpectedEnd) {
  DevServerArgs args;
  args.latency_ms = 3000;
  DevServerProcess server(args);
  std::string dir = make_temp_dir("history");
  seed_history(dir, 3, 3000);
  Events events;
  GenerationJob job(config_for(server), request_for("estimated"), events);
  job.set_cache(dir, CacheMode::Reuse);
  JobResult result = job.run();

  ASSERT_FALSE(events.estimates.empty());
  const TimeEstimate &first = events.estimates.front();
  EXPECT_EQ(first.typical_ms, 3000);
  EXPECT_LE(first.remaining_ms, 3000);
  EXPECT_GE(first.fraction, 0.0);
  for (size_t i = 1; i < events.estimates.size(); ++i) {
    EXPECT_GE(events.estimates[i].elapsed_ms, events.estimates[i - 1].elapsed_ms);
    EXPECT_GE(events.estimates[i].fraction, events.estimates[i - 1].fraction);
    EXPECT_LE(events.estimates[i].fraction, see2ai::kMaxFraction);
  }

  // The window opens 500 ms before the earliest known end, 2.5 s after the submit: no poll comes
  // before that (without a history the first one follows the submit's answer by 500 ms). The
  // server logs the submit once answered, which a loaded machine may delay.
  auto log = read_log(server);
  auto submit = std::find_if(log.begin(), log.end(), [](const LogLine &l) {
    return l.event.empty() && l.method == "POST" && l.path == kSubmitPath;
  });
  ASSERT_NE(submit, log.end());
  std::vector<int64_t> polls;
  for (const LogLine &l : log)
    if (l.event.empty() && l.method == "GET" && l.path.rfind("/api/v1/status/", 0) == 0)
      polls.push_back(l.t_ms - submit->t_ms);
  ASSERT_FALSE(polls.empty());
  EXPECT_GE(polls.front(), 1800) << "the first poll waits for the expected end";

  // The finished task joins the history with the service's own generation time.
  std::optional<RequestRecord> record =
      see2ai::read_request_record(dir, see2ai::cache_key(request_for("estimated"), server.url()));
  ASSERT_TRUE(record);
  EXPECT_EQ(record->prompt, "estimated");
  ASSERT_TRUE(record->generation_ms);
  ASSERT_TRUE(result.output.cost_time);
  EXPECT_EQ(*record->generation_ms, *result.output.cost_time);
  auto expected =
      see2ai::expected_duration(dir, see2ai::TaskKind{"doubao-seedance-2-0-260128", "480p", 4});
  ASSERT_TRUE(expected);
  EXPECT_EQ(expected->samples, 4u);
}

TEST(CacheHistory, AResumedTaskIsEstimatedFromItsOwnSubmit) {
  DevServerArgs args;
  args.latency_ms = 3000;  // still running when the resumed run first asks
  DevServerProcess server(args);
  std::string dir = make_temp_dir("history-resumed");
  seed_history(dir, 3, 22000);
  GenerationRequest request = request_for("resumed estimate");
  std::string body;
  ASSERT_EQ(server.post_json(kSubmitPath, see2ai::to_json(request), kKey, &body), 200);
  std::string task_id = see2ai::parse_task_output(body).task_id;
  // A run submitted it 20 s ago and died.
  std::string key = see2ai::cache_key(request, server.url());
  ClipCache cache(dir, key);
  cache.prepare();
  cache.write_journal(task_id);
  RequestRecord record = see2ai::record_for(request, config_for(server));
  record.submitted_at_us = g_get_real_time() - int64_t{20} * G_USEC_PER_SEC;
  see2ai::write_request_record(dir, key, record);

  Events events;
  GenerationJob job(config_for(server), request, events);
  job.set_cache(dir, CacheMode::Reuse);
  job.run();
  ASSERT_FALSE(events.estimates.empty());
  EXPECT_GE(events.estimates.front().elapsed_ms, 20000);
  EXPECT_LE(events.estimates.front().remaining_ms, 2000);
  EXPECT_EQ(count_submits(server), 1) << "only the test's own submit";
}

TEST(CacheMaxSize, JobEvictsLeastRecentlyPlayedClipsButNeverItsOwn) {
  DevServerArgs args;
  args.latency_ms = 200;
  DevServerProcess server(args);
  std::string dir = make_temp_dir("max-size");
  auto run = [&](const std::string &prompt, uint64_t max_bytes) {
    Events events;
    GenerationJob job(config_for(server), request_for(prompt), events);
    job.set_cache(dir, CacheMode::Reuse);
    job.set_cache_max_size(max_bytes);
    return job.run();
  };
  std::string first = run("bounded one", 0).output.task_id;
  uint64_t one = CacheInventory(dir).clips().front().bytes;
  std::string second = run("bounded two", 0).output.task_id;
  // Room for about two: the third run's store evicts the least recently played.
  std::string third = run("bounded three", one * 2 + one / 2).output.task_id;
  EXPECT_EQ(task_ids(CacheInventory(dir).clips()), (std::vector<std::string>{second, third}));

  // A limit nothing fits in: everything else goes, the clip this run plays stays.
  {
    JobResult fourth = run("bounded four", 1);
    EXPECT_EQ(task_ids(CacheInventory(dir).clips()),
              std::vector<std::string>{fourth.output.task_id});
    EXPECT_TRUE(CacheInventory(dir).clips().front().held) << "its files hold it";
  }
  EXPECT_FALSE(CacheInventory(dir).clips().front().held) << "released with the files";
  EXPECT_EQ(count_submits(server), 4);
  (void)first;
}

TEST(CacheCollect, PendingTaskOfACancelledRunIsFetchedWithoutASubmit) {
  DevServerArgs args;
  args.latency_ms = 1500;
  DevServerProcess server(args);
  std::string dir = make_temp_dir("collect");
  Events events;
  GenerationRequest request = request_for("collected later");
  GenerationJob job(config_for(server), request, events);
  job.set_cache(dir, CacheMode::Reuse);
  std::thread runner([&] {
    try {
      job.run();
    } catch (const see2ai::ServiceError &) {
    }
  });
  ASSERT_TRUE(events.wait_for_task_id());
  job.cancel();
  runner.join();
  std::vector<PendingTask> pending = CacheInventory(dir).pending();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].task_id, events.ids[0]);
  ASSERT_TRUE(pending[0].record);
  EXPECT_EQ(pending[0].record->prompt, "collected later");
  EXPECT_EQ(pending[0].record->api_url, server.url());

  // Hand-made journal entries beside it: no task id, and a task the service never heard of.
  ClipCache(dir, key_for(1)).prepare();
  ASSERT_TRUE(g_file_set_contents(ClipCache(dir, key_for(1)).journal_path().c_str(),
                                  "{\"written_at_us\": 1}", -1, nullptr));
  ClipCache(dir, key_for(2)).write_journal("task-nobody-knows");

  see2ai::CollectOptions options;
  options.config = config_for(server);
  std::vector<see2ai::CollectOutcome> heard;
  auto outcomes = see2ai::collect_pending(dir, options, [&](const auto &o) { heard.push_back(o); });
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(heard.size(), 3u);
  std::map<std::string, see2ai::CollectOutcome> by_key;
  for (const auto &o : outcomes) by_key.emplace(o.task.key, o);
  EXPECT_EQ(by_key.at(key_for(1)).status, CollectStatus::NoTaskId);
  EXPECT_EQ(by_key.at(key_for(2)).status, CollectStatus::Gone) << by_key.at(key_for(2)).message;
  const auto &collected = by_key.at(pending[0].key);
  EXPECT_EQ(collected.status, CollectStatus::Collected) << collected.message;
  EXPECT_GT(collected.bytes, 0u);

  EXPECT_EQ(count_submits(server), 1);
  std::vector<CachedClip> clips = CacheInventory(dir).clips();
  ASSERT_EQ(clips.size(), 1u);
  EXPECT_EQ(clips[0].output->task_id, events.ids[0]);
  EXPECT_TRUE(clips[0].problem.empty()) << clips[0].problem;
  pending = CacheInventory(dir).pending();
  ASSERT_EQ(pending.size(), 1u) << "only the one without a task id is left";
  EXPECT_EQ(pending[0].key, key_for(1));

  // The next run of the request plays the collected clip with no request at all.
  size_t requests = server.request_log().size();
  Events replay;
  GenerationJob again(config_for(server), request, replay);
  again.set_cache(dir, CacheMode::Reuse);
  EXPECT_TRUE(again.run().from_cache);
  EXPECT_EQ(server.request_log().size(), requests);
}

TEST(CacheCollect, ATaskARunFollowsIsLeftToIt) {
  DevServerArgs args;
  DevServerProcess server(args);
  std::string dir = make_temp_dir("collect-busy");
  ClipCache cache(dir, key_for(1));
  cache.prepare();
  cache.write_journal("task-followed-elsewhere");
  auto lock = cache.key_lock();
  ASSERT_TRUE(lock->try_acquire());
  see2ai::CollectOptions options;
  options.config = config_for(server);
  auto outcomes = see2ai::collect_pending(dir, options);
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].status, CollectStatus::InProgress);
  EXPECT_TRUE(exists(cache.journal_path()));
  EXPECT_TRUE(server.request_log().empty()) << "nothing asked of the service";
}

}  // namespace
