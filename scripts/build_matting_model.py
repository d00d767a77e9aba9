#!/usr/bin/env python3
"""Build the full-resolution matting graphs: uint8 frame in, uint8 alpha out, one ONNX graph.

A 256-pixel segmentation mask upsampled to 1080p gives blurry, haloed edges. The graph therefore
runs "segmentation -> trimap -> edge-aware matting" end to end, so a GPU execution provider does
the whole step with no CPU round trip and every front end gets the same result from one call:

1. resize the frame to the base model's input and run MediaPipe Selfie Segmentation (converted
   by convert_mediapipe.py) for a coarse person probability;
2. at a reduced working resolution (the frame shrunk by a whole factor, long side WORK_SIZE to
   twice that), cut the probability at `threshold` and mark an uncertain band of `band` pixels
   around the cut (a trimap: sure foreground, sure background, and the band between);
3. in the band, a fast guided filter (He & Sun 2015) with the frame's luminance as guide makes
   the alpha follow the frame's own edges; its linear coefficients are computed at the working
   resolution, upsampled, and applied to the full-resolution luminance of the frame's blocks in
   and next to the band, so the only full-size work is a multiply-add per band pixel and one
   copy of the sure regions.

Outside the band the coefficients reduce to the hard cut, so the sure regions are exactly 0 or
255. The knobs a user tunes are graph inputs with defaults (initializers), not constants.

    python scripts/build_matting_model.py [--models models]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx_graph import GraphBuilder

OPSET = 17
IR_VERSION = 8
# Long side of the working resolution for the trimap and the guided filters. Over the shared data,
# 256 -> 192 -> 160 cost portraits-dev boundary IoU 0.7035 -> 0.7032 -> 0.7021 and davis-person
# mIoU 0.7923 -> 0.7899 -> 0.7875 (flicker unchanged, 1.19), and took the graph from 10.5 to 8.4
# to 7.5 ms at 720p on the 2-core CPU (128 lost 0.011 DAVIS mIoU). The frame is shrunk by the
# whole factor floor(long side / WORK_SIZE), so a working pixel is a block of the frame: 8x8 at
# 720p, 12x12 at 1080p, and a long side of 160 at both.
WORK_SIZE = 160
# Rec. 601 luma weights in 1/256 steps (sum 256), for an integer matrix product on uint8 RGB.
LUMA = np.array([77, 150, 29], dtype=np.uint8)
LUMA_MAX = 255.0 * 256.0
SECOND_PASS_DIVISOR = 3.0  # the narrow colour pass's radius is edge_radius / this
FINE_EPS = 1e-4  # regularisation of the narrow colour pass and of the upsampling pass
# Slope of the matte about the threshold inside the band. Where the guided filter's linear model
# fits a textured background poorly it leaves a faint haze; a slope of 2 pushes that back to 0
# while the cut itself stays put.
EDGE_CONTRAST = 2.0


@dataclass(frozen=True)
class Knob:
    """A float graph input with a default, documented in the graph for any runtime to show."""

    name: str
    default: float
    doc: str


KNOBS = (
    Knob("threshold", 0.5, "probability (0..1) above which a pixel is the person"),
    Knob("band", 40.0, "width in full-resolution pixels of the uncertain band around the cut"),
    Knob("edge_radius", 24.0, "colour guided-filter radius in full-resolution pixels"),
    Knob("edge_strength", 1.0, "0: keep the network's soft edge, 1: fully frame-guided edge"),
    Knob("edge_eps", 1e-3, "guided-filter regularisation (luminance^2); larger is smoother"),
)

BASE_MODELS = {
    "general": ("selfie_segmentation.onnx", (256, 256)),
    "landscape": ("selfie_segmentation_landscape.onnx", (144, 256)),
}


class _Matting:
    """Emits the matting graph into a GraphBuilder, one method per stage.

    ONNX Runtime's CPU kernels are fast for convolutions, matrix products and same-shape
    element-wise work, and slow for gathers, transposes and broadcasts across inner axes; every
    full-resolution step below is written with the fast kinds.
    """

    def __init__(self, base: onnx.ModelProto, base_hw: tuple[int, int]) -> None:
        self.g = GraphBuilder()
        self.base = base
        self.base_hw = base_hw
        self.kernels: dict[tuple[str, int], tuple[str, str, str]] = {}
        self.g.names.update({"frame", "alpha", *(k.name for k in KNOBS)})

    def c(self, name: str, value: object) -> str:
        return self.g.constant(name, value)

    def n(self, op: str, inputs: list[str], out: str, **attrs: object) -> str:
        return self.g.node(op, inputs, out, **attrs)

    def f(self, name: str, value: float) -> str:
        return self.c(name, np.float32(value))

    def i(self, name: str, values: list[int]) -> str:
        return self.c(name, np.array(values, dtype=np.int64))

    # --- stages --------------------------------------------------------------------------------

    def build(self) -> None:
        n, f, i = self.n, self.f, self.i
        hw = n("Slice", [n("Shape", ["frame"], "frame_shape"), i("zero1", [0]), i("two1", [2])],
               "frame_hw")
        # Working size: the frame shrunk by a whole factor k, so that each working pixel stands
        # for a k x k block of the frame, with a long side of WORK_SIZE up to twice that (the
        # whole frame where it is smaller). A frame whose
        # sides are not multiples of k is padded by repeating its last row and column, and the
        # padding is cut off the alpha at the end.
        long_side = n("ReduceMax", [hw], "long_side", keepdims=1)
        block = n("Max", [n("Div", [long_side, i("work_size", [WORK_SIZE])], "block_raw"),
                          i("one_block", [1])], "block")
        work_hw = n("Div", [n("Sub", [n("Add", [hw, block], "hw_up"), i("one_up", [1])],
                              "hw_up1"), block], "work_hw")
        padded_hw = n("Mul", [work_hw, block], "padded_hw")
        padding = n("Sub", [padded_hw, hw], "padding")
        self.unpadded = n("Equal", [n("ReduceMax", [padding], "padding_max", keepdims=0),
                                    i("zero_pad", [0])], "unpadded")
        # The padded frame, made only where it is needed; an If whose output is an outer value
        # (the frame as it is) would cost a full copy, so only small results of the frame leave
        # the Ifs of `on_frame`.
        self.padded_frame = self.branches(
            self.unpadded, lambda: n("Identity", [self.c("no_frame", np.zeros((0, 0, 3),
                                                                            np.uint8))],
                                     "frame_unused"),
            lambda: n("Pad", ["frame", n("Concat", [i("pad_start", [0, 0, 0]), padding,
                                                    i("pad_channels", [0])], "frame_pads",
                                         axis=0)], "frame_padded", mode="edge"),
            TensorProto.UINT8, "frame_work")
        scale = n("Cast", [block], "scale", to=TensorProto.FLOAT)
        work_sizes = n("Concat", [i("ones2", [1, 1]), work_hw], "work_sizes", axis=0)

        p = self.resize(self.segment(), work_sizes, "prob_work")
        rgb = self.small_rgb(work_hw)
        guide = n("Conv", [rgb, self.c("luma_1x1", (LUMA.astype(np.float32) / 256.0)
                                       .reshape(1, 3, 1, 1))], "guide")

        def pixels(knob: str, divisor: float = 1.0) -> str:
            """A full-resolution length as a radius in working pixels, at least 1."""
            r = n("Round", [n("Div", [knob, n("Mul", [scale, f(f"{knob}_div{divisor}", divisor)],
                                               f"{knob}_scale{divisor}")],
                              f"{knob}_work{divisor}")], f"{knob}_round{divisor}")
            return n("Cast", [n("Max", [r, f(f"{knob}_min{divisor}", 1.0)],
                                f"{knob}_max{divisor}")], f"{knob}_px{divisor}",
                     to=TensorProto.INT64)

        # Trimap: the hard cut, and how uncertain each pixel is (1 on the cut, 0 a band away).
        cut = n("Cast", [n("Greater", [p, "threshold"], "above")], "cut", to=TensorProto.FLOAT)
        near = self.box(cut, pixels("band"), 1, "band_mean")
        distance = n("Abs", [n("Sub", [n("Add", [near, near], "near2"), f("one_n", 1.0)],
                               "near_c")], "near_abs")
        uncertain = n("Clip", [n("Mul", [n("Sub", [f("one_u", 1.0), distance], "closeness"),
                                         f("u_gain", 4.0)], "closeness2"),
                               f("u_lo", 0.0), f("u_hi", 1.0)], "uncertain")

        # Colour decides most edges (hair against a wall of the same brightness), so two colour
        # guided filters refine the matte at the working size: a wide one that moves the edge
        # to the frame's own, then a narrow, weakly regularised one that sharpens it.
        wide = self.color_guided_filter(rgb, p, pixels("edge_radius"), "edge_eps", "cgf1")
        narrow = self.color_guided_filter(rgb, wide, pixels("edge_radius", SECOND_PASS_DIVISOR),
                                          f("fine_eps", FINE_EPS), "cgf2")
        # The last, luminance-guided pass only carries that matte to full resolution: its
        # coefficients are what the full-size frame is multiplied with.
        a, b = self.guided_filter(guide, narrow, i("upsample_radius", [1]),
                                  f("upsample_eps", FINE_EPS))
        # In the band the matte is v = s*(a*I + b) + (1-s)*p, steepened about the threshold,
        # T(v) = k*(v - threshold) + 1/2; outside it, the hard cut. As A*I + B at working size:
        k = f("contrast", EDGE_CONTRAST)
        u_k = n("Mul", [uncertain, k], "u_k")
        coef_a = n("Mul", [n("Mul", [u_k, "edge_strength"], "u_k_s"), a], "coef_a")
        band_b = n("Sub", [n("Add", [n("Mul", ["edge_strength", n("Sub", [b, p], "b_minus_p")],
                                           "s_b_p"), p], "band_b"), "threshold"], "band_b_t")
        sure = n("Sub", [f("one_b", 1.0), uncertain], "sure")
        coef_b = n("Sum", [n("Mul", [u_k, band_b], "u_band_b"),
                           n("Mul", [uncertain, f("half", 0.5)], "u_half"),
                           n("Mul", [sure, cut], "sure_cut")], "coef_b")
        self.apply(coef_a, coef_b, uncertain, cut, block, work_hw, padded_hw, hw)

    def on_frame(self, emit: Callable[[str], str], dtype: int, out: str) -> str:
        """``emit``'s result for the frame padded to whole blocks: the frame as it is when no
        padding is needed, else the padded copy."""
        return self.branches(self.unpadded, lambda: emit("frame"),
                             lambda: emit(self.padded_frame), dtype, out)

    def segment(self) -> str:
        """Frame -> the base network's probability at its own resolution, as [1, 1, h, w]."""
        n, h, w = self.n, *self.base_hw
        sizes = self.i("base_sizes", [1, h, w, 3])
        # Bilinear on uint8, as MediaPipe's own ImageToTensor does (no antialiasing).
        small = self.on_frame(lambda frame: n("Resize", [
            n("Unsqueeze", [frame, self.i("axis0", [0])], "frame_nhwc"), "", "", sizes],
            "base_rgb", mode="linear", coordinate_transformation_mode="half_pixel"),
            TensorProto.UINT8, "base_rgb_u8")
        x = n("Mul", [n("Cast", [small], "base_rgb_f", to=TensorProto.FLOAT),
                      self.f("inv255", 1.0 / 255.0)], "base_input")
        return n("Transpose", [self.inline_base(x)], "prob_nchw", perm=[0, 3, 1, 2])

    def inline_base(self, x: str) -> str:
        """Copy the base network into this graph under a 'seg/' prefix; return its output."""
        graph = self.base.graph
        rename = {graph.input[0].name: x}
        for init in graph.initializer:
            rename[init.name] = self.g.constant("seg/" + init.name, numpy_helper.to_array(init))
        for node in graph.node:
            outputs = [rename.setdefault(o, self.g.unique("seg/" + o)) for o in node.output]
            inputs = [rename[i] if i else "" for i in node.input]
            copy = helper.make_node(node.op_type, inputs, outputs, name=outputs[0])
            copy.attribute.extend(node.attribute)
            self.g.nodes.append(copy)
        return rename[graph.output[0].name]

    def branches(self, condition: str, then: Callable[[], str], otherwise: Callable[[], str],
                 dtype: int, out: str, output: str | None = None) -> str:
        """An ``If`` node whose two branches are emitted by ``then`` and ``otherwise``;
        ``output`` names its output exactly (a graph output), else it is made unique from
        ``out``."""
        graphs = []
        for emit in (then, otherwise):
            outer, self.g.nodes = self.g.nodes, []
            try:
                result = emit()
                graphs.append(helper.make_graph(
                    self.g.nodes, self.g.unique(out + "_branch"), [],
                    [helper.make_tensor_value_info(result, dtype, None)]))
            finally:
                self.g.nodes = outer
        if output is None:
            return self.n("If", [condition], out, then_branch=graphs[0], else_branch=graphs[1])
        self.g.nodes.append(helper.make_node("If", [condition], [output], name=output,
                                             then_branch=graphs[0], else_branch=graphs[1]))
        return output

    def resize(self, x: str, sizes: str, out: str) -> str:
        return self.n("Resize", [x, "", "", sizes], out, mode="linear",
                      coordinate_transformation_mode="half_pixel")

    def box(self, x: str, radius: str, channels: int, out: str) -> str:
        """Mean over a (2r+1)^2 window with replicated borders, for a radius known at run time.

        A depthwise convolution takes its weights as a runtime tensor, so the radius can be a
        graph input while the work stays in ONNX Runtime's convolution kernels. Kernels and
        paddings are made once per (radius, channels) and shared by every filter that uses them.
        """
        pads, row, column = self._box_kernels(radius, channels)
        padded = self.n("Pad", [x, pads], out + "_pad", mode="edge")
        rows = self.n("Conv", [padded, row], out + "_rows", group=channels)
        return self.n("Conv", [rows, column], out, group=channels)

    def _box_kernels(self, radius: str, channels: int) -> tuple[str, str, str]:
        key = (radius, channels)
        if key not in self.kernels:
            n, i = self.n, self.i
            tag = f"box_{radius}_{channels}"
            width = n("Add", [n("Add", [radius, radius], tag + "_2r"), i(tag + "_1", [1])],
                      tag + "_k")
            weight = n("Reciprocal", [n("Cast", [width], tag + "_kf", to=TensorProto.FLOAT)],
                       tag + "_w")
            lead = i(tag + "_lead", [channels, 1])
            one = i(tag + "_one", [1])
            zeros = i(tag + "_zeros", [0, 0])
            self.kernels[key] = (
                n("Concat", [zeros, radius, radius, zeros, radius, radius], tag + "_pads", axis=0),
                n("Expand", [weight, n("Concat", [lead, one, width], tag + "_rshape", axis=0)],
                  tag + "_row"),
                n("Expand", [weight, n("Concat", [lead, width, one], tag + "_cshape", axis=0)],
                  tag + "_column"),
            )
        return self.kernels[key]

    def small_rgb(self, work_hw: str) -> str:
        """The frame at the working size as float RGB in [0, 1], NCHW: the colour guide."""
        n = self.n
        sizes = n("Concat", [self.i("one_n", [1]), work_hw, self.i("three", [3])], "rgb_sizes",
                  axis=0)
        small = self.on_frame(lambda frame: n("Resize", [
            n("Unsqueeze", [frame, self.i("axis0_s", [0])], "frame_nhwc_s"), "", "", sizes],
            "rgb_work_resize", mode="linear", coordinate_transformation_mode="half_pixel"),
            TensorProto.UINT8, "rgb_work_u8")
        rgb = n("Mul", [n("Cast", [small], "rgb_work_f", to=TensorProto.FLOAT),
                        self.f("inv255_s", 1.0 / 255.0)], "rgb_work_nhwc")
        return n("Transpose", [rgb], "rgb_work", perm=[0, 3, 1, 2])

    def color_guided_filter(self, rgb: str, target: str, radius: str, eps: str, out: str) -> str:
        """He, Sun & Tang's colour-guided filter at the working size; returns its output.

        Per pixel it solves a 3x3 system (the guide's colour covariance plus eps) for the linear
        model target ~ a . rgb + b. The closed-form inverse is written on whole 3-channel
        tensors, with channels rotated by one or two places, so it stays a handful of
        element-wise nodes: with channels i, i+1, i+2 (mod 3), diagonal d = (rr, gg, bb) and
        off-diagonal o = (rg, gb, br), the cofactors are
            kd[i] = d[i+1] d[i+2] - o[i+1]^2,     ko[i] = o[i+1] o[i+2] - o[i] d[i+2],
        det = (sum d kd + 2 sum o ko) / 3, and a[i] = (kd[i] x[i] + ko[i] x[i+1]
        + ko[i+2] x[i+2]) / det for the colour-target covariance x.
        """
        n = self.n

        def mul(p: str, q: str) -> str:
            return n("Mul", [p, q], f"{out}_mul")

        def sub(p: str, q: str) -> str:
            return n("Sub", [p, q], f"{out}_sub")

        def channel_sum(p: str) -> str:
            return n("ReduceSum", [p, self.i(f"{out}_ch", [1])], f"{out}_csum", keepdims=1)

        stack = n("Concat", [rgb, target, mul(rgb, target), mul(rgb, rgb),
                             mul(rgb, self.rotate(rgb, 1))], f"{out}_stack", axis=1)
        m_i, m_p, c_ip, c_ii, c_ij = self.split(self.box(stack, radius, 13, f"{out}_means"),
                                                [3, 1, 3, 3, 3], f"{out}_m")
        x = sub(c_ip, mul(m_i, m_p))
        d = n("Add", [sub(c_ii, mul(m_i, m_i)), eps], f"{out}_d")
        o = sub(c_ij, mul(m_i, self.rotate(m_i, 1)))
        d1, d2, o1 = self.rotate(d, 1), self.rotate(d, 2), self.rotate(o, 1)
        kd = sub(mul(d1, d2), mul(o1, o1))
        ko = sub(mul(o1, self.rotate(o, 2)), mul(o, d2))
        det = n("Div", [n("Add", [channel_sum(mul(d, kd)),
                                  mul(channel_sum(mul(o, ko)), self.f(f"{out}_two", 2.0))],
                          f"{out}_det3"), self.f(f"{out}_three", 3.0)], f"{out}_det")
        adjugate_x = n("Sum", [mul(kd, x), mul(ko, self.rotate(x, 1)),
                               mul(self.rotate(ko, 2), self.rotate(x, 2))], f"{out}_adjx")
        a = n("Div", [adjugate_x, det], f"{out}_a")
        b = sub(m_p, channel_sum(mul(a, m_i)))
        mean_a, mean_b = self.split(self.box(n("Concat", [a, b], f"{out}_ab", axis=1), radius,
                                             4, f"{out}_coefs"), [3, 1], f"{out}_mean")
        q = n("Add", [channel_sum(mul(mean_a, rgb)), mean_b], f"{out}_q")
        return n("Clip", [q, self.f(f"{out}_lo", 0.0), self.f(f"{out}_hi", 1.0)], out)

    def rotate(self, x: str, places: int) -> str:
        """The 3 channels of x, rotated: channel i of the result is channel i + places of x."""
        order = [(k + places) % 3 for k in range(3)]
        return self.n("Gather", [x, self.i(f"rot{places}", order)], f"{x}_rot{places}", axis=1)

    def guided_filter(self, guide: str, target: str, radius: str, eps: str
                      ) -> tuple[str, str]:
        """A grey-guided filter at the working size: its mean coefficients (a, b)."""
        n = self.n
        stack = n("Concat", [guide, target, n("Mul", [guide, target], "gp"),
                             n("Mul", [guide, guide], "gg")], "gf_stack", axis=1)
        mean_i, mean_p, corr_ip, corr_ii = self.split(self.box(stack, radius, 4, "gf_means"), 4,
                                                      "gf_m")
        var_i = n("Sub", [corr_ii, n("Mul", [mean_i, mean_i], "mean_i2")], "var_i")
        cov_ip = n("Sub", [corr_ip, n("Mul", [mean_i, mean_p], "mean_ip")], "cov_ip")
        a = n("Div", [cov_ip, n("Add", [var_i, eps], "var_eps")], "gf_a")
        b = n("Sub", [mean_p, n("Mul", [a, mean_i], "a_mean_i")], "gf_b")
        coefs = self.box(n("Concat", [a, b], "gf_ab", axis=1), radius, 2, "gf_coefs")
        mean_a, mean_b = self.split(coefs, 2, "gf_mean")
        return mean_a, mean_b

    def split(self, x: str, parts: int | list[int], out: str, axis: int = 1) -> list[str]:
        """Channels of an NCHW tensor (or entries along another axis) as separate tensors: one
        each, or groups of given sizes."""
        sizes = [1] * parts if isinstance(parts, int) else parts
        names = [self.g.unique(f"{out}{k}") for k in range(len(sizes))]
        self.g.nodes.append(helper.make_node("Split", [x, self.i(out + "_sizes", sizes)], names,
                                             name=names[0], axis=axis))
        return names

    def apply(self, coef_a: str, coef_b: str, uncertain: str, cut: str, block: str,
              work_hw: str, padded_hw: str, hw: str) -> None:
        """Upsample the coefficients and apply them per pixel: alpha = 255*(A*I + B) as uint8.

        Outside the band A is 0 and B the hard cut, so only the blocks in and next to the band
        (a pixel's bilinear sources are its own block's and its neighbours' coefficients) need
        the full-resolution multiply-add; everywhere else the alpha is the cut, 0 or 255, copied
        up block by block. On a webcam frame the band covers a fifth of the blocks or less, so
        this replaces a dozen float passes over the whole frame by a few gathers and one copy of
        one byte a pixel.
        """
        n, i = self.n, self.i
        h, w = self.split(work_hw, 2, "work", axis=0)
        row_shape = n("Concat", [i("rows_lead", [-1]), block], "row_shape", axis=0)
        # The band's blocks, grown by one. At the band's outer edge `uncertain` is at least
        # 8/(2r+1)^2 for a band radius of r working pixels: above the floor for any r under 141,
        # and far above the float noise (about 1e-7) a sure region carries.
        grown = n("MaxPool", [uncertain], "band_grown", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        in_band = n("Greater", [grown, self.f("band_floor", 1e-4)], "in_band")
        cells = n("Reshape", [n("NonZero", [n("Reshape", [in_band, i("flat", [-1])],
                                             "in_band_flat")], "band_nonzero"),
                              i("flat_cells", [-1])], "band_cells")  # y * w + x
        # Their rows, in a frame cut into rows of k pixels: (y * k + j) * w + x for j < k.
        first = n("Add", [cells, n("Mul", [n("Div", [cells, w], "band_y"),
                                           n("Mul", [w, n("Sub", [block, i("one_k", [1])],
                                                          "k_1")], "row_skip")],
                                   "band_skip")], "band_first")
        steps = n("Mul", [n("Range", [i("range_start", 0), n("Squeeze", [block], "k_scalar"),
                                      i("range_step", 1)], "block_rows"), w], "row_steps")
        rows = n("Add", [n("Unsqueeze", [first, i("rows_axis", [1])], "band_first1"), steps],
                 "band_rows")  # [m, k]
        a_band, b_band = self.band_coefficients(coef_a, coef_b, cells, block)
        value = n("Add", [n("Mul", [a_band, self.band_luminance(rows, block, row_shape)],
                            "band_a_luma"), b_band], "band_value")
        # QuantizeLinear rounds and saturates to 0..255 in one fast kernel.
        band_alpha = n("Reshape", [n("QuantizeLinear", [value, self.f("unit_scale", 1.0),
                                                        self.c("zero_u8", np.uint8(0))],
                                     "band_alpha_u8"), row_shape], "band_alpha")
        sure = self.sure_rows(cut, block, h, padded_hw, row_shape)
        at = n("Reshape", [rows, i("scatter_at", [-1, 1])], "band_at")

        def scatter() -> str:
            alpha = n("ScatterND", [sure, at, band_alpha], "alpha_rows")
            return n("Reshape", [alpha, padded_hw], "alpha_padded")

        # The padding is cut off in the If, so that the usual path's alpha is not copied again.
        self.branches(self.unpadded, scatter,
                      lambda: n("Slice", [scatter(), i("zero_cut", [0, 0]), hw], "alpha_cut"),
                      TensorProto.UINT8, "alpha", output="alpha")

    def band_luminance(self, rows: str, block: str, row_shape: str) -> str:
        """Luminance (0..LUMA_MAX) of the listed rows of k pixels, as [m, k * k]: the rows
        gathered from the frame, then one integer product with a block-diagonal weight."""
        n, i = self.n, self.i
        rgb_rows = n("Mul", [row_shape, i("rgb3", [1, 3])], "rgb_row_shape")
        pixels = self.on_frame(lambda frame: n("Gather", [
            n("Reshape", [frame, rgb_rows], "frame_rows"), rows], "band_gather", axis=0),
            TensorProto.UINT8, "band_pixels")  # [m, k, 3k]
        eye = n("EyeLike", [n("ConstantOfShape", [n("Concat", [block, block], "eye_shape",
                                                    axis=0)], "eye_zeros")], "eye")
        kron = n("Mul", [n("Unsqueeze", [eye, i("eye_axis", [1])], "eye3"),
                         self.c("luma_column", LUMA.astype(np.float32).reshape(1, 3, 1))],
                 "luma_kron")
        weights = n("Cast", [n("Reshape", [kron, row_shape], "luma_weights_f")], "luma_weights",
                    to=TensorProto.UINT8)  # [3k, k]
        luma = n("Cast", [n("MatMulInteger", [pixels, weights], "band_luma_int")],
                 "band_luma_f", to=TensorProto.FLOAT)
        return n("Reshape", [luma, n("Concat", [i("luma_lead", [-1]),
                                                n("Mul", [block, block], "k2")],
                                     "luma_shape", axis=0)], "band_luma")

    def band_coefficients(self, coef_a: str, coef_b: str, cells: str, block: str
                          ) -> tuple[str, str]:
        """The listed blocks' k x k coefficients, scaled for LUMA_MAX in and 255 out, as
        [1, m, k * k] each: a product of each block's 3 x 3 neighbourhood of working-size
        coefficients (replicated at the borders) with the bilinear weights, half-pixel centres
        as a bilinear resize places them."""
        n, f, i = self.n, self.f, self.i
        scaled = n("Concat", [n("Mul", [coef_a, f("a_scale", 255.0 / LUMA_MAX)], "a255"),
                              n("Mul", [coef_b, f("b_scale", 255.0)], "b255")],
                   "coefs255", axis=0)  # [2, 1, h, w]
        around = n("Conv", [n("Pad", [scaled, i("around_pads", [0, 0, 1, 1, 0, 0, 1, 1])],
                              "coefs_padded", mode="edge"),
                            self.c("neighbourhood", np.eye(9, dtype=np.float32)
                                   .reshape(9, 1, 3, 3))], "coefs_around")  # [2, 9, h, w]
        near = n("Transpose", [n("Gather", [n("Reshape", [around, i("around_flat", [2, 9, -1])],
                                              "around_cells"), cells], "band_around", axis=2)],
                 "band_near", perm=[0, 2, 1])  # [2, m, 9]
        # Pixel j of a block lies t = (j + 0.5) / k - 0.5 blocks from the block's centre,
        # between it and its left (t < 0) or right (t > 0) neighbour; the same down a column.
        kf = n("Cast", [block], "block_f", to=TensorProto.FLOAT)
        j = n("Range", [f("range0", 0.0), n("Squeeze", [kf], "block_scalar"), f("range1", 1.0)],
              "sub_pixels")
        t = n("Sub", [n("Div", [n("Add", [j, f("centre", 0.5)], "sub_centres"), kf], "sub_pos"),
                      f("half_block", 0.5)], "sub_offset")
        spread = n("Concat", [n("Relu", [n("Neg", [t], "sub_left")], "w_left"),
                              n("Sub", [f("one_w", 1.0), n("Abs", [t], "sub_abs")], "w_own"),
                              n("Relu", [t], "w_right")], "spread", axis=0)  # [3 * k]
        down = n("Reshape", [spread, n("Concat", [i("sy_lead", [3, 1]), block, i("sy_tail", [1])],
                                       "sy_shape", axis=0)], "spread_y")  # [3, 1, k, 1]
        across = n("Reshape", [spread, n("Concat", [i("sx_lead", [1, 3, 1]), block], "sx_shape",
                                         axis=0)], "spread_x")  # [1, 3, 1, k]
        weights = n("Reshape", [n("Mul", [down, across], "spread_yx"),
                                n("Concat", [i("nine", [9]), n("Mul", [block, block], "kk")],
                                  "spread2d_shape", axis=0)], "spread2d")  # [9, k * k]
        a_band, b_band = self.split(n("MatMul", [near, weights], "band_coefs"), 2, "band_coef",
                                    axis=0)
        return a_band, b_band

    def sure_rows(self, cut: str, block: str, h: str, padded_hw: str, row_shape: str) -> str:
        """The hard cut at full resolution, 0 or 255, as rows of k pixels: each working pixel
        widened to k pixels by a product, then each row repeated k times by a row gather (both
        far cheaper in ONNX Runtime than a broadcast)."""
        n, i = self.n, self.i
        widen = n("ConstantOfShape", [n("Concat", [i("one_row", [1]), block], "widen_shape",
                                        axis=0)],
                  "widen", value=numpy_helper.from_array(np.ones(1, np.float32)))
        cells = n("Reshape", [n("Mul", [cut, self.f("cut_scale", 255.0)], "cut255"),
                              i("cut_column", [-1, 1])], "cut_cells")
        widened = n("Cast", [n("MatMul", [cells, widen], "cut_rows")], "cut_rows_u8",
                    to=TensorProto.UINT8)
        height = n("Squeeze", [self.split(padded_hw, 2, "padded", axis=0)[0]], "padded_height")
        repeat = n("Div", [n("Range", [i("row0", 0), height, i("row1", 1)], "frame_rows_at"),
                           block], "row_blocks")
        sure = n("Gather", [n("Reshape", [widened, n("Concat", [h, i("row_rest", [-1])],
                                                     "sure_shape", axis=0)], "sure_cells"),
                            repeat], "sure_blocks", axis=0)
        return n("Reshape", [sure, row_shape], "sure_rows")


def build(base: onnx.ModelProto, base_hw: tuple[int, int], name: str) -> onnx.ModelProto:
    """The matting graph around one base segmentation network."""
    m = _Matting(base, base_hw)
    for knob in KNOBS:
        m.g.initializers.append(numpy_helper.from_array(np.float32(knob.default), knob.name))
    m.build()
    inputs = [helper.make_tensor_value_info("frame", TensorProto.UINT8, ["height", "width", 3],
                                            doc_string="RGB frame, any size")]
    inputs += [helper.make_tensor_value_info(k.name, TensorProto.FLOAT, [], doc_string=k.doc)
               for k in KNOBS]
    outputs = [helper.make_tensor_value_info("alpha", TensorProto.UINT8, ["height", "width"],
                                             doc_string="alpha matte, 255 = person")]
    doc = (f"obs-bgremover matting graph ({name}): frame -> MediaPipe Selfie Segmentation -> "
           "trimap -> fast guided filter -> full-resolution alpha. Built by "
           "scripts/build_matting_model.py.")
    return m.g.model(f"bgremover_{name}", inputs, outputs, opset=OPSET, ir_version=IR_VERSION,
                     doc=doc, producer="obs-bgremover build_matting_model.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path,
                        default=Path(__file__).resolve().parents[1] / "models",
                        help="folder with the base networks; the graphs are written there too")
    parser.add_argument("--out", type=Path, help="output folder (default: --models)")
    args = parser.parse_args(argv)
    out_dir = args.out or args.models
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (filename, base_hw) in BASE_MODELS.items():
        model = build(onnx.load(args.models / filename), base_hw, name)
        path = out_dir / f"bgremover-{name}.onnx"
        path.write_bytes(model.SerializeToString(deterministic=True))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
