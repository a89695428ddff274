// LaunchProcess: `gst-launch-1.0 -q see2aivideosrc <properties> ! fakesink` in a process of its
// own, the API key in its environment, for the tests that kill a run at a chosen moment.
#pragma once

#include <glib.h>

#include <string>
#include <vector>

namespace see2ai::test {

// The process id (the caller reaps it: waitpid, g_spawn_close_pid); 0 when it cannot start (a
// test failure is added).
GPid spawn_gst_launch(const std::vector<std::string> &properties, const std::string &api_key);

}  // namespace see2ai::test
