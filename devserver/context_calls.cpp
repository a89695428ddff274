#include "context_calls.h"

namespace see2ai::dev {

namespace {

gboolean call_once(gpointer data) {
  (*static_cast<std::function<void()> *>(data))();
  return G_SOURCE_REMOVE;
}

void delete_call(gpointer data) {
  delete static_cast<std::function<void()> *>(data);
}

}  // namespace

void run_on(GMainContext *context, std::function<void()> call) {
  g_main_context_invoke_full(context, G_PRIORITY_DEFAULT, call_once,
                             new std::function<void()>(std::move(call)), delete_call);
}

void run_after(GMainContext *context, int delay_ms, std::function<void()> call) {
  GSource *source = g_timeout_source_new(static_cast<guint>(delay_ms > 0 ? delay_ms : 0));
  g_source_set_callback(source, call_once, new std::function<void()>(std::move(call)), delete_call);
  g_source_attach(source, context);
  g_source_unref(source);
}

}  // namespace see2ai::dev
