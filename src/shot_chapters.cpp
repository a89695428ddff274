#include "shot_chapters.h"

#include <utility>

namespace see2ai {

namespace {
constexpr uint64_t kSecond = 1000000000ull;
constexpr int kPlannedWhenTheModelDecides = 5;
}  // namespace

uint64_t planned_shot_length_ns(int duration_s) {
  return static_cast<uint64_t>(duration_s > 0 ? duration_s : kPlannedWhenTheModelDecides) * kSecond;
}

void ShotChapters::clear() {
  shots_.clear();
}

void ShotChapters::plan(size_t index, std::string title, uint64_t planned_ns) {
  if (shots_.size() <= index) shots_.resize(index + 1);
  shots_[index].title = std::move(title);
  shots_[index].planned_ns = planned_ns;
}

void ShotChapters::played(size_t index, uint64_t start_ns, uint64_t length_ns) {
  if (shots_.size() <= index) shots_.resize(index + 1);
  Entry &entry = shots_[index];
  entry.played = true;
  entry.start_ns = start_ns;
  entry.length_ns = length_ns;
}

void ShotChapters::skipped(size_t index) {
  if (shots_.size() <= index) shots_.resize(index + 1);
  shots_[index].skipped = true;
}

std::vector<Chapter> ShotChapters::chapters() const {
  std::vector<Chapter> table;
  uint64_t end = 0;
  for (size_t i = 0; i < shots_.size(); ++i) {
    const Entry &entry = shots_[i];
    if (entry.skipped) continue;
    Chapter chapter;
    chapter.index = i;
    chapter.title = entry.title;
    chapter.start_ns = entry.played ? entry.start_ns : end;
    chapter.stop_ns = chapter.start_ns + (entry.played ? entry.length_ns : entry.planned_ns);
    end = chapter.stop_ns;
    table.push_back(std::move(chapter));
  }
  return table;
}

}  // namespace see2ai
