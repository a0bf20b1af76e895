"""[LIMITS]: every list and number a client sizes is bounded by the
configuration. Task bodies breaking a limit are refused at creation with
400/12022 naming the JSON path and the limit; query id lists longer than
MAX_QUERY_IDS are 400/12012; a list of the largest allowed size runs to done
(the scheduler binds its values on the heap, not on a thread's stack)."""
import json
import random
import uuid

import objdata as od
from luna import assert_error, assert_json


def limit(stack, key, default):
    return int(stack.config_value("LIMITS", key, default))


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# -- task bodies ------------------------------------------------------------

def test_200k_external_ids_are_refused_at_creation(stack, account_id):
    ids = ["e%06d" % i for i in range(200000)]
    body = json.dumps({"account_id": account_id,
                       "content": {"objects_type": "faces", "create_list": 1,
                                   "filters": {"account_id": account_id, "external_ids": ids}}})
    assert len(body) < int(stack.config_value("API", "MAX_BODY_SIZE", 10485760))
    pids = stack.api_pids()
    before = {p: peak_rss_kb(p) for p in pids}
    r = stack.post("/2/tasks/linker", body=body.encode(), headers={"Content-Type": "application/json"})
    grown = max(peak_rss_kb(p) - before[p] for p in pids)
    max_items = limit(stack, "MAX_LIST_ITEMS", 10000)
    assert_error(r, 400, 12022, detail_contains=[
        "Path: 'content.filters.external_ids'",
        "200000 items, more than the limit of %d ([LIMITS] MAX_LIST_ITEMS)" % max_items])
    # The body (2.4 MB) is parsed once and refused before the schema check.
    print("peak RSS growth of the API process: %d KiB" % grown)
    assert grown < 128 * 1024, grown
    assert stack.get("/2/tasks", params={"account_id": account_id}).json()["tasks"] == []


def test_list_one_over_the_limit_names_the_field(stack, account_id):
    n = limit(stack, "MAX_LIST_ITEMS", 10000) + 1
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for name, content, path in [
        ("exporter", {"objects_type": "events", "filters": {"account_id": account_id, "event_ids": ids}},
         "content.filters.event_ids"),
        ("linker", {"objects_type": "faces", "create_list": 1, "filters": {"account_id": account_id, "face_ids": ids}},
         "content.filters.face_ids"),
        ("linker", {"objects_type": "events", "create_list": 1,
                    "filters": {"account_id": account_id, "tags": ["t%d" % i for i in range(n)]}},
         "content.filters.tags"),
    ]:
        r = stack.post("/2/tasks/" + name, json={"account_id": account_id, "content": content})
        assert_error(r, 400, 12022, detail_contains=["Path: '%s'" % path, "%d items" % n, "MAX_LIST_ITEMS"])


def test_match_limit_above_the_maximum(stack, account_id):
    top = limit(stack, "MAX_MATCH_LIMIT", 1000)
    face = str(uuid.uuid4())
    cross = {"filters": {"reference_type": "faces", "candidate_type": "faces",
                         "reference_filters": {"face_ids": [face]}, "candidate_filters": {"face_ids": [face]}}}
    roc = {"markup": [{"face_id": face, "label": 1}, {"face_id": str(uuid.uuid4()), "label": 2}],
           "filters": {"account_id": account_id}}
    for name, content in (("cross_match", cross), ("roc", roc)):
        for value in (top + 1, 20000 * 20000):
            r = stack.post("/2/tasks/" + name, json={"account_id": account_id, "content": dict(content, limit=value)})
            assert_error(r, 400, 12022, detail_contains=[
                "Path: 'content.limit'", "more than the limit of %d ([LIMITS] MAX_MATCH_LIMIT)" % top])
        r = stack.post("/2/tasks/" + name, json={"account_id": account_id, "content": dict(content, limit=top)})
        assert r.status == 202, r
        stack.sql("UPDATE task SET task_status = 2 WHERE task_id = %s", (r.json()["task_id"],))


def test_largest_id_list_runs_to_done(stack, account_id):
    """A linker whose filter lists MAX_LIST_ITEMS face ids: the scheduler binds
    them all (one parameter each, per subtask) and links the faces that exist."""
    rnd = random.Random(77)
    n = limit(stack, "MAX_LIST_ITEMS", 10000)
    faces = [{"face_id": od.new_id(rnd), "account_id": account_id} for _ in range(30)]
    od.import_rows(stack, "faces", faces)
    ids = [f["face_id"] for f in faces] + [od.new_id(rnd) for _ in range(n - len(faces))]
    rnd.shuffle(ids)
    assert len(ids) == n
    tid, t = od.run_task(stack, "linker", {"account_id": account_id, "content": {
        "objects_type": "faces", "create_list": 1, "filters": {"account_id": account_id, "face_ids": ids}}})
    assert t["task_status"] == 5, t
    res = stack.get("/2/tasks/%d/result" % tid).json()["result"]
    assert sorted(res["face_ids"]) == sorted(f["face_id"] for f in faces)


def test_stored_task_over_the_limit_fails_at_planning(stack, account_id):
    """A task stored before a limit was lowered fails when planned, with the
    same 12022 the API gives, instead of running."""
    n = limit(stack, "MAX_LIST_ITEMS", 10000) + 1
    content = {"objects_type": "faces", "create_list": 1,
               "filters": {"account_id": account_id, "face_ids": [str(uuid.uuid4()) for _ in range(n)]}}
    tid = stack.insert_task(task_type=1, status=0, account_id=account_id, content=content)
    t = stack.wait_task(tid)
    assert t["task_status"] == 3, t
    errors = stack.get("/2/tasks/%d/errors" % tid).json()["errors"]
    assert [e["error_code"] for e in errors] == [12022], errors
    assert "content.filters.face_ids" in errors[0]["detail"] and "MAX_LIST_ITEMS" in errors[0]["detail"], errors


# -- query id lists ---------------------------------------------------------

def test_query_id_list_over_the_limit(stack):
    n = limit(stack, "MAX_QUERY_IDS", 100)
    too_many = ",".join(str(i) for i in range(1, n + 2))
    for path, name in (("/2/tasks", "task_ids"), ("/2/tasks/count", "task_ids"),
                       ("/2/tasks/errors", "task_ids"), ("/2/tasks/errors", "error_ids"),
                       ("/2/tasks/errors/count", "error_ids")):
        r = stack.get(path + "?" + name + "=" + too_many)
        assert_error(r, 400, 12012, detail="Bad query parameters '%s'" % name)
        assert_json(stack.get(path + "?" + name + "=" + ",".join(str(i) for i in range(1, n + 1))))


def test_errors_with_32_task_ids_and_32_error_ids(stack, account_id):
    tid = stack.insert_task(task_type=2, status=3, account_id=account_id)
    eids = [stack.insert_error(tid, error_code=28010 + i % 2) for i in range(3)]
    task_ids = [tid] + list(range(900000001, 900000032))
    error_ids = eids + list(range(900000001, 900000033 - len(eids)))
    assert len(task_ids) == 32 and len(error_ids) == 32
    q = {"task_ids": ",".join(map(str, task_ids)), "error_ids": ",".join(map(str, error_ids)),
         "error_time__gte": "2020-01-01T00:00:00Z", "error_time__lt": "2030-01-01T00:00:00Z",
         "error_code": 28010, "task_type": 2, "account_id": account_id,
         "page": 1, "page_size": 100}
    got = assert_json(stack.get("/2/tasks/errors", params=q))["errors"]
    assert [e["error_id"] for e in got] == [eids[0], eids[2]]
    del q["page"], q["page_size"]
    assert assert_json(stack.get("/2/tasks/errors/count", params=q))["count"] == 2
    # The largest lists, both at once.
    n = limit(stack, "MAX_QUERY_IDS", 100)
    q = {"task_ids": ",".join(map(str, [tid] + list(range(800000001, 800000000 + n)))),
         "error_ids": ",".join(map(str, eids + list(range(800000001, 800000001 + n - len(eids))))),
         "account_id": account_id}
    assert assert_json(stack.get("/2/tasks/errors/count", params=q))["count"] == 3
