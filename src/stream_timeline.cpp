#include "stream_timeline.h"

#include <algorithm>

namespace see2ai {

namespace {

constexpr uint64_t kSecond = 1000000000;

uint64_t non_negative(int64_t ns) {
  return ns > 0 ? static_cast<uint64_t>(ns) : 0;
}

}  // namespace

void StreamTimeline::start(bool trim_sound) {
  loop_ = trim_sound;
  offset_ = video_end_ = audio_end_ = 0;
  picture_end_ = stop_ = live_base_ = kNone;
  video_past_stop_ = audio_past_stop_ = false;
  position_ = 0;
  clip_duration_ = -1;
}

void StreamTimeline::start_file(int64_t picture_ns) {
  offset_ = std::max(video_end_, audio_end_);
  picture_end_ = loop_ && picture_ns > 0 ? offset_ + static_cast<uint64_t>(picture_ns) : kNone;
}

void StreamTimeline::set_clip_duration(int64_t duration_ns) {
  clip_duration_ = duration_ns;
}

StreamTimeline::Placement StreamTimeline::place(Stream stream, int64_t pts_ns, int64_t duration_ns,
                                                int rate) {
  Placement placement;
  placement.pts = offset_ + non_negative(pts_ns);
  placement.duration = non_negative(duration_ns);
  // Looping: the sound of one play ends with its picture (AAC pads its last frame), or every loop
  // would put the sound further behind the picture. A segment stop cuts the sound where it is, as
  // GStreamer's audio decoders clip to the segment.
  const uint64_t segment_end = stop_;
  const uint64_t sound_end = std::min(picture_end_, segment_end);
  if (stream == Stream::Audio && sound_end != kNone &&
      placement.pts + placement.duration > sound_end) {
    if (placement.pts >= sound_end) {
      placement.drop = true;
      return placement;
    }
    placement.duration = sound_end - placement.pts;
    // A frame lasts well under a second, so the product cannot overflow.
    placement.keep_samples =
        (placement.duration * static_cast<uint64_t>(std::max(rate, 0)) + kSecond / 2) / kSecond;
  }
  uint64_t &end = stream == Stream::Video ? video_end_ : audio_end_;
  end = std::max(end, placement.pts + placement.duration);
  position_ = std::max(video_end_, audio_end_);
  return placement;
}

void StreamTimeline::take_back(Stream stream, uint64_t end_ns) {
  uint64_t &end = stream == Stream::Video ? video_end_ : audio_end_;
  end = std::min(end, end_ns);
  position_ = std::max(video_end_, audio_end_);
}

std::optional<StreamTimeline::Gap> StreamTimeline::take_sound_gap() {
  if (audio_end_ >= video_end_) return std::nullopt;
  Gap gap{audio_end_, video_end_ - audio_end_};
  audio_end_ = video_end_;
  position_ = std::max(video_end_, audio_end_);
  return gap;
}

void StreamTimeline::seek(uint64_t start_ns) {
  offset_ = 0;
  video_end_ = audio_end_ = start_ns;
  position_ = start_ns;
}

void StreamTimeline::seek_in_file(uint64_t file_offset, uint64_t start_ns, int64_t picture_ns) {
  offset_ = file_offset;
  picture_end_ = loop_ && picture_ns > 0 ? offset_ + static_cast<uint64_t>(picture_ns) : kNone;
  video_end_ = audio_end_ = start_ns;
  position_ = start_ns;
}

void StreamTimeline::set_stop(uint64_t stop_ns) {
  stop_ = stop_ns;
  video_past_stop_ = audio_past_stop_ = false;
}

bool StreamTimeline::past_stop(Stream stream, int64_t pts_ns) {
  if (stop_ == kNone || offset_ + non_negative(pts_ns) < stop_) return false;
  (stream == Stream::Video ? video_past_stop_ : audio_past_stop_) = true;
  return true;
}

bool StreamTimeline::all_past_stop(bool video, bool audio) const {
  return (!video || video_past_stop_) && (!audio || audio_past_stop_);
}

}  // namespace see2ai
