// see2ai-cache: the user's view of the element's cache of paid clips (list, pending, collect,
// prune, verify), through the same core the element uses, so layout and locks are the element's
// own. Human output by default, one JSON document with --json; the exit status says what happened.
#include <glib.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cache_inventory.h"
#include "cache_units.h"
#include "clip_collector.h"
#include "clip_decoder.h"
#include "clip_verifier.h"
#include "growing_file.h"

using see2ai::CachedClip;
using see2ai::CacheInventory;
using see2ai::ClipDecoder;
using see2ai::collect_pending;
using see2ai::CollectOptions;
using see2ai::CollectOutcome;
using see2ai::CollectStatus;
using see2ai::format_age;
using see2ai::format_size;
using see2ai::GrowingFile;
using see2ai::kResultLifetimeUs;
using see2ai::parse_age;
using see2ai::parse_size;
using see2ai::PendingTask;
using see2ai::prune_cache;
using see2ai::PruneResult;
using see2ai::PruneRules;
using see2ai::RequestRecord;
using see2ai::verify_cache;
using see2ai::VerifyOutcome;
using see2ai::VerifyStatus;

namespace {

// The exit statuses (documented in --help and the README).
constexpr int kExitDone = 0;       // done; nothing calls for action
constexpr int kExitAttention = 1;  // done, and something calls for action (see the output)
constexpr int kExitUsage = 2;      // bad command line; nothing was done
constexpr int kExitFailed = 3;     // the cache could not be read or changed, or no API key

constexpr size_t kPromptChars = 40;

const char *const kSummary =
    "Commands:\n"
    "  list      cached clips: task id, date, last play, length, size, tokens, prompt\n"
    "  pending   tasks submitted (and charged) whose clip is not in the cache\n"
    "  collect   download the clips of pending tasks into the cache (never submits)\n"
    "  prune     remove clips, least recently played first (--max-size, --older-than);\n"
    "            never a clip a running element plays\n"
    "  verify    decode every cached clip; drop damaged ones (their tasks become pending)";

const char *const kDescription =
    "SIZE: bytes or a number with K, M, G or T (powers of 1024), e.g. 500M, 2G.\n"
    "AGE: a number with s, m, h, d or w, e.g. 90m, 7d.\n"
    "collect reads the API key from SEE2AI_API_KEY; a task is asked of the service it was\n"
    "submitted to (its request record), else of --api-url (default: SEE2AI_API_URL, else\n"
    "https://see2ai.com).\n"
    "\n"
    "Exit status:\n"
    "  0  done, nothing calls for action\n"
    "  1  done, something calls for action: pending tasks (pending); tasks left uncollected or\n"
    "     whose results are gone (collect); clips in use kept the cache from meeting the rules\n"
    "     (prune); damaged clips were dropped or clips in use were not checked (verify)\n"
    "  2  bad command line, nothing was done\n"
    "  3  the cache could not be read or changed, or collect has no API key";

std::string shortened(const std::string &text, size_t chars) {
  g_autofree char *valid = g_utf8_make_valid(text.c_str(), -1);
  std::string line = valid;
  for (char &c : line)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (g_utf8_strlen(line.c_str(), -1) <= static_cast<glong>(chars)) return line;
  const char *end = g_utf8_offset_to_pointer(line.c_str(), static_cast<glong>(chars - 1));
  return line.substr(0, static_cast<size_t>(end - line.c_str())) + "\u2026";
}

std::string time_text(int64_t us, bool iso) {
  if (us <= 0) return iso ? "" : "-";
  GDateTime *time = iso ? g_date_time_new_from_unix_utc(us / 1000000)
                        : g_date_time_new_from_unix_local(us / 1000000);
  if (!time) return "-";
  gchar *text = g_date_time_format(time, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M");
  std::string result = text ? text : "-";
  g_free(text);
  g_date_time_unref(time);
  return result;
}

// The length of a clip in ns from its container, -1 when it cannot be read.
int64_t clip_length_ns(const std::vector<std::string> &files) {
  int64_t total = 0;
  for (const std::string &path : files) {
    try {
      auto file = std::make_shared<GrowingFile>(path);
      file->finish();
      ClipDecoder decoder(file, 1);
      if (decoder.info().duration_ns < 0) return -1;
      total += decoder.info().duration_ns;
    } catch (const std::exception &) {
      return -1;
    }
  }
  return files.empty() ? -1 : total;
}

// One JSON document, built member by member.
class JsonOut {
 public:
  JsonOut() : builder_(json_builder_new()) {}
  ~JsonOut() { g_object_unref(builder_); }
  JsonOut(const JsonOut &) = delete;
  JsonOut &operator=(const JsonOut &) = delete;

  JsonOut &begin_object(const char *name = nullptr) {
    if (name) json_builder_set_member_name(builder_, name);
    json_builder_begin_object(builder_);
    return *this;
  }
  JsonOut &end_object() {
    json_builder_end_object(builder_);
    return *this;
  }
  JsonOut &begin_array(const char *name) {
    json_builder_set_member_name(builder_, name);
    json_builder_begin_array(builder_);
    return *this;
  }
  JsonOut &end_array() {
    json_builder_end_array(builder_);
    return *this;
  }
  JsonOut &text(const char *name, const std::string &value) {
    json_builder_set_member_name(builder_, name);
    g_autofree char *valid = g_utf8_make_valid(value.c_str(), -1);
    json_builder_add_string_value(builder_, valid);
    return *this;
  }
  JsonOut &value(const std::string &text) {
    g_autofree char *valid = g_utf8_make_valid(text.c_str(), -1);
    json_builder_add_string_value(builder_, valid);
    return *this;
  }
  JsonOut &text_or_null(const char *name, const std::string &value) {
    if (!value.empty()) return text(name, value);
    json_builder_set_member_name(builder_, name);
    json_builder_add_null_value(builder_);
    return *this;
  }
  JsonOut &number(const char *name, int64_t value) {
    json_builder_set_member_name(builder_, name);
    json_builder_add_int_value(builder_, value);
    return *this;
  }
  JsonOut &real(const char *name, double value) {
    json_builder_set_member_name(builder_, name);
    json_builder_add_double_value(builder_, value);
    return *this;
  }
  JsonOut &flag(const char *name, bool value) {
    json_builder_set_member_name(builder_, name);
    json_builder_add_boolean_value(builder_, value);
    return *this;
  }
  JsonOut &null(const char *name) {
    json_builder_set_member_name(builder_, name);
    json_builder_add_null_value(builder_);
    return *this;
  }
  void print() {
    JsonNode *root = json_builder_get_root(builder_);
    JsonGenerator *generator = json_generator_new();
    json_generator_set_root(generator, root);
    json_generator_set_pretty(generator, TRUE);
    gchar *text = json_generator_to_data(generator, nullptr);
    printf("%s\n", text);
    g_free(text);
    g_object_unref(generator);
    json_node_unref(root);
  }

 private:
  JsonBuilder *builder_;
};

std::string prompt_of(const std::optional<RequestRecord> &record) {
  return record ? record->prompt : std::string();
}

void request_members(JsonOut &out, const std::optional<RequestRecord> &record) {
  if (!record) {
    out.null("prompt").null("model").null("resolution").null("requested_duration_s");
    return;
  }
  out.text("prompt", record->prompt)
      .text("model", record->model)
      .text("resolution", record->resolution)
      .number("requested_duration_s", record->duration);
}

void clip_members(JsonOut &out, const CachedClip &clip) {
  out.text("key", clip.key).text_or_null("task_id", clip.output ? clip.output->task_id : "");
  request_members(out, clip.record);
  out.begin_array("files");
  for (const std::string &path : clip.files) out.value(path);
  out.end_array()
      .number("bytes", static_cast<int64_t>(clip.bytes))
      .text("stored_at", time_text(clip.stored_at_us, true))
      .text("last_played_at", time_text(clip.last_played_us, true))
      .flag("in_use", clip.held)
      .text_or_null("problem", clip.problem);
  if (clip.output) {
    out.number("input_tokens", clip.output->input_tokens)
        .number("output_tokens", clip.output->output_tokens)
        .number("total_tokens", clip.output->total_tokens);
  }
}

struct Options {
  std::string cache_dir;
  bool json = false;
  std::optional<uint64_t> max_size;
  std::optional<int64_t> older_than_us;
  std::string api_url;
  int timeout_s = 900;
};

int list(const Options &options) {
  std::vector<CachedClip> clips = CacheInventory(options.cache_dir).clips();
  // Most recently stored last, like ls -tr: the newest clips are what a user looks for.
  std::stable_sort(clips.begin(), clips.end(), [](const CachedClip &a, const CachedClip &b) {
    return a.stored_at_us < b.stored_at_us;
  });
  uint64_t bytes = 0;
  int64_t tokens = 0;
  int in_use = 0;
  for (const CachedClip &clip : clips) {
    bytes += clip.bytes;
    tokens += clip.output ? clip.output->total_tokens : 0;
    in_use += clip.held ? 1 : 0;
  }
  int64_t now = g_get_real_time();
  if (options.json) {
    JsonOut out;
    out.begin_object().text("cache_dir", options.cache_dir).begin_array("clips");
    for (const CachedClip &clip : clips) {
      out.begin_object();
      clip_members(out, clip);
      int64_t length = clip_length_ns(clip.files);
      if (length >= 0)
        out.real("duration_s", static_cast<double>(length) / 1e9);
      else
        out.null("duration_s");
      out.end_object();
    }
    out.end_array()
        .number("count", static_cast<int64_t>(clips.size()))
        .number("bytes", static_cast<int64_t>(bytes))
        .number("total_tokens", tokens)
        .number("in_use", in_use)
        .end_object()
        .print();
    return kExitDone;
  }
  if (!clips.empty())
    printf("%-24s %-16s %-9s %7s %9s %8s  %s\n", "TASK ID", "STORED", "PLAYED", "LENGTH", "SIZE",
           "TOKENS", "PROMPT");
  for (const CachedClip &clip : clips) {
    int64_t length = clip_length_ns(clip.files);
    char length_text[32];
    if (length >= 0)
      g_snprintf(length_text, sizeof length_text, "%.1f s", static_cast<double>(length) / 1e9);
    else
      g_snprintf(length_text, sizeof length_text, "?");
    std::string played = format_age(now - clip.last_played_us) + " ago";
    std::string prompt = clip.record ? "\"" + shortened(clip.record->prompt, kPromptChars) + "\""
                                     : std::string("(no record)");
    if (clip.held) prompt += " [in use]";
    if (!clip.problem.empty()) prompt += " [damaged: " + clip.problem + "]";
    printf("%-24s %-16s %-9s %7s %9s %8" G_GINT64_FORMAT "  %s\n",
           clip.output ? clip.output->task_id.c_str() : "?",
           time_text(clip.stored_at_us, false).c_str(), played.c_str(), length_text,
           format_size(clip.bytes).c_str(), clip.output ? clip.output->total_tokens : 0,
           prompt.c_str());
  }
  std::string used = in_use ? ", " + std::to_string(in_use) + " in use" : std::string();
  printf("%zu clip%s, %s, %" G_GINT64_FORMAT " tokens%s in %s\n", clips.size(),
         clips.size() == 1 ? "" : "s", format_size(bytes).c_str(), tokens, used.c_str(),
         options.cache_dir.c_str());
  return kExitDone;
}

std::string pending_state(const PendingTask &task) {
  if (task.in_progress) return "a running element follows it";
  if (task.task_id.empty()) return "submitted, task id unknown";
  return "to collect";
}

int pending(const Options &options) {
  std::vector<PendingTask> tasks = CacheInventory(options.cache_dir).pending();
  int64_t now = g_get_real_time();
  if (options.json) {
    JsonOut out;
    out.begin_object().text("cache_dir", options.cache_dir).begin_array("tasks");
    for (const PendingTask &task : tasks) {
      out.begin_object().text("key", task.key).text_or_null("task_id", task.task_id);
      request_members(out, task.record);
      out.text("submitted_at", time_text(task.submitted_at_us, true))
          .number("age_s", (now - task.submitted_at_us) / 1000000)
          .number("expires_in_s", (task.submitted_at_us + kResultLifetimeUs - now) / 1000000)
          .flag("in_progress", task.in_progress)
          .end_object();
    }
    out.end_array().number("count", static_cast<int64_t>(tasks.size())).end_object().print();
    return tasks.empty() ? kExitDone : kExitAttention;
  }
  if (!tasks.empty())
    printf("%-24s %-16s %-8s %-19s %-28s  %s\n", "TASK ID", "SUBMITTED", "AGE", "RESULTS EXPIRE",
           "STATE", "PROMPT");
  for (const PendingTask &task : tasks) {
    int64_t left = task.submitted_at_us + kResultLifetimeUs - now;
    // Results expire about a day after the task ends, which is some time after its submit.
    std::string expiry = left > 0 ? "in " + format_age(left) + " or later" : "probably gone";
    std::string prompt = task.record ? "\"" + shortened(task.record->prompt, kPromptChars) + "\""
                                     : std::string("(no record)");
    printf("%-24s %-16s %-8s %-19s %-28s  %s\n", task.task_id.empty() ? "?" : task.task_id.c_str(),
           time_text(task.submitted_at_us, false).c_str(),
           format_age(now - task.submitted_at_us).c_str(), expiry.c_str(),
           pending_state(task).c_str(), prompt.c_str());
  }
  if (tasks.empty())
    printf("No pending task: every submitted task's clip is in %s\n", options.cache_dir.c_str());
  else
    printf("%zu task%s paid for and not in the cache: `see2ai-cache collect` fetches them\n",
           tasks.size(), tasks.size() == 1 ? "" : "s");
  return tasks.empty() ? kExitDone : kExitAttention;
}

const char *collect_status_name(CollectStatus status) {
  switch (status) {
    case CollectStatus::Collected:
      return "collected";
    case CollectStatus::InProgress:
      return "in-progress";
    case CollectStatus::NoTaskId:
      return "no-task-id";
    case CollectStatus::StillRunning:
      return "still-running";
    case CollectStatus::Ended:
      return "ended";
    case CollectStatus::Gone:
      return "gone";
    case CollectStatus::Error:
      break;
  }
  return "error";
}

std::string env_or(const char *name, const std::string &fallback) {
  const char *value = g_getenv(name);
  return value && *value ? value : fallback;
}

int collect(const Options &options) {
  CollectOptions collect_options;
  collect_options.config.api_key = env_or("SEE2AI_API_KEY", "");
  collect_options.config.api_url =
      options.api_url.empty() ? env_or("SEE2AI_API_URL", "https://see2ai.com") : options.api_url;
  collect_options.timeout_s = options.timeout_s;
  if (collect_options.config.api_key.empty()) {
    fprintf(stderr, "see2ai-cache: collect needs the API key in SEE2AI_API_KEY\n");
    return kExitFailed;
  }
  auto print = [&](const CollectOutcome &outcome) {
    if (options.json) return;
    std::string size = outcome.status == CollectStatus::Collected && outcome.bytes
                           ? " (" + format_size(outcome.bytes) + ")"
                           : std::string();
    printf("%-13s %-24s %s%s\n", collect_status_name(outcome.status),
           outcome.task.task_id.empty() ? "?" : outcome.task.task_id.c_str(),
           outcome.message.c_str(), size.c_str());
    fflush(stdout);
  };
  std::vector<CollectOutcome> outcomes = collect_pending(options.cache_dir, collect_options, print);
  int collected = 0;
  for (const CollectOutcome &outcome : outcomes)
    collected += outcome.status == CollectStatus::Collected ? 1 : 0;
  if (options.json) {
    JsonOut out;
    out.begin_object().text("cache_dir", options.cache_dir).begin_array("tasks");
    for (const CollectOutcome &outcome : outcomes) {
      out.begin_object()
          .text("key", outcome.task.key)
          .text_or_null("task_id", outcome.task.task_id)
          .text("outcome", collect_status_name(outcome.status))
          .text("message", outcome.message)
          .number("bytes", static_cast<int64_t>(outcome.bytes))
          .end_object();
    }
    out.end_array().number("collected", collected).end_object().print();
  } else {
    printf("%d of %zu pending task%s collected\n", collected, outcomes.size(),
           outcomes.size() == 1 ? "" : "s");
  }
  return collected == static_cast<int>(outcomes.size()) ? kExitDone : kExitAttention;
}

int prune(const Options &options) {
  PruneResult result = prune_cache(
      options.cache_dir, PruneRules{options.max_size, options.older_than_us}, g_get_real_time());
  int64_t now = g_get_real_time();
  if (options.json) {
    JsonOut out;
    out.begin_object().text("cache_dir", options.cache_dir).begin_array("removed");
    for (const CachedClip &clip : result.removed) {
      clip_members(out.begin_object(), clip);
      out.end_object();
    }
    out.end_array().begin_array("kept_in_use");
    for (const CachedClip &clip : result.kept_in_use) {
      clip_members(out.begin_object(), clip);
      out.end_object();
    }
    out.end_array()
        .number("stray_files_removed", static_cast<int64_t>(result.strays_removed.size()))
        .number("bytes_before", static_cast<int64_t>(result.bytes_before))
        .number("bytes_after", static_cast<int64_t>(result.bytes_after))
        .flag("rules_met", result.rules_met)
        .end_object()
        .print();
    return result.rules_met ? kExitDone : kExitAttention;
  }
  for (const CachedClip &clip : result.removed)
    printf("removed  %-24s %9s  last played %s ago  \"%s\"\n",
           clip.output ? clip.output->task_id.c_str() : "?", format_size(clip.bytes).c_str(),
           format_age(now - clip.last_played_us).c_str(),
           shortened(prompt_of(clip.record), kPromptChars).c_str());
  for (const CachedClip &clip : result.kept_in_use)
    printf("kept     %-24s %9s  %s  \"%s\"\n", clip.output ? clip.output->task_id.c_str() : "?",
           format_size(clip.bytes).c_str(), clip.held ? "an element plays it" : "a run works on it",
           shortened(prompt_of(clip.record), kPromptChars).c_str());
  if (!result.strays_removed.empty())
    printf("removed the files of %zu unfinished download%s\n", result.strays_removed.size(),
           result.strays_removed.size() == 1 ? "" : "s");
  printf("%zu clip%s removed: %s before, %s now%s\n", result.removed.size(),
         result.removed.size() == 1 ? "" : "s", format_size(result.bytes_before).c_str(),
         format_size(result.bytes_after).c_str(),
         result.rules_met ? "" : "; clips in use keep the cache from meeting the rules");
  return result.rules_met ? kExitDone : kExitAttention;
}

const char *verify_status_name(VerifyStatus status) {
  switch (status) {
    case VerifyStatus::Good:
      return "ok";
    case VerifyStatus::Dropped:
      return "dropped";
    case VerifyStatus::InUse:
      break;
  }
  return "in-use";
}

int verify(const Options &options) {
  auto print = [&](const VerifyOutcome &outcome) {
    if (options.json) return;
    const CachedClip &clip = outcome.clip;
    std::string detail =
        outcome.status == VerifyStatus::Dropped
            ? outcome.problem + " (its task is pending again: see2ai-cache collect)"
        : outcome.status == VerifyStatus::InUse
            ? "not checked: an element plays it or a run works on it"
            : "\"" + shortened(prompt_of(clip.record), kPromptChars) + "\"";
    printf("%-8s %-24s %s\n", verify_status_name(outcome.status),
           clip.output ? clip.output->task_id.c_str() : "?", detail.c_str());
    fflush(stdout);
  };
  std::vector<VerifyOutcome> outcomes = verify_cache(options.cache_dir, print);
  std::map<VerifyStatus, int> counts;
  for (const VerifyOutcome &outcome : outcomes) counts[outcome.status]++;
  if (options.json) {
    JsonOut out;
    out.begin_object().text("cache_dir", options.cache_dir).begin_array("clips");
    for (const VerifyOutcome &outcome : outcomes) {
      out.begin_object();
      clip_members(out, outcome.clip);
      out.text("outcome", verify_status_name(outcome.status))
          .text_or_null("damage", outcome.problem)
          .end_object();
    }
    out.end_array()
        .number("good", counts[VerifyStatus::Good])
        .number("dropped", counts[VerifyStatus::Dropped])
        .number("in_use", counts[VerifyStatus::InUse])
        .end_object()
        .print();
  } else {
    printf("%d good, %d dropped, %d in use (not checked)\n", counts[VerifyStatus::Good],
           counts[VerifyStatus::Dropped], counts[VerifyStatus::InUse]);
  }
  return counts[VerifyStatus::Good] == static_cast<int>(outcomes.size()) ? kExitDone
                                                                         : kExitAttention;
}

int usage_error(const std::string &message) {
  fprintf(stderr, "see2ai-cache: %s (see see2ai-cache --help)\n", message.c_str());
  return kExitUsage;
}

}  // namespace

int main(int argc, char **argv) {
  gchar *cache_dir = nullptr;
  gchar *max_size = nullptr;
  gchar *older_than = nullptr;
  gchar *api_url = nullptr;
  gint timeout_s = -1;
  gboolean json = FALSE;
  GOptionEntry entries[] = {{"cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache_dir,
                             "The element's cache-dir (default: $XDG_CACHE_HOME/see2ai)", "DIR"},
                            {"json", 0, 0, G_OPTION_ARG_NONE, &json,
                             "One JSON document on stdout instead of text", nullptr},
                            {"max-size", 0, 0, G_OPTION_ARG_STRING, &max_size,
                             "prune: remove clips until the cache holds at most SIZE", "SIZE"},
                            {"older-than", 0, 0, G_OPTION_ARG_STRING, &older_than,
                             "prune: remove clips last played more than AGE ago", "AGE"},
                            {"api-url", 0, 0, G_OPTION_ARG_STRING, &api_url,
                             "collect: the service of tasks without a request record", "URL"},
                            {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
                             "collect: how long to follow a task still running (default 900)", "S"},
                            {nullptr, 0, 0, G_OPTION_ARG_NONE, nullptr, nullptr, nullptr}};
  GOptionContext *context = g_option_context_new("COMMAND");
  g_option_context_set_summary(context, kSummary);
  g_option_context_set_description(context, kDescription);
  g_option_context_add_main_entries(context, entries, nullptr);
  GError *error = nullptr;
  bool parsed = g_option_context_parse(context, &argc, &argv, &error);
  g_option_context_free(context);
  std::unique_ptr<gchar, decltype(&g_free)> free_dir(cache_dir, g_free), free_max(max_size, g_free),
      free_older(older_than, g_free), free_url(api_url, g_free);
  if (!parsed) {
    std::string message = error->message;
    g_error_free(error);
    return usage_error(message);
  }
  if (argc != 2) return usage_error("give one command: list, pending, collect, prune or verify");
  std::string command = argv[1];

  Options options;
  options.json = json;
  options.cache_dir =
      cache_dir && *cache_dir ? cache_dir : std::string(g_get_user_cache_dir()) + "/see2ai";
  if ((max_size || older_than) && command != "prune")
    return usage_error("--max-size and --older-than are options of prune");
  if ((api_url || timeout_s >= 0) && command != "collect")
    return usage_error("--api-url and --timeout are options of collect");
  if (max_size && !(options.max_size = parse_size(max_size)))
    return usage_error(std::string("--max-size: \"") + max_size +
                       "\" is not a size (e.g. 500M, 2G, 1048576)");
  if (older_than && !(options.older_than_us = parse_age(older_than)))
    return usage_error(std::string("--older-than: \"") + older_than +
                       "\" is not an age (e.g. 12h, 7d, 90m)");
  if (command == "prune" && !max_size && !older_than)
    return usage_error("prune needs --max-size SIZE, --older-than AGE or both");
  if (api_url) options.api_url = api_url;
  if (timeout_s == 0 || timeout_s < -1)
    return usage_error("--timeout: give a number of seconds > 0");
  if (timeout_s > 0) options.timeout_s = timeout_s;

  std::map<std::string, std::function<int(const Options &)>> commands = {{"list", list},
                                                                         {"pending", pending},
                                                                         {"collect", collect},
                                                                         {"prune", prune},
                                                                         {"verify", verify}};
  auto found = commands.find(command);
  if (found == commands.end())
    return usage_error("unknown command \"" + command +
                       "\": give list, pending, collect, prune or verify");
  if (!g_file_test(options.cache_dir.c_str(), G_FILE_TEST_IS_DIR)) {
    fprintf(stderr, "see2ai-cache: there is no cache at %s (set --cache-dir to the element's)\n",
            options.cache_dir.c_str());
    return kExitFailed;
  }
  try {
    return found->second(options);
  } catch (const std::exception &e) {
    fprintf(stderr, "see2ai-cache: %s\n", e.what());
    return kExitFailed;
  }
}
