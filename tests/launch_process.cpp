#include "launch_process.h"

#include <gtest/gtest.h>

namespace see2ai::test {

GPid spawn_gst_launch(const std::vector<std::string> &properties, const std::string &api_key) {
  std::vector<std::string> argv = {"gst-launch-1.0", "-q", "see2aivideosrc"};
  argv.insert(argv.end(), properties.begin(), properties.end());
  argv.insert(argv.end(), {"!", "fakesink"});
  std::vector<gchar *> cargv;
  for (auto &a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  gchar **env = g_get_environ();
  env = g_environ_setenv(env, "SEE2AI_API_KEY", api_key.c_str(), TRUE);
  GPid pid = 0;
  GError *error = nullptr;
  if (!g_spawn_async(nullptr, cargv.data(), env,
                     static_cast<GSpawnFlags>(G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                              G_SPAWN_STDOUT_TO_DEV_NULL),
                     nullptr, nullptr, &pid, &error)) {
    ADD_FAILURE() << error->message;
    g_error_free(error);
    pid = 0;
  }
  g_strfreev(env);
  return pid;
}

}  // namespace see2ai::test
