#!/usr/bin/env python3
# Runs the benchmark cases against a release build and the dev server on loopback, prints
# one table and writes it to bench/RESULTS.md. Called by bench/run.sh (which builds first).
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "bench-key"
NS_PER_SECOND = 1000000000
SUBMIT_PATH = "/api/v1/actions/see2ai_video_generation_v1"
CASE1_PROMPT = "bench decode cost: a lighthouse at dusk"
SMALL_PROMPT = "bench small clip: a paper boat"


def informative(met):
    """A target shown for a measure it is not judged on: the answer in parentheses."""
    return f"({'yes' if met else 'no'})"


def wall_ms():
    return time.time() * 1000.0


class DevServer:
    """One see2ai-devserver process on a free loopback port with its own output dir and log."""

    def __init__(self, build, work, name, latency_ms):
        self.name = name
        self.output_dir = os.path.join(work, name + "-out")
        self.log_path = os.path.join(work, name + ".jsonl")
        self.process = subprocess.Popen(
            [os.path.join(build, "devserver", "see2ai-devserver"), "--key", f"{KEY}:1000000000000",
             "--latency-ms", str(latency_ms), "--output-dir", self.output_dir,
             "--log", self.log_path],
            stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        prefix = "see2ai-devserver listening on "
        if not line.startswith(prefix):
            raise RuntimeError(f"dev server {name} did not start: {line!r}")
        self.url = line[len(prefix):].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.offset_ms = self.clock_offset_ms()

    def request(self, method, path, body=None, auth=True, timeout=120):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if auth:
            req.add_header("Authorization", "Bearer " + KEY)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def log(self):
        _, body = self.request("GET", "/_dev/log", auth=False)
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]

    def requests_logged(self):
        return sum(1 for line in self.log() if "method" in line)

    def add_faults(self, rules):
        status, body = self.request("POST", "/_dev/faults", rules, auth=False)
        if status != 200:
            raise RuntimeError(f"faults refused: {status} {body!r}")

    def clear_faults(self):
        self.request("DELETE", "/_dev/faults", auth=False)

    def clock_offset_ms(self):
        """wall-clock epoch ms = log t_ms + offset. The log's t_ms counts from the server's start on
        its own monotonic clock and has no absolute time, so logged probe requests (404 status of
        an unknown task, logged when answered) are bracketed by wall-clock readings here; the
        probe with the shortest round trip wins (error <= half of it plus the 1 ms resolution)."""
        samples = []
        for i in range(7):
            path = f"/api/v1/status/clock-probe-{i}"
            before = wall_ms()
            self.request("GET", path)
            after = wall_ms()
            samples.append((after - before, path, (before + after) / 2))
        log = {line.get("path"): line["t_ms"] for line in self.log() if "path" in line}
        rtt, path, middle = min(samples)
        return middle - log[path]

    def submit(self, prompt, duration, resolution, audio, sync=False):
        status, body = self.request("POST", SUBMIT_PATH, {
            "prompt": prompt, "duration": duration, "resolution": resolution,
            "generate_audio": audio, "sync": sync})
        output = json.loads(body)
        if status != 200:
            raise RuntimeError(f"submit failed: {status} {output}")
        return output

    def wait_succeeded(self, task_id, deadline_s=120):
        end = time.time() + deadline_s
        while time.time() < end:
            _, body = self.request("GET", "/api/v1/status/" + task_id)
            output = json.loads(body)
            if output.get("state") == "succeeded":
                return output
            if output.get("state") in ("failed", "expired", "cancelled"):
                raise RuntimeError(f"task {task_id} ended {output.get('state')}")
            time.sleep(0.05)
        raise RuntimeError(f"task {task_id} did not finish")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.work = tempfile.mkdtemp(prefix="see2ai-bench-")
        self.env = dict(os.environ)
        self.env["GST_PLUGIN_PATH"] = os.path.join(self.build, "gst")
        self.env["SEE2AI_API_KEY"] = KEY
        self.env["XDG_CACHE_HOME"] = os.path.join(self.work, "xdg-cache")
        self.env.pop("GST_DEBUG", None)
        self.runs = args.runs
        self.load_at_start = load_average()
        self.rows = []
        self.notes = []
        self.servers = []

    def realistic_clip(self):
        """A 15 s 1280x720 24 fps H.264 + AAC mono 48 kHz clip at ~4 Mbit/s (testsrc2 with temporal
        noise), made once per build dir: the dev server's own renders are flat synthetic pictures
        of a few hundred KB that cost next to nothing to download or decode."""
        path = os.path.join(self.build, "bench-clip-720p-15s.mp4")
        if not os.path.exists(path):
            print("encoding the 15 s 720p bench clip with ffmpeg (once per build dir)", flush=True)
            subprocess.run(
                ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                 "testsrc2=size=1280x720:rate=24,noise=alls=12:allf=t", "-f", "lavfi", "-i",
                 "sine=frequency=440:sample_rate=48000", "-t", "15", "-c:v", "libx264",
                 "-preset", "veryfast", "-b:v", "4M", "-maxrate", "5M", "-bufsize", "8M",
                 "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1", "-b:a", "96k",
                 "-movflags", "+faststart", path + ".tmp.mp4"], check=True)
            os.replace(path + ".tmp.mp4", path)
        return path

    def install_realistic_clip(self, server):
        """Generates CASE1_PROMPT once on `server`, then swaps the dev server's render-cache entry
        for that clip with the realistic one, so every later task with that prompt returns it.
        Returns the first (synthetic) task."""
        task = server.wait_succeeded(server.submit(CASE1_PROMPT, 15, "720p", True)["task_id"])
        rendered = os.stat(os.path.join(server.output_dir, task["task_id"] + ".mp4"))
        cache_dir = os.path.join(server.output_dir, ".render-cache")
        entry = next(os.path.join(cache_dir, name) for name in os.listdir(cache_dir)
                     if os.stat(os.path.join(cache_dir, name)).st_ino == rendered.st_ino)
        shutil.copyfile(self.realistic_clip(), entry + ".bench")
        os.replace(entry + ".bench", entry)
        return task

    def server(self, name, latency_ms):
        server = DevServer(self.build, self.work, name, latency_ms)
        self.servers.append(server)
        return server

    def close(self):
        for server in self.servers:
            server.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def row(self, case, metric, element, reference, ratio, target, met):
        self.rows.append((case, metric, element, reference, ratio, target, met))
        print(f"  {case} | {metric} | {element} | {reference} | {ratio} | {target} | {met}",
              flush=True)

    # Runs one pipeline under /usr/bin/time: (user+sys s, wall s, peak RSS KiB).
    def timed(self, command):
        stats = os.path.join(self.work, "time.txt")
        result = subprocess.run(["/usr/bin/time", "-f", "%U %S %e %M", "-o", stats] + command,
                                env=self.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr[-2000:]}")
        user, system, wall, rss = open(stats).read().split()[-4:]
        return float(user) + float(system), float(wall), int(rss)

    def interleaved(self, commands):
        """Per command: medians of (CPU s, wall s, peak RSS KiB) and the CPU samples. Runs go round
        robin so that load from elsewhere on the machine hits every command alike."""
        for command in commands:
            self.timed(command)  # warm-up: page cache, GStreamer registry, server render cache
        samples = [[] for _ in commands]
        for _ in range(self.runs):
            for i, command in enumerate(commands):
                samples[i].append(self.timed(command))
        return [(tuple(statistics.median(s[k] for s in runs) for k in range(3)),
                 [s[0] for s in runs]) for runs in samples]

    # Runs see2ai-bench on a pipeline description; returns its events.
    def pipeline(self, description, first_buffer=False, deadline=120):
        command = [os.path.join(self.build, "bench", "see2ai-bench"), f"--deadline={deadline}"]
        if first_buffer:
            command.append("--first-buffer")
        result = subprocess.run(command + [description], env=self.env, capture_output=True,
                                text=True, timeout=deadline + 30)
        events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0:
            raise RuntimeError(f"pipeline failed ({result.returncode}): {description}\n"
                               f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return events

    @staticmethod
    def first(events, event, **fields):
        for e in events:
            if e["event"] == event and all(e.get(k) == v for k, v in fields.items()):
                return e
        raise RuntimeError(f"no {event} {fields} in {events}")

    def case1_and_6(self):
        print("case 1/6: decode cost and memory (15 s 1280x720 24 fps H.264 + AAC)", flush=True)
        server = self.server("decode", 0)
        synthetic = self.install_realistic_clip(server)
        task = server.wait_succeeded(server.submit(CASE1_PROMPT, 15, "720p", True)["task_id"])
        url = task["result_urls"][0]
        self.clip_bytes = os.path.getsize(os.path.join(server.output_dir,
                                                       task["task_id"] + ".mp4"))
        synthetic_bytes = os.path.getsize(os.path.join(server.output_dir,
                                                       synthetic["task_id"] + ".mp4"))
        cache_dir = os.path.join(self.work, "cache-decode")
        sinks = "s.video ! fakesink s.audio ! fakesink"

        def attach_to(task_id):
            return ["gst-launch-1.0", "-q", "see2aivideosrc", "name=s", f"api-url={server.url}",
                    f"task-id={task_id}", "cache-mode=off"] + sinks.split()

        attach = attach_to(task["task_id"])
        cached = ["gst-launch-1.0", "-q", "see2aivideosrc", "name=s", f"api-url={server.url}",
                  f"prompt={CASE1_PROMPT}", "duration=15", "resolution=720p",
                  "generate-audio=true", "cache-mode=reuse", f"cache-dir={cache_dir}"] + sinks.split()
        chain = ["gst-launch-1.0", "-q", "souphttpsrc", f"location={url}", "!", "qtdemux", "name=d",
                 "d.video_0", "!", "queue", "!", "h264parse", "!", "avdec_h264", "!", "fakesink",
                 "d.audio_0", "!", "queue", "!", "aacparse", "!", "avdec_aac", "!", "fakesink"]
        ffmpeg = ["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-f", "null", "-"]

        # Not timed: proves every frame leaves the element, so a lower CPU cost is not a skip.
        pushed = self.first(self.pipeline(" ".join(attach[2:])), "video-buffers")["count"]
        self.timed(cached)  # fills the element's cache (one generation, not timed)
        before = server.requests_logged()
        self.timed(cached)
        cached_requests = server.requests_logged() - before
        results = self.interleaved([attach, cached, chain, ffmpeg])
        (a_cpu, a_wall, a_rss), a_samples = results[0]
        (c_cpu, c_wall, c_rss), c_samples = results[1]
        (g_cpu, g_wall, g_rss), g_samples = results[2]
        (f_cpu, f_wall, f_rss), f_samples = results[3]
        self.notes.append(
            f"Case 1: in a check run the element pushed {pushed} video buffers (the clip has "
            "15 s x 24 fps = 360 frames). It measures two element variants: *attach* (`task-id=` of a task that already "
            "succeeded, `cache-mode=off`: one status request, then the same HTTP download the "
            "reference chain does) and *warm cache* (`cache-mode=reuse` with the clip already "
            f"cached: {cached_requests} HTTP requests in a checked run, no generation, "
            "no download). Targets are judged on *attach*, the like-for-like one. Each number is "
            "the median of the runs after one warm-up each, the four commands taking turns; whole "
            "process (gst-launch-1.0 / ffmpeg start-up included) measured by /usr/bin/time. CPU "
            "s per run: attach " + " ".join(f"{x:.2f}" for x in a_samples) + "; warm cache "
            + " ".join(f"{x:.2f}" for x in c_samples) + "; GStreamer chain "
            + " ".join(f"{x:.2f}" for x in g_samples) + "; ffmpeg "
            + " ".join(f"{x:.2f}" for x in f_samples) + ".")
        self.row("1 decode", "CPU s (attach) vs GStreamer chain", f"{a_cpu:.2f}", f"{g_cpu:.2f}",
                 f"{a_cpu / g_cpu:.2f}x", "<= 1.0x", a_cpu / g_cpu <= 1.0)
        self.row("1 decode", "CPU s (attach) vs ffmpeg", f"{a_cpu:.2f}", f"{f_cpu:.2f}",
                 f"{a_cpu / f_cpu:.2f}x", "<= 1.15x", a_cpu / f_cpu <= 1.15)
        self.row("1 decode", "CPU s (warm cache) vs GStreamer chain", f"{c_cpu:.2f}", f"{g_cpu:.2f}",
                 f"{c_cpu / g_cpu:.2f}x", "<= 1.0x", c_cpu / g_cpu <= 1.0)
        self.row("1 decode", "CPU s (warm cache) vs ffmpeg", f"{c_cpu:.2f}", f"{f_cpu:.2f}",
                 f"{c_cpu / f_cpu:.2f}x", "<= 1.15x", c_cpu / f_cpu <= 1.15)
        self.row("1 decode", "wall s (attach) vs GStreamer chain", f"{a_wall:.2f}", f"{g_wall:.2f}",
                 f"{a_wall / g_wall:.2f}x", "-", "-")
        self.row("1 decode", "wall s (attach) vs ffmpeg", f"{a_wall:.2f}", f"{f_wall:.2f}",
                 f"{a_wall / f_wall:.2f}x", "-", "-")
        self.row("1 decode", "wall s (warm cache) vs GStreamer chain", f"{c_wall:.2f}",
                 f"{g_wall:.2f}", f"{c_wall / g_wall:.2f}x", "-", "-")
        mib = 1024.0
        self.row("6 memory", "peak RSS MiB (attach) vs GStreamer chain", f"{a_rss / mib:.1f}",
                 f"{g_rss / mib:.1f}", f"{(a_rss - g_rss) / mib:+.1f} MiB", "<= +20 MiB",
                 a_rss - g_rss <= 20 * mib)
        self.row("6 memory", "peak RSS MiB (warm cache) vs GStreamer chain", f"{c_rss / mib:.1f}",
                 f"{g_rss / mib:.1f}", f"{(c_rss - g_rss) / mib:+.1f} MiB", "<= +20 MiB",
                 c_rss - g_rss <= 20 * mib)
        self.row("6 memory", "peak RSS MiB ffmpeg (for scale)", "-", f"{f_rss / mib:.1f}", "-",
                 "-", "-")

        synthetic_url = synthetic["result_urls"][0]
        results = self.interleaved([
            attach_to(synthetic["task_id"]),
            [f"location={synthetic_url}" if a == f"location={url}" else a for a in chain],
            [synthetic_url if a == url else a for a in ffmpeg]])
        s_cpu, sg_cpu, sf_cpu = (r[0][0] for r in results)
        self.notes.append(
            f"Cases 1, 2, 4 and 6 use a {self.clip_bytes}-byte 15 s 1280x720 24 fps H.264 + AAC "
            "mono 48 kHz clip (~4 Mbit/s, ffmpeg testsrc2 with temporal noise, libx264 veryfast, "
            "+faststart) that the bench puts into the dev server's render cache in place of the "
            "clip it rendered for the bench prompt, so tasks for that prompt return it. The dev "
            f"server's own render of the same request is {synthetic_bytes} bytes (flat synthetic "
            "picture): decoding it is mostly process start-up (gst-launch-1.0 loading plugins against "
            "ffmpeg's smaller start), so its rows are shown for information, met? in "
            "parentheses.")
        self.row("1 decode", "CPU s (attach, as rendered by the dev server) vs GStreamer chain",
                 f"{s_cpu:.2f}", f"{sg_cpu:.2f}", f"{s_cpu / sg_cpu:.2f}x", "<= 1.0x",
                 informative(s_cpu / sg_cpu <= 1.0))
        self.row("1 decode", "CPU s (attach, as rendered by the dev server) vs ffmpeg",
                 f"{s_cpu:.2f}", f"{sf_cpu:.2f}", f"{s_cpu / sf_cpu:.2f}x", "<= 1.15x",
                 informative(s_cpu / sf_cpu <= 1.15))

    def case2(self):
        print("case 2: time to first frame after the task succeeds", flush=True)
        server = self.server("first-frame", 1000)
        self.install_realistic_clip(server)
        description = (f"see2aivideosrc name=s api-url={server.url} prompt=\"{CASE1_PROMPT}\" "
                       "duration=15 resolution=720p generate-audio=true cache-mode=off "
                       "s.video ! fakesink s.audio ! fakesink")

        def measure():
            events = self.pipeline(description)
            succeeded = self.first(events, "task", state="succeeded")["wall_us"]
            first_frame = self.first(events, "first-video-buffer")["wall_us"]
            downloaded = self.first(events, "result")["wall_us"]
            task_id = self.first(events, "task", state="succeeded")["task_id"]
            log = server.log()
            done_seq = next(l["seq"] for l in log if l.get("event") == "state"
                            and l["state"] == "succeeded" and l["task_id"] == task_id)
            told = next(l["t_ms"] for l in log if l.get("task_id") == task_id
                        and l.get("path", "").startswith("/api/v1/status/")
                        and l["seq"] > done_seq)
            sent = max(l["t_ms"] for l in log if l.get("path") == f"/files/{task_id}.mp4")
            server_side.append(sent - told)
            return (first_frame - succeeded) / 1000.0, (downloaded - succeeded) / 1000.0

        server_side = []
        rate = 5000000
        server.add_faults([{"match": "download", "times": -1, "rate": rate}])
        measure()
        throttled = [measure() for _ in range(self.runs)]
        server.clear_faults()
        measure()
        open_runs = [measure() for _ in range(self.runs)]
        ttff = statistics.median(t for t, _ in throttled)
        download = statistics.median(d for _, d in throttled)
        fast_ttff = statistics.median(t for t, _ in open_runs)
        fast_download = statistics.median(d for _, d in open_runs)
        self.notes.append(
            f"Case 2: the clip is {self.clip_bytes} bytes; the dev server's `rate` fault rule "
            f"({rate} bytes/s on downloads, times -1) makes the full download take "
            f"~{self.clip_bytes / rate * 1000:.0f} ms. Times are from the element's see2ai-task "
            "message with state succeeded (timestamped on the posting thread by a sync bus "
            "handler) to the first buffer on its video pad (pad probe), and to the see2ai-result "
            "message (posted once the download is complete) for the download time. Cross-check "
            "on the server's clock alone (its log: the poll that answered succeeded to the "
            "logged end of the file download), ms, throttled then unthrottled, warm-ups "
            "included: " + ", ".join(str(t) for t in server_side) + ". First frame ms per run, "
            "throttled: " + ", ".join(f"{t:.0f}" for t, _ in throttled) + "; unthrottled: "
            + ", ".join(f"{t:.0f}" for t, _ in open_runs) + ".")
        self.row("2 first frame", "ms after succeeded, 40 Mbit/s vs full download",
                 f"{ttff:.0f}", f"{download:.0f}", f"{ttff / download * 100:.1f}%", "< 25%",
                 ttff / download < 0.25)
        self.row("2 first frame", "ms after succeeded, unthrottled loopback", f"{fast_ttff:.0f}",
                 f"{fast_download:.0f} (download)", "-", "< 150 ms", fast_ttff < 150)

    def case3(self):
        print("case 3: completion detection (random finish moments, one server each)", flush=True)
        warm = self.server("detect-warm", 1500)
        self.pipeline(f"see2aivideosrc name=w api-url={warm.url} prompt=\"{SMALL_PROMPT}\" "
                      "duration=4 resolution=480p generate-audio=false cache-mode=off w.video ! "
                      "fakesink")
        rng = random.Random(self.args.seed)
        self.detect_batch("", rng, self.args.detect_min_ms, self.args.detect_max_ms, True)
        self.detect_batch("history ", rng, self.args.detect_min_ms, self.args.detect_max_ms, True,
                          history=True)
        self.detect_batch("short ", rng, 5000, 15000, False)
        self.detect_sync(rng, 5000, 15000)

    def detect_sync(self, rng, min_ms, max_ms):
        """The same measure with sync=true: the submit is held open until the task ends."""
        servers = [self.server(f"detect-sync-{i}", rng.randint(min_ms, max_ms))
                   for i in range(max(self.runs, 8))]
        description = " ".join(
            f"see2aivideosrc name=s{i} api-url={s.url} prompt=\"{SMALL_PROMPT}\" duration=4 "
            f"resolution=480p generate-audio=false cache-mode=off sync=true s{i}.video ! fakesink"
            for i, s in enumerate(servers))
        events = self.pipeline(description, deadline=max_ms // 1000 + 60)
        delays, polls = [], 0
        for i, server in enumerate(servers):
            noticed = self.first(events, "task", element=f"s{i}", state="succeeded")
            log = server.log()
            done = next(l for l in log if l.get("event") == "state"
                        and l["state"] == "succeeded" and l["task_id"] == noticed["task_id"])
            delays.append(noticed["wall_us"] / 1000.0 - (done["t_ms"] + server.offset_ms))
            polls += sum(1 for l in log if l.get("method") == "GET"
                         and l["path"].startswith("/api/v1/status/task-"))
            server.stop()
            self.servers.remove(server)
        self.notes.append(
            f"Case 3 (sync=true batch, for comparison): {len(servers)} tasks of "
            f"{min_ms}..{max_ms} ms, the submit held open until the end; delays ms: "
            + ", ".join(f"{d:.1f}" for d in delays) + f"; status requests in all: {polls}.")
        self.row("3 detection", f"sync=true {min_ms // 1000}-{max_ms // 1000} s tasks: median "
                 "delay ms (no polling)", f"{statistics.median(delays):.1f}", "-", "-", "-", "-")

    def seed_history(self, cache_dir, url, times_ms):
        """Request records of finished tasks of the kind the batch asks for (standard model, 480p,
        4 s), as the element writes them beside its cache (src/request_record.h): the history its
        estimate and poll schedule learn from."""
        requests = os.path.join(cache_dir, "requests")
        os.makedirs(requests, exist_ok=True)
        now_us = int(time.time() * 1e6)
        for n, ms in enumerate(times_ms):
            submitted = now_us - (len(times_ms) - n) * 3600 * 1000000
            record = {"prompt": f"history {n}", "model": "doubao-seedance-2-0-260128",
                      "resolution": "480p", "duration": 4, "aspect_ratio": "adaptive",
                      "generate_audio": False, "api_url": url,
                      "status_path": "/api/v1/status/{task_id}", "submitted_at_us": submitted,
                      "finished_at_us": submitted + ms * 1000, "generation_ms": ms}
            with open(os.path.join(requests, f"{n:064x}.json"), "w") as out:
                json.dump(record, out)

    def detect_batch(self, label, rng, min_ms, max_ms, judged, history=False):
        samples = max(self.runs, 16 if judged else 8)
        spread = self.args.history_spread
        # With a history each task's time and its history's come from one distribution: a typical
        # time drawn from the range, each time within +-spread of it.
        typical = [rng.randint(min_ms, max_ms) for _ in range(samples)]
        latencies = [round(t * rng.uniform(1 - spread, 1 + spread)) if history else t
                     for t in typical]
        servers = [self.server(f"detect-{label.strip() or 'long'}-{i}", latency)
                   for i, latency in enumerate(latencies)]
        histories = []
        for i, server in enumerate(servers):
            if history:
                times = [round(typical[i] * rng.uniform(1 - spread, 1 + spread))
                         for _ in range(self.args.history_samples)]
                histories.append(times)
                self.seed_history(os.path.join(self.work, f"history-cache-{i}"), server.url, times)
        description = " ".join(
            f"see2aivideosrc name=s{i} api-url={s.url} prompt=\"{SMALL_PROMPT}\" duration=4 "
            f"resolution=480p generate-audio=false "
            + (f"cache-mode=reuse cache-dir={os.path.join(self.work, f'history-cache-{i}')}"
               if history else "cache-mode=off")
            + f" s{i}.video ! fakesink"
            for i, s in enumerate(servers))
        events = self.pipeline(description, deadline=max_ms // 1000 + 60)
        delays, intervals, per_minute, generation_s, reactions = [], [], [], [], []
        for i, server in enumerate(servers):
            noticed = self.first(events, "task", element=f"s{i}", state="succeeded")
            task_id = noticed["task_id"]
            log = [line for line in server.log() if line.get("task_id") == task_id]
            queued = next(l["t_ms"] for l in log if l.get("event") == "state"
                          and l["state"] == "queued")
            done = next(l for l in log if l.get("event") == "state" and l["state"] == "succeeded")
            polls = [l for l in log if l.get("method") == "GET"
                     and l["path"].startswith("/api/v1/status/")]
            # The poll that brought the news is the first answered after the state changed.
            news = next(k for k, l in enumerate(polls) if l["seq"] > done["seq"])
            delays.append(noticed["wall_us"] / 1000.0 - (done["t_ms"] + server.offset_ms))
            intervals.append(polls[news]["t_ms"] - polls[news - 1]["t_ms"] if news else 0)
            reactions.append(noticed["wall_us"] / 1000.0 - (polls[news]["t_ms"] + server.offset_ms))
            generation_s.append((done["t_ms"] - queued) / 1000.0)
            per_minute.append(len(polls) / ((done["t_ms"] - queued) / 60000.0))
            server.stop()
            self.servers.remove(server)
        delay = statistics.median(delays)
        interval = statistics.median(intervals)
        # Judged per run: early polls are shorter, so a median delay against a median interval
        # would compare runs that polled at different rates.
        ratio = statistics.median(d / (i / 2) for d, i in zip(delays, intervals))
        rpm = statistics.median(per_minute)
        if history:
            drawn = (f"a typical time T drawn uniformly from {min_ms}..{max_ms} ms and a latency "
                     f"drawn uniformly from T +-{spread:.0%}; its element has a cache "
                     f"(cache-mode=reuse) whose history holds {self.args.history_samples} "
                     f"finished tasks of the same kind, each also T +-{spread:.0%} (histories, ms: "
                     + "; ".join(", ".join(str(t) for t in h) for h in histories) + ")")
        else:
            drawn = f"a latency drawn uniformly from {min_ms}..{max_ms} ms, cache-mode=off"
        self.notes.append(
            f"Case 3 ({label or 'judged '}batch): {samples} tasks at once, each on its own dev "
            f"server with {drawn} (seed "
            f"{self.args.seed}), poll-interval=0 (adaptive). Delay = the element's see2ai-task "
            "succeeded message (wall clock, sync bus handler) minus the server's state event; the "
            "server log only has t_ms since its start (monotonic), so each server's offset to the "
            "wall clock is measured with logged probe requests bracketed by wall-clock readings "
            "(shortest round trip wins, < 1 ms). Interval in use = gap between the poll that saw "
            "succeeded and the one before it. Generation s: "
            + ", ".join(f"{g:.1f}" for g in generation_s) + "; delays ms: "
            + ", ".join(f"{d:.0f}" for d in delays) + "; intervals ms: "
            + ", ".join(str(i) for i in intervals) + "; status requests/min: "
            + ", ".join(f"{r:.1f}" for r in per_minute) + "; the element's message after the "
            "server logged the answering poll (a check of the clock relation, should be a few ms "
            "at most): " + ", ".join(f"{r:.1f}" for r in reactions) + " ms.")
        target = (lambda met: met) if judged else informative
        if history:
            self.row("3 detection", f"{label}{min_ms // 1000}-{max_ms // 1000} s tasks: median "
                     "delay ms", f"{delay:.0f}", "-", "-", "<= 1000 ms", target(delay <= 1000))
            self.row("3 detection", f"{label}{min_ms // 1000}-{max_ms // 1000} s tasks: status "
                     "requests per minute of generation", f"{rpm:.1f}", "12", f"{rpm / 12:.2f}x",
                     "<= 12", target(rpm <= 12))
            return
        self.row("3 detection", f"{label}{min_ms // 1000}-{max_ms // 1000} s tasks: median delay "
                 "ms vs half the poll interval in use (ratio: median per run)", f"{delay:.0f}",
                 f"{interval / 2:.0f}", f"{ratio:.2f}x", "<= 1.0x", target(ratio <= 1.0))
        self.row("3 detection", f"{label}{min_ms // 1000}-{max_ms // 1000} s tasks: status "
                 "requests per minute of generation", f"{rpm:.1f}", "30", f"{rpm / 30:.2f}x",
                 "<= 30", target(rpm <= 30))

    def case4(self):
        print("case 4: cache hit", flush=True)
        server = self.server("cache", 1000)
        self.install_realistic_clip(server)
        cache_dir = os.path.join(self.work, "cache-hit")
        description = (f"see2aivideosrc name=s api-url={server.url} prompt=\"{CASE1_PROMPT}\" "
                       f"duration=15 resolution=720p generate-audio=true cache-mode=reuse "
                       f"cache-dir={cache_dir} s.video ! fakesink s.audio ! fakesink")
        self.pipeline(description)  # the first run generates and fills the cache
        times, requests, hits = [], [], []
        for run in range(self.runs + 1):
            before = server.requests_logged()
            events = self.pipeline(description, first_buffer=True)
            after = server.requests_logged()
            if run == 0:
                continue
            playing = self.first(events, "playing")["wall_us"]
            times.append((self.first(events, "first-video-buffer")["wall_us"] - playing) / 1000.0)
            requests.append(after - before)
            hits.append(any(e["event"] == "task" and e.get("from_cache") for e in events))
        ttfb = statistics.median(times)
        chain = (f"filesrc location={self.realistic_clip()} ! qtdemux name=d d.video_0 ! queue ! "
                 "h264parse ! avdec_h264 ! identity name=probe ! fakesink d.audio_0 ! queue ! "
                 "aacparse ! avdec_aac ! fakesink")
        chain_times = []
        for run in range(self.runs + 1):
            events = self.pipeline(chain, first_buffer=True)
            if run:
                chain_times.append((self.first(events, "first-video-buffer")["wall_us"] -
                                    self.first(events, "playing")["wall_us"]) / 1000.0)
        chain_ttfb = statistics.median(chain_times)
        self.notes.append(
            "Case 4: one run generates (cache-mode=reuse, own cache-dir), then the same pipeline "
            f"runs {self.runs + 1} more times (first one a warm-up) until the first video buffer; "
            f"see2ai-task said from-cache in {sum(hits)}/{len(hits)} timed runs. Times ms: "
            + ", ".join(f"{t:.1f}" for t in times) + ". Reference: GStreamer's own chain "
            "(filesrc ! qtdemux ! h264parse ! avdec_h264, + AAC branch) on the same clip as a "
            "local file, PLAYING to the first buffer out of avdec_h264; times ms: "
            + ", ".join(f"{t:.1f}" for t in chain_times) + ".")
        self.row("4 cache hit", "ms PLAYING -> first video buffer vs filesrc chain",
                 f"{ttfb:.1f}", f"{chain_ttfb:.1f}", f"{ttfb / chain_ttfb:.2f}x", "< 100 ms",
                 ttfb < 100)
        self.row("4 cache hit", "HTTP requests in the second run (max over runs)",
                 str(max(requests)), "-", "-", "0", max(requests) == 0)

    def case5(self):
        print("case 5: 8 elements in one pipeline, 3 s generation latency", flush=True)
        server = self.server("parallel", 3000)

        def description(count):
            return " ".join(
                f"see2aivideosrc name=s{i} api-url={server.url} prompt=\"{SMALL_PROMPT}\" "
                f"duration=4 resolution=480p generate-audio=false cache-mode=off s{i}.video ! "
                "fakesink" for i in range(count))

        def wall(count):
            events = self.pipeline(description(count))
            return (self.first(events, "eos")["wall_us"] -
                    self.first(events, "playing")["wall_us"]) / 1e6

        wall(1)
        ones = [wall(1) for _ in range(self.runs)]
        wall(8)
        eights = [wall(8) for _ in range(self.runs)]
        one, eight = statistics.median(ones), statistics.median(eights)
        self.notes.append(
            "Case 5: PLAYING to EOS of the whole pipeline; each element submits its own task "
            "(cache-mode=off) for a 4 s 480p clip without audio and decodes it into a fakesink; "
            "the dev server renders an identical clip once and shares it. Seconds per run, one "
            "element: " + ", ".join(f"{t:.2f}" for t in ones) + "; eight: "
            + ", ".join(f"{t:.2f}" for t in eights) + ".")
        self.row("5 parallel", "s PLAYING -> EOS, 8 elements vs 1", f"{eight:.2f}", f"{one:.2f}",
                 f"{eight / one:.2f}x", "<= 1.3x", eight / one <= 1.3)

    def case7(self):
        print("case 7: dev server", flush=True)
        server = self.server("devserver", 0)

        def render(run):
            start = time.monotonic()
            output = server.submit(f"bench render {run} {time.time()}", 5, "720p", True, sync=True)
            if output.get("state") != "succeeded":
                raise RuntimeError(f"render failed: {output}")
            return time.monotonic() - start

        render(-1)
        render_wall = statistics.median(render(run) for run in range(self.runs))
        task = server.wait_succeeded(server.submit(SMALL_PROMPT, 4, "480p", False)["task_id"])
        load = os.path.join(self.build, "bench", "status-load")
        connections, seconds = 50, self.args.load_seconds

        def per_second(duration):
            result = subprocess.run([load, str(server.port), task["task_id"], KEY,
                                     str(connections), str(duration)],
                                    capture_output=True, text=True, timeout=duration + 30)
            if result.returncode != 0:
                raise RuntimeError(f"status-load failed: {result.stderr}")
            numbers = json.loads(result.stdout)
            if numbers["not_ok"]:
                raise RuntimeError(f"status-load got errors: {numbers}")
            return numbers["per_second"]

        per_second(1)
        rate = statistics.median(per_second(seconds) for _ in range(self.runs))
        self.notes.append(
            "Case 7: render = wall time of a sync=true submit (dev server --latency-ms 0, a new "
            "prompt each run so its render cache never answers) for a 5 s 720p clip with audio. "
            f"Status load: bench/status_load.cpp, {connections} keep-alive connections each "
            f"polling GET /api/v1/status/<id> back to back for {seconds} s (client and server "
            "share the machine's cores; the server writes its request log file as usual).")
        self.row("7 dev server", "s to render 5 s 720p + audio (sync submit)",
                 f"{render_wall:.2f}", "-", "-", "(report)", "-")
        self.row("7 dev server", "status answers/s, 50 concurrent pollers", f"{rate:.0f}", "-",
                 "-", "(report)", "-")


    def storyboard(self, name, shots):
        path = os.path.join(self.work, name)
        with open(path, "w") as out:
            json.dump(shots, out)
        return path

    @staticmethod
    def shot_events(events, kind):
        """The see2ai-result (kind "result", state succeeded) or see2ai-shot ("shot") event of each
        shot, by index."""
        if kind == "shot":
            return {e["index"]: e for e in events if e["event"] == "shot"}
        return {e["shot"]: e for e in events
                if e["event"] == "result" and e["state"] == "succeeded"}

    def case8(self):
        print("case 8: a 6-shot storyboard, shots taking 3..8 s to generate", flush=True)
        server = self.server("storyboard", 300)
        latencies = [3000, 8000, 4000, 6000, 5000, 7000]
        prompts = [f"bench storyboard shot {i}" for i in range(len(latencies))]
        board = self.storyboard("storyboard-6.json", [{"prompt": p} for p in prompts])
        cache_dir = os.path.join(self.work, "cache-storyboard")

        def description(cache):
            return (f"see2aivideosrc name=s api-url={server.url} shots={board} duration=4 "
                    f"resolution=480p generate-audio=false {cache} s.video ! fakesink sync=false")

        # Decode time: the same storyboard from a warm cache (nothing generated), per shot.
        warm = description(f"cache-mode=reuse cache-dir={cache_dir}")
        self.pipeline(warm, deadline=300)
        decode = []
        for _ in range(self.runs):
            events = self.pipeline(warm)
            decode.append((self.first(events, "eos")["wall_us"] -
                           self.first(events, "playing")["wall_us"]) / 1e6 / len(prompts))
        decode_one = statistics.median(decode)

        walls, readies, ratios = [], [], []
        for run in range(self.runs + 1):
            server.clear_faults()
            server.add_faults([{"match": "submit", "prompt": p, "latency_ms": ms}
                               for p, ms in zip(prompts, latencies)])
            events = self.pipeline(description("cache-mode=off"), deadline=300)
            playing = self.first(events, "playing")["wall_us"]
            results = self.shot_events(events, "result")
            if sorted(results) != list(range(len(prompts))):
                raise RuntimeError(f"not every shot succeeded: {events}")
            if run == 0:
                continue
            wall = (self.first(events, "eos")["wall_us"] - playing) / 1e6
            ready = (max(e["wall_us"] for e in results.values()) - playing) / 1e6
            walls.append(wall)
            readies.append(ready)
            ratios.append((wall - decode_one) / ready)
        wall, ready, ratio = (statistics.median(walls), statistics.median(readies),
                              statistics.median(ratios))
        self.notes.append(
            "Case 8: a storyboard of 6 shots (4 s 480p, no audio, max-parallel default 2, "
            "cache-mode=off, poll-interval adaptive) whose tasks take "
            + ", ".join(f"{ms / 1000:.0f}" for ms in latencies) + " s in storyboard order (one "
            "dev server fault rule per shot: match submit, prompt, latency_ms), played into a "
            "fakesink sync=false. Ready = the last shot's see2ai-result message (posted when its "
            "clip is downloaded), wall clock, from PLAYING; wall = PLAYING to EOS. Decode time of "
            "one shot = the same storyboard from a warm cache (cache-mode=reuse, nothing "
            "generated) PLAYING to EOS / 6. Ratio per run = (wall - decode of one shot) / ready, "
            "median over the runs. Per run, wall s: " + ", ".join(f"{w:.2f}" for w in walls)
            + "; ready s: " + ", ".join(f"{r:.2f}" for r in readies) + "; decode of one shot "
            "ms: " + ", ".join(f"{d * 1000:.0f}" for d in decode) + ".")
        self.row("8 storyboard", "s PLAYING -> EOS (minus decode of one shot) vs last shot ready",
                 f"{wall:.2f} ({decode_one * 1000:.0f} ms decode)", f"{ready:.2f}",
                 f"{ratio:.3f}x", "<= 1.1x", ratio <= 1.1)

    def case9(self):
        print("case 9: live switch delay after the next shot is ready", flush=True)
        server = self.server("switch", 300)
        rng = random.Random(self.args.seed)
        frame_ns = NS_PER_SECOND // 24

        def measure(switch, plate_s, loop_ns):
            delays, walls, to_loop_end = [], [], []
            for run in range(self.runs + 1):
                prompt = f"bench switch {switch} {run} {time.time()}"
                latency = rng.randint(1000, 5000)
                server.add_faults([{"match": "submit", "prompt": prompt, "latency_ms": latency}])
                description = (
                    f"see2aivideosrc name=s api-url={server.url} prompt=\"bench live plate\" "
                    f"duration={plate_s} resolution=480p generate-audio=false is-live=true "
                    f"loop=true shot-switch={switch} cache-mode=off ! fakesink")
                command = [os.path.join(self.build, "bench", "see2ai-bench"), "--deadline=120",
                           "--append", prompt, "--append-duration", "4", "--stop-after-shot",
                           "1", description]
                result = subprocess.run(command, env=self.env, capture_output=True, text=True,
                                        timeout=150)
                events = [json.loads(l) for l in result.stdout.splitlines() if l.startswith("{")]
                if result.returncode != 0:
                    raise RuntimeError(f"live run failed: {result.stdout[-2000:]}"
                                       f"{result.stderr[-2000:]}")
                if run == 0:
                    continue
                ready = self.shot_events(events, "result")[1]
                shots = self.shot_events(events, "shot")
                on_air, first = shots[1], shots[0]
                delays.append((on_air["running_ns"] - ready["running_ns"]) / 1e6)
                walls.append((on_air["wall_us"] - ready["wall_us"]) / 1000.0)
                if loop_ns:
                    # The first end of a play of the plate at or after the moment it was ready.
                    since = ready["running_ns"] - first["running_ns"]
                    end = first["running_ns"] + -(-since // loop_ns) * loop_ns
                    to_loop_end.append((end - ready["running_ns"]) / 1e6)
            return delays, walls, to_loop_end

        delays, walls, ends = measure("loop-end", 4, 4 * NS_PER_SECOND)
        over = [d - e for d, e in zip(delays, ends)]
        worst, worst_over = max(delays), max(over)
        self.notes.append(
            "Case 9: a live channel (is-live=true loop=true, fakesink sync=true) plays a 4 s 480p "
            "plate; once it is on air see2ai-bench appends a 4 s shot (append-shot) whose task "
            "takes a random 1..5 s (fault rule latency_ms, seed "
            f"{self.args.seed}), so it becomes ready at a random point of the loop. Delay = the "
            "new shot's see2ai-shot running-time (its first frame's) minus the pipeline's running "
            "time when its see2ai-result message was posted (the clip downloaded; read from the "
            "pipeline clock in a sync bus handler), i.e. in running time; also in wall time, "
            "message to message. loop-end: delays ms " + ", ".join(f"{d:.0f}" for d in delays)
            + "; the same runs' time from ready to the next end of a play ms "
            + ", ".join(f"{e:.0f}" for e in ends) + "; wall ms " + ", ".join(f"{w:.0f}"
                                                                            for w in walls) + ".")
        self.row("9 live switch", "loop-end: ms from ready to on air (running time), max over "
                 "runs", f"{worst:.0f}", "4000 (one loop)", f"{worst / 4000:.2f}x",
                 "<= one loop", worst <= 4000)
        self.row("9 live switch", "loop-end: ms on air after the end of the play (running time), "
                 "max over runs", f"{worst_over:.1f}", "-", "-", "(report)", "-")
        delays, walls, _ = measure("immediate", 15, 0)
        median, worst = statistics.median(delays), max(delays)
        self.notes.append(
            "Case 9, immediate: the same with a 15 s plate and shot-switch=immediate; delays ms "
            + ", ".join(f"{d:.0f}" for d in delays) + "; wall ms "
            + ", ".join(f"{w:.0f}" for w in walls) + ".")
        two_frames = 2 * frame_ns / 1e6
        self.row("9 live switch", "immediate: ms from ready to on air (running time), median",
                 f"{median:.0f}", f"{two_frames:.0f} (2 frames)", f"{median / two_frames:.2f}x",
                 "<= 2 frames", median <= two_frames)
        self.row("9 live switch", "immediate: ms from ready to on air (running time), max",
                 f"{worst:.0f}", f"{two_frames:.0f} (2 frames)", f"{worst / two_frames:.2f}x",
                 "<= 2 frames", worst <= two_frames)
        self.row("9 live switch", "immediate: ms from ready to on air (wall), median",
                 f"{statistics.median(walls):.0f}", "-", "-", "(report)", "-")

    def case10(self):
        print("case 10: peak memory of a 100-shot storyboard against a 2-shot one", flush=True)
        server = self.server("memory-shots", 100)

        def command(count):
            board = self.storyboard(f"storyboard-{count}.json",
                                    [{"prompt": "bench memory shot"}] * count)
            return ["gst-launch-1.0", "-q", "see2aivideosrc", "name=s", f"api-url={server.url}",
                    f"shots={board}", "duration=4", "resolution=480p", "generate-audio=false",
                    "cache-mode=off", "poll-interval=100", "!", "fakesink", "sync=false"]

        two, hundred = command(2), command(100)
        self.timed(two)
        self.timed(hundred)
        samples = [[], []]
        for _ in range(self.runs):
            samples[0].append(self.timed(two))
            samples[1].append(self.timed(hundred))
        rss2 = statistics.median(s[2] for s in samples[0]) / 1024.0
        rss100 = statistics.median(s[2] for s in samples[1]) / 1024.0
        wall100 = statistics.median(s[1] for s in samples[1])
        self.notes.append(
            f"Case 10: peak RSS (/usr/bin/time %M) of gst-launch-1.0 playing a storyboard of 2 "
            f"and of 100 shots (4 s 480p, no audio, the same prompt in each shot so that the dev "
            "server renders once; each shot is still its own task, download and decoder: "
            "cache-mode=off, poll-interval=100, dev server latency 100 ms) into a fakesink "
            f"sync=false; median of {self.runs} runs after a warm-up each (a 100-shot run takes "
            f"{wall100:.0f} s). RSS MiB, 2 shots: " + ", ".join(
                f"{s[2] / 1024.0:.1f}" for s in samples[0]) + "; 100 shots: " + ", ".join(
                f"{s[2] / 1024.0:.1f}" for s in samples[1]) + ".")
        self.row("10 shots memory", "peak RSS MiB, 100 shots vs 2 shots", f"{rss100:.1f}",
                 f"{rss2:.1f}", f"{rss100 - rss2:+.1f} MiB", "<= +10 MiB",
                 rss100 - rss2 <= 10)


def cpu_model():
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def build_type(build):
    """The build's meson buildtype (run.sh's build-release/ is a release build)."""
    try:
        with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as info:
            return next(o["value"] for o in json.load(info) if o["name"] == "buildtype")
    except (OSError, StopIteration, ValueError):
        return "unknown"


def load_average():
    with open("/proc/loadavg") as load:
        return " ".join(load.read().split()[:3])


KEPT_PREFIX = "- Rows of case(s) "
KEPT_MIDDLE = " are kept from the run of "


def earlier_results(path, cases):
    """The table rows and notes of the cases not in `cases` from an earlier RESULTS.md, and for
    each such case the run that measured it (date and CPU): a run of some cases only keeps the
    others' figures, saying where they come from."""
    if not os.path.exists(path):
        return [], [], {}
    # Case 1 also measures case 6.
    ran = set(cases) | ({"6"} if "1" in cases else set())
    rows, notes, origin = [], [], {}
    with open(path) as text:
        lines = text.read().splitlines()
    date = next((l[len("- Date: "):] for l in lines if l.startswith("- Date: ")), "?")
    cpu = next((l[len("- CPU: "):] for l in lines if l.startswith("- CPU: ")), "?")
    for line in lines:
        if line.startswith(KEPT_PREFIX) and KEPT_MIDDLE in line:
            listed, source = line[len(KEPT_PREFIX):].split(KEPT_MIDDLE, 1)
            for case in listed.split(", "):
                origin[case] = source
        elif line.startswith("| ") and not line.startswith("| case |"):
            if line.split()[1] not in ran:
                rows.append(line)
        elif line.startswith("- Case"):
            numbers = set(line.split(":")[0].replace(",", " ").split()[2:])
            if not numbers & ran:
                notes.append(line)
    measured = {row.split()[1]: origin.get(row.split()[1], f"{date} (CPU: {cpu})") for row in rows}
    return rows, notes, measured


def write_results(bench, path, command, seconds, cases):
    kept_rows, kept_notes, kept_from = earlier_results(path, cases)
    lines = ["# Benchmark results", "",
             f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- CPU: {cpu_model()}, {os.cpu_count()} cores",
             f"- Command: `{command}` ({build_type(bench.build)} build, "
             f"{os.path.relpath(bench.build, ROOT)}/)",
             f"- Runs: median of {bench.runs} after one warm-up unless a note says otherwise; "
             f"whole bench took {seconds:.0f} s; niceness {os.nice(0)} (run.sh asks for -10 "
             "so that other work on a shared machine disturbs the bench less)",
             f"- Load average (1/5/15 min) at the start: {bench.load_at_start}, at the end: "
             f"{load_average()} (the machine is shared; anything above ~0 means other work "
             "competed with the bench for the cores, which shows mostly in wall times)"]
    for source in sorted(set(kept_from.values())):
        kept = sorted((c for c, s in kept_from.items() if s == source), key=int)
        lines.append(KEPT_PREFIX + ", ".join(kept) + KEPT_MIDDLE + source)
    lines += ["", "| case | measure | this element | reference | ratio | target | met? |",
              "|---|---|---|---|---|---|---|"]
    table = list(kept_rows)
    for row in bench.rows:
        met = {True: "yes", False: "**no**"}.get(row[6], row[6])
        table.append("| " + " | ".join(str(c) for c in row[:6]) + f" | {met} |")
    # In case order, case 6 with case 1 (which measures it); a stable sort keeps each case's rows
    # in the order they were made.
    lines += sorted(table, key=lambda line: int(line.split()[1].replace("6", "1")))
    lines += ["", "## How each number was made", ""] + [f"- {note}" for note in bench.notes]
    lines += kept_notes
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")
    first = lines.index("|---|---|---|---|---|---|---|") - 1
    print("\n".join(lines[first:first + len(table) + 2]))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default=os.path.join(ROOT, "build-release"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cases", default="1,2,3,4,5,7,8,9,10")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--detect-min-ms", type=int, default=20000)
    parser.add_argument("--detect-max-ms", type=int, default=60000)
    parser.add_argument("--history-samples", type=int, default=8)
    parser.add_argument("--history-spread", type=float, default=0.10)
    parser.add_argument("--load-seconds", type=int, default=3)
    parser.add_argument("--results", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    parser.add_argument("--command", default="./bench/run.sh")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if args.runs < 5:
        print("note: fewer than 5 runs per case is too few for a stable median", file=sys.stderr)
    started = time.monotonic()
    bench = Bench(args)
    cases = {"1": bench.case1_and_6, "2": bench.case2, "3": bench.case3, "4": bench.case4,
             "5": bench.case5, "7": bench.case7, "8": bench.case8, "9": bench.case9,
             "10": bench.case10}
    try:
        wanted = args.cases.split(",")
        if "2" in wanted and "1" not in wanted:
            bench.clip_bytes = 0
        for case in wanted:
            cases[case]()
    finally:
        bench.close()
    write_results(bench, args.results, args.command, time.monotonic() - started,
                  args.cases.split(","))


if __name__ == "__main__":
    main()
