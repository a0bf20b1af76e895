"""bench/tasks: times each task end to end (POST -> done, polled every 50 ms)
and its bare kernel (bench_tasks kernel WHICH) alternately, and prints the
best of each, their ratio and whether it meets the bar (<= 2x)."""
import json
import subprocess
import sys
import time
import urllib.request

BAR = 2.0


def main():
    port, acc, markup_path, limit, runs, kernel_bin, n, dim, people = sys.argv[1:10]
    limit, runs = int(limit), int(runs)
    base = "http://127.0.0.1:%s" % port

    def req(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(base + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(r, timeout=600) as resp:
            return json.loads(resp.read() or b"null")

    def task_seconds(kind, content):
        t0 = time.monotonic()
        tid = req("POST", "/2/tasks/" + kind, {"account_id": acc, "content": content})["task_id"]
        while True:
            t = req("GET", "/2/tasks/%d" % tid)
            if t["task_status"] in (2, 3, 5):
                break
            time.sleep(0.05)
        dt = time.monotonic() - t0
        if t["task_status"] != 5:
            sys.exit("%s task %d ended with status %d: %s"
                     % (kind, tid, t["task_status"], req("GET", "/2/tasks/%d/errors" % tid)))
        return dt

    def kernel_seconds(which):
        out = subprocess.run([kernel_bin, "kernel", which, n, dim, people, "1", "2", "0.81", str(limit)],
                             check=True, capture_output=True, text=True).stdout
        return float(out.strip())

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
    fail = False
    print("%-12s %14s %10s %7s" % ("task", "end-to-end s", "kernel s", "ratio"), flush=True)
    for kind, content in tasks:
        e2e, kern = [], []
        for _ in range(runs):
            kern.append(kernel_seconds(kind))
            e2e.append(task_seconds(kind, content))
        ratio = min(e2e) / min(kern)
        fail |= ratio > BAR
        print("%-12s %14.3f %10.3f %7.2f" % (kind, min(e2e), min(kern), ratio), flush=True)
    print("(%s faces of %s-d per set; cross match limit %d; best of %d; bar: end-to-end <= %.1fx the kernel)"
          % (n, dim, limit, runs, BAR))
    sys.exit(1 if fail else 0)


if __name__ == "__main__":
    main()
