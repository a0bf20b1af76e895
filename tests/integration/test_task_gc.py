"""GC tasks: face descriptors of a version, event descriptors of a version and
type, and events by filters (with their samples) are removed; the result
lists what was removed; store_results = false keeps only the errors."""
import base64
import os
import random
import uuid

import objdata as od


def run(stack, account_id, content):
    tid, t = od.run_task(stack, "gc", {"account_id": account_id, "content": content})
    assert t["task_status"] == 5, t
    return stack.get("/2/tasks/%d/result" % tid).json()


def versions(stack, owner_id):
    return sorted(stack.sql("SELECT descriptor_type, descriptor_version FROM descriptor WHERE owner_id = %s",
                            (owner_id,), db="luna_objects"))


def test_face_descriptors_of_a_version(stack, account_id):
    rnd = random.Random(51)
    faces = []
    for i in range(5):
        v = od.unit([rnd.gauss(0, 1) for _ in range(od.DIM)])
        d = [od.descriptor(v, 61)] + ([od.descriptor(v, 62)] if i % 2 else [])
        faces.append({"face_id": od.new_id(rnd), "account_id": account_id, "descriptors": d})
    attr = {"attribute_id": od.new_id(rnd), "account_id": account_id, "face_id": faces[0]["face_id"],
            "descriptors": [od.descriptor(od.unit([1.0] * od.DIM), 62)]}
    od.import_rows(stack, "faces", faces)
    od.import_rows(stack, "attributes", [attr])
    doc = run(stack, account_id, {"target": "face_descriptors", "filters": {"descriptor_version": 62}})
    want = {f["face_id"] for i, f in enumerate(faces) if i % 2} | {faces[0]["face_id"]}
    assert sorted(doc["result"]) == sorted(want) and doc["errors"] == []
    for f in faces:
        assert versions(stack, f["face_id"]) == [("1", "61")]
    assert versions(stack, attr["attribute_id"]) == []


def test_event_descriptors_of_a_version_and_type(stack, account_id):
    rnd = random.Random(52)
    v = od.unit([1.0] * od.DIM)
    events = [{"event_id": od.new_id(rnd), "account_id": account_id,
               "descriptors": [od.descriptor(v), od.descriptor(v, od.BODY_VERSION, "body")]} for _ in range(4)]
    od.import_rows(stack, "events", events)
    doc = run(stack, account_id, {"target": "event_descriptors",
                                  "filters": {"descriptor_version": od.BODY_VERSION, "descriptor_type": "body"},
                                  "store_results": False})
    assert "result" not in doc and doc["errors"] == []
    for e in events:
        assert versions(stack, e["event_id"]) == [("1", str(od.FACE_VERSION))]


def test_events_with_samples(stack, account_id):
    rnd = random.Random(53)
    handler = str(uuid.uuid4())
    events = []
    for i in range(8):
        sid, origin = od.new_id(rnd), od.new_id(rnd)
        events.append({"event_id": od.new_id(rnd), "account_id": account_id,
                       "handler_id": handler if i % 2 else str(uuid.uuid4()),
                       "create_time": od.iso(1700000000 + i * 100), "tags": ["t"],
                       "face_detections": [{"sample_id": sid, "image_origin": "/6/images/%s" % origin}],
                       "samples": [{"sample_id": sid, "image_b64": base64.b64encode(b"img").decode()}],
                       "descriptors": [od.descriptor(od.unit([1.0] * od.DIM))], "_origin": origin, "_sample": sid})
    od.import_rows(stack, "events", od.strip(events))
    for e in events:
        stack.put_blob(e["_origin"], b"origin image")
    doc = run(stack, account_id, {"target": "events", "remove_samples": True, "remove_image_origins": True,
                                  "filters": {"handler_id": handler, "create_time__lt": od.iso(1700000000 + 600)}})
    gone = [e for i, e in enumerate(events) if i % 2 and i < 6]
    assert sorted(r["event_id"] for r in doc["result"]) == sorted(e["event_id"] for e in gone)
    for r in doc["result"]:
        e = next(x for x in gone if x["event_id"] == r["event_id"])
        assert r["samples"] == [e["_sample"]]
        assert r["image_origins"] == ["/6/images/%s" % e["_origin"]]
    for e in events:
        removed = e in gone
        assert (stack.sql("SELECT COUNT(*) FROM event WHERE event_id = %s", (e["event_id"],),
                          db="luna_objects") == [("0",)]) == removed
        assert os.path.exists(stack.store_path(e["_sample"])) != removed
        assert os.path.exists(stack.store_path(e["_origin"])) != removed
        if removed:
            for table, col in (("descriptor", "owner_id"), ("event_tag", "event_id"), ("sample", "owner_id")):
                assert stack.sql("SELECT COUNT(*) FROM %s WHERE %s = %%s" % (table, col), (e["event_id"],),
                                 db="luna_objects") == [("0",)]


def test_events_by_insert_time_and_nothing_to_do(stack, account_id):
    rnd = random.Random(54)
    events = [{"event_id": od.new_id(rnd), "account_id": account_id, "insert_time": od.iso(1600000000 + i * 10)}
              for i in range(4)]
    od.import_rows(stack, "events", events)
    doc = run(stack, account_id, {"target": "events", "filters": {"insert_time__lt": od.iso(1600000000 + 25)}})
    assert sorted(r["event_id"] for r in doc["result"]) == sorted(e["event_id"] for e in events[:3])
    doc = run(stack, account_id, {"target": "events", "filters": {"insert_time__lt": od.iso(1500000000)}})
    assert doc["result"] == []
