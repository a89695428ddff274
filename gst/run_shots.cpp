#include "run_shots.h"

#include <stdexcept>
#include <string>

std::optional<std::vector<see2ai::Shot>> run_shots(const SrcSettings &run, JobMessages &messages) {
  std::vector<see2ai::Shot> shots;
  const auto refuse = [&messages](const std::string &text) {
    messages.post_error(GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, messages.local_error(text),
                        ERROR_SITE, "nothing was submitted");
    return std::nullopt;
  };
  if (run.shots_path.empty()) {
    if (!messages.check_request(run)) return std::nullopt;
    shots.emplace_back();
    shots.back().request = run.request;
  } else {
    if (!run.task_id.empty())
      return refuse("\"task-id\" attaches one clip: it cannot be combined with \"shots\"");
    if (!messages.check_key(run)) return std::nullopt;
    try {
      shots = see2ai::load_storyboard(run.shots_path, run.request);
    } catch (const see2ai::ShotError &error) {
      return refuse("Invalid shot in \"shots\" (" + run.shots_path + "), " + error.what());
    } catch (const std::invalid_argument &error) {
      return refuse(std::string("Invalid property \"shots\": ") + error.what());
    }
  }
  for (const auto &shot : run.appended) {
    try {
      see2ai::check_shot(shot, shots.size());
    } catch (const see2ai::ShotError &error) {
      return refuse(std::string("Invalid appended shot, ") + error.what());
    }
    shots.push_back(shot);
  }
  return shots;
}

see2ai::ShotFailurePolicy shot_failure_policy(const SrcSettings &run) {
  const ShotFailure failure = run.shot_failure == ShotFailure::Auto
                                  ? (run.is_live ? ShotFailure::Skip : ShotFailure::Error)
                                  : run.shot_failure;
  return failure == ShotFailure::Skip ? see2ai::ShotFailurePolicy::Skip
                                      : see2ai::ShotFailurePolicy::End;
}

see2ai::ShotRunner::Settings shot_runner_settings(const SrcSettings &run) {
  see2ai::ShotRunner::Settings settings;
  settings.client = run.client;
  if (run.cache_mode != see2ai::CacheMode::Off) {
    settings.cache_dir = run.cache_dir;
    settings.cache_mode = run.cache_mode;
    settings.cache_max_size = run.cache_max_size;
  }
  settings.attach_task_id = run.task_id;
  settings.max_parallel = run.max_parallel;
  return settings;
}
