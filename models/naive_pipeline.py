#!/usr/bin/env python3
"""The naive per-frame face pipeline in onnxruntime: the peer of the agent's camera_load bench.

Every frame, from its JPEG file: decode → MTCNN over the whole frame (pyramid from `min_face` px, the
reference's thresholds and NMS, refinement and output crops batched) → five-point alignment → fr_feature →
fr_liveness on every face → identification against the gallery (cosine, threshold and margin, as the
agent). No tracking, no gating: what a camera costs without them. One thread.

onnxruntime runs at its best: the whole pipeline is timed on the first `probe_frames` frames at every
graph optimisation level (ORT_DISABLE_ALL, ORT_ENABLE_BASIC, ORT_ENABLE_EXTENDED, ORT_ENABLE_ALL), and
the fastest level runs every frame.

Reads JSON from stdin:
  {"frames": [jpeg paths], "models": {"pnet": p, "rnet": p, "onet": p, "recogniser": p,
   "liveness": p}, "min_face": 40, "threshold": 0.39, "margin": 0.05, "probe_frames": 5,
   "gallery": [{"person": "P1", "embedding": [512 floats]}, ...]}
Prints JSON: {"onnxruntime": version, "levels": {name: cpu ms per frame}, "level": fastest,
  "cpu_secs": CPU seconds over all frames, "frames": n, "identified": [[person, ...] per frame],
  "faces": faces found per frame}.
CPU time is this process's (time.process_time), decoding included.
Needs numpy, opencv-python-headless and onnxruntime (models/requirements.txt).
"""

import json
import math
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

LEVELS = {
    "ORT_DISABLE_ALL": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "ORT_ENABLE_BASIC": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "ORT_ENABLE_EXTENDED": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "ORT_ENABLE_ALL": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

# ArcFace 112x112 five-point template (models/manifest.toml).
TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def session(path, level):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = level
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def nms(boxes, scores, threshold, method):
    """Greedy NMS; indexes kept, best first."""
    if len(boxes) == 0:
        return []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        base = area[i] + area[rest] - inter if method == "union" else np.minimum(area[i], area[rest])
        ratio = np.where(base > 0, inter / np.maximum(base, 1e-9), 0.0)
        order = rest[ratio <= threshold]
    return keep


def regress(boxes, reg):
    w = boxes[:, 2] - boxes[:, 0] + 1.0
    h = boxes[:, 3] - boxes[:, 1] + 1.0
    out = boxes.copy()
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def square(boxes):
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    cx, cy = boxes[:, 0] + w / 2, boxes[:, 1] + h / 2
    out = boxes.copy()
    out[:, 0] = np.trunc(cx - side / 2)
    out[:, 1] = np.trunc(cy - side / 2)
    out[:, 2] = np.trunc(cx + side / 2)
    out[:, 3] = np.trunc(cy + side / 2)
    return out


def normalise(img):
    return (img.astype(np.float32) - 127.5) / 128.0


def crops(img, boxes, size):
    """Each box (zero-padded outside the image) resized to size×size, as a NWHC batch."""
    h, w = img.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for k, b in enumerate(boxes):
        x1, y1, x2, y2 = (int(v) for v in b[:4])
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        if bw <= 0 or bh <= 0 or bw * bh > 4 * w * h:
            continue
        tmp = np.zeros((bh, bw, 3), dtype=np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2 + 1, w), min(y2 + 1, h)
        if sx2 > sx1 and sy2 > sy1:
            tmp[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = img[sy1:sy2, sx1:sx2]
        out[k] = normalise(cv2.resize(tmp, (size, size), interpolation=cv2.INTER_AREA)).transpose(
            1, 0, 2
        )
    return out


def mtcnn(img, s, min_face):
    """Boxes (N×5: x1, y1, x2, y2, score) and landmarks (N×5×2) of the faces in an RGB image."""
    h, w = img.shape[:2]
    scale = 12.0 / min_face
    scales = []
    while min(h, w) * scale >= 12 and len(scales) < 64:
        scales.append(scale)
        scale *= 0.709
    found = []
    for sc in scales:
        hs, ws = math.ceil(h * sc), math.ceil(w * sc)
        level = cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA)
        x = normalise(level).transpose(1, 0, 2)[None]
        reg, prob = s["pnet"].run(None, {s["pnet"].get_inputs()[0].name: x})
        score = prob[0, :, :, 1]
        xi, yi = np.where(score >= 0.6)
        if xi.size == 0:
            continue
        boxes = np.stack(
            [
                np.trunc((2 * xi + 1) / sc),
                np.trunc((2 * yi + 1) / sc),
                np.trunc((2 * xi + 12) / sc),
                np.trunc((2 * yi + 12) / sc),
                score[xi, yi],
            ],
            axis=1,
        )
        r = reg[0, xi, yi, :]
        keep = nms(boxes, boxes[:, 4], 0.5, "union")
        found.append(np.concatenate([boxes[keep], r[keep]], axis=1))
    if not found:
        return np.zeros((0, 5)), np.zeros((0, 5, 2))
    allb = np.concatenate(found)
    allb = allb[nms(allb[:, :5], allb[:, 4], 0.7, "union")]
    boxes = square(regress(allb[:, :5], allb[:, 5:9]))
    # Stage 2.
    reg, prob = s["rnet"].run(None, {s["rnet"].get_inputs()[0].name: crops(img, boxes, 24)})
    ok = prob[:, 1] > 0.7
    boxes, reg = boxes[ok], reg[ok]
    boxes[:, 4] = prob[ok, 1]
    if len(boxes) == 0:
        return np.zeros((0, 5)), np.zeros((0, 5, 2))
    keep = nms(boxes, boxes[:, 4], 0.7, "union")
    boxes = square(regress(boxes[keep], reg[keep]))
    # Stage 3.
    reg, points, prob = s["onet"].run(None, {s["onet"].get_inputs()[0].name: crops(img, boxes, 48)})
    ok = prob[:, 1] > 0.7
    boxes, reg, points = boxes[ok], reg[ok], points[ok]
    boxes[:, 4] = prob[ok, 1]
    if len(boxes) == 0:
        return np.zeros((0, 5)), np.zeros((0, 5, 2))
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    marks = np.stack(
        [boxes[:, 0:1] + w[:, None] * points[:, :5] - 1, boxes[:, 1:2] + h[:, None] * points[:, 5:] - 1],
        axis=2,
    )
    final = regress(boxes, reg)
    keep = nms(final, final[:, 4], 0.7, "min")
    return final[keep], marks[keep]


def similarity(src):
    """Least-squares similarity (Umeyama) from the five points to the template, as a 2×3 matrix."""
    dst = TEMPLATE
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var = (s0**2).sum() / len(src)
    cov = d0.T @ s0 / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = (d * np.diag(sign)).sum() / var
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def embed(img, marks, s):
    m = similarity(marks.astype(np.float64))
    aligned = cv2.warpAffine(img, m, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0)
    x = ((aligned[:, :, ::-1].astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
    v = s["recogniser"].run(None, {s["recogniser"].get_inputs()[0].name: x})[0][0]
    return v / max(np.linalg.norm(v), 1e-12)


def liveness(img, box, s):
    h, w = img.shape[:2]
    bw, bh = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
    scale = max(min(2.7, (h - 1) / bh, (w - 1) / bw), 1.0)
    cw, ch = bw * scale, bh * scale
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0 = min(max(cx - cw / 2, 0.0), max(w - cw, 0.0))
    y0 = min(max(cy - ch / 2, 0.0), max(h - ch, 0.0))
    crop = img[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)]
    if crop.size == 0:
        return 0.0
    x = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    x = x.astype(np.float32).transpose(2, 0, 1)[None]
    logits = s["liveness"].run(None, {s["liveness"].get_inputs()[0].name: x})[0][0]
    e = np.exp(logits - logits.max())
    return float(e[0] / e.sum())


def identify(v, people, matrix, threshold, margin):
    if len(people) == 0:
        return None
    scores = matrix @ v
    best = {}
    for person, score in zip(people, scores):
        best[person] = max(best.get(person, -2.0), float(score))
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    first = ranked[0]
    lead = first[1] - ranked[1][1] if len(ranked) > 1 else 1.0 + first[1]
    return first[0] if first[1] >= threshold and lead >= margin else None


def frame_pipeline(path, s, spec, people, matrix):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    boxes, marks = mtcnn(img, s, spec.get("min_face", 40.0))
    who = []
    for box, mk in zip(boxes, marks):
        v = embed(img, mk, s)
        liveness(img, box, s)
        person = identify(v, people, matrix, spec["threshold"], spec["margin"])
        if person is not None:
            who.append(person)
    return who, len(boxes)


def main() -> None:
    spec = json.load(sys.stdin)
    frames = spec["frames"]
    people = [g["person"] for g in spec.get("gallery", [])]
    matrix = np.array([g["embedding"] for g in spec.get("gallery", [])], dtype=np.float32)
    probe = frames[: max(1, int(spec.get("probe_frames", 5)))]
    levels = {}
    best = None
    for name, level in LEVELS.items():
        s = {role: session(path, level) for role, path in spec["models"].items()}
        frame_pipeline(probe[0], s, spec, people, matrix)  # warm-up
        started = time.process_time()
        for path in probe:
            frame_pipeline(path, s, spec, people, matrix)
        levels[name] = (time.process_time() - started) * 1e3 / len(probe)
        if best is None or levels[name] < levels[best[0]]:
            best = (name, s)
    s = best[1]
    frame_pipeline(frames[0], s, spec, people, matrix)
    identified, faces = [], []
    started = time.process_time()
    for path in frames:
        who, n = frame_pipeline(path, s, spec, people, matrix)
        identified.append(who)
        faces.append(n)
    cpu = time.process_time() - started
    json.dump(
        {
            "onnxruntime": ort.__version__,
            "levels": levels,
            "level": best[0],
            "cpu_secs": cpu,
            "frames": len(frames),
            "identified": identified,
            "faces": faces,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
