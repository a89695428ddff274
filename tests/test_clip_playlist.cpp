// ClipPlaylist: what the streaming side plays next, without a pipeline. The job's side is driven
// directly (file_started, job_succeeded, job_failed) with real GrowingFiles; the waits are woken
// from a second thread the way the job's thread wakes them.
#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "clip_playlist.h"
#include "growing_file.h"

using see2ai::ClipPlaylist;
using see2ai::ErrorKind;
using see2ai::GrowingFile;
using see2ai::RunState;
using see2ai::ServiceError;
using see2ai::ShotFailurePolicy;
using Kind = ClipPlaylist::Next::Kind;

namespace {

std::shared_ptr<GrowingFile> whole_file(const char *name) {
  auto file = std::make_shared<GrowingFile>(std::string("/nonexistent/") + name);
  file->finish();
  return file;
}

std::shared_ptr<GrowingFile> growing_file(const char *name) {
  return std::make_shared<GrowingFile>(std::string("/nonexistent/") + name);
}

TEST(ClipPlaylist, IsStoppedUntilStartedAndGeneratingUntilAFileIsHandedOver) {
  ClipPlaylist playlist;
  EXPECT_EQ(playlist.state(), RunState::Stopped);
  playlist.start(false);
  EXPECT_EQ(playlist.state(), RunState::Generating);
  auto file = growing_file("a.mp4");
  std::thread job([&] { playlist.file_started(0, file); });
  ClipPlaylist::Next next = playlist.next();
  job.join();
  EXPECT_EQ(next.kind, Kind::File);
  EXPECT_EQ(next.file, file);
  EXPECT_EQ(next.index, 0u);
  EXPECT_EQ(playlist.state(), RunState::Streaming);
}

TEST(ClipPlaylist, PlaysSeveralFilesInOrderThenFinishes) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto first = whole_file("1.mp4");
  auto second = whole_file("2.mp4");
  playlist.job_succeeded({first, second});
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.file, first);
  EXPECT_TRUE(playlist.finish_file());
  next = playlist.next();
  EXPECT_EQ(next.kind, Kind::File);
  EXPECT_EQ(next.file, second);
  EXPECT_EQ(next.index, 1u);
  EXPECT_FALSE(playlist.finish_file());
  EXPECT_EQ(playlist.state(), RunState::Ended);
}

TEST(ClipPlaylist, ADownloadStartedFirstIsPlayedAndKeptWhenTheJobEnds) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto growing = growing_file("1.mp4");
  playlist.file_started(0, growing);
  EXPECT_EQ(playlist.next().file, growing);
  growing->finish();
  // The job's list holds its own object for the same file: the one being played stays.
  playlist.job_succeeded({whole_file("1-again.mp4")});
  EXPECT_EQ(playlist.next().file, growing);
}

TEST(ClipPlaylist, WaitsForAFileTheJobMayStillAddAfterTheCurrentOneEnds) {
  ClipPlaylist playlist;
  playlist.start(false);
  playlist.file_started(0, whole_file("1.mp4"));
  playlist.next();
  EXPECT_TRUE(playlist.finish_file()) << "the job has not ended: a second file may come";
  auto second = whole_file("2.mp4");
  std::thread job([&] { playlist.file_started(1, second); });
  ClipPlaylist::Next next = playlist.next();
  job.join();
  EXPECT_EQ(next.kind, Kind::File);
  EXPECT_EQ(next.file, second);
}

TEST(ClipPlaylist, FinishesWhenTheJobEndsWithoutAnotherFile) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto file = whole_file("1.mp4");
  playlist.file_started(0, file);
  playlist.next();
  EXPECT_TRUE(playlist.finish_file());
  std::thread job([&] { playlist.job_succeeded({file}); });
  ClipPlaylist::Next next = playlist.next();
  job.join();
  EXPECT_EQ(next.kind, Kind::Finished);
  EXPECT_EQ(next.index, 1u);
  EXPECT_EQ(playlist.state(), RunState::Ended);
}

TEST(ClipPlaylist, ATaskWithoutFilesFinishesAtIndexZero) {
  ClipPlaylist playlist;
  playlist.start(false);
  playlist.job_succeeded({});
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::Finished);
  EXPECT_EQ(next.index, 0u);
}

TEST(ClipPlaylist, LoopingWrapsToTheFirstFileForever) {
  ClipPlaylist playlist;
  playlist.start(true);
  auto first = whole_file("1.mp4");
  auto second = whole_file("2.mp4");
  playlist.job_succeeded({first, second});
  for (int play = 0; play < 3; ++play) {
    EXPECT_EQ(playlist.next().file, first) << "play " << play;
    EXPECT_TRUE(playlist.finish_file());
    EXPECT_EQ(playlist.next().file, second) << "play " << play;
    EXPECT_TRUE(playlist.finish_file());
  }
  EXPECT_EQ(playlist.state(), RunState::Streaming);
}

TEST(ClipPlaylist, LoopingWrapsWhenTheFileEndedJustBeforeTheJob) {
  // The decoder reaches the end of a download the moment it finishes, while the job's thread is
  // still reporting the result: the loop must not end there.
  ClipPlaylist playlist;
  playlist.start(true);
  auto file = growing_file("1.mp4");
  playlist.file_started(0, file);
  EXPECT_EQ(playlist.next().file, file);
  file->finish();
  EXPECT_TRUE(playlist.finish_file());
  std::thread job([&] { playlist.job_succeeded({file}); });
  ClipPlaylist::Next next = playlist.next();
  job.join();
  EXPECT_EQ(next.kind, Kind::File);
  EXPECT_EQ(next.file, file);
  EXPECT_EQ(next.index, 0u);
}

TEST(ClipPlaylist, AFailedJobIsReportedOnceAndEndsTheRun) {
  ClipPlaylist playlist;
  playlist.start(false);
  std::thread job([&] {
    playlist.job_failed(ServiceError(ErrorKind::Failed, "task failed", 200, "t-1", "failed"));
  });
  ClipPlaylist::Next next = playlist.next();
  job.join();
  ASSERT_EQ(next.kind, Kind::Failed);
  ASSERT_TRUE(next.error);
  EXPECT_EQ(next.error->task_id, "t-1");
  EXPECT_STREQ(next.error->what(), "task failed");
  EXPECT_EQ(playlist.state(), RunState::Ended);
  EXPECT_FALSE(playlist.failure_behind_media_error().has_value()) << "handed out already";
}

TEST(ClipPlaylist, AFailureAfterAPlayedFileEndsTheRunWithIt) {
  ClipPlaylist playlist;
  playlist.start(false);
  playlist.file_started(0, whole_file("1.mp4"));
  playlist.next();
  EXPECT_TRUE(playlist.finish_file());
  playlist.job_failed(ServiceError(ErrorKind::Read, "second download cut"));
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::Failed);
  EXPECT_EQ(next.index, 1u);
}

TEST(ClipPlaylist, AStopWakesAWaitingStreamingSideAndWinsOverEverything) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto file = growing_file("1.mp4");
  playlist.file_started(1, file);  // not the one awaited
  std::thread stopper([&] { playlist.stop(); });
  ClipPlaylist::Next next = playlist.next();
  stopper.join();
  EXPECT_EQ(next.kind, Kind::Stopping);
  EXPECT_EQ(playlist.state(), RunState::Stopped);
  EXPECT_TRUE(file->cancelled()) << "readers of every file are woken too";
  playlist.request_end();
  playlist.job_succeeded({file});
  EXPECT_EQ(playlist.next().kind, Kind::Stopping);
  EXPECT_TRUE(playlist.finish_file()) << "the streaming side asks next() and learns it is stopping";
  EXPECT_EQ(playlist.next().kind, Kind::Stopping);
  EXPECT_EQ(playlist.state(), RunState::Stopped);
}

TEST(ClipPlaylist, AnEndRequestWakesTheWaitWithoutChangingTheState) {
  ClipPlaylist playlist;
  playlist.start(false);
  std::thread app([&] { playlist.request_end(); });
  ClipPlaylist::Next next = playlist.next();
  app.join();
  EXPECT_EQ(next.kind, Kind::EndRequested);
  EXPECT_TRUE(playlist.end_requested());
  EXPECT_EQ(playlist.state(), RunState::Generating) << "nothing was on air yet";
  playlist.start(false);
  EXPECT_FALSE(playlist.end_requested()) << "a new run forgets it";
}

TEST(ClipPlaylist, TheJobsFailureExplainsAMediaErrorOfAFailedDownload) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto file = growing_file("1.mp4");
  playlist.file_started(0, file);
  playlist.next();
  file->fail("connection reset");
  std::thread job([&] { playlist.job_failed(ServiceError(ErrorKind::Read, "download failed")); });
  std::optional<ServiceError> failure = playlist.failure_behind_media_error();
  job.join();
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->kind, ErrorKind::Read);
}

TEST(ClipPlaylist, AStopWakesTheWaitForTheFailureBehindAMediaError) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto file = growing_file("1.mp4");
  playlist.file_started(0, file);
  playlist.next();
  file->fail("connection reset");
  std::thread stopper([&] { playlist.stop(); });
  std::optional<ServiceError> failure = playlist.failure_behind_media_error();
  stopper.join();
  EXPECT_FALSE(failure.has_value()) << "the job has not ended";
  EXPECT_EQ(playlist.state(), RunState::Stopped);
}

TEST(ClipPlaylist, AFailedJobEndsEvenALoop) {
  ClipPlaylist playlist;
  playlist.start(true);
  playlist.file_started(0, whole_file("1.mp4"));
  playlist.next();
  playlist.job_failed(ServiceError(ErrorKind::Read, "second download cut"));
  EXPECT_TRUE(playlist.finish_file());
  EXPECT_EQ(playlist.next().kind, Kind::Failed) << "the first file does not loop silently";
  EXPECT_EQ(playlist.state(), RunState::Ended);
}

TEST(ClipPlaylist, AMediaErrorOfAWholeFileHasNoFailureBehindIt) {
  ClipPlaylist playlist;
  playlist.start(false);
  playlist.file_started(0, whole_file("1.mp4"));
  playlist.next();
  EXPECT_FALSE(playlist.failure_behind_media_error().has_value());
}

TEST(ClipPlaylist, SeeksNeedTheTaskToHaveOneFileWholeOrDownloading) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto growing = growing_file("1.mp4");
  EXPECT_EQ(playlist.seekable_file(), nullptr) << "nothing yet";
  playlist.set_file_count(1);
  EXPECT_EQ(playlist.seekable_file(), nullptr) << "no download started yet";
  playlist.file_started(0, growing);
  EXPECT_EQ(playlist.seekable_file(), growing) << "still downloading: the seek waits for bytes";
  growing->finish();
  playlist.job_succeeded({growing});
  EXPECT_EQ(playlist.seekable_file(), growing);

  playlist.start(false);
  playlist.file_started(0, growing_file("1.mp4"));
  EXPECT_EQ(playlist.seekable_file(), nullptr) << "how many files the task has is not known yet";

  playlist.start(false);
  playlist.set_file_count(2);
  playlist.file_started(0, growing_file("1.mp4"));
  EXPECT_EQ(playlist.seekable_file(), nullptr) << "several files";
  playlist.start(false);
  playlist.job_succeeded({whole_file("1.mp4"), whole_file("2.mp4")});
  EXPECT_EQ(playlist.seekable_file(), nullptr) << "several files";

  playlist.start(false);
  playlist.job_failed(ServiceError(ErrorKind::Failed, "failed"));
  EXPECT_EQ(playlist.seekable_file(), nullptr) << "a failed job";

  playlist.start(false);
  playlist.job_succeeded({whole_file("1.mp4")});
  playlist.stop();
  EXPECT_EQ(playlist.seekable_file(), nullptr) << "stopping";
}

TEST(ClipPlaylist, ASeekInterruptsAReadWaitingForBytesAndReadsWaitAgainAfterIt) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto growing = growing_file("1.mp4");
  playlist.set_file_count(1);
  playlist.file_started(0, growing);
  EXPECT_EQ(playlist.next().file, growing);
  uint8_t byte = 0;
  std::thread reader([&] { EXPECT_EQ(growing->read_at(0, &byte, 1), -1); });
  playlist.interrupt_reads();
  reader.join();
  EXPECT_TRUE(growing->cancelled());
  playlist.resume_reads();
  EXPECT_FALSE(growing->cancelled());
  // A stop wins over the end of a seek: the reads stay cancelled.
  playlist.interrupt_reads();
  playlist.stop();
  playlist.resume_reads();
  EXPECT_TRUE(growing->cancelled());
}

TEST(ClipPlaylist, RewindPlaysTheFirstFileAgainAfterTheEnd) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto file = whole_file("1.mp4");
  playlist.job_succeeded({file});
  playlist.next();
  EXPECT_FALSE(playlist.finish_file());
  EXPECT_EQ(playlist.state(), RunState::Ended);
  playlist.rewind();
  EXPECT_EQ(playlist.state(), RunState::Streaming);
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.file, file);
  EXPECT_EQ(next.index, 0u);
}

TEST(ClipPlaylist, ForgetsItsFilesSoTemporaryOnesCanGo) {
  ClipPlaylist playlist;
  playlist.start(false);
  auto file = whole_file("1.mp4");
  playlist.job_succeeded({file});
  EXPECT_EQ(file.use_count(), 2);
  playlist.stop();
  playlist.forget_files();
  EXPECT_EQ(file.use_count(), 1);
}

// ---- Shots: a sequence of requests' clips ----

TEST(ClipPlaylist, ShotsPlayInOrderAndEachGoesOnAirOnce) {
  ClipPlaylist playlist;
  playlist.start(false);
  EXPECT_EQ(playlist.add_shot(), 0u);
  EXPECT_EQ(playlist.add_shot(), 1u);
  auto a = whole_file("a.mp4");
  auto b1 = whole_file("b1.mp4");
  auto b2 = whole_file("b2.mp4");
  playlist.job_succeeded({b1, b2}, 1);  // the later shot may be ready first
  std::thread job([&] { playlist.file_started(0, a, 0); });
  ClipPlaylist::Next next = playlist.next();
  job.join();
  EXPECT_EQ(next.file, a);
  EXPECT_EQ(next.shot, 0u);
  EXPECT_TRUE(next.new_shot);
  playlist.job_succeeded({a}, 0);
  EXPECT_TRUE(playlist.finish_file());
  next = playlist.next();
  EXPECT_EQ(next.file, b1);
  EXPECT_EQ(next.shot, 1u);
  EXPECT_TRUE(next.new_shot);
  EXPECT_TRUE(playlist.finish_file());
  next = playlist.next();
  EXPECT_EQ(next.file, b2);
  EXPECT_FALSE(next.new_shot) << "the shot's second file";
  EXPECT_FALSE(playlist.finish_file());
  EXPECT_EQ(playlist.state(), RunState::Ended);
}

TEST(ClipPlaylist, AFailedMiddleShotIsSkippedAndTheNextPlays) {
  ClipPlaylist playlist;
  playlist.start(false);
  for (int i = 0; i < 3; ++i) playlist.add_shot();
  auto a = whole_file("a.mp4");
  auto c = whole_file("c.mp4");
  playlist.job_succeeded({a}, 0);
  playlist.job_failed(ServiceError(ErrorKind::Failed, "task failed", 200, "t-2", "failed"), 1);
  playlist.job_succeeded({c}, 2);
  EXPECT_EQ(playlist.next().file, a);
  EXPECT_TRUE(playlist.finish_file());
  ClipPlaylist::Next next = playlist.next();
  ASSERT_EQ(next.kind, Kind::Skipped);
  EXPECT_EQ(next.shot, 1u);
  ASSERT_TRUE(next.error);
  EXPECT_EQ(next.error->task_id, "t-2");
  next = playlist.next();
  EXPECT_EQ(next.file, c);
  EXPECT_EQ(next.shot, 2u);
  EXPECT_FALSE(playlist.finish_file());
}

TEST(ClipPlaylist, TheEndPolicyEndsTheRunAtTheFailedShotsTurn) {
  ClipPlaylist playlist;
  playlist.start(false, ShotFailurePolicy::End);
  playlist.add_shot();
  playlist.add_shot();
  playlist.job_failed(ServiceError(ErrorKind::Failed, "task failed"), 1);
  playlist.job_succeeded({whole_file("a.mp4")}, 0);
  EXPECT_EQ(playlist.next().kind, Kind::File) << "the shots before it play";
  EXPECT_TRUE(playlist.finish_file());
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::Failed);
  EXPECT_EQ(next.shot, 1u);
  EXPECT_EQ(playlist.state(), RunState::Ended);
}

TEST(ClipPlaylist, AFailureIsAnErrorWhenNoOtherShotWasEverOnAir) {
  ClipPlaylist playlist;
  playlist.start(false);
  playlist.add_shot();
  playlist.add_shot();
  playlist.job_failed(ServiceError(ErrorKind::Failed, "first failed"), 0);
  playlist.job_failed(ServiceError(ErrorKind::Failed, "second failed"), 1);
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::Skipped) << "another shot could still play";
  EXPECT_EQ(next.shot, 0u);
  next = playlist.next();
  ASSERT_EQ(next.kind, Kind::Failed);
  EXPECT_STREQ(next.error->what(), "second failed");
}

TEST(ClipPlaylist, AFailedLastShotAfterOthersPlayedIsSkippedThenTheRunFinishes) {
  ClipPlaylist playlist;
  playlist.start(false);
  playlist.add_shot();
  playlist.add_shot();
  playlist.job_succeeded({whole_file("a.mp4")}, 0);
  playlist.job_failed(ServiceError(ErrorKind::Failed, "last failed"), 1);
  playlist.next();
  EXPECT_TRUE(playlist.finish_file());
  EXPECT_EQ(playlist.next().kind, Kind::Skipped);
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::Finished);
  EXPECT_FALSE(next.nothing_aired);
}

TEST(ClipPlaylist, LoopingTheCurrentShotPlaysAgainUntilTheNextIsReady) {
  ClipPlaylist playlist;
  playlist.start(true);
  playlist.add_shot();
  playlist.add_shot();
  auto a = whole_file("a.mp4");
  auto b = growing_file("b.mp4");
  playlist.job_succeeded({a}, 0);
  EXPECT_EQ(playlist.next().file, a);
  playlist.file_started(0, b, 1);  // downloading: not ready yet
  EXPECT_FALSE(playlist.switch_due());
  EXPECT_TRUE(playlist.finish_file());
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.file, a);
  EXPECT_FALSE(next.new_shot) << "a replay";
  b->finish();
  playlist.job_succeeded({b}, 1);
  EXPECT_TRUE(playlist.switch_due());
  EXPECT_TRUE(playlist.finish_file());
  next = playlist.next();
  EXPECT_EQ(next.file, b);
  EXPECT_TRUE(next.new_shot);
  EXPECT_TRUE(playlist.finish_file());
  EXPECT_EQ(playlist.next().file, b) << "the last shot loops forever";
}

TEST(ClipPlaylist, ASwitchAtOnceLeavesTheCurrentShotMidPlay) {
  ClipPlaylist playlist;
  playlist.start(true);
  playlist.add_shot();
  playlist.add_shot();
  auto a = whole_file("a.mp4");
  auto b = whole_file("b.mp4");
  playlist.job_succeeded({a}, 0);
  playlist.next();
  playlist.job_succeeded({b}, 1);
  ASSERT_TRUE(playlist.switch_due());
  playlist.switch_now();
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.file, b);
  EXPECT_EQ(next.shot, 1u);
  EXPECT_FALSE(playlist.switch_due());
}

TEST(ClipPlaylist, LoopingShotsGoOnAirInOrder) {
  ClipPlaylist playlist;
  playlist.start(true);
  for (int i = 0; i < 3; ++i) playlist.add_shot();
  playlist.job_succeeded({whole_file("a.mp4")}, 0);
  playlist.next();
  playlist.job_succeeded({whole_file("c.mp4")}, 2);
  EXPECT_FALSE(playlist.switch_due()) << "shot 1 is still generating";
  playlist.job_failed(ServiceError(ErrorKind::Failed, "shot 1 failed"), 1);
  EXPECT_TRUE(playlist.switch_due()) << "a failed shot holds nothing back";
  EXPECT_TRUE(playlist.finish_file());
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::Skipped);
  EXPECT_EQ(next.shot, 1u);
  next = playlist.next();
  EXPECT_EQ(next.shot, 2u);
  EXPECT_TRUE(next.new_shot);
}

TEST(ClipPlaylist, AFailedLastShotKeepsTheLastGoodOneLooping) {
  ClipPlaylist playlist;
  playlist.start(true);
  playlist.add_shot();
  playlist.add_shot();
  auto a = whole_file("a.mp4");
  playlist.job_succeeded({a}, 0);
  playlist.next();
  playlist.job_failed(ServiceError(ErrorKind::Failed, "shot 1 failed"), 1);
  EXPECT_TRUE(playlist.finish_file());
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::Skipped) << "reported as the loop passes it over";
  EXPECT_EQ(next.shot, 1u);
  next = playlist.next();
  EXPECT_EQ(next.file, a) << "nothing to switch to: shot 0 plays again";
  playlist.add_shot();
  auto c = whole_file("c.mp4");
  playlist.job_succeeded({c}, 2);
  EXPECT_TRUE(playlist.finish_file());
  next = playlist.next();
  EXPECT_EQ(next.file, c) << "shot 1 is not reported twice";
  EXPECT_EQ(next.shot, 2u);
}

TEST(ClipPlaylist, LoopingWithTheEndPolicyEndsAtTheFailedNextShot) {
  ClipPlaylist playlist;
  playlist.start(true, ShotFailurePolicy::End);
  for (int i = 0; i < 3; ++i) playlist.add_shot();
  playlist.job_succeeded({whole_file("a.mp4")}, 0);
  playlist.next();
  playlist.job_failed(ServiceError(ErrorKind::Failed, "shot 1 failed"), 1);
  playlist.job_succeeded({whole_file("c.mp4")}, 2);
  EXPECT_FALSE(playlist.switch_due()) << "the failed shot's turn comes first";
  EXPECT_TRUE(playlist.finish_file());
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::Failed);
  EXPECT_EQ(next.shot, 1u);
}

TEST(ClipPlaylist, AFailureThatEndedTheRunIsNotReportedAgainAfterASeekBack) {
  ClipPlaylist playlist;
  playlist.start(false, ShotFailurePolicy::End);
  playlist.add_shot();
  playlist.add_shot();
  playlist.job_succeeded({whole_file("a.mp4")}, 0);
  playlist.job_failed(ServiceError(ErrorKind::Failed, "shot 1 failed"), 1);
  playlist.next();
  EXPECT_TRUE(playlist.finish_file());
  EXPECT_EQ(playlist.next().kind, Kind::Failed);
  playlist.seek_to_shot(0);
  EXPECT_EQ(playlist.next().kind, Kind::File);
  EXPECT_TRUE(playlist.finish_file());
  EXPECT_EQ(playlist.next().kind, Kind::Finished);
}

TEST(ClipPlaylist, ABrokenShotIsLeftBehindWhenAnotherCanPlay) {
  ClipPlaylist playlist;
  playlist.start(false);
  playlist.add_shot();
  playlist.add_shot();
  auto broken = whole_file("broken.mp4");
  auto b = whole_file("b.mp4");
  playlist.job_succeeded({broken}, 0);
  playlist.job_succeeded({b}, 1);
  playlist.next();
  EXPECT_FALSE(playlist.failure_behind_media_error().has_value()) << "the download was whole";
  EXPECT_TRUE(playlist.skip_broken_shot());
  ClipPlaylist::Next next = playlist.next();
  EXPECT_EQ(next.kind, Kind::File) << "reported by the element, not skipped again";
  EXPECT_EQ(next.file, b);
  EXPECT_TRUE(playlist.skip_broken_shot()) << "a warning: another shot was on air";
  EXPECT_EQ(playlist.next().kind, Kind::Finished);
}

TEST(ClipPlaylist, ABrokenOnlyShotEndsTheRun) {
  ClipPlaylist playlist;
  playlist.start(true);
  playlist.add_shot();
  playlist.job_succeeded({whole_file("broken.mp4")}, 0);
  playlist.next();
  EXPECT_FALSE(playlist.skip_broken_shot());
  EXPECT_EQ(playlist.state(), RunState::Ended);
}

TEST(ClipPlaylist, SeveralShotsAreNotSeekableAsOneFile) {
  ClipPlaylist playlist;
  playlist.start(false);
  playlist.add_shot();
  playlist.job_succeeded({whole_file("a.mp4")}, 0);
  EXPECT_NE(playlist.seekable_file(), nullptr);
  playlist.add_shot();
  EXPECT_EQ(playlist.seekable_file(), nullptr);
}

TEST(ClipPlaylist, StateNamesAreStable) {
  EXPECT_STREQ(see2ai::run_state_name(RunState::Stopped), "stopped");
  EXPECT_STREQ(see2ai::run_state_name(RunState::Generating), "generating");
  EXPECT_STREQ(see2ai::run_state_name(RunState::Streaming), "streaming");
  EXPECT_STREQ(see2ai::run_state_name(RunState::Ended), "ended");
}

}  // namespace
