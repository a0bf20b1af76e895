#!/usr/bin/env python3
"""Deterministic generator of object files for `luna-tasks-admin import`.

The demo dataset (tests/data/demo/faces.jsonl and events.jsonl, loaded by
`./dev run`) is what this script writes with its defaults:

    python3 tests/data/gen_demo.py --out tests/data/demo

Descriptors are drawn around one random centre per person, so that samples
of one person are similar (about 0.94) and different people are not (about
0), which makes clustering, cross matching and ROC results meaningful. The
same script makes large files for measuring the import, e.g.

    python3 tests/data/gen_demo.py --out /tmp/big --faces 100000 --events 0

Only the Python standard library is used; the same seed gives the same files.
"""
import argparse
import base64
import json
import math
import os
import random
import struct
import uuid

DEMO_ACCOUNT = "6d071cca-fda5-4a03-84d5-5bea65904480"
DEMO_LIST = "1f9d2f0e-3a7b-4b8e-9c55-0d6f2a1b7c10"
HANDLERS = ["0c5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e7f", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"]
SOURCES = ["cam1", "cam2", "cam3", "entrance"]
CITIES = ["moscow", "kazan", "new-york"]
AREAS = ["central", "north", "south"]
DISTRICTS = ["arbat", "mitino", "soho"]
STREETS = ["tverskaya", "baumana", "broadway"]
TAGS = ["vip", "staff", "visitor", "night"]


def new_uuid(rnd):
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def sample_around(rnd, centre, noise):
    return unit([c + rnd.gauss(0.0, noise / math.sqrt(len(centre))) for c in centre])


def b64_vector(v):
    return base64.b64encode(struct.pack("<%df" % len(v), *v)).decode("ascii")


def iso(ts):
    """Seconds since the epoch -> RFC 3339 UTC with microseconds."""
    import datetime
    dt = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def make_people(rnd, count, dim):
    return [unit([rnd.gauss(0.0, 1.0) for _ in range(dim)]) for _ in range(count)]


def faces(rnd, people, count, dim, version, noise, start_ts):
    for i in range(count):
        person = i % len(people)
        v = sample_around(rnd, people[person], noise)
        yield {
            "face_id": new_uuid(rnd),
            "account_id": DEMO_ACCOUNT,
            "user_data": "person-%d" % person,
            "external_id": "ext-%d" % i,
            "create_time": iso(start_ts + i * 60),
            "lists": [DEMO_LIST] if i % 3 == 0 else [],
            "descriptors": [{"type": "face", "version": version, "vector_b64": b64_vector(v)}],
        }


def events(rnd, people, count, dim, version, body_version, noise, start_ts):
    for i in range(count):
        person = rnd.randrange(len(people))
        v = sample_around(rnd, people[person], noise)
        event_id = new_uuid(rnd)
        ts = start_ts + i * 30
        sample_id = new_uuid(rnd)
        top_face = new_uuid(rnd)
        sim = round(rnd.uniform(0.3, 0.99), 4)
        ev = {
            "event_id": event_id,
            "account_id": DEMO_ACCOUNT,
            "create_time": iso(ts),
            "end_time": iso(ts + 5),
            "handler_id": HANDLERS[i % len(HANDLERS)],
            "external_id": "ev-ext-%d" % i,
            "source": SOURCES[i % len(SOURCES)],
            "user_data": "event-%d" % i,
            "track_id": "track-%d" % (person * 10 + i % 2),
            "gender": i % 2,
            "age": 18 + (i * 7) % 60,
            "emotion": 1 + i % 7,
            "ethnic_group": 1 + i % 4,
            "mask": 1 + i % 3,
            "liveness": i % 3,
            "tags": sorted(set(rnd.sample(TAGS, 1 + i % 3))),
            "location": {
                "city": CITIES[i % len(CITIES)],
                "area": AREAS[i % len(AREAS)],
                "district": DISTRICTS[i % len(DISTRICTS)],
                "street": STREETS[i % len(STREETS)],
                "house_number": str(1 + i % 20),
                "geo_position": {"longitude": round(37.6 + (i % 10) * 0.01, 5),
                                 "latitude": round(55.7 + (i % 7) * 0.01, 5)},
            },
            "top_match": {"label": "watchlist", "similarity": sim, "face_id": top_face,
                          "external_id": "wl-%d" % (i % 5)},
            "match_result": [{"label": "watchlist", "candidates": [
                {"face": {"face_id": top_face, "external_id": "wl-%d" % (i % 5)}, "similarity": sim}]}],
            "face_detections": [{"sample_id": sample_id, "detect_time": iso(ts), "detect_ts": None,
                                 "image_origin": "/6/images/%s" % new_uuid(rnd),
                                 "detection": {"rect": {"x": 10, "y": 20, "width": 100, "height": 120}}}],
            "descriptors": [{"type": "face", "version": version, "vector_b64": b64_vector(v)}],
        }
        if i % 2 == 0:
            body = unit([rnd.gauss(0.0, 1.0) for _ in range(dim)])
            ev["descriptors"].append({"type": "body", "version": body_version, "vector_b64": b64_vector(body)})
        yield ev


def write_jsonl(path, rows):
    n = 0
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for faces.jsonl and events.jsonl")
    ap.add_argument("--faces", type=int, default=240)
    ap.add_argument("--events", type=int, default=240)
    ap.add_argument("--people", type=int, default=40)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--version", type=int, default=59, help="face descriptor version")
    ap.add_argument("--body-version", type=int, default=110)
    ap.add_argument("--noise", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    people = make_people(rnd, args.people, args.dim)
    os.makedirs(args.out, exist_ok=True)
    start = 1717200000  # 2024-06-01T00:00:00Z
    if args.faces:
        n = write_jsonl(os.path.join(args.out, "faces.jsonl"),
                        faces(rnd, people, args.faces, args.dim, args.version, args.noise, start))
        print("faces.jsonl: %d faces" % n)
    if args.events:
        n = write_jsonl(os.path.join(args.out, "events.jsonl"),
                        events(rnd, people, args.events, args.dim, args.version, args.body_version, args.noise,
                               start + 86400))
        print("events.jsonl: %d events" % n)


if __name__ == "__main__":
    main()
