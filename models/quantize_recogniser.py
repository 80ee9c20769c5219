"""int8 variants of the recogniser (fr_feature.onnx), to time in tract against the float model.

Issue 16 asked whether an int8 recogniser pays in tract (it counts only if faster; then it must be checked
against the float one on ORL). This writes the three variants onnxruntime's quantiser makes into OUT_DIR,
with symbolic links to every other model, so that

    WARDWATCH_MODELS_DIR=OUT_DIR/dynamic cargo bench --workspace --profile dev --bench tract_models -- 20

times them beside `cargo bench --workspace --profile dev --bench tract_models -- 20` (the float models):
- dynamic: weights int8, activations quantised at run time (DynamicQuantizeLinear + ConvInteger);
- qdq: static, QuantizeLinear/DequantizeLinear around float Conv (the format most runtimes fuse);
- qoperator: static, QLinearConv and QLinearAdd.
The static variants are calibrated on random inputs: enough to time them, not to use them (their
accuracy would need calibration on real aligned faces, which only matters if one is faster).

Usage: target/ort-venv/bin/python models/quantize_recogniser.py OUT_DIR
"""

import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

MODELS = Path(__file__).resolve().parent


class RandomFaces(CalibrationDataReader):
    """16 random 112x112 inputs (speed only, see the module doc)."""

    def __init__(self, input_name):
        rng = np.random.default_rng(0)
        self.batches = iter(
            [{input_name: rng.normal(0, 1, (1, 3, 112, 112)).astype(np.float32)} for _ in range(16)]
        )

    def get_next(self):
        return next(self.batches, None)


def variant_dir(out, name):
    """OUT/name with links to every model but the recogniser."""
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    for model in MODELS.glob("*.onnx"):
        link = d / model.name
        if model.name != "fr_feature.onnx" and not link.exists():
            os.symlink(model, link)
    return d / "fr_feature.onnx"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    source = MODELS / "fr_feature.onnx"
    # The file is opset 9; the static quantiser needs 11 or later.
    upgraded = out / "fr_feature_opset13.onnx"
    out.mkdir(parents=True, exist_ok=True)
    model = onnx.load(source)
    onnx.save(version_converter.convert_version(model, 13), upgraded)
    input_name = model.graph.input[0].name
    quantize_dynamic(source, variant_dir(out, "dynamic"), weight_type=QuantType.QInt8)
    for name, fmt in [("qdq", QuantFormat.QDQ), ("qoperator", QuantFormat.QOperator)]:
        quantize_static(
            upgraded,
            variant_dir(out, name),
            RandomFaces(input_name),
            quant_format=fmt,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    print(f"wrote {out}/dynamic, {out}/qdq, {out}/qoperator")


if __name__ == "__main__":
    main()
