"""bench/tasks: times each task end to end (POST -> done) and its bare kernel
(bench_tasks kernel WHICH) alternately, and prints the best of each, their
ratio and whether it meets the bar (<= 1.5x). Next to the wall times, the CPU
time the task cost the stack (scheduler and MariaDB, from /proc) and the
kernel's own CPU time, best of the runs each: on a loaded machine the wall
ratio says little, the CPU ratio still does.

The end of a task is the scheduler's log line "task ID done", which it
writes right after the commit that makes the task done for every client: the
client reads the log's new bytes every POLL_S (a local file, no request), so
the figure carries neither a client's polling interval nor the CPU that
polling through nginx, the API and MariaDB costs on the same two cores as the
task. Once the line is there, GET /2/tasks/count?task_ids=ID&task_status=5
confirms it; every FULL_CHECK_S, GET /2/tasks/{id} (which carries the
content: 1.3 MB for the roc markup) notices a task that failed.

The fixed path (BENCH_TASKS has fixed_path, the default): what every task
pays besides its work, measured on a cross match of 4 x 4 faces run
BENCH_FIXED_RUNS times (default 15), median of each phase from the log lines'
times (API and scheduler log on the same host): the POST until the API logs
the task created, the wake-up and planning until "planned", the claim, run and
finish of the subtask until its "done" line (the run itself, the hook's time,
shown apart), collecting until "task N done"; and the stack's CPU per task
next to what the stack spends idle in the same time (its idle polls)."""
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

BAR = 1.5
POLL_S = 0.001
FULL_CHECK_S = 1.0
DONE, FAILED, CANCELLED = 5, 3, 2


def cpu_seconds(pid):
    """utime + stime of a process (every thread), from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


FIXED_RUNS = int(os.environ.get("BENCH_FIXED_RUNS", "15"))


def log_time(line):
    """The UTC time of a log line ("2026-12-06T00:37:21.995549Z ...") in seconds."""
    return datetime.strptime(line[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def task_events(stack, tid):
    """Times of the log lines of task tid: created (API), planned, the
    subtask's done line and its run seconds, done."""
    marks = {"created": ": task %d created " % tid, "planned": ": task %d: planned" % tid,
             "done": ": task %d done" % tid}
    sub = re.compile(r": task %d subtask \d+ done \(attempt \d+, ([\d.]+) s\)" % tid)
    ev = {}
    for name in ("api.log", "scheduler.log"):
        with open(os.path.join(stack, name), errors="replace") as f:
            for line in f:
                for k, m in marks.items():
                    if m in line:
                        ev[k] = log_time(line)
                hit = sub.search(line)
                if hit:
                    ev["sub_done"], ev["run"] = log_time(line), float(hit.group(1))
    return ev


def stack_pids(stack):
    pids = []
    for name in ("scheduler.pid", "mysql.pid"):
        with open(os.path.join(stack, name)) as f:
            pids.append(int(f.read().split()[0]))
    return pids


def main():
    port, acc, markup_path, limit, runs, kernel_bin, n, dim, people, stack = sys.argv[1:11]
    limit, runs = int(limit), int(runs)
    base = "http://127.0.0.1:%s" % port
    pids = stack_pids(stack)

    def stack_cpu():
        return sum(cpu_seconds(p) for p in pids)

    def req(method, path, body=None):
        """body: an object, or bytes already serialised."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(base + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(r, timeout=600) as resp:
            return json.loads(resp.read() or b"null")

    log_path = os.path.join(stack, "scheduler.log")

    def log_size():
        return os.path.getsize(log_path)

    def wait_done(tid, log_from):
        """Seconds on the monotonic clock when the scheduler logged the task
        done (confirmed through the API); exits if it ended otherwise."""
        done = (": task %d done\n" % tid).encode()
        seen = b""
        next_full = time.monotonic() + FULL_CHECK_S
        with open(log_path, "rb") as log:
            log.seek(log_from)
            while True:
                seen += log.read()
                if done in seen:
                    at = time.monotonic()
                    if not req("GET", "/2/tasks/count?task_ids=%d&task_status=%d" % (tid, DONE))["count"]:
                        sys.exit("task %d: logged done, but the API does not say so" % tid)
                    return at
                seen = seen[seen.rfind(b"\n") + 1:]
                if time.monotonic() >= next_full:
                    t = req("GET", "/2/tasks/%d" % tid)
                    if t["task_status"] in (FAILED, CANCELLED):
                        sys.exit("task %d ended with status %d: %s"
                                 % (tid, t["task_status"], req("GET", "/2/tasks/%d/errors" % tid)))
                    next_full = time.monotonic() + FULL_CHECK_S
                time.sleep(POLL_S)

    def task_seconds(kind, content):
        # the body is serialised before the clock starts: the client's own
        # json.dumps of roc's 1.3 MB markup is not the service's time
        body = json.dumps({"account_id": acc, "content": content}).encode()
        log_from = log_size()
        c0, t0 = stack_cpu(), time.monotonic()
        tid = req("POST", "/2/tasks/" + kind, body)["task_id"]
        dt = wait_done(tid, log_from) - t0
        cpu = stack_cpu() - c0
        req("GET", "/2/tasks/%d" % tid)   # what a client reads then, outside the timing
        return dt, cpu

    def kernel_seconds(which):
        out = subprocess.run([kernel_bin, "kernel", which, n, dim, people, "1", "2", "0.81", str(limit)],
                             check=True, capture_output=True, text=True).stdout
        wall, cpu = out.split()
        return float(wall), float(cpu)

    def fixed_path():
        """Medians (ms) of the phases of a tiny cross match, and its stack CPU."""
        content = {"filters": {"reference_type": "faces", "candidate_type": "faces",
                               "reference_filters": {"user_data": "ta"},
                               "candidate_filters": {"user_data": "tb"}, "account_id": acc},
                   "threshold": 0, "limit": limit}
        phases = {k: [] for k in ("post", "plan", "subtask", "run", "collect", "total", "cpu", "idle")}
        for _ in range(FIXED_RUNS):
            c0 = stack_cpu()
            time.sleep(0.5)
            phases["idle"].append(stack_cpu() - c0)
            log_from = log_size()
            c0, t0 = stack_cpu(), time.time()
            tid = req("POST", "/2/tasks/cross_match", {"account_id": acc, "content": content})["task_id"]
            m0 = time.monotonic()
            wait_done(tid, log_from)
            phases["cpu"].append(stack_cpu() - c0)
            dt = time.monotonic() - m0
            phases["idle"][-1] *= dt / 0.5
            ev = task_events(stack, tid)
            phases["post"].append(ev["created"] - t0)
            phases["plan"].append(ev["planned"] - ev["created"])
            phases["subtask"].append(ev["sub_done"] - ev["planned"] - ev["run"])
            phases["run"].append(ev["run"])
            phases["collect"].append(ev["done"] - ev["sub_done"])
            phases["total"].append(ev["done"] - t0)
        # CPU comes in clock ticks (10 ms): the mean of the runs, not their median
        return {k: 1000 * (statistics.mean(v) if k in ("cpu", "idle") else statistics.median(v))
                for k, v in phases.items()}

    with open(markup_path) as f:
        markup = json.load(f)
    tasks = [
        ("clustering", {"objects_type": "faces", "threshold": 0.81,
                        "filters": {"account_id": acc, "user_data": "a"}}),
        ("cross_match", {"filters": {"reference_type": "faces", "candidate_type": "faces",
                                     "reference_filters": {"user_data": "a"},
                                     "candidate_filters": {"user_data": "b"}, "account_id": acc},
                         "threshold": 0, "limit": limit}),
        ("roc", {"markup": markup, "filters": {"account_id": acc}}),
    ]
    only = os.environ.get("BENCH_TASKS")
    if only:
        tasks = [t for t in tasks if t[0] in only.split(",")]
    with_fixed = not only or "fixed_path" in only.split(",")
    fail = False
    print("%-12s %14s %10s %7s %14s %12s %9s" % ("task", "end-to-end s", "kernel s", "ratio",
                                                 "stack cpu s", "kernel cpu s", "cpu ratio"), flush=True)
    for kind, content in tasks:
        e2e, kern = [], []
        for _ in range(runs):
            kern.append(kernel_seconds(kind))
            e2e.append(task_seconds(kind, content))
        wall = min(t for t, _ in e2e) / min(t for t, _ in kern)
        cpu = min(c for _, c in e2e) / min(c for _, c in kern)
        fail |= wall > BAR
        print("%-12s %14.3f %10.3f %7.2f %14.3f %12.3f %9.2f"
              % (kind, min(t for t, _ in e2e), min(t for t, _ in kern), wall,
                 min(c for _, c in e2e), min(c for _, c in kern), cpu), flush=True)
    print("(%s faces of %s-d per set; cross match limit %d; best of %d; stack cpu: scheduler + MariaDB; "
          "bar: end-to-end <= %.1fx the kernel)" % (n, dim, limit, runs, BAR))
    if with_fixed:
        f = fixed_path()
        print("fixed path, cross match 4 x 4, median of %d (ms): POST -> created %.1f, -> planned %.1f, "
              "claim + finish of the subtask %.1f (its run %.1f), collect %.1f; POST -> done %.1f; "
              "stack cpu %.1f (mean; idle stack in the same time: %.1f)"
              % (FIXED_RUNS, f["post"], f["plan"], f["subtask"], f["run"], f["collect"], f["total"], f["cpu"],
                 f["idle"]), flush=True)
    sys.exit(1 if fail else 0)


if __name__ == "__main__":
    main()
