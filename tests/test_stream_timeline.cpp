// StreamTimeline: where decoded frames go in stream time, without a pipeline: result files and
// loops one after another, the loop's sound trim, seeks, segment stops, the position, live.
#include <gtest/gtest.h>

#include "stream_timeline.h"

using see2ai::StreamTimeline;
using Stream = StreamTimeline::Stream;

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kFrame = 40 * kMs;                   // 25 fps
constexpr int64_t kAac = 1024 * 1000000000LL / 48000;  // one AAC frame at 48 kHz: 21.33 ms

TEST(StreamTimeline, FirstFileStartsAtZeroAndThePositionIsTheLatestEnd) {
  StreamTimeline timeline;
  timeline.start(false);
  timeline.start_file(2000 * kMs);
  EXPECT_EQ(timeline.file_offset(), 0u);
  StreamTimeline::Placement video = timeline.place(Stream::Video, 0, kFrame);
  EXPECT_FALSE(video.drop);
  EXPECT_EQ(video.pts, 0u);
  EXPECT_EQ(video.duration, static_cast<uint64_t>(kFrame));
  EXPECT_FALSE(video.keep_samples);
  timeline.place(Stream::Audio, 0, kAac, 48000);
  EXPECT_EQ(timeline.position(), static_cast<uint64_t>(kFrame));
  timeline.place(Stream::Video, kFrame, kFrame);
  EXPECT_EQ(timeline.position(), static_cast<uint64_t>(2 * kFrame));
}

TEST(StreamTimeline, ANegativeTimestampCountsAsZero) {
  StreamTimeline timeline;
  timeline.start(false);
  timeline.start_file(-1);
  StreamTimeline::Placement placement = timeline.place(Stream::Audio, -21 * kMs, kAac, 48000);
  EXPECT_EQ(placement.pts, 0u);
  EXPECT_EQ(placement.duration, static_cast<uint64_t>(kAac));
}

TEST(StreamTimeline, ALaterFileFollowsTheLaterOfBothEnds) {
  StreamTimeline timeline;
  timeline.start(false);
  timeline.start_file(1000 * kMs);
  timeline.place(Stream::Video, 1000 * kMs - kFrame, kFrame);         // picture ends at 1.000 s
  timeline.place(Stream::Audio, 1000 * kMs - 10 * kMs, kAac, 48000);  // sound at 1.0113 s
  const uint64_t sound_end = 1000 * kMs - 10 * kMs + kAac;
  timeline.start_file(500 * kMs);
  EXPECT_EQ(timeline.file_offset(), sound_end) << "without looping the sound is not trimmed";
  StreamTimeline::Placement first = timeline.place(Stream::Video, 0, kFrame);
  EXPECT_EQ(first.pts, sound_end);
  EXPECT_EQ(timeline.position(), sound_end + kFrame);
}

TEST(StreamTimeline, LoopingTrimsEachPlaysSoundToItsPicture) {
  StreamTimeline timeline;
  timeline.start(true);
  for (int play = 0; play < 3; ++play) {
    timeline.start_file(1000 * kMs);
    const uint64_t offset = static_cast<uint64_t>(play) * 1000 * kMs;
    EXPECT_EQ(timeline.file_offset(), offset) << "play " << play;
    timeline.place(Stream::Video, 1000 * kMs - kFrame, kFrame);
    // The last AAC frame starts 10 ms before the picture ends: 480 of its samples stay.
    StreamTimeline::Placement cut = timeline.place(Stream::Audio, 990 * kMs, kAac, 48000);
    EXPECT_FALSE(cut.drop);
    EXPECT_EQ(cut.pts, offset + 990 * kMs);
    EXPECT_EQ(cut.duration, static_cast<uint64_t>(10 * kMs));
    ASSERT_TRUE(cut.keep_samples);
    EXPECT_EQ(*cut.keep_samples, 480u);
    // AAC's padding frame lies wholly after the picture: dropped.
    EXPECT_TRUE(timeline.place(Stream::Audio, 990 * kMs + kAac, kAac, 48000).drop);
    EXPECT_EQ(timeline.position(), offset + 1000 * kMs);
  }
}

TEST(StreamTimeline, AFrameEndingExactlyWithThePictureIsKeptWhole) {
  StreamTimeline timeline;
  timeline.start(true);
  timeline.start_file(kAac * 10);
  StreamTimeline::Placement last = timeline.place(Stream::Audio, kAac * 9, kAac, 48000);
  EXPECT_FALSE(last.drop);
  EXPECT_FALSE(last.keep_samples);
  EXPECT_EQ(last.duration, static_cast<uint64_t>(kAac));
}

TEST(StreamTimeline, NoTrimWithoutAPictureToEndWith) {
  StreamTimeline timeline;
  timeline.start(true);
  timeline.start_file(-1);  // a sound-only clip, or a video stream without a pad
  StreamTimeline::Placement placement = timeline.place(Stream::Audio, 5000 * kMs, kAac, 48000);
  EXPECT_FALSE(placement.drop);
  EXPECT_FALSE(placement.keep_samples);
  timeline.start_file(-1);
  EXPECT_EQ(timeline.file_offset(), static_cast<uint64_t>(5000 * kMs + kAac));
}

TEST(StreamTimeline, ASeekRestartsTimeAtItsTarget) {
  StreamTimeline timeline;
  timeline.start(false);
  timeline.start_file(4000 * kMs);
  timeline.place(Stream::Video, 3000 * kMs, kFrame);
  timeline.seek(1500 * kMs);
  EXPECT_EQ(timeline.position(), static_cast<uint64_t>(1500 * kMs));
  EXPECT_EQ(timeline.file_offset(), 0u);
  StreamTimeline::Placement placement = timeline.place(Stream::Video, 1520 * kMs, kFrame);
  EXPECT_EQ(placement.pts, static_cast<uint64_t>(1520 * kMs));
  EXPECT_EQ(timeline.position(), static_cast<uint64_t>(1560 * kMs));
}

TEST(StreamTimeline, FramesAtOrAfterTheSegmentStopAreNotPlayed) {
  StreamTimeline timeline;
  timeline.start(false);
  EXPECT_FALSE(timeline.past_stop(Stream::Video, INT64_MAX / 2)) << "no stop";
  timeline.set_stop(3000 * kMs);
  EXPECT_FALSE(timeline.past_stop(Stream::Video, 3000 * kMs - 1));
  EXPECT_TRUE(timeline.past_stop(Stream::Video, 3000 * kMs));
  timeline.set_stop(StreamTimeline::kNone);
  EXPECT_FALSE(timeline.past_stop(Stream::Video, 3000 * kMs));
  timeline.set_stop(1000 * kMs);
  timeline.start(false);
  EXPECT_FALSE(timeline.past_stop(Stream::Audio, 2000 * kMs)) << "a new run has no stop";
}

TEST(StreamTimeline, EachStreamEndsAtItsOwnStop) {
  StreamTimeline timeline;
  timeline.start(false);
  timeline.start_file(4000 * kMs);
  timeline.seek(1000 * kMs);
  timeline.set_stop(3000 * kMs);
  // The sound gets past the stop first (H.264 still holds pictures before it): the picture goes on.
  EXPECT_TRUE(timeline.past_stop(Stream::Audio, 3010 * kMs));
  EXPECT_FALSE(timeline.all_past_stop(true, true));
  EXPECT_TRUE(timeline.all_past_stop(false, true)) << "no picture to wait for";
  EXPECT_FALSE(timeline.past_stop(Stream::Video, 2960 * kMs)) << "the last picture before it";
  EXPECT_FALSE(timeline.all_past_stop(true, true));
  EXPECT_TRUE(timeline.past_stop(Stream::Video, 3000 * kMs));
  EXPECT_TRUE(timeline.all_past_stop(true, true));
  // A new stop (the next seek) lets both play again.
  timeline.set_stop(3500 * kMs);
  EXPECT_FALSE(timeline.all_past_stop(true, false));
  EXPECT_FALSE(timeline.all_past_stop(false, true));
}

TEST(StreamTimeline, TheSoundIsCutAtTheSegmentStopSampleExactly) {
  StreamTimeline timeline;
  timeline.start(false);
  timeline.start_file(4000 * kMs);
  timeline.seek(1000 * kMs);
  timeline.set_stop(3000 * kMs);
  // 1024 samples at 48 kHz from 2.99 s: 480 of them are before the stop.
  const int64_t aac_frame = 1024 * 1000000000LL / 48000;
  StreamTimeline::Placement cut = timeline.place(Stream::Audio, 2990 * kMs, aac_frame, 48000);
  EXPECT_FALSE(cut.drop);
  EXPECT_EQ(cut.pts, static_cast<uint64_t>(2990 * kMs));
  EXPECT_EQ(cut.duration, static_cast<uint64_t>(10 * kMs));
  ASSERT_TRUE(cut.keep_samples.has_value());
  EXPECT_EQ(*cut.keep_samples, 480u);
  // A picture that starts before the stop is played whole.
  StreamTimeline::Placement picture = timeline.place(Stream::Video, 2980 * kMs, kFrame);
  EXPECT_EQ(picture.duration, static_cast<uint64_t>(kFrame));
  EXPECT_FALSE(picture.keep_samples.has_value());
  // Without a stop, nothing is cut.
  timeline.set_stop(StreamTimeline::kNone);
  EXPECT_FALSE(timeline.place(Stream::Audio, 2990 * kMs, aac_frame, 48000).keep_samples);
}

TEST(StreamTimeline, TheClipDurationIsKnownOnceAFileIsOpened) {
  StreamTimeline timeline;
  timeline.start(false);
  EXPECT_EQ(timeline.clip_duration(), -1);
  timeline.set_clip_duration(5000 * kMs);
  EXPECT_EQ(timeline.clip_duration(), 5000 * kMs);
  timeline.start(false);
  EXPECT_EQ(timeline.clip_duration(), -1);
  EXPECT_EQ(timeline.position(), 0u);
}

TEST(StreamTimeline, TheLiveBaseIsFixedOncePerRun) {
  StreamTimeline timeline;
  timeline.start(false);
  EXPECT_FALSE(timeline.has_live_base());
  timeline.set_live_base(7 * kMs);
  EXPECT_TRUE(timeline.has_live_base());
  EXPECT_EQ(timeline.live_base(), static_cast<uint64_t>(7 * kMs));
  timeline.start(false);
  EXPECT_FALSE(timeline.has_live_base());
}

}  // namespace

namespace {

constexpr int64_t kSecondNs = 1000000000;

TEST(StreamTimeline, ASoundGapUnderThePictureIsTakenOnceForSilence) {
  see2ai::StreamTimeline timeline;
  timeline.start(true);
  timeline.start_file(2 * kSecondNs);
  timeline.place(see2ai::StreamTimeline::Stream::Video, 0, 2 * kSecondNs);
  std::optional<see2ai::StreamTimeline::Gap> gap = timeline.take_sound_gap();
  ASSERT_TRUE(gap.has_value()) << "a file without sound";
  EXPECT_EQ(gap->pts, 0u);
  EXPECT_EQ(gap->duration, static_cast<uint64_t>(2 * kSecondNs));
  EXPECT_FALSE(timeline.take_sound_gap().has_value()) << "filled";
  timeline.start_file(kSecondNs);
  EXPECT_EQ(timeline.file_offset(), static_cast<uint64_t>(2 * kSecondNs));
  timeline.place(see2ai::StreamTimeline::Stream::Video, 0, kSecondNs);
  timeline.place(see2ai::StreamTimeline::Stream::Audio, 0, kSecondNs / 2, 48000);
  gap = timeline.take_sound_gap();
  ASSERT_TRUE(gap.has_value()) << "sound shorter than its picture";
  EXPECT_EQ(gap->pts, static_cast<uint64_t>(2 * kSecondNs + kSecondNs / 2));
  EXPECT_EQ(gap->duration, static_cast<uint64_t>(kSecondNs / 2));
}

}  // namespace

namespace {

TEST(StreamTimeline, FramesTakenBackEndTheirStreamEarlier) {
  see2ai::StreamTimeline timeline;
  timeline.start(true);
  timeline.start_file(-1);
  for (int i = 0; i < 10; ++i) timeline.place(Stream::Video, i * kFrame, kFrame);
  timeline.take_back(Stream::Video, 4 * kFrame);
  EXPECT_EQ(timeline.position(), static_cast<uint64_t>(4 * kFrame));
  timeline.start_file(-1);
  EXPECT_EQ(timeline.file_offset(), static_cast<uint64_t>(4 * kFrame))
      << "the next file follows the last frame that went out";
  timeline.take_back(Stream::Video, 9 * kFrame);
  EXPECT_EQ(timeline.position(), static_cast<uint64_t>(4 * kFrame)) << "never later";
}

}  // namespace
