"""Cross match when references are added between planning and running: a
subtask reads its chunk's references (after, upto] in one block of one row
more than a chunk and, when that block is full (more came than planned),
copies them block by block instead of matching in place. The result must be
the very same as a task planned after the additions (one subtask, one
block) and as the brute force over every reference.

The task is planned by a scheduler whose workers pause before every subtask
(--throttle-ms) for longer than the test; references are then imported with
ids inside the planned chunks: 9 more into the first chunk of 4 (13, read in
blocks of 5: copies that grow twice), one more into the second (5: exactly
one full block, then an empty one); the third keeps its 4 (in place). That
scheduler stops (handing its subtasks back) and another runs the task.

The stack's own scheduler s1 is stopped while this module runs."""
import json
import random
import uuid

import objdata as od
from test_cross_match_split import ONE
from test_scheduler_reliability import (CANCEL_UNFINISHED, Schedulers, own_schedulers,  # noqa: F401 (a fixture)
                                        subtasks, wait_for)

PER_SUBTASK = 4
REFS = 3 * PER_SUBTASK
CANDS = 64
LIMIT = 5
THRESHOLD = 0.2
GRID = {"tasks__cross_match_references_per_subtask": PER_SUBTASK, "tasks__match_block_rows": 13,
        "tasks__match_read_ahead": 1, "scheduler__match_threads": 1, "tasks__cross_match_candidate_ranges": 2}
# Positions (in id order, 10 apart per planned reference) of the references
# added after planning: 9 inside the first chunk, 1 inside the second.
ADDED = [1, 2, 3, 11, 12, 13, 21, 22, 23, 41]


def body(account_id):
    return {"account_id": account_id, "content": {
        "filters": {"reference_type": "faces", "candidate_type": "faces",
                    "reference_filters": {"user_data": "ref"}, "candidate_filters": {"user_data": "cand"}},
        "threshold": THRESHOLD, "limit": LIMIT}}


def faces(rnd, account_id, centres, prefix, positions, user_data):
    out = []
    for p in positions:
        v = od.sample(rnd, centres[p % len(centres)])
        out.append({"face_id": "%s%012d" % (prefix, p), "account_id": account_id, "user_data": user_data,
                    "descriptors": [od.descriptor(v)], "_vec": v})
    return out


def chunk_sizes(refs, uptos):
    """How many of refs (ids) fall into each planned chunk (after, upto]."""
    sizes, after = [], ""
    for upto in uptos:
        sizes.append(sum(1 for r in refs if after < r <= upto))
        after = upto
    return sizes


def plan_paused(stack, scheds, account_id, config):
    """Starts a scheduler whose workers pause for an hour before every
    subtask, creates the task and waits for its plan: (that scheduler, the
    task id, its subtasks)."""
    paused = scheds.start("paused", throttle_ms=3600000, **config)
    r = stack.post("/2/tasks/cross_match", json=body(account_id))
    assert r.status == 202, r
    tid = r.json()["task_id"]
    subs = wait_for(lambda: subtasks(stack, tid), 60, "task %d to be planned" % tid)
    return paused, tid, subs


def test_references_added_after_planning(stack, own_schedulers):  # noqa: F811
    rnd = random.Random(91)
    account_id = str(uuid.uuid4())
    centres = od.people(rnd, 6)
    prefix = od.new_id(rnd)[:24]
    planned = faces(rnd, account_id, centres, prefix, [10 * i for i in range(REFS)], "ref")
    added = faces(rnd, account_id, centres, prefix, ADDED, "ref")
    cands = faces(rnd, account_id, centres, od.new_id(rnd)[:24], range(CANDS), "cand")
    od.import_rows(stack, "faces", od.strip(planned + cands))
    scheds = Schedulers(stack, "cmgrowth")
    try:
        paused, tid, subs = plan_paused(stack, scheds, account_id, GRID)
        rows = stack.sql("SELECT content FROM subtask WHERE task_id = %s ORDER BY subtask_id", (tid,))
        uptos = sorted({json.loads(r[0])["upto"] for r in rows})
        assert uptos == [planned[i]["face_id"] for i in (3, 7, 11)] and len(subs) == 3 * 2, (uptos, subs)
        od.import_rows(stack, "faces", od.strip(added))
        ids = [f["face_id"] for f in planned + added]
        assert chunk_sizes(ids, uptos) == [PER_SUBTASK + 9, PER_SUBTASK + 1, PER_SUBTASK]
        assert all(s["status"] in (0, 1) for s in subtasks(stack, tid))   # none ran yet
        scheds.stop(paused)
        scheds.start("grid", throttle_ms=0, **GRID)
        t = stack.wait_task(tid, timeout=180)
        assert t["task_status"] == 5, t
        grown = stack.get("/2/tasks/%d/result" % tid).json()
        scheds.stop_all()
        scheds.start("one", throttle_ms=0, **ONE)
        tid1, t1 = od.run_task(stack, "cross_match", body(account_id), timeout=180)
        assert t1["task_status"] == 5, t1
        assert len(subtasks(stack, tid1)) == 1
        one = stack.get("/2/tasks/%d/result" % tid1).json()
    finally:
        scheds.stop_all()
        stack.sql(CANCEL_UNFINISHED)
    assert grown["errors"] == [] and one["errors"] == [], (grown["errors"], one["errors"])
    assert grown == one
    want = od.cross_match([(f["face_id"], f["_vec"]) for f in planned + added],
                          [(c["face_id"], c["_vec"]) for c in cands], THRESHOLD, LIMIT)
    got = grown["result"]
    assert [m["reference_id"] for m in got] == [w[0] for w in want]
    assert {f["face_id"] for f in added} <= {m["reference_id"] for m in got}
    for m, (rid, hits) in zip(got, want):
        assert [c["candidate_id"] for c in m["candidates"]] == [h[0] for h in hits], rid
        assert all(abs(c["similarity"] - h[1]) < 2e-5 for c, h in zip(m["candidates"], hits)), rid


def test_a_plan_without_the_alone_mark_gets_a_result_document(stack, own_schedulers):  # noqa: F811
    """A task planned as one subtask by an earlier release carries no "alone"
    mark: its subtask stores a partial list, and collecting must turn it into
    the result document rather than adopt the list as the result. Only the
    mark the worker records on the subtask row (result_document) makes
    collecting adopt a blob, and a list gets none."""
    rnd = random.Random(92)
    account_id = str(uuid.uuid4())
    centres = od.people(rnd, 4)
    refs = faces(rnd, account_id, centres, od.new_id(rnd)[:24], range(6), "ref")
    cands = faces(rnd, account_id, centres, od.new_id(rnd)[:24], range(20), "cand")
    od.import_rows(stack, "faces", od.strip(refs + cands))
    scheds = Schedulers(stack, "cmalone")
    try:
        paused, tid, _ = plan_paused(stack, scheds, account_id, ONE)
        rows = stack.sql("SELECT subtask_id, content FROM subtask WHERE task_id = %s", (tid,))
        assert len(rows) == 1, rows
        content = json.loads(rows[0][1])
        assert content.pop("alone") is True, content
        stack.sql("UPDATE subtask SET content = %s WHERE subtask_id = %s", (json.dumps(content), rows[0][0]))
        scheds.stop(paused)
        scheds.start("one", throttle_ms=0, **ONE)
        t = stack.wait_task(tid, timeout=180)
        assert t["task_status"] == 5, t
        marks = stack.sql("SELECT result_document FROM subtask WHERE task_id = %s", (tid,))
        assert [int(m[0]) for m in marks] == [0], marks
        doc = stack.get("/2/tasks/%d/result" % tid).json()
    finally:
        scheds.stop_all()
        stack.sql(CANCEL_UNFINISHED)
    assert doc["errors"] == [], doc
    want = od.cross_match([(f["face_id"], f["_vec"]) for f in refs],
                          [(c["face_id"], c["_vec"]) for c in cands], THRESHOLD, LIMIT)
    assert [m["reference_id"] for m in doc["result"]] == [w[0] for w in want]
    for m, (rid, hits) in zip(doc["result"], want):
        assert [c["candidate_id"] for c in m["candidates"]] == [h[0] for h in hits], rid
