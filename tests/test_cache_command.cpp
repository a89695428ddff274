// see2ai-cache, the installed command, against caches made by real element runs and the dev
// server: what it lists, what a killed run leaves pending and how collect fetches it without a
// submit, verify on a damaged clip, prune next to an element that plays a clip, exit statuses.
// And the element's side of the cache tools: cache-max-size, and the estimate a history of
// finished tasks puts into see2ai-task and the progress messages.
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "devserver_process.h"
#include "generation_request.h"
#include "pipeline_run.h"
#include "request_record.h"

using see2ai::test::DevServerArgs;
using see2ai::test::DevServerProcess;
using see2ai::test::make_temp_dir;
using see2ai::test::PipelineRun;

namespace {

constexpr const char *kKey = "test-key-0123456789";

struct ToolRun {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs see2ai-cache with `args`; `env` entries (NAME=VALUE) are added to the test's environment.
ToolRun run_tool(const std::vector<std::string> &args, const std::vector<std::string> &env = {}) {
  const char *tool = g_getenv("SEE2AI_CACHE_TOOL");
  std::vector<std::string> argv = {tool ? tool : "see2ai-cache"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<gchar *> cargv;
  for (auto &a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  gchar **envp = g_get_environ();
  for (const std::string &entry : env) {
    size_t eq = entry.find('=');
    envp = g_environ_setenv(envp, entry.substr(0, eq).c_str(), entry.substr(eq + 1).c_str(), TRUE);
  }
  ToolRun run;
  gchar *out = nullptr;
  gchar *err = nullptr;
  gint wait_status = 0;
  GError *error = nullptr;
  if (!g_spawn_sync(nullptr, cargv.data(), envp, G_SPAWN_DEFAULT, nullptr, nullptr, &out, &err,
                    &wait_status, &error)) {
    ADD_FAILURE() << error->message;
    g_error_free(error);
  } else {
    run.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
    run.out = out ? out : "";
    run.err = err ? err : "";
  }
  g_free(out);
  g_free(err);
  g_strfreev(envp);
  return run;
}

// The --json document of a run, parsed; the caller unrefs. Fails the test when it is not JSON.
JsonObject *json_of(const ToolRun &run) {
  JsonParser *parser = json_parser_new();
  JsonObject *object = nullptr;
  if (json_parser_load_from_data(parser, run.out.c_str(), -1, nullptr) &&
      JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
    object = json_object_ref(json_node_get_object(json_parser_get_root(parser)));
  else
    ADD_FAILURE() << "not a JSON object: " << run.out << run.err;
  g_object_unref(parser);
  return object ? object : json_object_new();
}

std::string text(JsonObject *object, const char *name) {
  JsonNode *node = json_object_get_member(object, name);
  return node && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING
             ? json_node_get_string(node)
             : "";
}

// The members of the objects of an array member: one map of text values per object, numbers
// and booleans written as text.
std::vector<std::map<std::string, std::string>> rows(JsonObject *object, const char *array) {
  std::vector<std::map<std::string, std::string>> result;
  JsonArray *items = json_object_get_array_member(object, array);
  for (guint i = 0; items && i < json_array_get_length(items); ++i) {
    JsonObject *item = json_array_get_object_element(items, i);
    std::map<std::string, std::string> row;
    GList *names = json_object_get_members(item);
    for (GList *n = names; n; n = n->next) {
      const char *name = static_cast<const char *>(n->data);
      JsonNode *node = json_object_get_member(item, name);
      if (!JSON_NODE_HOLDS_VALUE(node)) continue;
      GType type = json_node_get_value_type(node);
      if (type == G_TYPE_STRING)
        row[name] = json_node_get_string(node);
      else if (type == G_TYPE_INT64)
        row[name] = std::to_string(json_node_get_int(node));
      else if (type == G_TYPE_BOOLEAN)
        row[name] = json_node_get_boolean(node) ? "true" : "false";
      else if (type == G_TYPE_DOUBLE)
        row[name] = std::to_string(json_node_get_double(node));
    }
    g_list_free(names);
    result.push_back(row);
  }
  return result;
}

std::vector<std::string> column(const std::vector<std::map<std::string, std::string>> &table,
                                const char *name) {
  std::vector<std::string> values;
  for (const auto &row : table) values.push_back(row.count(name) ? row.at(name) : "");
  return values;
}

std::string element(const DevServerProcess &server, const std::string &cache,
                    const std::string &prompt, const std::string &extra = "") {
  return "see2aivideosrc api-url=" + server.url() + " api-key=" + kKey + " cache-dir=" + cache +
         " cache-mode=reuse duration=4 resolution=480p generate-audio=false prompt=\"" + prompt +
         "\" " + extra;
}

// The see2ai-result of a run: its task id and whether it came from the cache.
std::pair<std::string, bool> result_of(const PipelineRun &run) {
  for (auto *s : run.bus.element_messages) {
    if (!gst_structure_has_name(s, "see2ai-result")) continue;
    gboolean from_cache = FALSE;
    gst_structure_get_boolean(s, "from-cache", &from_cache);
    return {gst_structure_get_string(s, "task-id"), from_cache != FALSE};
  }
  return {"", false};
}

// Plays one element run to its end; its task id.
std::string generate(const DevServerProcess &server, const std::string &cache,
                     const std::string &prompt) {
  PipelineRun run(element(server, cache, prompt) + " ! fakesink");
  run.play_to_end(60);
  EXPECT_EQ(run.bus.errors, 0) << run.bus.error_text;
  return result_of(run).first;
}

size_t count_requests(DevServerProcess &server, const std::string &needle) {
  size_t count = 0;
  for (const std::string &line : server.request_log())
    if (line.find(needle) != std::string::npos) ++count;
  return count;
}

size_t count_submits(DevServerProcess &server) {
  return count_requests(server, "\"method\":\"POST\",\"path\":\"/api/v1/actions/");
}

TEST(CacheCommand, ListAndPruneBesideAnElementThatPlaysAClip) {
  gst_init(nullptr, nullptr);
  DevServerArgs args;
  args.latency_ms = 200;
  DevServerProcess server(args);
  std::string cache = make_temp_dir("command-list");
  std::string a = generate(server, cache, "a lighthouse at dusk");
  std::string b = generate(server, cache, "a paper boat on a pond");
  std::string c =
      generate(server, cache, "a fox in the snow, long prompt that the listing shortens");
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());

  ToolRun listed = run_tool({"--cache-dir", cache, "list", "--json"});
  EXPECT_EQ(listed.status, 0) << listed.err;
  JsonObject *doc = json_of(listed);
  auto clips = rows(doc, "clips");
  EXPECT_EQ(column(clips, "task_id"), (std::vector<std::string>{a, b, c})) << "oldest first";
  EXPECT_EQ(column(clips, "prompt")[0], "a lighthouse at dusk");
  EXPECT_EQ(json_object_get_int_member(doc, "count"), 3);
  int64_t total = 0;
  for (const auto &clip : clips) {
    EXPECT_EQ(clip.at("in_use"), "false");
    EXPECT_EQ(clip.at("resolution"), "480p");
    EXPECT_EQ(clip.at("requested_duration_s"), "4");
    EXPECT_NEAR(std::stod(clip.at("duration_s")), 4.0, 0.1) << "read from the clip itself";
    EXPECT_GT(std::stoll(clip.at("total_tokens")), 0);
    EXPECT_GT(std::stoll(clip.at("bytes")), 1000);
    total += std::stoll(clip.at("bytes"));
  }
  EXPECT_EQ(json_object_get_int_member(doc, "bytes"), total);
  json_object_unref(doc);

  ToolRun human = run_tool({"--cache-dir", cache, "list"});
  EXPECT_EQ(human.status, 0);
  for (const std::string &id : {a, b, c}) EXPECT_NE(human.out.find(id), std::string::npos);
  EXPECT_NE(human.out.find("\"a lighthouse at dusk\""), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("a fox in the snow, long prompt that the\u2026"), std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("3 clips"), std::string::npos) << human.out;

  {
    // A plays again from the cache and stays prerolled: the element holds it.
    PipelineRun player(element(server, cache, "a lighthouse at dusk") + " ! fakesink");
    ASSERT_TRUE(player.preroll(60));
    EXPECT_TRUE(result_of(player).second) << "played from the cache";
    doc = json_of(run_tool({"--cache-dir", cache, "list", "--json"}));
    clips = rows(doc, "clips");
    json_object_unref(doc);
    ASSERT_EQ(clips.size(), 3u);
    EXPECT_EQ(clips[0].at("in_use"), "true");

    ToolRun pruned = run_tool({"--cache-dir", cache, "prune", "--max-size", "0", "--json"});
    EXPECT_EQ(pruned.status, 1) << "the held clip keeps the cache above the limit";
    doc = json_of(pruned);
    EXPECT_EQ(column(rows(doc, "removed"), "task_id"), (std::vector<std::string>{b, c}))
        << "least recently played first";
    EXPECT_EQ(column(rows(doc, "kept_in_use"), "task_id"), std::vector<std::string>{a});
    EXPECT_FALSE(json_object_get_boolean_member(doc, "rules_met"));
    json_object_unref(doc);
    ToolRun again = run_tool({"--cache-dir", cache, "prune", "--max-size", "0"});
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.out.find("an element plays it"), std::string::npos) << again.out;
    gst_element_set_state(player.pipeline(), GST_STATE_NULL);
  }
  ToolRun pruned = run_tool({"--cache-dir", cache, "prune", "--max-size", "0"});
  EXPECT_EQ(pruned.status, 0) << pruned.out;
  EXPECT_NE(pruned.out.find("1 clip removed"), std::string::npos) << pruned.out;
  ToolRun empty = run_tool({"--cache-dir", cache, "list"});
  EXPECT_NE(empty.out.find("0 clips"), std::string::npos) << empty.out;
}

// gst-launch-1.0 with the element in a process of its own, the key in its environment.
GPid spawn_gst_launch(const std::string &description) {
  gchar **parsed = nullptr;
  GError *error = nullptr;
  EXPECT_TRUE(
      g_shell_parse_argv(("gst-launch-1.0 -q " + description).c_str(), nullptr, &parsed, &error));
  gchar **env = g_environ_setenv(g_get_environ(), "SEE2AI_API_KEY", kKey, TRUE);
  GPid pid = 0;
  if (!g_spawn_async(nullptr, parsed, env,
                     static_cast<GSpawnFlags>(G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                              G_SPAWN_STDOUT_TO_DEV_NULL),
                     nullptr, nullptr, &pid, &error)) {
    ADD_FAILURE() << error->message;
    g_error_free(error);
  }
  g_strfreev(env);
  g_strfreev(parsed);
  return pid;
}

TEST(CacheCommand, PendingAndCollectAfterAKilledRun) {
  gst_init(nullptr, nullptr);
  DevServerArgs args;
  args.latency_ms = 4000;  // time for gst-launch-1.0 to start, submit and poll before the kill
  DevServerProcess server(args);
  std::string cache = make_temp_dir("command-killed");
  std::string description = "see2aivideosrc api-url=" + server.url() + " cache-dir=" + cache +
                            " cache-mode=reuse poll-interval=100 duration=4 resolution=480p "
                            "generate-audio=false prompt=\"killed midway\"";
  GPid pid = spawn_gst_launch(description + " ! fakesink");
  ASSERT_GT(pid, 0);
  // Killed once the task runs and has been polled: its journal entry is written.
  std::string task_id;
  gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < deadline && task_id.empty()) {
    bool running = false;
    for (const std::string &line : server.request_log()) {
      if (line.find("\"state\":\"running\"") != std::string::npos) running = true;
      size_t at = line.find("\"path\":\"/api/v1/status/task-");
      if (running && at != std::string::npos) {
        size_t start = line.find("task-", at);
        task_id = line.substr(start, line.find('"', start) - start);
      }
    }
    if (task_id.empty()) g_usleep(50 * 1000);
  }
  kill(pid, SIGKILL);
  int wait_status = 0;
  waitpid(pid, &wait_status, 0);
  g_spawn_close_pid(pid);
  ASSERT_FALSE(task_id.empty()) << "the run never polled its running task";
  ASSERT_EQ(count_requests(server, "\"state\":\"succeeded\""), 0u)
      << "the task finished before the kill: nothing was tested";

  ToolRun pending = run_tool({"--cache-dir", cache, "pending", "--json"});
  EXPECT_EQ(pending.status, 1) << "a pending task calls for action";
  JsonObject *doc = json_of(pending);
  auto tasks = rows(doc, "tasks");
  json_object_unref(doc);
  ASSERT_EQ(tasks.size(), 1u) << pending.out;
  EXPECT_EQ(tasks[0].at("task_id"), task_id);
  EXPECT_EQ(tasks[0].at("prompt"), "killed midway");
  EXPECT_EQ(tasks[0].at("in_progress"), "false");
  EXPECT_LT(std::stoll(tasks[0].at("age_s")), 60);
  EXPECT_GT(std::stoll(tasks[0].at("expires_in_s")), 23 * 3600);
  ToolRun human = run_tool({"--cache-dir", cache, "pending"});
  EXPECT_NE(human.out.find(task_id), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("to collect"), std::string::npos) << human.out;

  ToolRun collected =
      run_tool({"--cache-dir", cache, "collect"}, {"SEE2AI_API_KEY=" + std::string(kKey)});
  EXPECT_EQ(collected.status, 0) << collected.out << collected.err;
  EXPECT_NE(collected.out.find("collected"), std::string::npos) << collected.out;
  EXPECT_EQ(collected.out.find(kKey), std::string::npos);
  EXPECT_EQ(count_submits(server), 1u) << "collect never submits";
  EXPECT_EQ(run_tool({"--cache-dir", cache, "pending"}).status, 0);
  doc = json_of(run_tool({"--cache-dir", cache, "list", "--json"}));
  EXPECT_EQ(column(rows(doc, "clips"), "task_id"), std::vector<std::string>{task_id});
  json_object_unref(doc);

  // The request run again plays the collected clip with no request at all.
  size_t requests = server.request_log().size();
  PipelineRun replay("see2aivideosrc api-key=" + std::string(kKey) + " " +
                     description.substr(std::string("see2aivideosrc ").size()) + " ! fakesink");
  replay.play_to_end(60);
  EXPECT_EQ(replay.bus.errors, 0) << replay.bus.error_text;
  EXPECT_EQ(result_of(replay), std::make_pair(task_id, true));
  EXPECT_EQ(server.request_log().size(), requests);
}

TEST(CacheCommand, VerifyDropsADamagedClipAndCollectBringsItBack) {
  gst_init(nullptr, nullptr);
  DevServerArgs args;
  args.latency_ms = 200;
  DevServerProcess server(args);
  std::string cache = make_temp_dir("command-verify");
  std::string good = generate(server, cache, "kept whole");
  std::string bad = generate(server, cache, "cut in half");
  JsonObject *doc = json_of(run_tool({"--cache-dir", cache, "list", "--json"}));
  JsonArray *clips = json_object_get_array_member(doc, "clips");
  ASSERT_EQ(json_array_get_length(clips), 2u);
  JsonArray *files = json_object_get_array_member(json_array_get_object_element(clips, 1), "files");
  ASSERT_EQ(json_array_get_length(files), 1u);
  std::string damaged = json_array_get_string_element(files, 0);
  json_object_unref(doc);
  GStatBuf st;
  ASSERT_EQ(g_stat(damaged.c_str(), &st), 0);
  ASSERT_EQ(truncate(damaged.c_str(), st.st_size / 2), 0);

  ToolRun verified = run_tool({"--cache-dir", cache, "verify", "--json"});
  EXPECT_EQ(verified.status, 1) << verified.out << verified.err;
  doc = json_of(verified);
  auto outcomes = rows(doc, "clips");
  EXPECT_EQ(json_object_get_int_member(doc, "good"), 1);
  EXPECT_EQ(json_object_get_int_member(doc, "dropped"), 1);
  json_object_unref(doc);
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto &o : outcomes) {
    EXPECT_EQ(o.at("outcome"), o.at("task_id") == bad ? "dropped" : "ok");
    if (o.at("task_id") == bad) {
      EXPECT_NE(o.at("damage").find("bytes instead of"), std::string::npos) << o.at("damage");
    }
  }
  doc = json_of(run_tool({"--cache-dir", cache, "pending", "--json"}));
  EXPECT_EQ(column(rows(doc, "tasks"), "task_id"), std::vector<std::string>{bad});
  json_object_unref(doc);

  ToolRun collected = run_tool({"--cache-dir", cache, "collect", "--json"},
                               {"SEE2AI_API_KEY=" + std::string(kKey)});
  EXPECT_EQ(collected.status, 0) << collected.out << collected.err;
  doc = json_of(collected);
  EXPECT_EQ(column(rows(doc, "tasks"), "outcome"), std::vector<std::string>{"collected"});
  json_object_unref(doc);
  ToolRun human = run_tool({"--cache-dir", cache, "verify"});
  EXPECT_EQ(human.status, 0) << human.out;
  EXPECT_NE(human.out.find("2 good, 0 dropped"), std::string::npos) << human.out;
  EXPECT_EQ(count_submits(server), 2u);
  (void)good;
}

TEST(CacheCommand, ExitStatusesAndMessagesForBadUse) {
  std::string cache = make_temp_dir("command-usage");
  ToolRun help = run_tool({"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("Exit status"), std::string::npos);

  for (const std::vector<std::string> &args : std::vector<std::vector<std::string>>{
           {"--cache-dir", cache},
           {"--cache-dir", cache, "list", "pending"},
           {"--cache-dir", cache, "shrink"},
           {"--cache-dir", cache, "prune"},
           {"--cache-dir", cache, "list", "--max-size", "1M"},
           {"--cache-dir", cache, "prune", "--timeout", "5", "--max-size", "1M"},
           {"--cache-dir", cache, "--no-such-option", "list"}}) {
    ToolRun run = run_tool(args);
    EXPECT_EQ(run.status, 2) << args.back();
    EXPECT_TRUE(run.out.empty()) << run.out;
    EXPECT_NE(run.err.find("see2ai-cache:"), std::string::npos);
  }
  ToolRun size = run_tool({"--cache-dir", cache, "prune", "--max-size", "lots"});
  EXPECT_EQ(size.status, 2);
  EXPECT_NE(size.err.find("--max-size: \"lots\" is not a size"), std::string::npos) << size.err;
  ToolRun age = run_tool({"--cache-dir", cache, "prune", "--older-than", "3y"});
  EXPECT_EQ(age.status, 2);
  EXPECT_NE(age.err.find("--older-than"), std::string::npos) << age.err;

  ToolRun missing = run_tool({"--cache-dir", cache + "/nowhere", "list"});
  EXPECT_EQ(missing.status, 3);
  EXPECT_NE(missing.err.find("no cache at"), std::string::npos) << missing.err;
  ToolRun keyless = run_tool({"--cache-dir", cache, "collect"});
  EXPECT_EQ(keyless.status, 3);
  EXPECT_NE(keyless.err.find("SEE2AI_API_KEY"), std::string::npos) << keyless.err;

  ToolRun nothing = run_tool({"--cache-dir", cache, "pending", "--json"});
  EXPECT_EQ(nothing.status, 0);
  JsonObject *doc = json_of(nothing);
  EXPECT_EQ(json_object_get_int_member(doc, "count"), 0);
  EXPECT_EQ(text(doc, "cache_dir"), cache);
  json_object_unref(doc);
}

TEST(ElementCacheMaxSize, AStoreEvictsTheLeastRecentlyPlayedClips) {
  gst_init(nullptr, nullptr);
  GstElement *source = gst_element_factory_make("see2aivideosrc", nullptr);
  ASSERT_NE(source, nullptr);
  GParamSpec *spec = g_object_class_find_property(G_OBJECT_GET_CLASS(source), "cache-max-size");
  ASSERT_TRUE(spec && G_IS_PARAM_SPEC_UINT64(spec));
  EXPECT_EQ(G_PARAM_SPEC_UINT64(spec)->default_value, guint64{2} * 1024 * 1024 * 1024);
  EXPECT_TRUE(spec->flags & GST_PARAM_MUTABLE_READY);
  gst_object_unref(source);

  DevServerArgs args;
  args.latency_ms = 200;
  DevServerProcess server(args);
  std::string cache = make_temp_dir("element-max-size");
  std::string first = generate(server, cache, "evicted later");
  PipelineRun second(element(server, cache, "bounded", "cache-max-size=1") + " ! fakesink");
  second.play_to_end(60);
  EXPECT_EQ(second.bus.errors, 0) << second.bus.error_text;
  JsonObject *doc = json_of(run_tool({"--cache-dir", cache, "list", "--json"}));
  EXPECT_EQ(column(rows(doc, "clips"), "task_id"),
            std::vector<std::string>{result_of(second).first})
      << "the clip just stored stays (its element holds it); " << first << " went";
  json_object_unref(doc);
}

// The see2ai-task messages of a run, with their estimate fields.
struct TaskMessage {
  std::string state;
  gint64 remaining_ms = -2;
  double fraction = -2;
};

std::vector<TaskMessage> task_messages(const PipelineRun &run) {
  std::vector<TaskMessage> messages;
  for (auto *s : run.bus.element_messages) {
    if (!gst_structure_has_name(s, "see2ai-task")) continue;
    TaskMessage message;
    message.state = gst_structure_get_string(s, "state");
    EXPECT_TRUE(gst_structure_get_int64(s, "estimated-remaining-ms", &message.remaining_ms));
    EXPECT_TRUE(gst_structure_get_double(s, "estimated-fraction", &message.fraction));
    messages.push_back(message);
  }
  return messages;
}

TEST(ElementEstimate, AHistoryOfFinishedTasksGivesTheTimeLeft) {
  gst_init(nullptr, nullptr);
  DevServerArgs args;
  args.latency_ms = 1500;
  DevServerProcess server(args);
  std::string cache = make_temp_dir("element-estimate");
  // Three tasks of this kind (standard model, 480p, 4 s) took 1.5 s each.
  see2ai::GenerationRequest request;
  request.duration = 4;
  request.resolution = "480p";
  for (int i = 0; i < 3; ++i) {
    request.prompt = "earlier " + std::to_string(i);
    see2ai::RequestRecord record = see2ai::record_for(request, {});
    record.generation_ms = 1500;
    record.finished_at_us = record.submitted_at_us;
    see2ai::write_request_record(cache, std::string(63, 'b') + std::to_string(i), record);
  }
  PipelineRun run(element(server, cache, "estimated") + " ! fakesink");
  run.play_to_end(60);
  EXPECT_EQ(run.bus.errors, 0) << run.bus.error_text;
  std::vector<TaskMessage> messages = task_messages(run);
  ASSERT_GE(messages.size(), 2u);
  for (const TaskMessage &m : messages) {
    if (m.state == "succeeded") {
      EXPECT_EQ(m.remaining_ms, 0);
      EXPECT_DOUBLE_EQ(m.fraction, 1.0);
    } else {
      EXPECT_GE(m.remaining_ms, 0) << m.state;
      EXPECT_LE(m.remaining_ms, 1500) << m.state;
      EXPECT_GE(m.fraction, 0.0) << m.state;
      EXPECT_LT(m.fraction, 1.0) << m.state;
    }
  }
  EXPECT_EQ(messages.back().state, "succeeded");
  bool estimated = std::any_of(run.bus.progress.begin(), run.bus.progress.end(), [](const auto &p) {
    return p.find("left)") != std::string::npos || p.find("any moment now") != std::string::npos;
  });
  EXPECT_TRUE(estimated) << "no progress text with an estimate";

  // Without a history the fields say "unknown".
  std::string empty = make_temp_dir("element-no-estimate");
  PipelineRun plain(element(server, empty, "not estimated") + " ! fakesink");
  plain.play_to_end(60);
  for (const TaskMessage &m : task_messages(plain)) {
    EXPECT_EQ(m.remaining_ms, -1) << m.state;
    EXPECT_DOUBLE_EQ(m.fraction, -1.0) << m.state;
  }
}

}  // namespace
