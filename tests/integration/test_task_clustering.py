"""Clustering tasks against a brute-force reference: clusters are the
connected components of pairs with similarity strictly above the threshold
(and of equal track ids with use_track_info), compared as sets."""
import random

import objdata as od


def run(stack, account_id, content):
    return od.run_task(stack, "clustering", {"account_id": account_id, "content": content})


def result(stack, tid, account_id):
    doc = od.task_result(stack, tid, account_id)
    assert doc["errors"] == []
    return doc["result"]


def as_sets(clusters):
    return sorted((frozenset(c) for c in clusters), key=lambda g: sorted(g))


def test_faces_clusters_equal_brute_force(stack, account_id):
    rnd = random.Random(11)
    centres = od.people(rnd, 9)
    faces = od.make_faces(rnd, account_id, centres, 5)
    # A few faces without a descriptor are skipped.
    bare = [{"face_id": od.new_id(rnd), "account_id": account_id} for _ in range(3)]
    od.import_rows(stack, "faces", od.strip(faces) + bare)
    for threshold in (0.5, 0.9, 0.0):
        tid, t = run(stack, account_id, {"objects_type": "faces", "threshold": threshold,
                                         "filters": {"account_id": account_id}})
        assert t["task_status"] == 5, t
        res = result(stack, tid, account_id)
        want = od.clusters([f["face_id"] for f in faces], [f["_vec"] for f in faces], threshold)
        assert as_sets(res["clusters"]) == want
        assert res["total_objects"] == len(faces)
        assert res["total_clusters"] == len(want)
        sizes = [len(c) for c in res["clusters"]]
        assert sizes == sorted(sizes, reverse=True)


def cluster_first_faces(stack, account_id, seed, npeople, per_person, limit):
    """Clusters (threshold 0.8) the first limit of npeople x per_person new
    faces: (those faces, the result)."""
    rnd = random.Random(seed)
    faces = od.make_faces(rnd, account_id, od.people(rnd, npeople), per_person)
    od.import_rows(stack, "faces", od.strip(faces))
    tid, t = run(stack, account_id, {"objects_type": "faces", "threshold": 0.8, "limit": limit,
                                     "filters": {"account_id": account_id}})
    assert t["task_status"] == 5, t
    res = result(stack, tid, account_id)
    assert res["total_objects"] == limit
    return sorted(faces, key=lambda f: f["face_id"])[:limit], res


def test_limit_takes_the_first_ids(stack, account_id):
    first, res = cluster_first_faces(stack, account_id, 12, 4, 5, 7)
    assert as_sets(res["clusters"]) == od.clusters([f["face_id"] for f in first], [f["_vec"] for f in first], 0.8)


def test_more_objects_than_one_read_block(stack, account_id):
    """2,500 faces (the descriptors are read 2,048 rows at a time), limit
    2,300: the first 2,300 ids, across the blocks (the first block is matched
    while the rest is read, then the rest against all), in well separated people
    (samples of one person ~0.94 similar, of two people below 0.7), so the
    clusters are the people."""
    first, res = cluster_first_faces(stack, account_id, 13, 250, 10, 2300)
    people = {}
    for f in first:
        people.setdefault(f["_person"], set()).add(f["face_id"])
    assert as_sets(res["clusters"]) == as_sets(people.values())
    for c in res["clusters"]:
        assert c == sorted(c)


def test_events_body_descriptors_and_track_info(stack, account_id):
    rnd = random.Random(13)
    centres = od.people(rnd, 6)
    events = []
    for i in range(30):
        p = i % 6
        v, body = od.sample(rnd, centres[p]), od.sample(rnd, centres[(p + 1) % 6])
        events.append({"event_id": od.new_id(rnd), "account_id": account_id, "track_id": "tr%d" % (i % 4),
                       "descriptors": [od.descriptor(v), od.descriptor(body, od.BODY_VERSION, "body")],
                       "_vec": v, "_body": body})
    od.import_rows(stack, "events", od.strip(events))
    ids = [e["event_id"] for e in events]
    # Face descriptors, without and with track joins.
    tid, t = run(stack, account_id, {"objects_type": "events", "threshold": 0.8,
                                     "filters": {"account_id": account_id}})
    faces = [e["_vec"] for e in events]
    assert as_sets(result(stack, tid, account_id)["clusters"]) == od.clusters(ids, faces, 0.8)
    tid, t = run(stack, account_id, {"objects_type": "events", "threshold": 0.8, "params": {"use_track_info": 1},
                                     "filters": {"account_id": account_id}})
    edges = [(i, j) for i in range(30) for j in range(i + 1, 30) if events[i]["track_id"] == events[j]["track_id"]]
    assert as_sets(result(stack, tid, account_id)["clusters"]) == od.clusters(ids, faces, 0.8, edges)
    # Body descriptors of their own version.
    tid, t = run(stack, account_id, {"objects_type": "events", "threshold": 0.8, "descriptor": {"type": "body"},
                                     "filters": {"account_id": account_id}})
    bodies = [e["_body"] for e in events]
    assert as_sets(result(stack, tid, account_id)["clusters"]) == od.clusters(ids, bodies, 0.8)


def test_empty_set_fails_with_28010(stack, account_id):
    tid, t = run(stack, account_id, {"objects_type": "faces", "filters": {"account_id": account_id}})
    assert t["task_status"] == 3, t
    errs = stack.get("/2/tasks/%d/errors" % tid).json()["errors"]
    assert [e["error_code"] for e in errs] == [28010]
