#!/usr/bin/env python3
"""Time one ONNX model in onnxruntime: the Python peer for comparing the agent's tract speed.

Usage: python models/ort_timing.py MODEL INPUT_SHAPE [--threads 1] [--runs 50] [--warmup 5]
  MODEL        path to an .onnx file (e.g. models/fr_feature.onnx)
  INPUT_SHAPE  concrete input shape, comma- or x-separated, e.g. 1,3,112,112 or 1x341x273x3

Feeds a fixed random f32 input (seed 0, values in -1..1) to the model's single input and prints one
line of JSON to stdout: model, shape, threads, runs, median_ms, min_ms, mean_ms, onnxruntime version.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def parse_shape(text: str) -> list[int]:
    parts = [p for p in re.split(r"[,xX ]+", text.strip()) if p]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"INPUT_SHAPE '{text}' must be positive integers like 1,3,112,112")
    return [int(p) for p in parts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("shape", type=parse_shape)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    if not args.model.is_file():
        sys.exit(f"model file {args.model} not found")
    if args.runs < 1 or args.threads < 1:
        sys.exit("--runs and --threads must be at least 1")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(args.model), opts, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        sys.exit(f"{args.model} has {len(inputs)} inputs; only single-input models are supported")
    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=args.shape).astype(np.float32)
    feed = {inputs[0].name: x}

    try:
        session.run(None, feed)
    except Exception as err:  # onnxruntime raises its own exception types for bad shapes
        sys.exit(f"input shape {args.shape} rejected by {args.model.name} (expects {inputs[0].shape}): {err}")
    for _ in range(args.warmup):
        session.run(None, feed)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000.0)

    print(json.dumps({
        "model": args.model.name,
        "shape": args.shape,
        "threads": args.threads,
        "runs": args.runs,
        "median_ms": round(statistics.median(times), 3),
        "min_ms": round(min(times), 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "onnxruntime": ort.__version__,
    }))


if __name__ == "__main__":
    main()
