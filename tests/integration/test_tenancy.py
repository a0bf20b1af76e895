"""Tenancy: the task's account_id is the tenant. Two accounts on one stack, X
running the tasks and Y owning objects next to X's: for each of the nine task
types, Y's objects are never read, written, linked, deleted or returned by a
task of X.

- An account_id of Y anywhere in the content (content.filters,
  reference_filters, candidate_filters) is refused at creation with
  400/12022 naming the JSON path; no task is stored.
- Ids of Y's objects given in id lists (face_ids, event_ids, attribute_ids,
  roc markup, a list_id, a reporter's source task) behave as ids that do not
  exist.
- Y's rows in the objects database are unchanged after X's linker, gc and
  additional extract tasks (compared with stack.sql)."""
import random
import uuid

import pytest

import exportref as er
import objdata as od
from estimator_env import Repointed, errors_of, result_of, servers
from luna import assert_error

ODB = "luna_objects"
OTHER_VERSION = 62       # a descriptor version only the gc tests remove
NEW_FACE = 60            # the version additional extract adds


# ---- Objects of two accounts --------------------------------------------------

def accounts():
    return str(uuid.uuid4()), str(uuid.uuid4())


def faces_of(rnd, account, centres, per_person, extra_versions=(), **extra):
    faces = od.make_faces(rnd, account, centres, per_person, **extra)
    for f in faces:
        f["descriptors"] += [od.descriptor(f["_vec"], version=v) for v in extra_versions]
    return faces


def events_of(rnd, account, centres, n, handler_id=None, extra_versions=()):
    out = []
    for i in range(n):
        v = od.sample(rnd, centres[i % len(centres)])
        e = {"event_id": od.new_id(rnd), "account_id": account, "source": "cam", "external_id": "e%d" % i,
             "gender": 1, "age": 30, "ethnic_group": 2, "_vec": v,
             "descriptors": [od.descriptor(v)] + [od.descriptor(v, version=x) for x in extra_versions]}
        if handler_id:
            e["handler_id"] = handler_id
        out.append(e)
    return out


def attributes_of(rnd, account, centres, n):
    out = []
    for i in range(n):
        v = od.sample(rnd, centres[i % len(centres)])
        out.append({"attribute_id": od.new_id(rnd), "account_id": account, "_person": i % len(centres),
                    "_vec": v, "descriptors": [od.descriptor(v)]})
    return out


def ids(rows, key):
    return [r[key] for r in rows]


def snapshot(stack, account):
    """Every row of the objects database that belongs to account or points at one of its objects."""
    owned = ("(SELECT face_id FROM face WHERE account_id = %s UNION SELECT event_id FROM event WHERE account_id = %s "
             "UNION SELECT attribute_id FROM attribute WHERE account_id = %s)")
    acc3 = (account, account, account)
    queries = [
        ("SELECT face_id, account_id, event_id, attribute_id, user_data, external_id FROM face "
         "WHERE account_id = %s ORDER BY face_id", (account,)),
        ("SELECT event_id, account_id, age, gender, ethnic_group FROM event WHERE account_id = %s ORDER BY event_id",
         (account,)),
        ("SELECT attribute_id, account_id, face_id, age, gender, ethnicity FROM attribute WHERE account_id = %s "
         "ORDER BY attribute_id", (account,)),
        ("SELECT owner_id, descriptor_type, descriptor_version, owner_kind, account_id, MD5(vector) FROM descriptor "
         "WHERE account_id = %s OR owner_id IN " + owned + " ORDER BY 1, 2, 3", (account,) + acc3),
        ("SELECT sample_id, owner_id FROM sample WHERE owner_id IN " + owned + " ORDER BY 1", acc3),
        ("SELECT list_id, account_id, user_data FROM list WHERE account_id = %s ORDER BY list_id", (account,)),
        ("SELECT lf.list_id, lf.face_id FROM list_face lf WHERE lf.list_id IN "
         "(SELECT list_id FROM list WHERE account_id = %s) OR lf.face_id IN "
         "(SELECT face_id FROM face WHERE account_id = %s) ORDER BY 1, 2", (account, account)),
        # Faces made (by any account) from the account's events.
        ("SELECT face_id, account_id FROM face WHERE event_id IN (SELECT event_id FROM event WHERE account_id = %s) "
         "ORDER BY face_id", (account,)),
    ]
    return [stack.sql(q, p, db=ODB) for q, p in queries]


def task_count(stack, account):
    return int(stack.sql("SELECT COUNT(*) FROM task WHERE account_id = %s", (account,))[0][0])


def run_ok(stack, name, account, content, timeout=120):
    tid, t = od.run_task(stack, name, {"account_id": account, "content": content}, timeout=timeout)
    assert t["task_status"] == 5, (t, stack.get("/2/tasks/%d/errors" % tid).text)
    return tid, result_of(stack, tid)


# ---- A filter naming another account is refused at creation --------------------

def bodies(x, y, other):
    """(task type, content with Y's account at path) for every type and every filter object of the spec."""
    face = other
    return [
        ("linker", {"objects_type": "faces", "create_list": 1, "filters": {"account_id": y}},
         "content.filters.account_id"),
        ("clustering", {"objects_type": "faces", "filters": {"account_id": y}}, "content.filters.account_id"),
        ("reporter", {"filters": {"task_id": 1, "account_id": y}}, "content.filters.account_id"),
        ("gc", {"target": "events", "filters": {"account_id": y}}, "content.filters.account_id"),
        ("additional_extract", {"extraction_target": "basic_attributes",
                                "filters": {"objects_type": "faces", "account_id": y}}, "content.filters.account_id"),
        ("cross_match", {"filters": {"reference_type": "faces", "candidate_type": "faces", "account_id": y,
                                     "reference_filters": {"face_ids": [face]},
                                     "candidate_filters": {"face_ids": [face]}}}, "content.filters.account_id"),
        ("roc", {"markup": [{"face_id": face, "label": 1}, {"face_id": face, "label": 2}],
                 "filters": {"account_id": y}}, "content.filters.account_id"),
        ("exporter", {"objects_type": "faces", "filters": {"account_id": y}}, "content.filters.account_id"),
        ("estimator", {"handler": {"handler_id": str(uuid.uuid4())},
                       "source": {"source_type": "zip", "reference": "http://127.0.0.1:9/a.zip"},
                       "filters": {"account_id": y}}, "content.filters.account_id"),
    ]


def test_another_account_in_a_filter_is_refused_at_creation(stack):
    x, y = accounts()
    before = task_count(stack, x)
    for name, content, path in bodies(x, y, str(uuid.uuid4())):
        r = stack.post("/2/tasks/" + name, json={"account_id": x, "content": content})
        assert_error(r, 400, 12022, detail_contains="Path: '%s'" % path)
        assert "%s must equal the account_id of the task" % path in r.json()["detail"], (name, r.body)
    assert task_count(stack, x) == before


def test_an_account_in_nested_cross_match_filters_is_refused(stack):
    x, y = accounts()
    face = str(uuid.uuid4())
    for side in ("reference_filters", "candidate_filters"):
        filters = {"reference_type": "faces", "candidate_type": "faces",
                   "reference_filters": {"face_ids": [face]}, "candidate_filters": {"face_ids": [face]}}
        filters[side]["account_id"] = y
        r = stack.post("/2/tasks/cross_match", json={"account_id": x, "content": {"filters": filters}})
        # The schema of these filter objects already has no account_id.
        assert_error(r, 400, 12022, detail_contains=["Path: 'content.filters.%s'" % side, "'account_id'"])


def test_the_task_account_in_a_filter_is_accepted(stack):
    x, _ = accounts()
    r = stack.post("/2/tasks/exporter", json={"account_id": x, "content": {
        "objects_type": "faces", "filters": {"account_id": x}}})
    assert r.status == 202, r.body
    stack.wait_task(r.json()["task_id"])


def test_a_stored_task_naming_another_account_fails_before_planning(stack):
    """A row written around the API (say, before the check existed) is refused by the scheduler."""
    x, y = accounts()
    rnd = random.Random(901)
    od.import_rows(stack, "faces", od.strip(faces_of(rnd, y, od.people(rnd, 2), 2)))
    before = snapshot(stack, y)
    tid = stack.insert_task(task_type=1, status=0, account_id=x, content={
        "objects_type": "faces", "create_list": 1, "filters": {"account_id": y}})
    t = stack.wait_task(tid)
    assert t["task_status"] == 3, t
    errs = errors_of(stack, tid)
    assert [e["error_code"] for e in errs] == [12022] and "content.filters.account_id" in errs[0]["detail"], errs
    assert snapshot(stack, y) == before


# ---- Ids of another account behave as missing ---------------------------------

def test_linker_never_links_or_makes_faces_of_another_account(stack):
    x, y = accounts()
    rnd = random.Random(902)
    centres = od.people(rnd, 3)
    y_list = str(uuid.uuid4())
    y_faces = faces_of(rnd, y, centres, 2)
    y_faces[0]["lists"] = [y_list]
    x_faces = faces_of(rnd, x, centres, 2)
    y_events, x_events = events_of(rnd, y, centres, 4), events_of(rnd, x, centres, 3)
    od.import_rows(stack, "faces", od.strip(y_faces + x_faces))
    od.import_rows(stack, "events", od.strip(y_events + x_events))
    before = snapshot(stack, y)

    # Y's faces among X's in face_ids: only X's are linked, to a list of X.
    _, res = run_ok(stack, "linker", x, {"objects_type": "faces", "create_list": 1, "filters": {
        "account_id": x, "face_ids": ids(y_faces + x_faces, "face_id")}})
    assert sorted(res["result"]["face_ids"]) == sorted(ids(x_faces, "face_id"))
    assert stack.sql("SELECT account_id FROM list WHERE list_id = %s", (res["result"]["list_id"],), db=ODB) == [(x,)]
    # Y's events: no face is made from them.
    _, res = run_ok(stack, "linker", x, {"objects_type": "events", "create_list": 1, "filters": {
        "account_id": x, "event_ids": ids(y_events + x_events, "event_id")}})
    made = res["result"]["face_ids"]
    assert len(made) == len(x_events)
    rows = stack.sql("SELECT account_id, event_id FROM face WHERE face_id IN (%s)" % ",".join(["%s"] * len(made)),
                     made, db=ODB)
    assert {r[0] for r in rows} == {x} and {r[1] for r in rows} == set(ids(x_events, "event_id"))
    # Y's list is not found for X, and its id cannot be taken by a new list of X.
    tid, t = od.run_task(stack, "linker", {"account_id": x, "content": {
        "objects_type": "faces", "list_id": y_list, "filters": {"account_id": x}}})
    assert t["task_status"] == 3 and [e["error_code"] for e in errors_of(stack, tid)] == [28101]
    tid, t = od.run_task(stack, "linker", {"account_id": x, "content": {
        "objects_type": "faces", "list_id": y_list, "create_list": 1, "filters": {"account_id": x}}})
    assert t["task_status"] == 3, t
    assert [e["error_code"] for e in errors_of(stack, tid)] == [12022]
    assert snapshot(stack, y) == before


def test_clustering_and_exporter_never_return_another_accounts_objects(stack):
    x, y = accounts()
    rnd = random.Random(903)
    centres = od.people(rnd, 3)
    y_faces, x_faces = faces_of(rnd, y, centres, 3), faces_of(rnd, x, centres, 3)
    y_events, x_events = events_of(rnd, y, centres, 3), events_of(rnd, x, centres, 3)
    od.import_rows(stack, "faces", od.strip(y_faces + x_faces))
    od.import_rows(stack, "events", od.strip(y_events + x_events))
    all_faces = ids(y_faces + x_faces, "face_id")
    all_events = ids(y_events + x_events, "event_id")

    _, res = run_ok(stack, "clustering", x, {"objects_type": "faces", "threshold": 0.5,
                                             "filters": {"account_id": x, "face_ids": all_faces}})
    assert sorted(i for c in res["result"]["clusters"] for i in c) == sorted(ids(x_faces, "face_id"))
    _, res = run_ok(stack, "clustering", x, {"objects_type": "events", "threshold": 0.5,
                                             "filters": {"account_id": x, "event_ids": all_events}})
    assert sorted(i for c in res["result"]["clusters"] for i in c) == sorted(ids(x_events, "event_id"))
    # Only Y's ids: nothing to cluster.
    tid, t = od.run_task(stack, "clustering", {"account_id": x, "content": {
        "objects_type": "faces", "filters": {"account_id": x, "face_ids": ids(y_faces, "face_id")}}})
    assert t["task_status"] == 3 and [e["error_code"] for e in errors_of(stack, tid)] == [28010]

    for kind, wanted, given, key in (("faces", x_faces, all_faces, "face_ids"),
                                     ("events", x_events, all_events, "event_ids")):
        tid, t = od.run_task(stack, "exporter", {"account_id": x, "content": {
            "objects_type": kind, "filters": {"account_id": x, key: given}}})
        assert t["task_status"] == 5, t
        _, rows = er.fetch_archive(stack, tid).csv_rows("export.csv")
        assert sorted(r[0] for r in rows) == sorted(ids(wanted, key[:-1])), kind


def test_reporter_source_of_another_account_is_not_found(stack):
    x, y = accounts()
    rnd = random.Random(904)
    od.import_rows(stack, "faces", od.strip(faces_of(rnd, y, od.people(rnd, 2), 2)))
    source, _ = run_ok(stack, "clustering", y, {"objects_type": "faces", "filters": {"account_id": y}})
    r = stack.post("/2/tasks/reporter", json={"account_id": y, "content": {"filters": {"task_id": source}}})
    assert r.status == 202, r.body       # its own account may report on it
    stack.wait_task(r.json()["task_id"])
    r = stack.post("/2/tasks/reporter", json={"account_id": x, "content": {"filters": {"task_id": source}}})
    assert_error(r, 400, 28001, detail_contains="'%d'" % source)


def test_cross_match_never_reads_another_accounts_descriptors(stack):
    x, y = accounts()
    rnd = random.Random(905)
    centres = od.people(rnd, 3)
    # Y's objects are the closest to X's (same people, less noise): leaking any would show.
    y_faces, x_faces = faces_of(rnd, y, centres, 2), faces_of(rnd, x, centres, 2)
    y_events, x_events = events_of(rnd, y, centres, 3), events_of(rnd, x, centres, 3)
    y_attrs, x_attrs = attributes_of(rnd, y, centres, 3), attributes_of(rnd, x, centres, 3)
    od.import_rows(stack, "faces", od.strip(y_faces + x_faces))
    od.import_rows(stack, "events", od.strip(y_events + x_events))
    od.import_rows(stack, "attributes", od.strip(y_attrs + x_attrs))
    for cand_type, cand_key, y_cands, x_cands, id_key in (
            ("events", "event_ids", y_events, x_events, "event_id"),
            ("attributes", "attribute_ids", y_attrs, x_attrs, "attribute_id"),
            ("faces", "face_ids", y_faces, x_faces, "face_id")):
        _, res = run_ok(stack, "cross_match", x, {"threshold": 0.5, "limit": 20, "filters": {
            "reference_type": "faces", "candidate_type": cand_type,
            "reference_filters": {"face_ids": ids(y_faces + x_faces, "face_id")},
            "candidate_filters": {cand_key: ids(y_cands + x_cands, id_key)}}})
        want = od.cross_match([(f["face_id"], f["_vec"]) for f in x_faces],
                              [(c[id_key], c["_vec"]) for c in x_cands], 0.5, 20)
        got = res["result"]
        assert [m["reference_id"] for m in got] == [w[0] for w in want], cand_type
        assert [sorted(c["candidate_id"] for c in m["candidates"]) for m in got] == \
            [sorted(h[0] for h in w[1]) for w in want], cand_type


def test_roc_markup_of_another_account_is_not_found(stack):
    x, y = accounts()
    rnd = random.Random(906)
    centres = od.people(rnd, 2)
    x_faces, y_faces = faces_of(rnd, x, centres, 2), faces_of(rnd, y, centres, 2)
    y_attrs = attributes_of(rnd, y, centres, 2)
    od.import_rows(stack, "faces", od.strip(x_faces + y_faces))
    od.import_rows(stack, "attributes", od.strip(y_attrs))
    markup = [{"face_id": f["face_id"], "label": f["_person"]} for f in x_faces + y_faces] + \
             [{"attribute_id": a["attribute_id"], "label": a["_person"]} for a in y_attrs]
    tid, res = run_ok(stack, "roc", x, {"markup": markup, "filters": {"account_id": x}})
    errs = res["errors"]
    assert all(e["error_code"] == 28100 for e in errs), errs
    foreign = ids(y_faces, "face_id") + ids(y_attrs, "attribute_id")
    assert sorted(next(i for i in foreign if i in e["detail"]) for e in errs) == sorted(foreign)
    _, auc, _, _ = od.roc([f["_vec"] for f in x_faces], [f["_person"] for f in x_faces])
    assert abs(res["result"]["auc"] - auc) < 1e-6
    # Only Y's markup: nothing is found.
    tid, t = od.run_task(stack, "roc", {"account_id": x, "content": {"markup": markup[len(x_faces):],
                                                                     "filters": {"account_id": x}}})
    assert t["task_status"] == 3, t


def test_gc_never_deletes_another_accounts_objects(stack):
    x, y = accounts()
    rnd = random.Random(907)
    centres = od.people(rnd, 2)
    handler = str(uuid.uuid4())
    y_faces = faces_of(rnd, y, centres, 2, extra_versions=(OTHER_VERSION,))
    x_faces = faces_of(rnd, x, centres, 2, extra_versions=(OTHER_VERSION,))
    y_events = events_of(rnd, y, centres, 3, handler_id=handler, extra_versions=(OTHER_VERSION,))
    x_events = events_of(rnd, x, centres, 3, handler_id=handler, extra_versions=(OTHER_VERSION,))
    od.import_rows(stack, "faces", od.strip(y_faces + x_faces))
    od.import_rows(stack, "events", od.strip(y_events + x_events))
    before = snapshot(stack, y)

    _, res = run_ok(stack, "gc", x, {"target": "face_descriptors", "filters": {"descriptor_version": OTHER_VERSION}})
    assert sorted(res["result"]) == sorted(ids(x_faces, "face_id"))
    _, res = run_ok(stack, "gc", x, {"target": "event_descriptors", "filters": {
        "descriptor_version": OTHER_VERSION, "descriptor_type": "face"}})
    assert sorted(res["result"]) == sorted(ids(x_events, "event_id"))
    _, res = run_ok(stack, "gc", x, {"target": "events", "filters": {"account_id": x, "handler_id": handler}})
    assert sorted(e["event_id"] for e in res["result"]) == sorted(ids(x_events, "event_id"))
    assert stack.sql("SELECT COUNT(*) FROM event WHERE account_id = %s", (x,), db=ODB) == [("0",)]
    assert snapshot(stack, y) == before


def test_estimator_touches_no_objects(stack):
    """The estimator sends images to the handlers service and keeps what it answers; its only
    account-bearing field is content.filters.account_id, refused above when it is not the task's."""
    x, y = accounts()
    r = stack.post("/2/tasks/estimator", json={"account_id": x, "content": {
        "handler": {"handler_id": str(uuid.uuid4())},
        "source": {"source_type": "zip", "reference": "http://127.0.0.1:9/a.zip"},
        "filters": {"account_id": y}}})
    assert_error(r, 400, 12022, detail_contains="content.filters.account_id")


# ---- Additional extract (needs the extractor stand-in) ---------------------------

@pytest.fixture(scope="module")
def extractor(stack):
    fake = servers.FakeHandlers()
    rp = Repointed(stack, {("HANDLERS", "URL"): fake.url})
    yield fake
    rp.undo()
    fake.close()


def test_additional_extract_never_writes_another_accounts_objects(stack, extractor):
    x, y = accounts()
    rnd = random.Random(908)
    centres = od.people(rnd, 2)

    def with_samples(rows, owner_key):
        for i, r in enumerate(rows):
            r["samples"] = [{"sample_id": str(uuid.uuid4()), "type": "face",
                             "image_b64": er.b64(servers.png((r[owner_key], i)))}]
        return rows

    y_faces = with_samples(faces_of(rnd, y, centres, 2), "face_id")
    x_faces = with_samples(faces_of(rnd, x, centres, 2), "face_id")
    y_events = with_samples(events_of(rnd, y, centres, 2), "event_id")
    x_events = with_samples(events_of(rnd, x, centres, 2), "event_id")
    od.import_rows(stack, "faces", od.strip(y_faces + x_faces))
    od.import_rows(stack, "events", od.strip(y_events + x_events))
    before = snapshot(stack, y)
    extractor.reset()
    _, res = run_ok(stack, "additional_extract", x, {"extraction_target": "face_descriptor",
                                                     "options": {"descriptor_version": NEW_FACE},
                                                     "filters": {"objects_type": "faces", "account_id": x}})
    assert sorted(e["face_id"] for e in res["result"]) == sorted(ids(x_faces, "face_id"))
    _, res = run_ok(stack, "additional_extract", x, {"extraction_target": "face_descriptor",
                                                     "options": {"descriptor_version": NEW_FACE},
                                                     "filters": {"objects_type": "events"}})
    assert sorted(e["event_id"] for e in res["result"]) == sorted(ids(x_events, "event_id"))
    sent = {p["filename"] for r in extractor.requests() if r["path"] == "/6/extractor" for p in r["parts"]}
    y_samples = {s["sample_id"] for r in y_faces + y_events for s in r["samples"]}
    assert sent and not sent & y_samples
    assert snapshot(stack, y) == before
