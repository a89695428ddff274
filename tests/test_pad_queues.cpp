// PadQueues: how far one pad's queue may run ahead of its sibling. Real pads and buffers, no
// pipeline: the decoding side's push is driven directly and accepts() tells whether it would wait.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include "pad_queues.h"

namespace {

constexpr GstClockTime kFrame = GST_SECOND / 25;       // 40 ms of video
constexpr GstClockTime kAudioFrame = GST_SECOND / 47;  // ~21 ms of AAC

GstMiniObject *buffer_at(GstClockTime pts, GstClockTime duration) {
  GstBuffer *buffer = gst_buffer_new();
  GST_BUFFER_PTS(buffer) = pts;
  GST_BUFFER_DURATION(buffer) = duration;
  return GST_MINI_OBJECT_CAST(buffer);
}

class PadQueuesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  void SetUp() override {
    video_pad = gst_pad_new("video", GST_PAD_SRC);
    audio_pad = gst_pad_new("audio", GST_PAD_SRC);
    // Active in push mode, as the element's pads are: their last flow is OK, not FLUSHING.
    gst_pad_set_active(video_pad, TRUE);
    gst_pad_set_active(audio_pad, TRUE);
    video = queues.add(video_pad);
    audio = queues.add(audio_pad);
  }
  void TearDown() override {
    queues.clear();
    gst_pad_set_active(video_pad, FALSE);
    gst_pad_set_active(audio_pad, FALSE);
    gst_object_unref(video_pad);
    gst_object_unref(audio_pad);
  }

  // Queues video frames from `pts` on while the queue accepts them (at most `cap`); how many.
  int fill_video(GstClockTime pts, int cap = 1000) {
    int pushed = 0;
    while (pushed < cap && queues.accepts(video)) {
      EXPECT_EQ(queues.push(video, buffer_at(pts + pushed * kFrame, kFrame)), GST_FLOW_OK);
      ++pushed;
    }
    return pushed;
  }

  // An audio buffer through the audio queue to a peer that answers `ret`.
  void audio_through(GstClockTime pts, GstFlowReturn ret) {
    queues.push(audio, buffer_at(pts, kAudioFrame));
    gst_mini_object_unref(queues.pop(audio));
    queues.report(audio, ret);
  }

  PadQueues queues;
  GstPad *video_pad = nullptr;
  GstPad *audio_pad = nullptr;
  size_t video = 0, audio = 0;
};

const int kFramesInLimit = static_cast<int>((PadQueues::kLimit + kFrame - 1) / kFrame);

TEST_F(PadQueuesTest, AQueueStopsAtItsLimitWhileTheSiblingHasData) {
  audio_through(0, GST_FLOW_OK);
  queues.push(audio, buffer_at(kAudioFrame, kAudioFrame));
  EXPECT_EQ(fill_video(0), kFramesInLimit);
}

TEST_F(PadQueuesTest, AnUnlinkedSiblingDoesNotLetTheOtherQueueGrow) {
  // The single-branch form: the audio pad is not linked, so its queue is always empty.
  audio_through(0, GST_FLOW_NOT_LINKED);
  EXPECT_EQ(fill_video(0), kFramesInLimit);
}

TEST_F(PadQueuesTest, ASiblingThatDrainsAheadDoesNotLetTheOtherQueueGrow) {
  // An audio sink that does not sync empties its queue at once, while video plays in real time.
  for (int i = 0; i < 100; ++i) audio_through(i * kAudioFrame, GST_FLOW_OK);
  EXPECT_EQ(fill_video(0), kFramesInLimit);
}

TEST_F(PadQueuesTest, AStarvingSiblingLetsTheQueueGrowUntilItIsServed) {
  // Preroll: the video sink holds its first frame, the audio sink waits for its first buffer
  // somewhere further on in the file; blocking video now would never let the pipeline preroll.
  EXPECT_EQ(fill_video(0, 3 * kFramesInLimit), 3 * kFramesInLimit);
  EXPECT_TRUE(queues.accepts(video));
  audio_through(0, GST_FLOW_OK);
  audio_through(kAudioFrame, GST_FLOW_OK);
  EXPECT_FALSE(queues.accepts(video));
}

TEST_F(PadQueuesTest, ASiblingBehindCannotPullMoreThanTheHardLimit) {
  // An audio track that ends early never catches up: the video backlog still stops.
  audio_through(0, GST_FLOW_OK);
  EXPECT_EQ(fill_video(GST_SECOND), static_cast<int>(PadQueues::kHardLimit / kFrame));
}

TEST_F(PadQueuesTest, ASiblingGivenNothingYetHasNoBound) {
  // A fragmented MP4 with long GOPs: each fragment's sound comes after all of its pictures, and
  // the pipeline cannot preroll before the audio sink has its first buffer.
  const int frames = static_cast<int>(10 * GST_SECOND / kFrame);
  EXPECT_EQ(fill_video(0, frames), frames);
  EXPECT_TRUE(queues.accepts(video));
  audio_through(0, GST_FLOW_OK);
  EXPECT_FALSE(queues.accepts(video));
}

TEST_F(PadQueuesTest, ASeekMakesEverySiblingStartAfresh) {
  audio_through(0, GST_FLOW_OK);
  audio_through(kAudioFrame, GST_FLOW_OK);
  EXPECT_EQ(fill_video(0), kFramesInLimit);
  // A segment seek back to the start, without a flush: the audio peer waits for its first buffer
  // of the new segment again.
  queues.new_segment();
  EXPECT_TRUE(queues.accepts(video));
}

TEST_F(PadQueuesTest, AFlushForgetsWhatTheSiblingsDid) {
  audio_through(0, GST_FLOW_NOT_LINKED);
  EXPECT_EQ(fill_video(0), kFramesInLimit);
  queues.set_flushing(true);
  EXPECT_EQ(queues.push(video, buffer_at(0, kFrame)), GST_FLOW_FLUSHING);
  EXPECT_EQ(queues.pop(video), nullptr);
  queues.set_flushing(false);
  // After a seek the audio peer may have been linked meanwhile: it is starving again.
  EXPECT_EQ(fill_video(0, 2 * kFramesInLimit), 2 * kFramesInLimit);
}

}  // namespace

namespace {

TEST_F(PadQueuesTest, BuffersNotYetPushedAreTakenBackAndEventsStay) {
  queues.push(audio, buffer_at(0, kAudioFrame));  // the sibling has data: the limit holds
  EXPECT_EQ(queues.take_back_buffers(video), GST_CLOCK_TIME_NONE) << "nothing queued";
  queues.push(video, buffer_at(0, kFrame));
  queues.push(video, GST_MINI_OBJECT_CAST(gst_event_new_gap(kFrame, kFrame)));
  queues.push(video, buffer_at(kFrame, kFrame));
  queues.push(video, buffer_at(2 * kFrame, kFrame));
  gst_mini_object_unref(queues.pop(video));  // the first one went out
  EXPECT_EQ(queues.take_back_buffers(video), kFrame);
  GstMiniObject *left = queues.pop(video);
  ASSERT_TRUE(GST_IS_EVENT(left)) << "the event stays";
  gst_mini_object_unref(left);
  EXPECT_EQ(fill_video(kFrame), kFramesInLimit) << "what was taken back no longer counts";
}

TEST_F(PadQueuesTest, ABufferTakenBackFromThePadsTaskIsTheEarliest) {
  queues.push(audio, buffer_at(0, kAudioFrame));
  // The task holds frame 1 until its running time; frames 2 and 3 are queued behind it.
  queues.push(video, buffer_at(2 * kFrame, kFrame));
  queues.push(video, buffer_at(3 * kFrame, kFrame));
  EXPECT_EQ(queues.take_back_buffers(video, kFrame), kFrame);
  EXPECT_EQ(queues.take_back_buffers(video, 5 * kFrame), 5 * kFrame) << "held, nothing queued";
}

}  // namespace
