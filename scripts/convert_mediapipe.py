#!/usr/bin/env python3
"""Convert MediaPipe Selfie Segmentation (.tflite) into equivalent ONNX graphs.

No model may be downloaded from a model hub on our machines, but the `mediapipe==0.10.14` wheel
on PyPI ships Google's Selfie Segmentation models under Apache-2.0. This script takes that wheel
(fetched with pip, or a path given), reads both .tflite flatbuffers with the `tflite` parser (no
TensorFlow) and writes ONNX graphs with the same interface: float32 RGB in [0, 1], NHWC in,
person probability NHWC out. Inside, the graph runs NCHW (ONNX's native layout), so there is
one transpose at each end. Where the order of float32 additions decides the output (the landscape
model's MEAN and 1x1 convolutions), the graph spells out the order of LiteRT's CPU kernel, so
that onnxruntime and LiteRT agree to 1e-4 on every portrait of portraits-dev.

The output is a pure function of the wheel's bytes: re-running the script reproduces the committed
files byte for byte (tests/test_convert.py checks it).

    python scripts/convert_mediapipe.py [--wheel PATH] [--out models]
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper
from onnx_graph import GraphBuilder

MEDIAPIPE_REQUIREMENT = "mediapipe==0.10.14"
MODELS_IN_WHEEL = {
    "selfie_segmentation": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "selfie_segmentation_landscape": (
        "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite"
    ),
}
# Models whose 1x1 convolutions add their bias first, as LiteRT's kernel does (`_pointwise_conv`).
# Only the landscape model needs it to agree with LiteRT to 1e-4: its squeeze-and-excite means
# amplify rounding differences, and the general model agrees to 7e-5 without it. It costs a Pad
# per layer, about 0.7 ms a frame, so the general model, the default, does without.
BIAS_FIRST = frozenset({"selfie_segmentation_landscape"})
OPSET = 17
IR_VERSION = 8

_TFLITE_TO_NUMPY = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
}
_BUILTIN_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
# The custom op's parameters are MediaPipe's TfLiteTransposeConvParams: padding, stride_w, stride_h,
# with padding as TfLitePadding (1 = SAME, 2 = VALID).
_TFLITE_PADDING_SAME = 1


class ConversionError(RuntimeError):
    """The .tflite file uses something this converter does not translate."""


class _TfliteReader:
    """Typed access to one subgraph of a .tflite flatbuffer."""

    def __init__(self, data: bytes) -> None:
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ConversionError("expected exactly one subgraph")
        self.graph = self.model.Subgraphs(0)

    def tensor(self, index: int) -> tflite.Tensor:
        return self.graph.Tensors(index)

    def name(self, index: int) -> str:
        return self.tensor(index).Name().decode()

    def shape(self, index: int) -> list[int]:
        return self.tensor(index).ShapeAsNumpy().tolist()

    def data(self, index: int) -> np.ndarray | None:
        """The constant value of a tensor, or None for an activation."""
        tensor = self.tensor(index)
        raw = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(raw, int) or raw.size == 0:
            return None
        dtype = _TFLITE_TO_NUMPY.get(tensor.Type())
        if dtype is None:
            raise ConversionError(f"tensor {self.name(index)}: unsupported type {tensor.Type()}")
        return raw.view(dtype).reshape(self.shape(index))

    def opname(self, op: tflite.Operator) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.CUSTOM:
            return "CUSTOM:" + code.CustomCode().decode()
        return _BUILTIN_NAMES[builtin]

    @staticmethod
    def options(op: tflite.Operator, kind: type) -> object:
        table = op.BuiltinOptions()
        opts = kind()
        opts.Init(table.Bytes, table.Pos)
        return opts


def _same_pads(in_hw: list[int], out_hw: list[int], kernel: list[int],
               strides: list[int]) -> list[int]:
    """TensorFlow's SAME padding as explicit ONNX pads: the odd pixel goes to the end."""
    begin, end = [], []
    for size, out, k, s in zip(in_hw, out_hw, kernel, strides, strict=True):
        total = max((out - 1) * s + k - size, 0)
        begin.append(total // 2)
        end.append(total - total // 2)
    return begin + end


class _Converter:
    """Walks the TFLite operators in order and emits the equivalent ONNX nodes."""

    def __init__(self, reader: _TfliteReader, bias_first: bool = False) -> None:
        self.r = reader
        self.g = GraphBuilder()
        self.values: dict[int, str] = {}  # tflite tensor index -> ONNX name of an NCHW activation
        self.consts: dict[int, np.ndarray] = {}  # tflite tensor index -> float32 constant (NHWC)
        self.bias_first = bias_first
        self._one_channel: tuple[str, str] | None = None  # Pad inputs adding a leading 1 channel
        self.handlers: dict[str, Callable[[tflite.Operator], None]] = {
            "DEQUANTIZE": self._dequantize,
            "CONV_2D": self._conv,
            "DEPTHWISE_CONV_2D": self._depthwise_conv,
            "CUSTOM:Convolution2DTransposeBias": self._transpose_conv_bias,
            "AVERAGE_POOL_2D": self._average_pool,
            "MEAN": self._mean,
            "RESIZE_BILINEAR": self._resize_bilinear,
            "HARD_SWISH": lambda op: self._unary(op, "HardSwish"),
            "RELU": lambda op: self._unary(op, "Relu"),
            "LOGISTIC": lambda op: self._unary(op, "Sigmoid"),
            "ADD": lambda op: self._binary(op, "Add", tflite.AddOptions),
            "MUL": lambda op: self._binary(op, "Mul", tflite.MulOptions),
        }

    def convert(self, name: str, doc: str) -> onnx.ModelProto:
        r, g = self.r, self.g
        (inp,), (out,) = r.graph.InputsAsNumpy().tolist(), r.graph.OutputsAsNumpy().tolist()
        in_shape, out_shape = r.shape(inp), r.shape(out)
        g.names.update({"input", "output"})
        self.values[inp] = g.node("Transpose", ["input"], "input_nchw", perm=[0, 3, 1, 2])
        for i in range(r.graph.OperatorsLength()):
            op = r.graph.Operators(i)
            opname = r.opname(op)
            handler = self.handlers.get(opname)
            if handler is None:
                raise ConversionError(f"operator {opname} is not supported")
            handler(op)
        g.nodes.append(
            helper.make_node("Transpose", [self.values[out]], ["output"], name="output",
                             perm=[0, 2, 3, 1])
        )
        return g.model(
            name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
            opset=OPSET, ir_version=IR_VERSION, doc=doc,
            producer="obs-bgremover convert_mediapipe.py",
        )

    # --- helpers -------------------------------------------------------------------------------

    def _input(self, index: int) -> str:
        if index in self.values:
            return self.values[index]
        const = self._const(index)
        if const.ndim == 4:
            const = const.transpose(0, 3, 1, 2)
        elif const.ndim == 1:  # broadcast along NHWC's channel axis
            const = const.reshape(-1, 1, 1)
        return self.g.constant(self.r.name(index), np.ascontiguousarray(const))

    def _const(self, index: int) -> np.ndarray:
        if index in self.consts:
            return self.consts[index]
        data = self.r.data(index)
        if data is None:
            raise ConversionError(f"tensor {self.r.name(index)} is neither computed nor constant")
        return data.astype(np.float32) if data.dtype == np.float16 else data

    def _emit(self, op: tflite.Operator, onnx_op: str, inputs: list[str], fused: int = 0,
              **attrs: object) -> None:
        out = op.Outputs(0)
        name = self.r.name(out)
        if fused == tflite.ActivationFunctionType.NONE:
            self.values[out] = self.g.node(onnx_op, inputs, name, **attrs)
            return
        if fused != tflite.ActivationFunctionType.RELU:
            raise ConversionError(f"{name}: fused activation {fused} is not supported")
        pre = self.g.node(onnx_op, inputs, name + "_pre", **attrs)
        self.values[out] = self.g.node("Relu", [pre], name)

    def _conv_weights(self, index: int, depthwise: bool) -> str:
        w = self._const(index)  # TFLite: OHWI (conv) or 1HWC (depthwise)
        w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
        return self.g.constant(self.r.name(index), np.ascontiguousarray(w))

    def _conv_like(self, op: tflite.Operator, depthwise: bool) -> None:
        r = self.r
        kind = tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
        opts = r.options(op, kind)
        x, w, b = op.InputsAsNumpy().tolist()
        kh, kw = r.shape(w)[1:3]
        strides = [opts.StrideH(), opts.StrideW()]
        dilations = [opts.DilationHFactor(), opts.DilationWFactor()]
        if dilations != [1, 1]:
            raise ConversionError(f"{r.name(op.Outputs(0))}: dilated convolution")
        if opts.Padding() == tflite.Padding.SAME:
            pads = _same_pads(r.shape(x)[1:3], r.shape(op.Outputs(0))[1:3], [kh, kw], strides)
        else:
            pads = [0, 0, 0, 0]
        attrs: dict[str, object] = {"kernel_shape": [kh, kw], "strides": strides, "pads": pads}
        if self.bias_first and not depthwise and [kh, kw] == [1, 1] and strides == [1, 1]:
            self._pointwise_conv(op, x, w, b, attrs, opts.FusedActivationFunction())
            return
        if depthwise:
            if opts.DepthMultiplier() != 1:
                raise ConversionError("depth multiplier other than 1")
            attrs["group"] = r.shape(x)[3]
        inputs = [self.values[x], self._conv_weights(w, depthwise),
                  self.g.constant(r.name(b), self._const(b))]
        self._emit(op, "Conv", inputs, opts.FusedActivationFunction(), **attrs)

    def _pointwise_conv(self, op: tflite.Operator, x: int, w: int, b: int,
                        attrs: dict[str, object], fused: int) -> None:
        """A 1x1 convolution whose bias is added first, as LiteRT's CPU kernel (XNNPACK) adds it.

        XNNPACK starts each output at its bias and adds the input channels' products to it in
        channel order; ONNX Runtime's kernel makes the same chain from zero and adds the bias
        last. The two then differ by a rounding in most outputs, which over the landscape
        model's 1x1 layers was, with MEAN's order, what kept it 1.3e-4 from LiteRT. The bias rides
        here as the weight of an input channel that is constant 1, placed first: ONNX Runtime's
        chain starts at exactly the bias and matches XNNPACK's over feature maps.
        """
        g = self.g
        name = self.r.name(op.Outputs(0))
        if self._one_channel is None:
            self._one_channel = (
                g.constant("one_channel_pads", np.array([0, 1, 0, 0, 0, 0, 0, 0], np.int64)),
                g.constant("one", np.float32(1.0)),
            )
        pads, one = self._one_channel
        with_one = g.node("Pad", [self.values[x], pads, one], f"{name}_with_one")
        weights = self._const(w).transpose(0, 3, 1, 2)  # OHWI -> OIHW
        bias = self._const(b).reshape(-1, 1, 1, 1)
        weights = np.ascontiguousarray(np.concatenate([bias, weights], axis=1))
        self._emit(op, "Conv", [with_one, g.constant(self.r.name(w), weights)], fused, **attrs)

    # --- operators -----------------------------------------------------------------------------

    def _dequantize(self, op: tflite.Operator) -> None:
        self.consts[op.Outputs(0)] = self._const(op.Inputs(0)).astype(np.float32)

    def _conv(self, op: tflite.Operator) -> None:
        self._conv_like(op, depthwise=False)

    def _depthwise_conv(self, op: tflite.Operator) -> None:
        self._conv_like(op, depthwise=True)

    def _transpose_conv_bias(self, op: tflite.Operator) -> None:
        r = self.r
        padding, stride_w, stride_h = struct.unpack("<3i", bytes(op.CustomOptionsAsNumpy()))
        x, w, b = op.InputsAsNumpy().tolist()
        kh, kw = r.shape(w)[1:3]
        strides = [stride_h, stride_w]
        in_hw, out_hw = r.shape(x)[1:3], r.shape(op.Outputs(0))[1:3]
        if padding == _TFLITE_PADDING_SAME:
            # A transposed convolution's SAME padding mirrors the forward convolution's.
            pads = _same_pads(out_hw, in_hw, [kh, kw], strides)
        else:
            pads = [0, 0, 0, 0]
        weights = self._const(w).transpose(3, 0, 1, 2)  # OHWI -> IOHW (ONNX ConvTranspose)
        inputs = [
            self.values[x],
            self.g.constant(r.name(w), np.ascontiguousarray(weights)),
            self.g.constant(r.name(b), self._const(b)),
        ]
        self._emit(op, "ConvTranspose", inputs, kernel_shape=[kh, kw], strides=strides, pads=pads,
                   output_shape=out_hw)

    def _average_pool(self, op: tflite.Operator) -> None:
        opts = self.r.options(op, tflite.Pool2DOptions)
        x = op.Inputs(0)
        kernel = [opts.FilterHeight(), opts.FilterWidth()]
        strides = [opts.StrideH(), opts.StrideW()]
        in_hw = self.r.shape(x)[1:3]
        if kernel == in_hw and opts.Padding() == tflite.Padding.VALID:
            # A pool over the whole frame is a mean. ONNX Runtime's ReduceMean sums more
            # accurately than its AveragePool over 16k pixels, which keeps parity with TFLite.
            # (XNNPACK sums this pool column by column, nine pixels at a time. Spelled out like
            # MEAN's order below, it took ~1 ms more per run of the general model, the one with
            # these pools, which agrees with LiteRT to 7e-5 without it.)
            self._emit(op, "ReduceMean", [self.values[x]], opts.FusedActivationFunction(),
                       axes=[2, 3], keepdims=1)
            return
        if opts.Padding() == tflite.Padding.SAME:
            pads = _same_pads(in_hw, self.r.shape(op.Outputs(0))[1:3], kernel, strides)
        else:
            pads = [0, 0, 0, 0]
        # TFLite averages over the valid pixels only, like count_include_pad=0.
        self._emit(op, "AveragePool", [self.values[x]], opts.FusedActivationFunction(),
                   kernel_shape=kernel, strides=strides, pads=pads, count_include_pad=0)

    def _mean(self, op: tflite.Operator) -> None:
        opts = self.r.options(op, tflite.ReducerOptions)
        x, axes = op.InputsAsNumpy().tolist()
        nhwc_to_nchw = {0: 0, 1: 2, 2: 3, 3: 1}
        onnx_axes = sorted(nhwc_to_nchw[int(a) % 4] for a in self._const(axes).ravel())
        if onnx_axes == [2, 3] and opts.KeepDims():
            self._frame_mean(op)
            return
        self._emit(op, "ReduceMean", [self.values[x]], axes=onnx_axes,
                   keepdims=int(opts.KeepDims()))

    def _frame_mean(self, op: tflite.Operator) -> None:
        """A mean over the whole frame, summed in the order LiteRT's CPU kernel (XNNPACK) sums.

        A float32 sum of thousands of pixels depends on the order of its additions by a few units
        in the last place, and each squeeze-and-excite block scales a whole feature map by a
        sigmoid of these means; ReduceMean's order was the larger part of the landscape model's
        1.3e-4 gap to LiteRT. XNNPACK adds the pixels one after another in raster order and
        multiplies the total by float32(1/N); so does this: pixels on the outer axis, CumSum
        (which ONNX Runtime adds in sequence, one row of channels per step), its last row.
        """
        r, g = self.r, self.g
        x = op.Inputs(0)
        n, height, width, channels = r.shape(x)
        name = r.name(op.Outputs(0))
        pixels = height * width

        def ints(suffix: str, values: list[int]) -> str:
            return g.constant(f"{name}_{suffix}", np.array(values, dtype=np.int64))

        flat = g.node("Reshape", [self.values[x], ints("flat_shape", [n, channels, pixels])],
                      f"{name}_flat")
        rows = g.node("Transpose", [flat], f"{name}_pixels", perm=[0, 2, 1])
        running = g.node("CumSum", [rows, g.constant(f"{name}_axis", np.array(1, np.int64))],
                         f"{name}_running")
        total = g.node("Slice", [running, ints("last", [pixels - 1]), ints("end", [pixels]),
                                 ints("pixel_axis", [1])], f"{name}_total")
        total = g.node("Reshape", [total, ints("out_shape", [n, channels, 1, 1])], f"{name}_sum")
        self._emit(op, "Mul", [total, g.constant(f"{name}_inv_n", np.float32(1.0 / pixels))])

    def _resize_bilinear(self, op: tflite.Operator) -> None:
        opts = self.r.options(op, tflite.ResizeBilinearOptions)
        x, size = op.InputsAsNumpy().tolist()
        if opts.AlignCorners():
            mode = "align_corners"
        elif opts.HalfPixelCenters():
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        out_n, out_h, out_w, out_c = self.r.shape(op.Outputs(0))
        sizes = self.g.constant(self.r.name(size) + "_nchw",
                                np.array([out_n, out_c, out_h, out_w], dtype=np.int64))
        self._emit(op, "Resize", [self.values[x], "", "", sizes], mode="linear",
                   coordinate_transformation_mode=mode)

    def _unary(self, op: tflite.Operator, onnx_op: str) -> None:
        self._emit(op, onnx_op, [self.values[op.Inputs(0)]])

    def _binary(self, op: tflite.Operator, onnx_op: str, options: type) -> None:
        opts = self.r.options(op, options)
        a, b = op.InputsAsNumpy().tolist()
        self._emit(op, onnx_op, [self._input(a), self._input(b)], opts.FusedActivationFunction())


def convert_tflite(data: bytes, name: str, doc: str) -> onnx.ModelProto:
    """Translate one .tflite flatbuffer into an equivalent, checked ONNX model."""
    return _Converter(_TfliteReader(data), bias_first=name in BIAS_FIRST).convert(name, doc)


def download_wheel(dest: Path) -> Path:
    """Fetch the pinned mediapipe wheel (one platform, so every machine gets identical bytes)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--platform", "manylinux_2_17_x86_64", "--python-version", "3.11",
         "--implementation", "cp", "-d", str(dest), MEDIAPIPE_REQUIREMENT],
        check=True,
    )
    (wheel,) = dest.glob("mediapipe-*.whl")
    return wheel


def read_tflite(wheel: Path, name: str) -> bytes:
    """The ``.tflite`` file of one of `MODELS_IN_WHEEL` as the mediapipe wheel ships it: what
    the conversion reads, and what its parity test and the benchmark run LiteRT on."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(MODELS_IN_WHEEL[name])


def convert_wheel(wheel: Path, out_dir: Path) -> list[Path]:
    """Write one ONNX file per Selfie Segmentation model found in the wheel."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, member in MODELS_IN_WHEEL.items():
        doc = (f"Converted from {member} in the {MEDIAPIPE_REQUIREMENT} wheel "
               "(Google, Apache-2.0) by scripts/convert_mediapipe.py.")
        model = convert_tflite(read_tflite(wheel, name), name, doc)
        path = out_dir / f"{name}.onnx"
        path.write_bytes(model.SerializeToString(deterministic=True))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path,
                        help="mediapipe wheel to read (default: download it with pip)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        for path in convert_wheel(wheel, args.out):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
