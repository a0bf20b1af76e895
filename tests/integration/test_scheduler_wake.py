"""Wake-ups (common/wake.h): a task created through the API is planned, run
and collected by an idle scheduler of the same host at once, without waiting
for its next poll. The schedulers here poll every 60 s (the most) and log at
DEBUG, where a worker that finds work after an idle spell says how many poll
intervals ran out meanwhile: 0 means a wake-up, its own plan or the end of a
task's last subtask brought it, never a poll. Of two schedulers on one host
(and one tasks database) exactly one listens; the other polls as ever. A task
a schedule creates is planned at once by the scheduler that created it."""
import random
import re

import objdata as od
from luna import assert_json, task_body
from test_scheduler_reliability import own_schedulers, scheds, wait_for  # noqa: F401 (fixtures)

POLL_MS = 60000
LISTENING = "wake-ups: tasks created through an API on this host are planned at once"
NOT_LISTENING = "wake-ups: another scheduler on this host takes them"
SPELL = re.compile(r"worker \d+: work found after (\d+) poll intervals? ran out idle")


def start_idle(scheds, name):
    """A scheduler that polls every POLL_MS and logs at DEBUG, once it runs."""
    n = scheds.start(name, throttle_ms=0, scheduler__poll_interval_ms=POLL_MS, logging__level="DEBUG")
    wait_for(lambda: "started as" in scheds.log(n), what="%s to start" % n)
    return n


def test_one_scheduler_of_a_host_takes_the_wake_ups(scheds):
    a = start_idle(scheds, "a")
    b = start_idle(scheds, "b")
    assert LISTENING in scheds.log(a), scheds.log(a)
    assert NOT_LISTENING in scheds.log(b), scheds.log(b)


def test_a_created_task_runs_without_waiting_for_a_poll(stack, scheds, account_id):
    rnd = random.Random(5)
    od.import_rows(stack, "faces", od.strip(od.make_faces(rnd, account_id, od.people(rnd, 3), 4)))
    name = start_idle(scheds, "a")
    assert LISTENING in scheds.log(name), scheds.log(name)
    tid, t = od.run_task(stack, "clustering", {"account_id": account_id, "content": {
        "objects_type": "faces", "threshold": 0.8, "filters": {"account_id": account_id}}})
    assert t["task_status"] == 5, t
    log = scheds.log(name)
    assert "task %d: planned" % tid in log and "task %d done" % tid in log, log
    spells = [int(m.group(1)) for m in SPELL.finditer(log)]
    assert spells, log
    assert all(n == 0 for n in spells), log


def test_a_scheduled_task_runs_without_waiting_for_a_poll(stack, scheds, account_id):
    name = start_idle(scheds, "a")
    sid = assert_json(stack.post("/2/tasks/schedules", json={
        "task_type": 4, "cron": "0 0 1 1 *", "task": task_body("gc", account_id)}), 201)["schedule_id"]
    try:
        stack.sql("UPDATE schedule SET next_run_time = UTC_TIMESTAMP(6) WHERE schedule_id = %d" % sid)
        wait_for(lambda: assert_json(stack.get("/2/tasks/schedules/%d" % sid))["last_task_id"] is not None,
                 what="the schedule to run")
        tid = assert_json(stack.get("/2/tasks/schedules/%d" % sid))["last_task_id"]
        wait_for(lambda: assert_json(stack.get("/2/tasks/%d" % tid))["task_status"] in (3, 5),
                 what="the scheduled task to end")
        assert assert_json(stack.get("/2/tasks/%d" % tid))["task_status"] == 5
    finally:
        assert stack.delete("/2/tasks/schedules/%d" % sid).status == 204
    log = scheds.log(name)
    assert "task %d: planned" % tid in log and "task %d done" % tid in log, log
    spells = [int(m.group(1)) for m in SPELL.finditer(log)]
    assert spells, log
    assert all(n == 0 for n in spells), log
