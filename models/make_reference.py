#!/usr/bin/env python3
"""Make the parity reference tensors under models/reference/ with onnxruntime (1 thread).

For each case: a deterministic input (numpy default_rng seeded with the case's seed; integer pixel
values 0..255 drawn uniformly, then normalised exactly as models/manifest.toml says for that model, so
inputs lie in the model's real input range), the outputs onnxruntime computes for it, and an entry in
reference/index.json. Files are raw little-endian f32 in C (row-major) order with no header; the index
gives every tensor's name, shape and file. The agent's tract tests must match the outputs within
`tolerance` (absolute).

Usage: python models/make_reference.py   (rewrites models/reference/ entirely)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort

MODELS = Path(__file__).resolve().parent
OUT = MODELS / "reference"
TOLERANCE = 1e-4

# case name, role, concrete input shape (in the manifest's dims order), seed
CASES = [
    ("pnet_w341_h273", "detector_mtcnn_pnet", [1, 341, 273, 3], 1),
    ("pnet_w22_h17", "detector_mtcnn_pnet", [1, 22, 17, 3], 2),
    ("rnet_batch1", "detector_mtcnn_rnet", [1, 24, 24, 3], 3),
    ("rnet_batch4", "detector_mtcnn_rnet", [4, 24, 24, 3], 4),
    ("onet_batch1", "detector_mtcnn_onet", [1, 48, 48, 3], 5),
    ("onet_batch4", "detector_mtcnn_onet", [4, 48, 48, 3], 6),
    ("fr_detect", "detector_single_pass", [1, 3, 240, 320], 7),
    ("fr_landmark", "landmarks68", [1, 1, 64, 64], 8),
    ("fr_feature", "recogniser", [1, 3, 112, 112], 9),
    ("fr_liveness", "liveness", [1, 3, 128, 128], 10),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_input(spec: dict, shape: list[int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=shape).astype(np.float32)
    channel_axis = spec["dims"].index("C")
    bshape = [1] * len(shape)
    bshape[channel_axis] = shape[channel_axis]
    mean = np.array(spec["mean"], dtype=np.float32).reshape(bshape)
    std = np.array(spec["std"], dtype=np.float32).reshape(bshape)
    return np.ascontiguousarray((pixels - mean) / std, dtype=np.float32)


def write_tensor(name: str, array: np.ndarray) -> dict:
    data = np.ascontiguousarray(array, dtype="<f4")
    (OUT / name).write_bytes(data.tobytes())
    return {"file": name, "shape": list(data.shape), "dtype": "f32"}


def main() -> None:
    manifest = tomllib.loads((MODELS / "manifest.toml").read_text())
    by_role = {m["role"]: m for m in manifest["model"]}
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    cases = []
    for case, role, shape, seed in CASES:
        model = by_role[role]
        path = MODELS / model["file"]
        if sha256(path) != model["sha256"]:
            sys.exit(f"{path} does not match the manifest's sha256")
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        spec = model["input"]
        x = make_input(spec, shape, seed)
        outputs = session.run(None, {spec["name"]: x})
        entry = {
            "name": case,
            "model": model["file"],
            "model_sha256": model["sha256"],
            "role": role,
            "seed": seed,
            "inputs": [{"name": spec["name"], **write_tensor(f"{case}.in.{spec['name']}.f32", x)}],
            "outputs": [
                {"name": meta.name, **write_tensor(f"{case}.out.{meta.name}.f32", value)}
                for meta, value in zip(session.get_outputs(), outputs)
            ],
        }
        cases.append(entry)
        print(case, [o["shape"] for o in entry["outputs"]])
    index = {
        "format": "raw little-endian IEEE-754 f32, C (row-major) order, no header; element count = product of shape",
        "producer": "models/make_reference.py",
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "threads": 1,
        "tolerance": TOLERANCE,
        "cases": cases,
    }
    (OUT / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(cases)} cases, {total / 1e6:.2f} MB, to {OUT}")


if __name__ == "__main__":
    main()
