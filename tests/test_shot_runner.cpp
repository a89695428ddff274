// ShotRunner against the real dev server, without a pipeline: shots start in order with at most
// max_parallel jobs at a time, a continuity shot waits for the one before it and carries its clip,
// a stop cancels every job, and each outcome reaches the listener once.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "devserver_process.h"
#include "server_log.h"
#include "shot_runner.h"

using see2ai::ErrorKind;
using see2ai::JobEvents;
using see2ai::JobResult;
using see2ai::ServiceError;
using see2ai::Shot;
using see2ai::ShotRunner;
using see2ai::test::DevServerArgs;
using see2ai::test::DevServerProcess;
using see2ai::test::LogEntry;

namespace {

constexpr const char *kKey = "test-key-0123456789";

// Records each shot's outcome; waits for a number of them.
class Outcomes : public ShotRunner::Listener {
 public:
  JobEvents &shot_events(size_t) override { return events_; }
  void shot_succeeded(size_t index, const JobResult &result) override {
    std::lock_guard<std::mutex> guard(lock_);
    succeeded_[index] = result.output.result_urls.empty() ? "" : result.output.result_urls[0];
    order_.push_back(index);
    cond_.notify_all();
  }
  void shot_failed(size_t index, const ServiceError &error) override {
    std::lock_guard<std::mutex> guard(lock_);
    failed_.emplace(index, error.kind);
    order_.push_back(index);
    cond_.notify_all();
  }
  bool wait_for(size_t count) {
    std::unique_lock<std::mutex> guard(lock_);
    return cond_.wait_for(guard, std::chrono::seconds(120), [&] { return order_.size() >= count; });
  }
  std::map<size_t, std::string> succeeded() {
    std::lock_guard<std::mutex> guard(lock_);
    return succeeded_;
  }
  std::map<size_t, ErrorKind> failed() {
    std::lock_guard<std::mutex> guard(lock_);
    return failed_;
  }

 private:
  JobEvents events_;
  std::mutex lock_;
  std::condition_variable cond_;
  std::map<size_t, std::string> succeeded_;
  std::map<size_t, ErrorKind> failed_;
  std::vector<size_t> order_;
};

Shot shot(const std::string &prompt, bool continue_previous = false) {
  Shot made;
  made.request.prompt = prompt;
  made.request.duration = 4;
  made.request.resolution = "480p";
  made.request.generate_audio = false;
  made.request.sync = false;
  made.play.continue_previous = continue_previous;
  return made;
}

ShotRunner::Settings settings(const DevServerProcess &server, size_t max_parallel) {
  ShotRunner::Settings made;
  made.client.api_url = server.url();
  made.client.api_key = kKey;
  made.client.poll_interval_ms = 100;
  made.max_parallel = max_parallel;
  return made;
}

// The times (ms) at which the server received each submit, and at which each task succeeded.
struct Timeline {
  std::vector<long> submits;
  std::vector<long> successes;
};

Timeline timeline_of(DevServerProcess &server) {
  Timeline made;
  for (const LogEntry &e : see2ai::test::read_log(server)) {
    if (e.is_submit()) made.submits.push_back(e.received_ms);
    if (e.event == "state" && e.state == "succeeded") made.successes.push_back(e.t_ms);
  }
  std::sort(made.submits.begin(), made.submits.end());
  std::sort(made.successes.begin(), made.successes.end());
  return made;
}

TEST(ShotRunner, AtMostMaxParallelShotsGenerateAtOnce) {
  DevServerArgs args;
  args.latency_ms = 1500;
  DevServerProcess server(args);
  Outcomes outcomes;
  ShotRunner runner(settings(server, 2), outcomes);
  for (const char *prompt : {"p-one", "p-two", "p-three", "p-four"}) runner.add(shot(prompt));
  runner.start();
  ASSERT_TRUE(outcomes.wait_for(4));
  runner.stop();
  EXPECT_EQ(outcomes.succeeded().size(), 4u);
  const Timeline log = timeline_of(server);
  ASSERT_EQ(log.submits.size(), 4u);
  ASSERT_EQ(log.successes.size(), 4u);
  // The third submit waits for a first task to end, the fourth for a second.
  EXPECT_GE(log.submits[2], log.successes[0]);
  EXPECT_GE(log.submits[3], log.successes[1]);
}

TEST(ShotRunner, AContinuityShotWaitsForThePreviousClipAndCarriesIt) {
  DevServerProcess server;
  Outcomes outcomes;
  ShotRunner runner(settings(server, 3), outcomes);
  runner.add(shot("c-first"));
  runner.add(shot("c-second", true));
  runner.start();
  ASSERT_TRUE(outcomes.wait_for(2));
  runner.stop();
  const auto clips = outcomes.succeeded();
  ASSERT_EQ(clips.size(), 2u);
  const Timeline log = timeline_of(server);
  ASSERT_EQ(log.submits.size(), 2u);
  EXPECT_GE(log.submits[1], log.successes[0]) << "the second shot waited for the first";
  bool carried = false;
  for (const auto &line : server.request_log())
    carried |= line.find("\"event\":\"submit\"") != std::string::npos &&
               line.find("c-second") != std::string::npos &&
               line.find(clips.at(0).substr(clips.at(0).find("/files/"))) != std::string::npos;
  EXPECT_TRUE(carried);
}

TEST(ShotRunner, AContinuityShotAfterAFailedOneFailsWithoutASubmit) {
  DevServerProcess server;
  server.add_faults(R"([{"match":"submit","prompt":"f-first","task_outcome":"failed"}])");
  Outcomes outcomes;
  ShotRunner runner(settings(server, 2), outcomes);
  runner.add(shot("f-first"));
  runner.add(shot("f-second", true));
  runner.start();
  ASSERT_TRUE(outcomes.wait_for(2));
  runner.stop();
  const auto failed = outcomes.failed();
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed.at(0), ErrorKind::Failed);
  EXPECT_EQ(failed.at(1), ErrorKind::Settings);
  EXPECT_EQ(see2ai::test::count_submits(server), 1u);
}

TEST(ShotRunner, AStopCancelsEveryRunningJob) {
  DevServerArgs args;
  args.latency_ms = 60000;
  DevServerProcess server(args);
  Outcomes outcomes;
  ShotRunner runner(settings(server, 2), outcomes);
  runner.add(shot("s-one"));
  runner.add(shot("s-two"));
  runner.add(shot("s-three"));
  runner.start();
  ASSERT_TRUE(see2ai::test::wait_for_log(
      server,
      [](const std::vector<LogEntry> &log) {
        return std::count_if(log.begin(), log.end(),
                             [](const LogEntry &e) { return e.is_submit(); }) == 2;
      },
      30));
  runner.stop();
  const auto failed = outcomes.failed();
  ASSERT_EQ(failed.size(), 2u) << "the two running jobs, not the third";
  for (const auto &[index, kind] : failed) EXPECT_EQ(kind, ErrorKind::Cancelled) << index;
  EXPECT_EQ(see2ai::test::count_submits(server), 2u);
}

TEST(ShotRunner, AShotAddedWhileItRunsIsGeneratedInItsTurn) {
  DevServerProcess server;
  Outcomes outcomes;
  ShotRunner runner(settings(server, 1), outcomes);
  runner.add(shot("a-first"));
  runner.start();
  ASSERT_TRUE(outcomes.wait_for(1));
  EXPECT_EQ(runner.add(shot("a-later")), 1u);
  ASSERT_TRUE(outcomes.wait_for(2));
  runner.stop();
  EXPECT_EQ(outcomes.succeeded().size(), 2u);
  EXPECT_EQ(runner.size(), 2u);
}

}  // namespace
