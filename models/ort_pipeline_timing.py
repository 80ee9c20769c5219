#!/usr/bin/env python3
"""Time a list of (model, input shape) runs in onnxruntime: the peer of the agent's pipeline speed bench.

Reads JSON from stdin: {"threads": 1, "runs": 20, "jobs": [{"model": "models/mtcnn_pnet.onnx",
"shape": [1, 1152, 648, 3]}, ...]} and prints JSON to stdout: the same jobs, each with "median_ms" (one
call, over `runs` timed calls after 3 warm-up calls, on a fixed random f32 input in -1..1) and the
onnxruntime version. Used by `cargo bench -p wardwatch-agent --bench pipeline_speed`, which feeds it the
exact shapes its own run used. Needs numpy and onnxruntime (models/requirements.txt).
"""

import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    spec = json.load(sys.stdin)
    threads = int(spec.get("threads", 1))
    runs = int(spec.get("runs", 20))
    sessions = {}
    out = []
    rng = np.random.default_rng(0)
    for job in spec["jobs"]:
        model = job["model"]
        if model not in sessions:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            sessions[model] = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        session = sessions[model]
        name = session.get_inputs()[0].name
        x = rng.uniform(-1.0, 1.0, size=job["shape"]).astype(np.float32)
        for _ in range(3):
            session.run(None, {name: x})
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            session.run(None, {name: x})
            times.append((time.perf_counter() - started) * 1e3)
        out.append({**job, "median_ms": statistics.median(times)})
    json.dump({"onnxruntime": ort.__version__, "threads": threads, "jobs": out}, sys.stdout)


if __name__ == "__main__":
    main()
