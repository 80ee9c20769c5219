"""Regenerates demo/sightings.jsonl: a synthetic haemodialysis morning (2026-11-02, 08:00-12:05 Beijing time).

Three enrolled patients and one unknown face (sitting through 08:30-11:55, while ...0004 is billed and
absent), seen every 30 s by two cameras with 10% of sightings missed. Patient ...0002 leaves for 20
minutes, so the demo shows two intervals for them. Deterministic
(fixed seed). Run: python3 demo/make_sightings.py (from the repository root).
"""
import datetime
import json
import os
import random

random.seed(20261102)
base = datetime.datetime(2026, 11, 2, 0, 0, 0, tzinfo=datetime.timezone.utc)


def ts(sec):
    return (base + datetime.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


people = [
    # person, camera, stays (seconds from 00:00Z), similarity range
    ({"psn_no": "43060000000000000001"}, "cam-1", [(0, 4 * 3600)], (0.55, 0.82)),
    ({"psn_no": "43060000000000000002"}, "cam-1", [(600, 2 * 3600), (2 * 3600 + 20 * 60, 4 * 3600 + 300)], (0.5, 0.78)),
    ({"psn_no": "43060000000000000003"}, "cam-2", [(0, 3600)], (0.52, 0.8)),
    ({"unknown_track": "u-20261102-0001"}, "cam-2", [(1800, 3 * 3600 + 3300)], (0.18, 0.34)),
]
lines = []
for person, cam, spans, (lo, hi) in people:
    for a, b in spans:
        t = a
        while t <= b:
            if random.random() > 0.1:  # faces are missed now and then (turned away, occluded)
                lines.append((t, {"at": ts(t), "camera_id": cam, "person": person,
                                  "similarity": round(random.uniform(lo, hi), 4),
                                  "liveness": round(random.uniform(0.88, 0.995), 4)}))
            t += 30
lines.sort(key=lambda x: (x[0], x[1]["camera_id"]))
with open(os.path.join(os.path.dirname(__file__), "sightings.jsonl"), "w") as f:
    for _, line in lines:
        f.write(json.dumps(line, separators=(",", ":")) + "\n")
