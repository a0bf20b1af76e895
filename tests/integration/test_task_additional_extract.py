"""Additional extract tasks end to end: faces and events of the local objects
database that have the default descriptor version but lack the requested
one (or lack basic attributes) get it from the handlers stand-in's
extractor, from their samples in the result store."""
import base64
import hashlib
import struct
import uuid

import pytest

from estimator_env import Repointed, errors_of, result_of, run_task, servers
from luna import assert_error
from objdata import BODY_VERSION, FACE_VERSION, import_rows

NEW_FACE = 60
NEW_BODY = 111


@pytest.fixture(scope="module")
def env(stack):
    fake = servers.FakeHandlers()
    rp = Repointed(stack, {("HANDLERS", "URL"): fake.url, ("TASKS", "ESTIMATOR_CHUNK"): "2"})
    yield fake
    rp.undo()
    fake.close()


def vec(seed, dim=8):
    h = hashlib.sha256(str(seed).encode()).digest()
    v = [(b - 127.5) for b in h[:dim]]
    return base64.b64encode(struct.pack("<%df" % dim, *v)).decode()


def img(seed, marker=b""):
    return base64.b64encode(servers.png(seed, marker)).decode()


def face_row(account, fid, seed, versions=(FACE_VERSION,), samples=1, marker=b"", attrs=None):
    row = {"face_id": fid, "account_id": account,
           "descriptors": [{"type": "face", "version": v, "vector_b64": vec((seed, v))} for v in versions],
           "samples": [{"sample_id": str(uuid.uuid4()), "type": "face", "image_b64": img((seed, i), marker)}
                       for i in range(samples)]}
    if attrs:
        row["basic_attributes"] = attrs
    return row


def sql_versions(stack, owner):
    return sorted(int(r[0]) for r in stack.sql("SELECT descriptor_version FROM descriptor WHERE owner_id = %s",
                                               (owner,), db="luna_objects"))


def extract_requests(fake):
    return [r for r in fake.requests() if r["path"] == "/6/extractor"]


def ae_body(account, target, filters, version=None, missing=None):
    options = {}
    if version is not None:
        options["descriptor_version"] = version
    if missing is not None:
        options["missing"] = missing
    content = {"extraction_target": target, "filters": filters}
    if options or target != "basic_attributes":
        content["options"] = options
    return {"account_id": account, "content": content}


def ids(n):
    return sorted(str(uuid.uuid4()) for _ in range(n))


def test_face_descriptors_are_extracted(stack, env, account_id):
    f = ids(6)
    rows = [face_row(account_id, f[0], 1), face_row(account_id, f[1], 2, samples=2),
            face_row(account_id, f[2], 3),
            face_row(account_id, f[3], 4, samples=0),                       # nothing to extract from
            face_row(account_id, f[4], 5, versions=(FACE_VERSION, NEW_FACE)),  # has it already
            face_row(account_id, f[5], 6, versions=(56,))]                  # lacks the default version
    import_rows(stack, "faces", rows)
    env.reset()
    tid, task = run_task(stack, "additional_extract",
                         ae_body(account_id, "face_descriptor", {"objects_type": "faces"}, NEW_FACE))
    assert task["task_status"] == 5, errors_of(stack, tid)
    assert task["count_task_parts_all"] == 2            # 4 candidates, chunks of 2
    res = result_of(stack, tid)
    got = {e["face_id"]: e["samples"] for e in res["result"]}
    assert sorted(got) == f[:3]
    assert got[f[1]] == sorted(s["sample_id"] for s in rows[1]["samples"])
    for fid in f[:3]:
        assert sql_versions(stack, fid) == [FACE_VERSION, NEW_FACE]
    assert sql_versions(stack, f[3]) == [FACE_VERSION]
    assert sql_versions(stack, f[5]) == [56]
    # The face without samples is a task error, not a failure.
    errs = errors_of(stack, tid)
    assert any(f[3] in e["detail"] and "no face samples" in e["detail"] for e in errs), errs
    reqs = extract_requests(env)
    assert len(reqs) == 3
    assert {r["query"]["extraction_target"] for r in reqs} == {"face_descriptor"}
    assert {r["query"]["descriptor_version"] for r in reqs} == {str(NEW_FACE)}
    assert sorted(p["filename"] for r in reqs for p in r["parts"]) == sorted(
        s["sample_id"] for row in rows[:3] for s in row["samples"])
    # The stored vector is the extractor's (deterministic), L2-normalised.
    blob = stack.sql("SELECT HEX(vector) FROM descriptor WHERE owner_id = %s AND descriptor_version = %s",
                     (f[0], NEW_FACE), db="luna_objects")[0][0]
    v = struct.unpack("<512f", bytes.fromhex(blob))
    assert abs(sum(x * x for x in v) - 1) < 1e-4
    # Nothing is missing any more: a second task extracts nothing.
    tid2, task2 = run_task(stack, "additional_extract",
                           ae_body(account_id, "face_descriptor", {"objects_type": "faces"}, NEW_FACE))
    assert task2["task_status"] == 5
    assert result_of(stack, tid2)["result"] == []


def test_face_id_range_filters(stack, env, account_id):
    f = ids(5)
    import_rows(stack, "faces", [face_row(account_id, x, i) for i, x in enumerate(f)])
    filters = {"objects_type": "faces", "face_id__gte": f[1], "face_id__lt": f[4]}
    tid, task = run_task(stack, "additional_extract", ae_body(account_id, "face_descriptor", filters, NEW_FACE))
    assert sorted(e["face_id"] for e in result_of(stack, tid)["result"]) == f[1:4]


def test_other_accounts_are_untouched(stack, env, account_id):
    other = str(uuid.uuid4())
    f = ids(2)
    import_rows(stack, "faces", [face_row(account_id, f[0], 1), face_row(other, f[1], 2)])
    tid, task = run_task(stack, "additional_extract",
                         ae_body(account_id, "face_descriptor", {"objects_type": "faces"}, NEW_FACE))
    assert [e["face_id"] for e in result_of(stack, tid)["result"]] == [f[0]]
    assert sql_versions(stack, f[1]) == [FACE_VERSION]


def event_row(account, eid, seed, body=True, handler=None):
    descs = [{"type": "face", "version": FACE_VERSION, "vector_b64": vec((seed, "f"))}]
    samples = [{"sample_id": str(uuid.uuid4()), "type": "face", "image_b64": img((seed, "f"))}]
    if body:
        descs.append({"type": "body", "version": BODY_VERSION, "vector_b64": vec((seed, "b"))})
        samples.append({"sample_id": str(uuid.uuid4()), "type": "body", "image_b64": img((seed, "b"))})
    row = {"event_id": eid, "account_id": account, "descriptors": descs, "samples": samples}
    if handler:
        row["handler_id"] = handler
    return row


def test_event_body_descriptors(stack, env, account_id):
    e = ids(3)
    rows = [event_row(account_id, e[0], 1), event_row(account_id, e[1], 2), event_row(account_id, e[2], 3, body=False)]
    import_rows(stack, "events", rows)
    env.reset()
    tid, task = run_task(stack, "additional_extract",
                         ae_body(account_id, "body_descriptor", {"objects_type": "events"}, NEW_BODY))
    assert task["task_status"] == 5, errors_of(stack, tid)
    res = result_of(stack, tid)["result"]
    assert [x["event_id"] for x in res] == e[:2]
    assert res[0]["samples"] == [rows[0]["samples"][1]["sample_id"]]     # the body sample only
    assert sql_versions(stack, e[0]) == sorted([FACE_VERSION, BODY_VERSION, NEW_BODY])
    assert {r["query"]["extraction_target"] for r in extract_requests(env)} == {"body_descriptor"}


def test_event_handler_filter(stack, env, account_id):
    h1, h2 = str(uuid.uuid4()), str(uuid.uuid4())
    e = ids(2)
    import_rows(stack, "events", [event_row(account_id, e[0], 10, handler=h1), event_row(account_id, e[1], 11, handler=h2)])
    tid, task = run_task(stack, "additional_extract",
                         ae_body(account_id, "face_descriptor", {"objects_type": "events", "handler_id": h2}, NEW_FACE))
    assert [x["event_id"] for x in result_of(stack, tid)["result"]] == [e[1]]


def test_basic_attributes_of_events_and_faces(stack, env, account_id):
    e = ids(1)
    f = ids(2)
    import_rows(stack, "events", [event_row(account_id, e[0], 20)])
    import_rows(stack, "faces", [face_row(account_id, f[0], 21),
                                 face_row(account_id, f[1], 22, attrs={"age": 30, "gender": 1, "ethnicity": 2})])
    tid, task = run_task(stack, "additional_extract",
                         ae_body(account_id, "basic_attributes", {"objects_type": "events"}))
    assert [x["event_id"] for x in result_of(stack, tid)["result"]] == e
    age, gender, eth = stack.sql("SELECT age, gender, ethnic_group FROM event WHERE event_id = %s", (e[0],),
                                 db="luna_objects")[0]
    assert age is not None and gender in ("0", "1") and eth in ("1", "2", "3", "4")
    tid, task = run_task(stack, "additional_extract",
                         ae_body(account_id, "basic_attributes", {"objects_type": "faces"}))
    assert [x["face_id"] for x in result_of(stack, tid)["result"]] == [f[0]]    # f[1] has attributes
    rows = stack.sql("SELECT a.age, a.face_id FROM face f JOIN attribute a ON a.attribute_id = f.attribute_id "
                     "WHERE f.face_id = %s", (f[0],), db="luna_objects")
    assert rows and rows[0][0] is not None and rows[0][1] == f[0]


def test_bad_sample_is_a_task_error(stack, env, account_id):
    f = ids(2)
    import_rows(stack, "faces", [face_row(account_id, f[0], 30, marker=b"luna-fake:bad"), face_row(account_id, f[1], 31)])
    tid, task = run_task(stack, "additional_extract",
                         ae_body(account_id, "face_descriptor", {"objects_type": "faces"}, NEW_FACE))
    assert task["task_status"] == 5
    assert [x["face_id"] for x in result_of(stack, tid)["result"]] == [f[1]]
    assert any(f[0] in x["detail"] and "extraction failed" in x["detail"] for x in errors_of(stack, tid))


def test_missing_false_is_not_implemented(stack, env, account_id):
    r = stack.post("/2/tasks/additional_extract",
                   json=ae_body(account_id, "face_descriptor", {"objects_type": "faces"}, NEW_FACE, missing=False))
    assert_error(r, 501, 12029)


def test_bad_descriptor_version(stack, env, account_id):
    r = stack.post("/2/tasks/additional_extract",
                   json=ae_body(account_id, "face_descriptor", {"objects_type": "faces"}, 0))
    assert_error(r, 400, 12036)
