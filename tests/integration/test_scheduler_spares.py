"""An idle scheduler gives back its warm buffers ([SCHEDULER] SPARES_IDLE_S):
between tasks it keeps the large blocks of its last task (common/big_alloc.h:
descriptor blocks, the matchers' rows and scratch) for the next one, and once
it has run no task for SPARES_IDLE_S seconds it frees them, logs
"gave back N bytes of warm buffers" and its resident memory (VmRSS) falls.
It does so once per idle spell: only after another task, again.

A scheduler of this module with SPARES_IDLE_S = 2 runs a cross match; its
VmRSS is read as soon as the task is done (the buffers still kept: the line
is not in its log yet) and again after the line came. Its allocator must
unmap what is freed at once: under ASan, without the quarantine that would
hold freed blocks back (quarantine_size_mb=0).

The stack's own scheduler s1 is stopped while this module runs."""
import random
import re
import time
import uuid

import objdata as od
from test_scheduler_reliability import (CANCEL_UNFINISHED, Schedulers, own_schedulers,  # noqa: F401 (a fixture)
                                        sanitizer_env, wait_for)

IDLE_S = 2
REFS = 2000
CANDS = 6000
RELEASED_RE = re.compile(r"gave back (\d+) bytes of warm buffers")
MIB = 1 << 20


def vm_rss(pid):
    """The process's resident memory, bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/%d/status" % pid)


def released(scheds, name):
    """The byte counts of the scheduler's "gave back" lines so far."""
    return [int(n) for n in RELEASED_RE.findall(scheds.log(name))]


def cross_match(stack, account_id):
    tid, t = od.run_task(stack, "cross_match", {"account_id": account_id, "content": {
        "filters": {"reference_type": "faces", "candidate_type": "faces",
                    "reference_filters": {"user_data": "ref"}, "candidate_filters": {"user_data": "cand"}},
        "threshold": 0.5, "limit": 10}}, timeout=180)
    assert t["task_status"] == 5, t
    return tid


def faces(rnd, account_id, centres, n, user_data):
    return [{"face_id": od.new_id(rnd), "account_id": account_id, "user_data": user_data,
             "descriptors": [od.descriptor(od.sample(rnd, centres[i % len(centres)]))]} for i in range(n)]


def test_an_idle_scheduler_gives_back_its_warm_buffers(stack, own_schedulers):  # noqa: F811
    rnd = random.Random(97)
    account_id = str(uuid.uuid4())
    centres = od.people(rnd, 50)
    od.import_rows(stack, "faces", faces(rnd, account_id, centres, REFS, "ref") +
                   faces(rnd, account_id, centres, CANDS, "cand"))
    scheds = Schedulers(stack, "spares")
    env = sanitizer_env(stack)
    env["ASAN_OPTIONS"] += ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    try:
        name = scheds.start("idle", throttle_ms=0, env=env, scheduler__spares_idle_s=IDLE_S)
        pid = scheds.pid(name)
        cross_match(stack, account_id)
        kept = vm_rss(pid)
        assert released(scheds, name) == [], "released within %d s of the task's end" % IDLE_S
        start = time.time()
        counts = wait_for(lambda: released(scheds, name), 30, "the scheduler to give its buffers back")
        waited = time.time() - start
        freed = vm_rss(pid)
        assert len(counts) == 1 and counts[0] >= 16 * MIB, counts
        assert kept - freed >= 16 * MIB, "VmRSS %.1f MiB with the buffers, %.1f MiB after giving back %.1f MiB" % (
            kept / MIB, freed / MIB, counts[0] / MIB)
        # Once per idle spell: nothing more while it stays idle ...
        time.sleep(2 * IDLE_S + 1)
        assert len(released(scheds, name)) == 1, released(scheds, name)
        # ... and again after the next task.
        cross_match(stack, account_id)
        again = wait_for(lambda: released(scheds, name)[1:], 30, "a release after the second task")
        assert again[0] >= 16 * MIB, again
        print("released %.1f MiB %.1f s after the task; VmRSS %.1f -> %.1f MiB" % (
            counts[0] / MIB, waited, kept / MIB, freed / MIB))
    finally:
        scheds.stop_all()
        stack.sql(CANCEL_UNFINISHED)
