"""Objects for the objects-database and task tests: generation, import through
`luna-tasks-admin import`, and the brute-force references the tests compare
the service's results with (similarity in double precision, union-find
clusters, per-reference top-k, ROC by walking every pair).

Descriptors are drawn around one random centre per person, so samples of a
person are about 0.94 similar and different people about 0: thresholds in
the tests fall far from every pair's similarity.
"""
import base64
import json
import math
import os
import random
import re
import struct
import uuid
import xml.etree.ElementTree as ET

DIM = 64
FACE_VERSION = 59      # the stack's [TASKS] DEFAULT_FACE_DESCRIPTOR_VERSION
BODY_VERSION = 110     # DEFAULT_BODY_DESCRIPTOR_VERSION


def new_id(rnd):
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def to_f32(v):
    """Rounds to float32, as the database stores it."""
    return list(struct.unpack("<%df" % len(v), struct.pack("<%df" % len(v), *v)))


def b64(v):
    return base64.b64encode(struct.pack("<%df" % len(v), *v)).decode("ascii")


def people(rnd, n, dim=DIM):
    return [unit([rnd.gauss(0, 1) for _ in range(dim)]) for _ in range(n)]


def sample(rnd, centre, noise=0.25):
    return unit(to_f32(unit([c + rnd.gauss(0, noise / math.sqrt(len(centre))) for c in centre])))


def sim(a, b):
    return min(1.0, max(0.0, sum(x * y for x, y in zip(a, b))))


def iso(ts):
    import datetime
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def descriptor(v, version=FACE_VERSION, kind="face", as_b64=True):
    d = {"type": kind, "version": version}
    if as_b64:
        d["vector_b64"] = b64(v)
    else:
        d["vector"] = v
    return d


def write_jsonl(stack, name, rows):
    path = os.path.join(stack.dir, name)
    with open(path, "w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def import_rows(stack, kind, rows, name=None, check=True, extra=()):
    path = write_jsonl(stack, name or "%s-%s.jsonl" % (kind, uuid.uuid4().hex[:8]), rows)
    return stack.admin("import", kind, path, *extra, check=check)


def run_task(stack, name, body, timeout=120, statuses=(2, 3, 5)):
    """Creates a task of type name and waits until it is in one of statuses:
    (task_id, task)."""
    r = stack.post("/2/tasks/" + name, json=body)
    assert r.status == 202, (r.status, r.body)
    tid = r.json()["task_id"]
    return tid, stack.wait_task(tid, statuses=statuses, timeout=timeout)


def task_result(stack, tid, account_id, accept=None):
    """GET /2/tasks/{tid}/result (200 asserted): the JSON document, or the
    response's text for another accept. Its result goes through
    same_under_both_kernels."""
    r = stack.get("/2/tasks/%d/result" % tid, headers={"Accept": accept} if accept else None)
    assert r.status == 200, r
    if accept:
        same_under_both_kernels(r.text, account_id)
        return r
    doc = r.json()
    same_under_both_kernels(json.dumps(doc.get("result"), sort_keys=True), account_id)
    return doc


_results_seen = {}


def same_under_both_kernels(text, account_id):
    """The matching tasks' results must be the same bits with the int8 and the
    fp32 product (every reported similarity is recomputed exactly, so results
    are byte-identical whichever proposes the candidates). ./dev test runs the
    integration tests once with the scheduler's MATCH_KERNEL auto and
    LUNA_RESULTS_MODE=record, then the matching tests once more with fp32 and
    LUNA_RESULTS_MODE=compare: each result (floats by repr, which tells every
    bit apart) is kept under LUNA_RESULTS_DIR by test and order, then compared.
    The test's account (a fresh uuid per run) is masked."""
    mode, where = os.environ.get("LUNA_RESULTS_MODE"), os.environ.get("LUNA_RESULTS_DIR")
    if mode not in ("record", "compare") or not where:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split(" ")[0]
    n = _results_seen.get(test, 0)
    _results_seen[test] = n + 1
    path = os.path.join(where, re.sub(r"[^A-Za-z0-9_.-]", "_", test) + "-%d" % n)
    text = text.replace(account_id, "<account>")
    if mode == "record":
        os.makedirs(where, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return
    assert os.path.exists(path), "no result of the first run to compare with: " + path
    with open(path) as f:
        first = f.read()
    assert text == first, "the result differs from the first run's (%s): %s" % (path, text[:300])


def make_faces(rnd, account, centres, per_person, start_ts=1700000000, **extra):
    """Faces with one face descriptor each; face['_vec'] and ['_person'] are the test's."""
    out = []
    i = 0
    for p, c in enumerate(centres):
        for _ in range(per_person):
            v = sample(rnd, c)
            f = {"face_id": new_id(rnd), "account_id": account, "user_data": "p%d" % p,
                 "external_id": "x%d" % i, "create_time": iso(start_ts + i * 10),
                 "descriptors": [descriptor(v)], "_vec": v, "_person": p}
            f.update(extra)
            out.append(f)
            i += 1
    return out


def strip(rows):
    """Rows without the test's private keys (those starting with '_')."""
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


# ---- References --------------------------------------------------------------

def clusters(ids, vecs, threshold, extra_edges=()):
    parent = list(range(len(ids)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a, b):
        a, b = find(a), find(b)
        if a != b:
            parent[max(a, b)] = min(a, b)

    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            if sim(vecs[i], vecs[j]) > threshold:
                union(i, j)
    for a, b in extra_edges:
        union(a, b)
    groups = {}
    for i in range(len(ids)):
        groups.setdefault(find(i), set()).add(ids[i])
    return sorted((frozenset(g) for g in groups.values()), key=lambda g: sorted(g))


def cross_match(refs, cands, threshold, limit):
    """refs/cands: [(id, vec)] -> [(ref_id, [(cand_id, sim)])] in ref id order."""
    out = []
    for rid, rv in sorted(refs):
        hits = [(cid, sim(rv, cv)) for cid, cv in cands]
        hits = [h for h in hits if h[1] >= threshold]
        hits.sort(key=lambda h: (-h[1], h[0]))
        if hits:
            out.append((rid, hits[:limit]))
    return out


def roc(vecs, labels):
    """Curve points (fpr, tpr, sim) over distinct similarities, AUC, P, N."""
    pairs = []
    for i in range(len(vecs)):
        for j in range(i + 1, len(vecs)):
            pairs.append((sim(vecs[i], vecs[j]), labels[i] == labels[j]))
    pairs.sort(key=lambda p: -p[0])
    npos = sum(1 for p in pairs if p[1])
    nneg = len(pairs) - npos
    tp = fp = 0
    prev = (0.0, 0.0)
    auc = 0.0
    points = []
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            tp += pairs[j][1]
            fp += not pairs[j][1]
            j += 1
        p = (fp / nneg, tp / npos, pairs[i][0])
        auc += (p[0] - prev[0]) * (p[1] + prev[1]) / 2
        points.append(p)
        prev = p
        i = j
    return points, auc, npos, nneg


def hit_top(vecs, labels, limit, threshold):
    res = {}
    eligible = [i for i in range(len(vecs)) if sum(1 for l in labels if l == labels[i]) > 1]
    ranks = []
    for i in eligible:
        cands = [(sim(vecs[i], vecs[j]), j) for j in range(len(vecs)) if j != i]
        cands = [c for c in cands if c[0] >= threshold]
        cands.sort(key=lambda c: (-c[0], c[1]))
        cands = cands[:limit]
        rank = next((r for r, c in enumerate(cands) if labels[c[1]] == labels[i]), None)
        ranks.append(rank)
    for n in range(1, 6):
        res["top-%d" % n] = (sum(1 for r in ranks if r is not None and r < n) / len(ranks)) if ranks else None
    return res


def svg_points(svg_text):
    """The (x, y) pairs of the curve of a ROC picture, parsed as XML (so it must be well-formed)."""
    root = ET.fromstring(svg_text)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg"
    lines = [e for e in root.iter(ns + "polyline") if e.get("class") == "roc"]
    assert len(lines) == 1
    pairs = [tuple(float(v) for v in p.split(",")) for p in lines[0].get("points").split()]
    circles = {c: [e for e in root.iter(ns + "circle") if e.get("class") == c] for c in ("eer", "key-point")}
    return pairs, circles


def assert_curve_matches(pairs, curve):
    """The geometry of src/api/roc_svg.h: x = 70 + 540 FPR, y = 40 + 380 (1 - TPR)."""
    assert len(pairs) == len(curve)
    for (x, y), p in zip(pairs, curve):
        assert abs(x - (70 + 540 * p["FPR"])) <= 0.006 and abs(y - (40 + 380 * (1 - p["TPR"]))) <= 0.006, (x, y, p)
