"""Cross match tasks against a brute-force reference: per reference the
candidates with similarity >= threshold, by similarity descending, at most
limit; references without candidates left out."""
import datetime
import os
import random

import objdata as od
from luna import ROOT


def run(stack, account_id, content):
    tid, t = od.run_task(stack, "cross_match", {"account_id": account_id, "content": content})
    assert t["task_status"] == 5, t
    doc = od.task_result(stack, tid, account_id)
    assert doc["errors"] == []
    return doc["result"]


def compare(got, want):
    assert [m["reference_id"] for m in got] == [w[0] for w in want]
    for m, (rid, hits) in zip(got, want):
        assert [c["candidate_id"] for c in m["candidates"]] == [h[0] for h in hits], rid
        for c, h in zip(m["candidates"], hits):
            assert abs(c["similarity"] - h[1]) < 2e-5


def test_faces_against_events_and_attributes(stack, account_id):
    rnd = random.Random(21)
    centres = od.people(rnd, 8)
    faces = od.make_faces(rnd, account_id, centres[:5], 3)
    events = [{"event_id": od.new_id(rnd), "account_id": account_id, "source": "cam%d" % (i % 2),
               "_vec": od.sample(rnd, centres[i % 8])} for i in range(24)]
    for e in events:
        e["descriptors"] = [od.descriptor(e["_vec"])]
    attrs = [{"attribute_id": od.new_id(rnd), "account_id": account_id, "_vec": od.sample(rnd, centres[i % 8])}
             for i in range(10)]
    for a in attrs:
        a["descriptors"] = [od.descriptor(a["_vec"])]
    od.import_rows(stack, "faces", od.strip(faces))
    od.import_rows(stack, "events", od.strip(events))
    od.import_rows(stack, "attributes", od.strip(attrs))
    refs = [(f["face_id"], f["_vec"]) for f in faces if f["user_data"] in ("p0", "p1", "p2")]
    cam1 = [(e["event_id"], e["_vec"]) for e in events if e["source"] == "cam1"]
    for threshold, limit in ((0.5, 2), (0.0, 5), (0.99, 3)):
        got = run(stack, account_id, {"filters": {
            "reference_type": "faces", "candidate_type": "events",
            "reference_filters": {"face_ids": [r[0] for r in refs]},
            "candidate_filters": {"sources": ["cam1"]}}, "threshold": threshold, "limit": limit})
        compare(got, od.cross_match(refs, cam1, threshold, limit))
    got = run(stack, account_id, {"filters": {
        "reference_type": "attributes", "candidate_type": "faces",
        "reference_filters": {"attribute_ids": [a["attribute_id"] for a in attrs]},
        "candidate_filters": {}, "account_id": account_id}, "threshold": 0.3})
    compare(got, od.cross_match([(a["attribute_id"], a["_vec"]) for a in attrs],
                                [(f["face_id"], f["_vec"]) for f in faces], 0.3, 5))


def test_events_against_events_body(stack, account_id):
    rnd = random.Random(22)
    centres = od.people(rnd, 4)
    events = [{"event_id": od.new_id(rnd), "account_id": account_id, "gender": i % 2,
               "_vec": od.sample(rnd, centres[i % 4])} for i in range(16)]
    for e in events:
        e["descriptors"] = [od.descriptor(e["_vec"], od.BODY_VERSION, "body")]
    od.import_rows(stack, "events", od.strip(events))
    refs = [(e["event_id"], e["_vec"]) for e in events if e["gender"] == 0]
    cands = [(e["event_id"], e["_vec"]) for e in events if e["gender"] == 1]
    got = run(stack, account_id, {"filters": {
        "reference_type": "events", "candidate_type": "events", "descriptor": {"type": "body"},
        "reference_filters": {"gender": 0}, "candidate_filters": {"gender": 1}}, "threshold": 0.2, "limit": 3})
    compare(got, od.cross_match(refs, cands, 0.2, 3))


def test_no_candidates_gives_empty_result(stack, account_id):
    got = run(stack, account_id, {"filters": {"reference_type": "faces", "candidate_type": "faces",
                                              "reference_filters": {}, "candidate_filters": {}}})
    assert got == []


def test_one_subtask_stores_the_result_itself(stack, account_id):
    """A task planned as one subtask: that subtask writes the result document
    into the store, its row says so (subtask.result_document, migration 012)
    and collecting makes that very blob the task result, so the result's file
    was written before the subtask ended (a result made at collect is written
    after). The migration marks such a subtask finished by the release before
it, and can run again without changing anything."""
    rnd = random.Random(23)
    faces = od.make_faces(rnd, account_id, od.people(rnd, 3), 4)
    od.import_rows(stack, "faces", od.strip(faces))
    tid, t = od.run_task(stack, "cross_match", {"account_id": account_id, "content": {
        "filters": {"reference_type": "faces", "candidate_type": "faces", "reference_filters": {},
                    "candidate_filters": {}}, "threshold": 0.1, "limit": 2}})
    assert t["task_status"] == 5, t
    # as the release before the column left it: the migration marks it
    stack.sql("UPDATE subtask SET result_document = 0 WHERE task_id = %s", (tid,))
    with open(os.path.join(ROOT, "sql", "tasks", "012_subtask_result_document.sql")) as f:
        stack.sql(f.read())
    rows = stack.sql("SELECT t.result_id, s.end_time, s.result_document FROM task t "
                     "JOIN subtask s ON s.task_id = t.task_id WHERE t.task_id = %s", (tid,))
    assert len(rows) == 1, rows
    result_id, sub_end, marked = rows[0]
    assert int(marked) == 1, rows
    ended = datetime.datetime.strptime(sub_end, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
    assert os.path.getmtime(stack.store_path(result_id)) <= ended.timestamp()
    doc = od.task_result(stack, tid, account_id)
    assert doc["errors"] == []
    vecs = [(f["face_id"], f["_vec"]) for f in faces]
    compare(doc["result"], od.cross_match(vecs, vecs, 0.1, 2))


def test_long_result_made_in_two_halves(stack, account_id):
    """From 2,048 references the second half of the result document is made
    on a thread of its own while the first is written: the two halves join
    with one comma, and with none when no reference of the first half has a
    candidate (those references sort first here and match nothing)."""
    rnd = random.Random(24)
    near, far = od.people(rnd, 2)
    cands = od.make_faces(rnd, account_id, [near], 6, user_data="cand")
    refs = []
    for centre, lead, user_data in ((far, "0", "ref"), (near, "f", "ref")):
        for f in od.make_faces(rnd, account_id, [centre], 1300, user_data=user_data):
            f["face_id"] = lead + f["face_id"][1:]
            refs.append(f)
    od.import_rows(stack, "faces", od.strip(cands + refs))
    rv = [(f["face_id"], f["_vec"]) for f in refs]
    cv = [(f["face_id"], f["_vec"]) for f in cands]
    for threshold in (0.5, 0.0):
        got = run(stack, account_id, {"filters": {
            "reference_type": "faces", "candidate_type": "faces", "reference_filters": {"user_data": "ref"},
            "candidate_filters": {"user_data": "cand"}}, "threshold": threshold, "limit": 2})
        want = od.cross_match(rv, cv, threshold, 2)
        assert len(want) == (1300 if threshold else 2600)
        compare(got, want)
