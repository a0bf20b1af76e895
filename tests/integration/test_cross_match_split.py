"""Cross match split into subtasks and streamed in blocks (issue: scale): the
task is planned as a grid of reference chunks (id ranges of [TASKS]
CROSS_MATCH_REFERENCES_PER_SUBTASK) x candidate id ranges (at most [TASKS]
CROSS_MATCH_CANDIDATE_RANGES of equal size) and each subtask streams its
candidates [TASKS] MATCH_BLOCK_ROWS at a time; collect merges the candidate
ranges of each reference.

The same task run by a scheduler that plans one subtask and reads every
candidate in one block on its own connection ([TASKS] MATCH_READ_AHEAD = 0),
and by schedulers that plan 3 or more reference chunks, 3 or 4 candidate
ranges, or both, and read the candidates in blocks of a few rows, each read
ahead (one matching thread), must give the very same result document:
reference ids, candidate ids and their order, and every similarity. Among
the candidates are groups with identical descriptors whose ids sit on both
sides of the candidate ranges' borders, so ties (broken by candidate id) fall
across range and block edges. A kill -9 of one of two such schedulers while
the task runs changes nothing.
Sides chosen by list, the lists a small part of their account, give the
result of the same faces chosen otherwise; another account's list gives
nothing.

The stack's own scheduler s1 is stopped while this module runs; the
schedulers here pause before every subtask (--throttle-ms through
$LUNA_TASKS_SCHEDULER_THROTTLE_MS) so that there is time to kill one mid-task.
"""
import json
import random
import uuid

import pytest

import objdata as od
from test_scheduler_reliability import (CANCEL_UNFINISHED, KILL_LEASE, Schedulers,  # noqa: F401 (a fixture)
                                        kill9_while_holding, own_schedulers, subtasks, wait_running)

REFS = 40
CANDS = 300
TIES = 6            # copies of each of the tied candidate vectors
PER_SUBTASK = 7     # references per subtask when split: 6 chunks
RANGES = 3          # candidate ranges when split
BLOCK = 13          # candidates per block when split
LIMIT = 10
N_CANDS = (CANDS - 4 * TIES) // 8 * 8 + 4 * TIES   # what data() makes


def borders(ranges, unit):
    """0-based positions (in id order) of the last candidate of each range but
    the last, as the plan shares the whole units of N_CANDS candidates out (a
    unit: a block, or a chunk's references when there are more)."""
    units = N_CANDS // unit
    ranges = min(ranges, units)
    return [r * units // ranges * unit - 1 for r in range(1, ranges)]


# Each group of tied copies straddles one border: of 3 ranges of chunks of
# PER_SUBTASK references (units of a block), then of 4 ranges of the one
# chunk of all REFS references (units of REFS).
TIE_BORDERS = borders(3, BLOCK) + borders(4, REFS)[:2]

ONE = {"tasks__cross_match_references_per_subtask": 100000, "tasks__match_block_rows": 100000,
       "tasks__match_read_ahead": 0, "tasks__cross_match_candidate_ranges": 1}
SPLIT = {"tasks__cross_match_references_per_subtask": PER_SUBTASK, "tasks__match_block_rows": BLOCK,
         "tasks__match_read_ahead": 1, "scheduler__match_threads": 1,
         "tasks__cross_match_candidate_ranges": RANGES}


@pytest.fixture
def scheds(stack, own_schedulers, request):
    s = Schedulers(stack, "cmsplit" + request.node.name[-20:].replace("_", ""))
    yield s
    s.stop_all()
    stack.sql(CANCEL_UNFINISHED)


@pytest.fixture(scope="module")
def data(stack, own_schedulers):
    """REFS reference faces and N_CANDS candidate faces around 8 people; 4
    vectors are repeated TIES times each (exact ties), the copies of each with
    ids on both sides of one border of the candidate ranges (TIE_BORDERS)."""
    rnd = random.Random(77)
    account_id = str(uuid.uuid4())
    centres = od.people(rnd, 8)
    refs = od.make_faces(rnd, account_id, centres, REFS // 8, user_data="ref")
    cands = od.make_faces(rnd, account_id, centres, (CANDS - 4 * TIES) // 8, user_data="cand")
    tied = []
    for v in [c["_vec"] for c in cands[:4]]:
        tied.append([{"account_id": account_id, "user_data": "cand", "descriptors": [od.descriptor(v)], "_vec": v}
                     for _ in range(TIES)])
    # ids in the order of their positions: the tied copies at the borders
    at_border = {b - TIES // 2 + 1 + i: (g, i) for g, b in enumerate(TIE_BORDERS) for i in range(TIES)}
    rest = iter(cands)
    ordered = [tied[at_border[p][0]][at_border[p][1]] if p in at_border else next(rest) for p in range(N_CANDS)]
    prefix = od.new_id(rnd)[:24]
    for p, c in enumerate(ordered):
        c["face_id"] = "%s%012d" % (prefix, p)
    assert len(ordered) == N_CANDS and next(rest, None) is None
    od.import_rows(stack, "faces", od.strip(refs + ordered))
    return account_id, refs, ordered


def body(account_id, threshold=0.2):
    return {"account_id": account_id, "content": {
        "filters": {"reference_type": "faces", "candidate_type": "faces",
                    "reference_filters": {"user_data": "ref"}, "candidate_filters": {"user_data": "cand"}},
        "threshold": threshold, "limit": LIMIT}}


def candidate_uptos(stack, task_id):
    """The last candidate id of every range of the task's subtasks but the last, in order."""
    rows = stack.sql("SELECT content FROM subtask WHERE task_id = %s ORDER BY subtask_id", (task_id,))
    uptos = [json.loads(r[0]).get("candidates_upto") for r in rows]
    return sorted({u for u in uptos if u})


def reference_chunks(stack, task_id):
    """(after, upto, references) of each reference chunk of the task, in order."""
    rows = stack.sql("SELECT content FROM subtask WHERE task_id = %s ORDER BY subtask_id", (task_id,))
    chunks = {}
    for i, r in enumerate(rows):
        c = json.loads(r[0])   # one candidate range: a subtask per chunk, no "chunk"
        chunks.setdefault(c.get("chunk", i), (c.get("after"), c.get("upto"), c.get("references")))
    return [chunks[k] for k in sorted(chunks)]


def check_reference_chunks(stack, task_id, refs, per):
    """The chunks share the references out in id order, per each and the
    last what is left, each counted right, the last ending at the last id."""
    ids = sorted(r["face_id"] for r in refs)
    want = [(ids[i - 1] if i else None, ids[min(i + per, len(ids)) - 1], min(per, len(ids) - i))
            for i in range(0, len(ids), per)]
    assert reference_chunks(stack, task_id) == want


def run(stack, account_id, **kw):
    tid, t = od.run_task(stack, "cross_match", body(account_id, **kw), timeout=180)
    assert t["task_status"] == 5, t
    doc = stack.get("/2/tasks/%d/result" % tid).json()
    assert doc["errors"] == [], doc["errors"]
    return tid, doc


@pytest.fixture(scope="module")
def one_subtask(stack, own_schedulers, data):
    """The result of the task planned as one subtask, candidates in one block."""
    account_id, refs, cands = data
    s = Schedulers(stack, "cmsplitone")
    s.start("one", throttle_ms=0, **ONE)
    try:
        tid, doc = run(stack, account_id)
    finally:
        s.stop_all()
    assert len(subtasks(stack, tid)) == 1
    # the reference itself: the brute force in double precision
    want = od.cross_match([(r["face_id"], r["_vec"]) for r in refs], [(c["face_id"], c["_vec"]) for c in cands],
                          0.2, LIMIT)
    got = doc["result"]
    assert [m["reference_id"] for m in got] == [w[0] for w in want]
    for m, (rid, hits) in zip(got, want):
        assert [c["candidate_id"] for c in m["candidates"]] == [h[0] for h in hits], rid
        assert all(abs(c["similarity"] - h[1]) < 2e-5 for c, h in zip(m["candidates"], hits)), rid
    assert any(len({c["similarity"] for c in m["candidates"]}) < len(m["candidates"]) for m in got), \
        "the data has no ties"
    return doc


def test_split_equals_one_subtask(stack, scheds, data, one_subtask):
    account_id = data[0]
    scheds.start("split", throttle_ms=0, **SPLIT)
    tid, doc = run(stack, account_id)
    assert -(-REFS // PER_SUBTASK) >= 3
    assert len(subtasks(stack, tid)) == -(-REFS // PER_SUBTASK) * RANGES
    assert candidate_uptos(stack, tid) == [data[2][p]["face_id"] for p in borders(RANGES, BLOCK)]
    check_reference_chunks(stack, tid, data[1], PER_SUBTASK)
    assert doc == one_subtask


def test_reference_chunks_without_a_partial_one(stack, scheds, data, one_subtask):
    """References a whole number of chunks (40 = 2 x 20): no empty chunk
    after them; and all of them in one chunk."""
    account_id = data[0]
    for per in (REFS // 2, REFS, 100000):
        scheds.start("p%d" % per, throttle_ms=0, **{**SPLIT, "tasks__cross_match_references_per_subtask": per,
                                                     "tasks__cross_match_candidate_ranges": 1})
        tid, doc = run(stack, account_id)
        scheds.stop_all()
        check_reference_chunks(stack, tid, data[1], per)
        assert len(subtasks(stack, tid)) == -(-REFS // per)
        assert doc == one_subtask, per


def test_candidate_ranges_equal_one_subtask(stack, scheds, data, one_subtask):
    """One reference chunk against 3, then 4 candidate ranges: the ranges'
    partials merged per reference give the one-subtask result, ties at the
    borders included."""
    account_id = data[0]
    for ranges in (3, 4):
        scheds.start("r%d" % ranges, throttle_ms=0, **{**SPLIT, "tasks__cross_match_references_per_subtask": 100000,
                                                       "tasks__cross_match_candidate_ranges": ranges})
        tid, doc = run(stack, account_id)
        scheds.stop_all()
        assert len(subtasks(stack, tid)) == ranges
        assert candidate_uptos(stack, tid) == [data[2][p]["face_id"] for p in borders(ranges, REFS)]
        assert doc == one_subtask, ranges


def test_candidate_ranges_hold_a_block_and_a_chunk(stack, scheds, data, one_subtask):
    """A candidate range holds at least MATCH_BLOCK_ROWS candidates and at
    least as many as a chunk has references (its subtask reads them again):
    8 ranges configured, the 296 candidates make 7 against one chunk of 40
    references (blocks of 13), 2 with blocks of 100."""
    account_id = data[0]
    for block, ranges in ((BLOCK, 7), (100, 2)):
        scheds.start("w%d" % block, throttle_ms=0, **{**SPLIT, "tasks__cross_match_references_per_subtask": 100000,
                                                      "tasks__match_block_rows": block,
                                                      "tasks__cross_match_candidate_ranges": 8})
        tid, doc = run(stack, account_id)
        scheds.stop_all()
        assert len(subtasks(stack, tid)) == ranges, block
        assert doc == one_subtask, block


def test_kill9_of_one_of_two_schedulers_changes_nothing(stack, scheds, data, one_subtask):
    account_id = data[0]
    a = scheds.start("a", throttle_ms=700, scheduler__lease_seconds=KILL_LEASE, **SPLIT)
    r = stack.post("/2/tasks/cross_match", json=body(account_id))
    assert r.status == 202, r
    tid = r.json()["task_id"]
    interrupted = kill9_while_holding(stack, scheds, a, tid)
    assert [s["id"] for s in subtasks(stack, tid) if s["status"] == 1] == interrupted
    scheds.start("b", throttle_ms=0, scheduler__lease_seconds=KILL_LEASE, **SPLIT)
    task = stack.wait_task(tid, timeout=300)
    assert task["task_status"] == 5, task
    subs = subtasks(stack, tid)
    assert all(s["status"] == 4 for s in subs), subs
    for s in subs:      # the interrupted ones ran again, on b
        assert s["attempts"] == (2 if s["id"] in interrupted else 1), (s, interrupted)
    assert stack.get("/2/tasks/%d/result" % tid).json() == one_subtask


def test_candidates_of_two_lengths_fail_from_a_later_block(stack, scheds):
    """The candidates are read ahead, block by block, on the cursor's own
    connection and thread: a later block whose descriptors are shorter than
    the first block's fails the task with the reason, as a read on the
    subtask's own connection would (one candidate range, so that one subtask
    reads both blocks)."""
    rnd = random.Random(78)
    account_id = str(uuid.uuid4())
    faces = lambda first, n, dim: [  # noqa: E731
        {"face_id": "%08x-0000-4000-8000-%012d" % (first, i), "account_id": account_id, "user_data": "mixed",
         "descriptors": [od.descriptor(od.people(rnd, 1, dim)[0])]} for i in range(n)]
    od.import_rows(stack, "faces", [{**f, "user_data": "ref"} for f in faces(0xa, 3, od.DIM)])
    od.import_rows(stack, "faces", faces(0xb, BLOCK, od.DIM))       # the first block in id order
    od.import_rows(stack, "faces", faces(0xc, BLOCK, od.DIM // 2))  # the second, in the other buffer
    scheds.start("lengths", throttle_ms=0, **{**SPLIT, "tasks__cross_match_candidate_ranges": 1})
    b = body(account_id)
    b["content"]["filters"]["candidate_filters"] = {"user_data": "mixed"}
    tid, t = od.run_task(stack, "cross_match", b, timeout=180)
    assert t["task_status"] == 3, t
    errors = stack.get("/2/tasks/%d/errors" % tid).json()["errors"]
    assert [e["error_code"] for e in errors] == [12022], errors
    assert "candidate_filters" in errors[0]["detail"] and "different lengths" in errors[0]["detail"], errors


LISTED_FACES = 400  # the account's faces, of which two small lists are the sides
LISTED_PEOPLE = 8


@pytest.fixture(scope="module")
def listed(stack, own_schedulers):
    """An account of LISTED_FACES faces; every 37th is a reference (user_data
    "lref", in ref_list), every 9th other one a candidate ("lcand", in
    cand_list), plus TIES copies of one candidate's vector (exact ties); the
    rest are in no list and lie between the members in id order."""
    rnd = random.Random(79)
    account_id = str(uuid.uuid4())
    ref_list, cand_list = od.new_id(rnd), od.new_id(rnd)
    faces = od.make_faces(rnd, account_id, od.people(rnd, LISTED_PEOPLE), LISTED_FACES // LISTED_PEOPLE)
    rnd.shuffle(faces)
    refs = faces[::37]
    cands = [f for i, f in enumerate(faces) if i % 9 == 4 and i % 37]
    for _ in range(TIES):
        cands.append({"face_id": od.new_id(rnd), "account_id": account_id, "descriptors": cands[0]["descriptors"],
                      "_vec": cands[0]["_vec"]})
    for side, user_data, list_id in ((refs, "lref", ref_list), (cands, "lcand", cand_list)):
        for f in side:
            f.update(user_data=user_data, lists=[list_id])
    od.import_rows(stack, "faces", od.strip(faces + cands[-TIES:]))
    return account_id, ref_list, cand_list, refs, cands


def listed_body(account_id, ref_filters, cand_filters):
    return {"account_id": account_id, "content": {
        "filters": {"reference_type": "faces", "candidate_type": "faces",
                    "reference_filters": ref_filters, "candidate_filters": cand_filters},
        "threshold": 0.1, "limit": LIMIT}}


def run_listed(stack, b):
    tid, t = od.run_task(stack, "cross_match", b, timeout=180)
    assert t["task_status"] == 5, t
    doc = stack.get("/2/tasks/%d/result" % tid).json()
    assert doc["errors"] == [], doc["errors"]
    return tid, doc


def test_lists_that_are_a_small_part_of_the_account(stack, scheds, listed):
    """Sides chosen by list (read from the list's rows) give the very result
    of the same faces chosen by a filter on the face rows, split in
    subtasks and blocks; another filter next to the list narrows it."""
    account_id, ref_list, cand_list, refs, cands = listed
    scheds.start("listed", throttle_ms=0, **SPLIT)
    tid, by_list = run_listed(stack, listed_body(account_id, {"list_id": ref_list}, {"list_id": cand_list}))
    assert -(-len(refs) // PER_SUBTASK) >= 2 and len(cands) // BLOCK >= RANGES
    assert len(subtasks(stack, tid)) == -(-len(refs) // PER_SUBTASK) * RANGES   # the ranges: step_ids of the list
    _, by_rows = run_listed(stack, listed_body(account_id, {"user_data": "lref"}, {"user_data": "lcand"}))
    assert by_list == by_rows
    pairs = lambda side: [(f["face_id"], f["_vec"]) for f in side]  # noqa: E731
    want = od.cross_match(pairs(refs), pairs(cands), 0.1, LIMIT)
    assert [(m["reference_id"], [c["candidate_id"] for c in m["candidates"]]) for m in by_list["result"]] == \
        [(rid, [h[0] for h in hits]) for rid, hits in want]
    assert any(len({c["similarity"] for c in m["candidates"]}) < len(m["candidates"]) for m in by_list["result"])
    middle = sorted(f["face_id"] for f in cands)[len(cands) // 2]
    _, narrowed = run_listed(stack, listed_body(account_id, {"list_id": ref_list},
                                                {"list_id": cand_list, "face_id__gte": middle}))
    want = od.cross_match(pairs(refs), [c for c in pairs(cands) if c[0] >= middle], 0.1, LIMIT)
    assert [(m["reference_id"], [c["candidate_id"] for c in m["candidates"]]) for m in narrowed["result"]] == \
        [(rid, [h[0] for h in hits]) for rid, hits in want]


def test_a_list_of_another_account_yields_nothing(stack, scheds, listed):
    """A list id of account Y names no faces for account X: on either side."""
    _, ref_list, cand_list, _, _ = listed
    rnd = random.Random(80)
    x = str(uuid.uuid4())
    x_list = od.new_id(rnd)
    own = od.make_faces(rnd, x, od.people(rnd, 2), 3, lists=[x_list])
    od.import_rows(stack, "faces", od.strip(own))
    scheds.start("tenancy", throttle_ms=0, **SPLIT)
    _, doc = run_listed(stack, listed_body(x, {"list_id": x_list}, {"list_id": x_list}))
    assert len(doc["result"]) == len(own)   # X's own list is read
    for ref_filters, cand_filters in (({"list_id": x_list}, {"list_id": cand_list}),
                                      ({"list_id": ref_list}, {"list_id": x_list}),
                                      ({"list_id": ref_list}, {"list_id": cand_list})):
        _, doc = run_listed(stack, listed_body(x, ref_filters, cand_filters))
        assert doc["result"] == [], (ref_filters, cand_filters)
