// What a run of the element generates and how, from its settings: the list of shots
// (the storyboard's or the request properties' one, then those appended), checked before anything
// is submitted, and the runner's and the playlist's settings.
#pragma once

#include <optional>
#include <vector>

#include "clip_playlist.h"
#include "job_messages.h"
#include "shot_runner.h"
#include "src_properties.h"
#include "storyboard.h"

// The run's shots; or nothing, once `messages` posted the error that names the property, the shot
// and the field (nothing is submitted then).
std::optional<std::vector<see2ai::Shot>> run_shots(const SrcSettings &run, JobMessages &messages);

// What a failed shot does under the shot-failure property: auto skips it when live (a channel
// never goes black) and ends a file's run (a film missing a shot is another film).
see2ai::ShotFailurePolicy shot_failure_policy(const SrcSettings &run);

// How the run's shots are generated: the client, the cache (none with cache-mode=off), the task to
// attach to and how many at a time.
see2ai::ShotRunner::Settings shot_runner_settings(const SrcSettings &run);
