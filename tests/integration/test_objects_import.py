"""luna-tasks-admin import: faces, events and attributes land in the local
objects database as given, descriptors L2-normalised, samples in the result
store; bad lines are reported by number and their batch is not written."""
import base64
import math
import os
import pwd
import random
import shutil
import struct
import tempfile
import uuid

import pytest

import objdata as od


def vector_of(stack, owner_id, dtype=1, version=od.FACE_VERSION):
    rows = stack.sql("SELECT HEX(vector) FROM descriptor WHERE owner_id = %s AND descriptor_type = %s "
                     "AND descriptor_version = %s", (owner_id, dtype, version), db="luna_objects")
    if not rows:
        return None
    raw = bytes.fromhex(rows[0][0])
    return list(struct.unpack("<%df" % (len(raw) // 4), raw))


def test_faces_with_lists_descriptors_samples_and_attributes(stack, account_id):
    rnd = random.Random(1)
    list_id = str(uuid.uuid4())
    face_id, face2 = str(uuid.uuid4()), str(uuid.uuid4())
    sample_id = str(uuid.uuid4())
    image = b"\xff\xd8\xff fake jpeg bytes"
    img_path = os.path.join(stack.dir, "img-%s.jpg" % sample_id[:8])
    with open(img_path, "wb") as f:
        f.write(image)
    sample2 = str(uuid.uuid4())
    rows = [
        {"face_id": face_id, "account_id": account_id, "user_data": "ud", "external_id": "ext",
         "avatar": "/6/samples/x", "event_id": str(uuid.uuid4()), "create_time": "2023-01-02T03:04:05.123456+03:00",
         "lists": [list_id],
         "descriptors": [{"type": "face", "version": od.FACE_VERSION, "vector": [3.0, 4.0] + [0.0] * 6},
                         {"type": "face", "version": 60, "vector_b64": od.b64([1.0] * 4)}],
         "samples": [{"sample_id": sample_id, "type": "face", "image_b64": base64.b64encode(image).decode()},
                     {"sample_id": sample2, "image_path": os.path.basename(img_path)}],
         "basic_attributes": {"age": 30, "gender": 1, "ethnicity": 2}},
        {"face_id": face2, "account_id": account_id, "lists": [list_id]},
    ]
    p = od.import_rows(stack, "faces", rows)
    assert "2 of 2 lines loaded" in p.stdout
    got = stack.sql("SELECT account_id, user_data, external_id, avatar, create_time, attribute_id FROM face "
                    "WHERE face_id = %s", (face_id,), db="luna_objects")
    assert got[0][:5] == (account_id, "ud", "ext", "/6/samples/x", "2023-01-02 00:04:05.123456")
    attr = stack.sql("SELECT age, gender, ethnicity, face_id FROM attribute WHERE attribute_id = %s", (got[0][5],),
                     db="luna_objects")
    assert attr == [("30", "1", "2", face_id)]
    assert stack.sql("SELECT account_id FROM list WHERE list_id = %s", (list_id,), db="luna_objects") == \
        [(account_id,)]
    members = stack.sql("SELECT face_id FROM list_face WHERE list_id = %s ORDER BY face_id", (list_id,),
                        db="luna_objects")
    assert sorted(m[0] for m in members) == sorted([face_id, face2])
    v = vector_of(stack, face_id)
    assert abs(v[0] - 0.6) < 1e-6 and abs(v[1] - 0.8) < 1e-6 and len(v) == 8
    v60 = vector_of(stack, face_id, version=60)
    assert all(abs(x - 0.5) < 1e-6 for x in v60)
    with open(stack.store_path(sample_id), "rb") as f:
        assert f.read() == image
    with open(stack.store_path(sample2), "rb") as f:
        assert f.read() == image


def test_events_keep_every_field(stack, account_id):
    rnd = random.Random(2)
    ev_id, handler, face_id, top = (str(uuid.uuid4()) for _ in range(4))
    sample_id = str(uuid.uuid4())
    ev = {"event_id": ev_id, "account_id": account_id, "create_time": "2024-05-01T10:00:00+00:00",
          "end_time": "2024-05-01T10:00:05+00:00", "handler_id": handler, "external_id": "e1", "source": "cam9",
          "user_data": "u", "face_id": face_id, "track_id": "t-1", "gender": 0, "age": 44, "emotion": 3,
          "ethnic_group": 2, "mask": 2, "liveness": 1, "tags": ["a", "b"],
          "location": {"city": "c", "area": "a", "district": "d", "street": "s", "house_number": "7",
                       "geo_position": {"longitude": 10.5, "latitude": -20.25}},
          "top_match": {"label": "L", "similarity": 0.9, "face_id": top, "external_id": "te"},
          "match_result": [{"label": "L", "candidates": [{"face": {"face_id": top}, "similarity": 0.9}]},
                           {"label": "M", "candidates": [{"event": {"event_id": face_id, "external_id": "q"},
                                                          "similarity": 0.5}]}],
          "face_detections": [{"sample_id": sample_id, "image_origin": "http://127.0.0.1:9/img", "detect_ts": None,
                               "detect_time": "2024-05-01T10:00:00+00:00"}],
          "attach_result": [],
          "descriptors": [od.descriptor(od.unit([1.0] * od.DIM)),
                          od.descriptor(od.unit([1.0] * od.DIM), od.BODY_VERSION, "body")]}
    od.import_rows(stack, "events", [ev])
    row = stack.sql("SELECT account_id, create_time, end_time, handler_id, external_id, source, user_data, face_id, "
                    "track_id, gender, age, emotion, ethnic_group, mask, liveness, city, area, district, street, "
                    "house_number, longitude, latitude, top_similar_object_id, top_similar_external_id, "
                    "top_similar_object_similarity FROM event WHERE event_id = %s", (ev_id,), db="luna_objects")[0]
    assert row == (account_id, "2024-05-01 10:00:00.000000", "2024-05-01 10:00:05.000000", handler, "e1", "cam9",
                   "u", face_id, "t-1", "0", "44", "3", "2", "2", "1", "c", "a", "d", "s", "7", "10.5", "-20.25",
                   top, "te", "0.9")
    assert sorted(stack.sql("SELECT tag FROM event_tag WHERE event_id = %s", (ev_id,), db="luna_objects")) == \
        [("a",), ("b",)]
    assert sorted(stack.sql("SELECT label, object_id, similarity FROM event_match WHERE event_id = %s", (ev_id,),
                            db="luna_objects")) == [("L", top, "0.9"), ("M", face_id, "0.5")]
    assert stack.sql("SELECT sample_id, image_origin FROM sample WHERE owner_id = %s", (ev_id,),
                     db="luna_objects") == [(sample_id, "http://127.0.0.1:9/img")]
    assert vector_of(stack, ev_id, dtype=2, version=od.BODY_VERSION) is not None
    # Re-importing replaces the event and its tags.
    ev["tags"] = ["z"]
    ev["source"] = "cam10"
    od.import_rows(stack, "events", [ev])
    assert stack.sql("SELECT source FROM event WHERE event_id = %s", (ev_id,), db="luna_objects") == [("cam10",)]
    assert stack.sql("SELECT tag FROM event_tag WHERE event_id = %s", (ev_id,), db="luna_objects") == [("z",)]


def test_attributes(stack, account_id):
    attr_id, face_id = str(uuid.uuid4()), str(uuid.uuid4())
    od.import_rows(stack, "attributes", [{"attribute_id": attr_id, "account_id": account_id, "face_id": face_id,
                                          "basic_attributes": {"age": 5, "gender": 0},
                                          "descriptors": [od.descriptor(od.unit([2.0] * od.DIM))]}])
    assert stack.sql("SELECT account_id, face_id, age, gender, ethnicity FROM attribute WHERE attribute_id = %s",
                     (attr_id,), db="luna_objects") == [(account_id, face_id, "5", "0", None)]
    assert vector_of(stack, attr_id) is not None


def test_bad_lines_reject_their_batch_only(stack, account_id):
    good = [{"face_id": str(uuid.uuid4()), "account_id": account_id} for _ in range(6)]
    lines = [good[0], good[1],                                    # batch 1 (lines 1-2): good
             good[2], {"account_id": account_id, "face_id": "not-a-uuid"},   # batch 2: line 4 bad
             good[3], "{broken json",                             # batch 3: line 6 bad
             good[4], {"account_id": account_id, "color": "red"},  # batch 4: line 8 bad
             good[5], {"face_id": str(uuid.uuid4())},              # batch 5: line 10 lacks account_id
             ]
    p = od.import_rows(stack, "faces", lines, check=False, extra=("--batch", "2"))
    assert p.returncode != 0
    for n in (4, 6, 8, 10):
        assert ":%d: " % n in p.stderr, p.stderr
    # lines are checked against the import format's schema: the message names the field
    assert ":4: face_id: " in p.stderr and "'color'" in p.stderr and "'account_id'" in p.stderr, p.stderr
    assert "lines 3-4 not loaded" in p.stderr
    assert "2 of 10 lines loaded" in p.stdout
    present = {r[0] for r in stack.sql("SELECT face_id FROM face WHERE account_id = %s", (account_id,),
                                       db="luna_objects")}
    assert present == {good[0]["face_id"], good[1]["face_id"]}


def test_vector_validation(stack, account_id):
    rows = [{"account_id": account_id, "descriptors": [{"vector": [0.0, 0.0]}]},
            {"account_id": account_id, "descriptors": [{"vector_b64": "!!!"}]},
            {"account_id": account_id, "descriptors": [{"vector": [1.0], "vector_b64": "AACAPw=="}]},
            {"account_id": account_id, "descriptors": [{"type": "body", "vector": [1.0]}]}]
    p = od.import_rows(stack, "faces", rows, check=False, extra=("--batch", "1"))
    assert p.returncode != 0
    assert "zero vector" in p.stderr and "not base64" in p.stderr and "exactly one of" in p.stderr
    assert "faces hold face descriptors only" in p.stderr
    assert stack.sql("SELECT COUNT(*) FROM face WHERE account_id = %s", (account_id,), db="luna_objects") == [("0",)]


def count(stack, sql, *params):
    return int(stack.sql(sql, params, db="luna_objects")[0][0])


def test_reimport_without_ids_derives_the_same_ids(stack, account_id):
    """Faces and events without ids are named by account and external_id,
    attributes by account and face_id, samples by owner and position: a second
    import of the same file replaces, it does not duplicate. Only a line with
    nothing naming it gets a new object each time."""
    image = base64.b64encode(b"\xff\xd8\xff fake jpeg").decode()
    faces = [{"account_id": account_id, "external_id": "person-%d" % i,
              "samples": [{"image_b64": image}], "basic_attributes": {"age": 20 + i}} for i in range(5)]
    events = [{"account_id": account_id, "external_id": "ev-%d" % i} for i in range(3)]
    face_for_attr = str(uuid.uuid4())
    attrs = [{"account_id": account_id, "face_id": face_for_attr, "basic_attributes": {"age": 7}}]
    anonymous = [{"account_id": account_id, "user_data": "no id, no external_id"}]
    for _ in range(2):
        od.import_rows(stack, "faces", faces + anonymous)
        od.import_rows(stack, "events", events)
        od.import_rows(stack, "attributes", attrs)
    assert count(stack, "SELECT COUNT(*) FROM face WHERE account_id = %s AND external_id LIKE 'person-%%'",
                 account_id) == 5
    assert count(stack, "SELECT COUNT(*) FROM sample s JOIN face f ON f.face_id = s.owner_id "
                 "WHERE f.account_id = %s", account_id) == 5
    assert count(stack, "SELECT COUNT(*) FROM attribute WHERE account_id = %s AND face_id IS NOT NULL",
                 account_id) == 6
    assert count(stack, "SELECT COUNT(*) FROM event WHERE account_id = %s", account_id) == 3
    assert count(stack, "SELECT COUNT(*) FROM face WHERE account_id = %s AND external_id = ''", account_id) == 2
    # The same external_id in another account is another face.
    other = str(uuid.uuid4())
    od.import_rows(stack, "faces", [dict(faces[0], account_id=other)])
    ids = stack.sql("SELECT face_id FROM face WHERE external_id = 'person-0' AND account_id IN (%s, %s)",
                    (account_id, other), db="luna_objects")
    assert len({r[0] for r in ids}) == 2


def test_import_as_root_writes_the_store_as_its_owner(stack, account_id):
    """Run as root against a store folder owned by the service user, the
    import writes its sample images as that user, never root:root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to own a store folder by another user")
    nobody = pwd.getpwnam("nobody")
    top = tempfile.mkdtemp(prefix="luna-store-", dir="/tmp")
    os.chmod(top, 0o755)
    store = os.path.join(top, "store")
    os.mkdir(store)
    os.chown(store, nobody.pw_uid, nobody.pw_gid)
    os.chmod(store, 0o750)
    try:
        import_as_root(stack, account_id, store, nobody)
    finally:
        shutil.rmtree(top)


def import_as_root(stack, account_id, store, owner):
    conf = stack.write_config({("STORAGE", "PATH"): str(store)})
    sample_id = str(uuid.uuid4())
    path = od.write_jsonl(stack, "root-import.jsonl", [
        {"account_id": account_id, "samples": [{"sample_id": sample_id,
                                                "image_b64": base64.b64encode(b"\xff\xd8\xff").decode()}]}])
    os.chmod(path, 0o600)        # root's file: read before the switch
    p = stack.admin("import", "faces", path, config=conf)
    assert "1 samples" in p.stdout, p.stdout
    st = os.stat(os.path.join(store, sample_id))
    assert (st.st_uid, st.st_gid) == (owner.pw_uid, owner.pw_gid)


def test_list_of_another_account_refuses_its_batch_only(stack, account_id):
    """Lists are checked when their batch is written: a batch naming a list of
    another account is refused whole (the others are written, before and
    after it, while the next batch is being read), and a list named in one
    line for two accounts is a bad line."""
    other = str(uuid.uuid4())
    theirs, ours = str(uuid.uuid4()), str(uuid.uuid4())
    od.import_rows(stack, "faces", [{"account_id": other, "external_id": "o", "lists": [theirs]}])
    faces = [{"account_id": account_id, "external_id": "l-%d" % i, "lists": [ours],
              "descriptors": [od.descriptor([1.0, float(i), 0.0, 0.5])]} for i in range(8)]
    faces[3]["lists"] = [ours, theirs]                       # batch 2 (lines 3-4)
    clash = {"account_id": other, "external_id": "c", "lists": [ours]}
    lines = faces[:6] + [faces[6], clash] + faces[7:]        # batch 4 (lines 7-8): clash in the batch
    p = od.import_rows(stack, "faces", lines, check=False, extra=("--batch", "2", "--progress", "0"))
    assert p.returncode == 1
    assert "lines 3-4 not loaded: list %s belongs to another account" % theirs in p.stderr, p.stderr
    assert ":8: list %s belongs to another account" % ours in p.stderr, p.stderr
    assert "lines 7-8 not loaded (1 bad line in the batch)" in p.stderr
    assert "5 of 9 lines loaded (5 descriptors, 0 samples, 1 new lists)" in p.stdout, p.stdout
    assert "not loaded: 4 lines in 2 batches" in p.stdout
    assert " lines read, " in p.stderr                       # progress lines
    loaded = {r[0] for r in stack.sql("SELECT f.external_id FROM face f JOIN list_face l ON l.face_id = f.face_id "
                                      "WHERE l.list_id = %s", (ours,), db="luna_objects")}
    assert loaded == {"l-0", "l-1", "l-4", "l-5", "l-7"}
    assert count(stack, "SELECT COUNT(*) FROM descriptor WHERE account_id = %s", account_id) == 5
    assert count(stack, "SELECT COUNT(*) FROM list_face WHERE list_id = %s", theirs) == 1
    assert stack.sql("SELECT account_id FROM list WHERE list_id = %s", (ours,), db="luna_objects") == \
        [(account_id,)]


def test_many_batches_through_the_writer(stack, account_id):
    """Batches are written by a second thread while the next is read: every
    line of a file of many batches arrives once, with its vector, and a second
    import of the file replaces instead of duplicating."""
    rnd = random.Random(7)
    list_id = str(uuid.uuid4())
    rows = [{"account_id": account_id, "external_id": "w-%d" % i, "lists": [list_id],
             "descriptors": [od.descriptor(od.unit([rnd.gauss(0, 1) for _ in range(16)]))]} for i in range(1000)]
    for _ in range(2):
        p = od.import_rows(stack, "faces", rows, extra=("--batch", "37"))
        assert "1000 of 1000 lines loaded (1000 descriptors" in p.stdout
    assert count(stack, "SELECT COUNT(*) FROM face WHERE account_id = %s", account_id) == 1000
    assert count(stack, "SELECT COUNT(*) FROM list_face WHERE list_id = %s", list_id) == 1000
    assert count(stack, "SELECT COUNT(*) FROM descriptor WHERE account_id = %s", account_id) == 1000
    got = stack.sql("SELECT f.external_id, HEX(d.vector) FROM face f JOIN descriptor d ON d.owner_id = f.face_id "
                    "WHERE f.account_id = %s", (account_id,), db="luna_objects")
    want = {r["external_id"]: struct.unpack("<16f", base64.b64decode(r["descriptors"][0]["vector_b64"]))
            for r in rows}
    assert len(got) == 1000
    for ext, hexv in got:
        v = struct.unpack("<16f", bytes.fromhex(hexv))
        assert all(abs(a - b) < 1e-6 for a, b in zip(v, want[ext])), ext


def test_writers_keep_file_order_for_one_object(stack, account_id):
    """Batches are written by several connections at once; batches that
    write the same face are written in file order, so its last line wins."""
    ids = [str(uuid.uuid4()) for _ in range(3)]
    rows = [{"account_id": account_id, "face_id": ids[i % 3], "user_data": "v-%d" % i,
             "descriptors": [od.descriptor([1.0, float(i), 0.0, 0.5])]} for i in range(300)]
    p = od.import_rows(stack, "faces", rows, extra=("--batch", "1", "--writers", "4"))
    assert "300 of 300 lines loaded" in p.stdout
    got = dict(stack.sql("SELECT face_id, user_data FROM face WHERE account_id = %s", (account_id,),
                         db="luna_objects"))
    assert got == {ids[0]: "v-297", ids[1]: "v-298", ids[2]: "v-299"}


def test_default_batches(stack, account_id):
    """Without --batch, faces go in batches of 20000 lines and events in
    batches of 1000: a bad line refuses exactly its batch of that size."""
    faces = [{"face_id": str(uuid.uuid4()), "account_id": account_id} for _ in range(20001)]
    faces[19999] = {"account_id": account_id, "face_id": "not-a-uuid"}
    p = od.import_rows(stack, "faces", faces, check=False)
    assert p.returncode != 0
    assert "1 of 20001 lines loaded" in p.stdout, p.stdout
    assert "lines 1-20000 not loaded" in p.stderr, p.stderr
    assert count(stack, "SELECT COUNT(*) FROM face WHERE account_id = %s", account_id) == 1
    events = [{"event_id": str(uuid.uuid4()), "account_id": account_id} for _ in range(1001)]
    events[999] = {"account_id": account_id, "event_id": "not-a-uuid"}
    p = od.import_rows(stack, "events", events, check=False)
    assert "1 of 1001 lines loaded" in p.stdout, p.stdout
    assert "lines 1-1000 not loaded" in p.stderr, p.stderr
    assert count(stack, "SELECT COUNT(*) FROM event WHERE account_id = %s", account_id) == 1


def test_vectors_of_both_forms_across_batches(stack, account_id):
    """The importer lets go of a line's vector text once it has the floats:
    faces given as "vector" and as "vector_b64", several batches at once,
    keep their values."""
    rnd = random.Random(11)
    rows = []
    for i in range(40):
        v = od.unit([rnd.gauss(0, 1) for _ in range(8)])
        d = od.descriptor(v, as_b64=bool(i % 2))
        rows.append({"face_id": str(uuid.uuid4()), "account_id": account_id, "descriptors": [d], "_v": v})
    od.import_rows(stack, "faces", [{k: r[k] for k in r if k != "_v"} for r in rows], extra=("--batch", "3"))
    for r in rows:
        got = vector_of(stack, r["face_id"])
        assert got is not None and all(abs(a - b) < 1e-6 for a, b in zip(got, r["_v"])), r["face_id"]
