// ContextCalls: run a C++ callable on a given GMainContext, now or after a delay. How worker
// threads hand results back to the dev server's main context, and how task timers are kept.
#pragma once

#include <glib.h>

#include <functional>

namespace see2ai::dev {

// The callable is destroyed without running if the context goes away first.
void run_on(GMainContext *context, std::function<void()> call);
void run_after(GMainContext *context, int delay_ms, std::function<void()> call);

}  // namespace see2ai::dev
