"""Linker tasks: list membership after the task equals the filtered set;
events become faces (event_id, descriptor, basic attributes) before linking;
a missing list fails the task with 28101."""
import random
import uuid

import objdata as od


def run(stack, account_id, content):
    return od.run_task(stack, "linker", {"account_id": account_id, "content": content})


def members(stack, list_id):
    return {r[0] for r in stack.sql("SELECT face_id FROM list_face WHERE list_id = %s", (list_id,),
                                    db="luna_objects")}


def test_faces_to_existing_list_in_chunks(stack, account_id):
    rnd = random.Random(41)
    faces = od.make_faces(rnd, account_id, od.people(rnd, 5), 5)
    list_id = str(uuid.uuid4())
    seed = dict(od.strip(faces[:1])[0], lists=[list_id])     # creates the list through the import
    od.import_rows(stack, "faces", [seed] + od.strip(faces[1:]))
    tid, t = run(stack, account_id, {"objects_type": "faces", "list_id": list_id,
                                     "filters": {"account_id": account_id, "user_data": "p2"}})
    assert t["task_status"] == 5, t
    res = stack.get("/2/tasks/%d/result" % tid).json()["result"]
    want = {f["face_id"] for f in faces if f["user_data"] == "p2"}
    assert res["list_id"] == list_id and set(res["face_ids"]) == want
    assert members(stack, list_id) == want | {faces[0]["face_id"]}


def test_create_list_and_many_subtasks(stack, account_id):
    rnd = random.Random(42)
    faces = [{"face_id": od.new_id(rnd), "account_id": account_id} for _ in range(2500)]
    od.import_rows(stack, "faces", faces)
    tid, t = run(stack, account_id, {"objects_type": "faces", "create_list": 1, "user_data": "made by linker",
                                     "filters": {"account_id": account_id}})
    assert t["task_status"] == 5, t
    assert t["count_task_parts_all"] == 3       # [TASKS] LINKER_CHUNK = 1000
    res = stack.get("/2/tasks/%d/result" % tid).json()["result"]
    assert sorted(res["face_ids"]) == sorted(f["face_id"] for f in faces)
    assert stack.sql("SELECT account_id, user_data FROM list WHERE list_id = %s", (res["list_id"],),
                     db="luna_objects") == [(account_id, "made by linker")]
    assert members(stack, res["list_id"]) == {f["face_id"] for f in faces}


def test_events_become_faces(stack, account_id):
    rnd = random.Random(43)
    events = []
    for i in range(6):
        v = od.unit([rnd.gauss(0, 1) for _ in range(od.DIM)])
        events.append({"event_id": od.new_id(rnd), "account_id": account_id, "source": "cam%d" % (i % 2),
                       "external_id": "e%d" % i, "user_data": "u%d" % i, "gender": 1, "age": 30 + i,
                       "ethnic_group": 2, "descriptors": [od.descriptor(v)], "_vec": v})
    od.import_rows(stack, "events", od.strip(events))
    content = {"objects_type": "events", "create_list": 1, "filters": {"account_id": account_id, "sources": ["cam1"]}}
    tid, t = run(stack, account_id, content)
    assert t["task_status"] == 5, t
    res = stack.get("/2/tasks/%d/result" % tid).json()["result"]
    chosen = [e for e in events if e["source"] == "cam1"]
    assert len(res["face_ids"]) == len(chosen)
    rows = stack.sql("SELECT f.face_id, f.event_id, f.external_id, f.user_data, a.age, a.gender, a.ethnicity, "
                     "LENGTH(d.vector) FROM face f LEFT JOIN attribute a ON a.attribute_id = f.attribute_id "
                     "LEFT JOIN descriptor d ON d.owner_id = f.face_id WHERE f.face_id IN (%s)"
                     % ",".join(["%s"] * len(res["face_ids"])), res["face_ids"], db="luna_objects")
    by_event = {r[1]: r for r in rows}
    for e in chosen:
        r = by_event[e["event_id"]]
        assert r[2:] == (e["external_id"], e["user_data"], str(e["age"]), "1", "2", str(4 * od.DIM))
    assert members(stack, res["list_id"]) == set(res["face_ids"])
    # A second run reuses the faces made from the same events.
    tid2, t2 = run(stack, account_id, content)
    res2 = stack.get("/2/tasks/%d/result" % tid2).json()["result"]
    assert sorted(res2["face_ids"]) == sorted(res["face_ids"])


def test_missing_list_fails(stack, account_id):
    tid, t = run(stack, account_id, {"objects_type": "faces", "list_id": str(uuid.uuid4()),
                                     "filters": {"account_id": account_id}})
    assert t["task_status"] == 3
    errs = stack.get("/2/tasks/%d/errors" % tid).json()["errors"]
    assert [e["error_code"] for e in errs] == [28101]
    # The planning error names a real subtask: the failed row standing for
    # the planning step (task_error.subtask_id is a required id).
    subs = stack.get("/2/tasks/%d/subtasks" % tid).json()["subtasks"]
    assert [(x["subtask_id"], x["subtask_status"], x["content"]) for x in subs] == \
        [(errs[0]["subtask_id"], 3, {"stage": "planning"})], (errs, subs)
    assert (t["count_task_parts_all"], t["count_task_parts_done"]) == (1, 1), t
    for path in ("/2/tasks/errors", "/2/tasks/errors/%d" % errs[0]["error_id"]):
        r = stack.get(path, params={"account_id": account_id})
        assert r.status == 200 and '"subtask_id":null' not in r.text, r


def test_list_id_or_create_list_required(stack, account_id):
    r = stack.post("/2/tasks/linker", json={"account_id": account_id, "content": {
        "objects_type": "faces", "filters": {"account_id": account_id}}})
    assert r.status == 400 and r.json()["error_code"] == 12022
