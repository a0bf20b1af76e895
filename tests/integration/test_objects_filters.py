"""Every faces / events / attributes filter of the spec against the local
objects database. The selection is observed through clustering tasks with
threshold 1 (no pair is strictly more similar, so every selected object is a
cluster of its own) and compared with the same filter applied in Python."""
import random
import uuid

import pytest

import objdata as od

ACCOUNT = str(uuid.UUID(int=random.Random(77).getrandbits(128), version=4))
OTHER_ACCOUNT = str(uuid.uuid4())


def _events(rnd):
    handlers = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(3)]
    top_objects = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(4)]
    out = []
    for i in range(24):
        v = od.unit([rnd.gauss(0, 1) for _ in range(od.DIM)])
        e = {"event_id": od.new_id(rnd), "account_id": ACCOUNT, "create_time": od.iso(1700000000 + i * 100),
             "end_time": od.iso(1700000000 + i * 100 + (i % 5) * 30), "handler_id": handlers[i % 3],
             "external_id": "ext%d" % (i % 6), "source": "cam%d" % (i % 4), "user_data": "ud%d" % (i % 3),
             "face_id": od.new_id(rnd), "track_id": "trk%d" % (i % 5), "gender": i % 2, "age": 10 + i * 3,
             "emotion": 1 + i % 7, "ethnic_group": 1 + i % 4, "mask": 1 + i % 3, "liveness": i % 3,
             "tags": [["a"], ["a", "b"], ["b", "c"], []][i % 4],
             "location": {"city": "city%d" % (i % 3), "area": "area%d" % (i % 4), "district": "d%d" % (i % 5),
                          "street": "s%d" % (i % 2), "house_number": str(i % 6),
                          "geo_position": {"longitude": 30.0 + i * 0.01, "latitude": 50.0 + (i % 6) * 0.01}},
             "top_match": {"label": "lab%d" % (i % 2), "similarity": round(0.5 + i * 0.02, 3),
                           "face_id": top_objects[i % 4], "external_id": "top%d" % (i % 4)},
             "match_result": [{"label": "lab%d" % (i % 2), "candidates": [
                 {"face": {"face_id": top_objects[i % 4], "external_id": "top%d" % (i % 4)},
                  "similarity": round(0.5 + i * 0.02, 3)}]}],
             "descriptors": [od.descriptor(v)]}
        out.append(e)
    # One event of another account (never selected by this account's filters).
    other = dict(out[0], event_id=od.new_id(rnd), account_id=OTHER_ACCOUNT)
    return out, other, handlers, top_objects


def _faces(rnd, list_id):
    out = []
    for i in range(12):
        v = od.unit([rnd.gauss(0, 1) for _ in range(od.DIM)])
        f = {"face_id": od.new_id(rnd), "account_id": ACCOUNT, "user_data": "fu%d" % (i % 3),
             "external_id": "fx%d" % (i % 4), "create_time": od.iso(1710000000 + i * 60),
             "lists": [list_id] if i % 3 == 0 else [], "descriptors": [od.descriptor(v)]}
        out.append(f)
    return out


@pytest.fixture(scope="module")
def data(stack):
    rnd = random.Random(5)
    list_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    events, other, handlers, tops = _events(rnd)
    faces = _faces(rnd, list_id)
    od.import_rows(stack, "events", events + [other])
    od.import_rows(stack, "faces", faces)
    return {"events": events, "faces": faces, "handlers": handlers, "tops": tops, "list_id": list_id}


def _selected_many(stack, kind, filter_list):
    """Creates one threshold-1 clustering task per filter, then reads each selection."""
    ids = []
    for flt in filter_list:
        body = {"account_id": ACCOUNT, "content": {"objects_type": kind, "threshold": 1,
                                                   "filters": dict(flt, account_id=ACCOUNT)}}
        r = stack.post("/2/tasks/clustering", json=body)
        assert r.status == 202, (flt, r.text)
        ids.append(r.json()["task_id"])
    out = []
    for tid, flt in zip(ids, filter_list):
        t = stack.wait_task(tid)
        if t["task_status"] == 3:
            errs = stack.get("/2/tasks/%d/errors" % tid).json()["errors"]
            assert [e["error_code"] for e in errs] == [28010], (flt, errs)
            out.append(set())
            continue
        assert t["task_status"] == 5, (flt, t)
        res = stack.get("/2/tasks/%d/result" % tid).json()["result"]
        assert all(len(c) == 1 for c in res["clusters"])
        out.append({c[0] for c in res["clusters"]})
    return out


def _ts(s):
    import datetime
    return datetime.datetime.fromisoformat(s).timestamp()


def event_cases(d):
    ev = d["events"]
    ids = sorted(e["event_id"] for e in ev)
    t = [e["create_time"] for e in ev]
    return [
        ({}, lambda e: True),
        ({"create_time__gte": t[5]}, lambda e: _ts(e["create_time"]) >= _ts(t[5])),
        ({"create_time__lt": t[5]}, lambda e: _ts(e["create_time"]) < _ts(t[5])),
        ({"end_time__gte": ev[7]["end_time"]}, lambda e: _ts(e["end_time"]) >= _ts(ev[7]["end_time"])),
        ({"end_time__lt": ev[7]["end_time"]}, lambda e: _ts(e["end_time"]) < _ts(ev[7]["end_time"])),
        ({"sources": ["cam1", "cam3"]}, lambda e: e["source"] in ("cam1", "cam3")),
        ({"event_ids": ids[:3]}, lambda e: e["event_id"] in ids[:3]),
        ({"event_id__gte": ids[10]}, lambda e: e["event_id"] >= ids[10]),
        ({"event_id__lt": ids[10]}, lambda e: e["event_id"] < ids[10]),
        ({"external_ids": ["ext1", "ext2"]}, lambda e: e["external_id"] in ("ext1", "ext2")),
        ({"handler_ids": d["handlers"][:2]}, lambda e: e["handler_id"] in d["handlers"][:2]),
        ({"top_matching_candidates_label": "lab1"}, lambda e: e["top_match"]["label"] == "lab1"),
        ({"top_similar_object_ids": d["tops"][:1]}, lambda e: e["top_match"]["face_id"] == d["tops"][0]),
        ({"top_similar_external_ids": ["top2", "top3"]},
         lambda e: e["top_match"]["external_id"] in ("top2", "top3")),
        ({"top_similar_object_similarity__gte": 0.7}, lambda e: e["top_match"]["similarity"] >= 0.7),
        ({"top_similar_object_similarity__lt": 0.7}, lambda e: e["top_match"]["similarity"] < 0.7),
        ({"top_matching_candidates_label": "lab0", "top_similar_object_similarity__gte": 0.8,
          "top_similar_object_ids": d["tops"][:2]},
         lambda e: e["top_match"]["label"] == "lab0" and e["top_match"]["similarity"] >= 0.8
         and e["top_match"]["face_id"] in d["tops"][:2]),
        ({"top_matching_candidates_label": "lab1", "top_similar_external_ids": ["top1"]},
         lambda e: e["top_match"]["label"] == "lab1" and e["top_match"]["external_id"] == "top1"),
        ({"age__gte": 40}, lambda e: e["age"] >= 40),
        ({"age__lt": 40}, lambda e: e["age"] < 40),
        ({"gender": 1}, lambda e: e["gender"] == 1),
        ({"emotions": [1, 7]}, lambda e: e["emotion"] in (1, 7)),
        ({"ethnic_groups": [2]}, lambda e: e["ethnic_group"] == 2),
        ({"face_ids": [ev[3]["face_id"], ev[4]["face_id"]]}, lambda e: e in (ev[3], ev[4])),
        ({"user_data": "ud2"}, lambda e: e["user_data"] == "ud2"),
        ({"tags": ["a"]}, lambda e: "a" in e["tags"]),
        ({"tags": ["a", "b"]}, lambda e: {"a", "b"} <= set(e["tags"])),
        ({"cities": ["city0"]}, lambda e: e["location"]["city"] == "city0"),
        ({"areas": ["area1", "area2"]}, lambda e: e["location"]["area"] in ("area1", "area2")),
        ({"districts": ["d4"]}, lambda e: e["location"]["district"] == "d4"),
        ({"streets": ["s1"]}, lambda e: e["location"]["street"] == "s1"),
        ({"house_numbers": ["0", "5"]}, lambda e: e["location"]["house_number"] in ("0", "5")),
        ({"geo_position": {"origin_longitude": 30.05, "origin_latitude": 50.02, "longitude_delta": 0.035,
                           "latitude_delta": 0.025}},
         lambda e: abs(e["location"]["geo_position"]["longitude"] - 30.05) < 0.035
         and abs(e["location"]["geo_position"]["latitude"] - 50.02) < 0.025),
        ({"masks": [3]}, lambda e: e["mask"] == 3),
        ({"track_ids": ["trk0", "trk4"]}, lambda e: e["track_id"] in ("trk0", "trk4")),
        ({"liveness": [0, 2]}, lambda e: e["liveness"] in (0, 2)),
        ({"sources": []}, lambda e: False),
        ({"sources": ["cam0"], "gender": 0, "age__gte": 20}, lambda e: e["source"] == "cam0" and e["gender"] == 0
         and e["age"] >= 20),
    ]


def face_cases(d):
    fs = d["faces"]
    ids = sorted(f["face_id"] for f in fs)
    return [
        ({}, lambda f: True),
        ({"face_ids": ids[:4]}, lambda f: f["face_id"] in ids[:4]),
        ({"external_ids": ["fx1"]}, lambda f: f["external_id"] == "fx1"),
        ({"user_data": "fu2"}, lambda f: f["user_data"] == "fu2"),
        ({"create_time__gte": fs[4]["create_time"]}, lambda f: _ts(f["create_time"]) >= _ts(fs[4]["create_time"])),
        ({"create_time__lt": fs[4]["create_time"]}, lambda f: _ts(f["create_time"]) < _ts(fs[4]["create_time"])),
        ({"face_id__gte": ids[6]}, lambda f: f["face_id"] >= ids[6]),
        ({"face_id__lt": ids[6]}, lambda f: f["face_id"] < ids[6]),
        ({"list_id": d["list_id"]}, lambda f: d["list_id"] in f["lists"]),
        ({"list_id": str(uuid.uuid4())}, lambda f: False),
    ]


def test_every_event_filter(stack, data):
    cases = event_cases(data)
    got = _selected_many(stack, "events", [c[0] for c in cases])
    for (flt, pred), sel in zip(cases, got):
        want = {e["event_id"] for e in data["events"] if pred(e)}
        assert sel == want, flt


def test_every_face_filter(stack, data):
    cases = face_cases(data)
    got = _selected_many(stack, "faces", [c[0] for c in cases])
    for (flt, pred), sel in zip(cases, got):
        want = {f["face_id"] for f in data["faces"] if pred(f)}
        assert sel == want, flt


def test_attribute_ids_filter(stack, data, account_id):
    rnd = random.Random(9)
    attrs = [{"attribute_id": od.new_id(rnd), "account_id": account_id,
              "descriptors": [od.descriptor(od.unit([rnd.gauss(0, 1) for _ in range(od.DIM)]))]} for _ in range(5)]
    od.import_rows(stack, "attributes", attrs)
    chosen = [a["attribute_id"] for a in attrs[:3]]
    body = {"account_id": account_id, "content": {"filters": {
        "reference_type": "attributes", "candidate_type": "attributes",
        "reference_filters": {"attribute_ids": chosen}, "candidate_filters": {"attribute_ids": chosen}},
        "threshold": 0, "limit": 10}}
    r = stack.post("/2/tasks/cross_match", json=body)
    assert r.status == 202, r.text
    tid = r.json()["task_id"]
    assert stack.wait_task(tid)["task_status"] == 5
    res = stack.get("/2/tasks/%d/result" % tid).json()["result"]
    assert {m["reference_id"] for m in res} == set(chosen)
    for m in res:
        assert {c["candidate_id"] for c in m["candidates"]} <= set(chosen)


def test_other_accounts_objects_are_not_seen(stack, data):
    got = _selected_many(stack, "events", [{"event_ids": [data["events"][0]["event_id"]]}])
    assert got == [{data["events"][0]["event_id"]}]


def test_unknown_filter_is_refused(stack, data):
    body = {"account_id": ACCOUNT, "content": {"filters": {
        "reference_type": "faces", "candidate_type": "faces",
        "reference_filters": {"sources": ["cam1"]}, "candidate_filters": {}}}}
    r = stack.post("/2/tasks/cross_match", json=body)
    assert r.status == 400 and r.json()["error_code"] == 12022, r.text
