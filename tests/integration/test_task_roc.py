"""ROC tasks against a reference computed on the same pairs in Python: the
AUC within 1e-6, the curve's end points, the equal-error and key points, and
the top-N hit probabilities; unknown markup ids become task errors."""
import random
import uuid

import objdata as od


def run(stack, account_id, content):
    return od.run_task(stack, "roc", {"account_id": account_id, "content": content})


def test_auc_points_and_hit_top(stack, account_id):
    rnd = random.Random(31)
    centres = od.people(rnd, 12)
    faces = od.make_faces(rnd, account_id, centres, 4)
    # Noisier faces so that positives and negatives overlap a little.
    for f in faces[::3]:
        f["_vec"] = od.sample(rnd, centres[(f["_person"] + 1) % 12], noise=1.5)
        f["descriptors"] = [od.descriptor(f["_vec"])]
    attrs = [{"attribute_id": od.new_id(rnd), "account_id": account_id, "_person": i % 12,
              "_vec": od.sample(rnd, centres[i % 12])} for i in range(6)]
    for a in attrs:
        a["descriptors"] = [od.descriptor(a["_vec"])]
    od.import_rows(stack, "faces", od.strip(faces))
    od.import_rows(stack, "attributes", od.strip(attrs))
    markup = [{"face_id": f["face_id"], "label": f["_person"]} for f in faces] + \
             [{"attribute_id": a["attribute_id"], "label": a["_person"]} for a in attrs]
    vecs = [f["_vec"] for f in faces] + [a["_vec"] for a in attrs]
    labels = [m["label"] for m in markup]
    missing = str(uuid.uuid4())
    markup.append({"face_id": missing, "label": 3})
    tid, t = run(stack, account_id, {"markup": markup, "filters": {"account_id": account_id},
                                     "key_FPRs": [0.0, 0.01, 0.1, 0.5], "threshold_hit_top": 0.3, "limit": 4})
    assert t["task_status"] == 5, t
    doc = od.task_result(stack, tid, account_id)
    errs = doc["errors"]
    assert len(errs) == 1 and errs[0]["error_code"] == 28100 and missing in errs[0]["detail"]
    res = doc["result"]
    points, auc, npos, nneg = od.roc(vecs, labels)
    assert abs(res["auc"] - auc) < 1e-6, (res["auc"], auc)
    last = res["roc"][-1]
    assert abs(last["FPR"] - 1) < 1e-12 and abs(last["TPR"] - 1) < 1e-12
    fprs = [p["FPR"] for p in res["roc"]]
    assert fprs == sorted(fprs)
    # Equal-error point: the reference point closest to 1 - TPR = FPR.
    best = min(points, key=lambda p: abs(p[0] - (1 - p[1])))
    eer = res["type_I_and_II_error_rates_equal_point"]
    assert abs(abs(eer["FPR"] - (1 - eer["TPR"])) - abs(best[0] - (1 - best[1]))) < 1e-9
    for key, kp in zip([0.0, 0.01, 0.1, 0.5], res["key_points"]):
        ok = [p for p in points if p[0] <= key]
        want = ok[-1] if ok else (0.0, 0.0, 1.0)
        assert abs(kp["FPR"] - want[0]) < 1e-9 and abs(kp["TPR"] - want[1]) < 1e-9, (key, kp, want)
    hits = od.hit_top(vecs, labels, 4, 0.3)
    for n in range(1, 6):
        assert abs(res["hit_top_probability"]["top-%d" % n] - hits["top-%d" % n]) < 1e-9
    # The same curve as a picture (extension): one polyline point per point of the result.
    r = od.task_result(stack, tid, account_id, accept="image/svg+xml")
    assert r.status == 200 and r.content_type == "image/svg+xml", r
    pairs, circles = od.svg_points(r.text)
    od.assert_curve_matches(pairs, res["roc"])
    assert len(circles["eer"]) == 1 and len(circles["key-point"]) == len(res["key_points"])


def test_all_unknown_fails(stack, account_id):
    tid, t = run(stack, account_id, {"markup": [{"face_id": str(uuid.uuid4()), "label": 1},
                                                {"face_id": str(uuid.uuid4()), "label": 1}], "filters": {}})
    assert t["task_status"] == 3
    codes = {e["error_code"] for e in stack.get("/2/tasks/%d/errors" % tid).json()["errors"]}
    assert 28100 in codes


def test_repeated_and_missing_items_keep_markup_order(stack, account_id):
    """Descriptors are placed at their items' rows as they are read: an item
    missing in the middle drops out, one named twice counts twice, the rest
    keep the markup's order."""
    rnd = random.Random(37)
    centres = od.people(rnd, 5)
    faces = od.make_faces(rnd, account_id, centres, 4)
    od.import_rows(stack, "faces", od.strip(faces))
    missing = str(uuid.uuid4())
    chosen = faces[3:] + faces[:3] + [faces[5]]
    markup = [{"face_id": f["face_id"], "label": f["_person"]} for f in chosen]
    markup.insert(4, {"face_id": missing, "label": 1})
    tid, t = run(stack, account_id, {"markup": markup, "filters": {"account_id": account_id},
                                     "threshold_hit_top": 0.2, "limit": 3})
    assert t["task_status"] == 5, t
    doc = od.task_result(stack, tid, account_id)
    assert [missing in e["detail"] for e in doc["errors"]] == [True]
    vecs, labels = [f["_vec"] for f in chosen], [f["_person"] for f in chosen]
    _, auc, _, _ = od.roc(vecs, labels)
    assert abs(doc["result"]["auc"] - auc) < 1e-6, (doc["result"]["auc"], auc)
    hits = od.hit_top(vecs, labels, 3, 0.2)
    for n in range(1, 6):
        assert abs(doc["result"]["hit_top_probability"]["top-%d" % n] - hits["top-%d" % n]) < 1e-9


def test_long_markup_lands_in_markup_rows(stack, account_id):
    """A markup of more than two thousand ids (read in several statements,
    on more than one connection, into the binned curve): with people far
    apart, the curve is perfect, AUC 1 and every top-1 a hit, only if every
    descriptor landed in its own item's row; a repeated item and missing ids
    anywhere in the id order change nothing else."""
    rnd = random.Random(41)
    centres = od.people(rnd, 300)
    faces = od.make_faces(rnd, account_id, centres, 7)
    od.import_rows(stack, "faces", od.strip(faces))
    rnd.shuffle(faces)
    markup = [{"face_id": f["face_id"], "label": f["_person"]} for f in faces]
    markup.append(dict(markup[0]))
    missing = sorted(str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(3))
    for k, m in enumerate(missing):
        markup.insert(500 * (k + 1), {"face_id": m, "label": 0})
    tid, t = run(stack, account_id, {"markup": markup, "filters": {"account_id": account_id}, "limit": 3})
    assert t["task_status"] == 5, t
    doc = od.task_result(stack, tid, account_id)
    assert sorted(m for m in missing for e in doc["errors"] if m in e["detail"]) == missing
    assert len(doc["errors"]) == len(missing)
    res = doc["result"]
    assert abs(res["auc"] - 1) < 1e-9, res["auc"]
    assert res["roc"][0]["FPR"] == 0 and res["roc"][-1]["TPR"] == 1
    assert all(res["hit_top_probability"]["top-%d" % n] == 1 for n in range(1, 6)), res["hit_top_probability"]
