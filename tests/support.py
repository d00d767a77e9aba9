"""Helpers the tests share that are not fixtures: made-up frames, and the rule for missing
dependencies. A module of its own, since ``conftest`` is not importable by name once
there is more than one (tests/ and tests/obs/ each have theirs)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import av
import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

T = TypeVar("T")


def poll(measure: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    """``measure()`` again until ``done`` holds for it or ``timeout`` passes; the last value."""
    deadline = time.monotonic() + timeout
    value = measure()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = measure()
    return value


def missing(what: str) -> None:
    """Fail under CI, where everything must be present; skip on a developer's machine."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (required when CI is set)")
    pytest.skip(f"{what} is missing")


def command(*args: object, **popen: object) -> subprocess.Popen:
    """``obs-bgremover ARGS`` in a process of its own, as a user starts it, so that a signal
    sent to it reaches it alone; ``popen``: `subprocess.Popen`'s options."""
    return subprocess.Popen([sys.executable, "-m", "obs_bgremover", *map(str, args)], **popen)


def require_obs() -> None:
    """What a real OBS under Xvfb needs here: the programs and the websocket client."""
    for program in ("obs", "Xvfb"):
        if shutil.which(program) is None:
            missing(f"{program} (apt-get install obs-studio xvfb, or python install.py --test)")
    try:
        import obsws_python  # noqa: F401
    except ImportError:
        missing("obsws-python (pip install -e .[dev])")


def synthetic_frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Deterministic RGB frames with some structure (a gradient and a moving square)."""
    frames = []
    for index in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)
        frame[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
        frame[8:24, 4 + 4 * index : 20 + 4 * index, 2] = 255
        frames.append(frame)
    return frames


def on_its_side(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` as a phone stores it for a player to turn by ``rotation`` degrees
    counter-clockwise (a multiple of 90) to show it upright."""
    return np.ascontiguousarray(np.rot90(image, k=-rotation // 90))


def phone_jpeg(path: Path, upright: np.ndarray) -> Path:
    """An RGB picture as a phone writes a portrait photo: its pixels stored turned a quarter
    clockwise, and EXIF orientation 8, which tells a viewer to turn them back."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(on_its_side(upright, 90), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    # A big-endian TIFF header, one IFD entry (Orientation, SHORT, 1 value: 8), no next IFD.
    tiff = (b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 8, 0)
            + struct.pack(">I", 0))
    exif = b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:])
    return path


def hdr_clip(path: Path, frames: list[np.ndarray], transfer: str) -> Path:
    """SDR RGB frames as a phone's HDR clip: BT.2020 colours, ``transfer`` ``"pq"`` or
    ``"hlg"``, 10-bit H.264, tagged so. SDR white becomes HDR reference white (203 cd/m²,
    ITU-R BT.2408); the formulas are the standards' forward ones (BT.2087's BT.709 -> BT.2020
    matrix, ST 2084's inverse EOTF, BT.2100's inverse HLG OOTF and OETF)."""
    to_bt2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114],
                          [0.0164, 0.0880, 0.8956]])
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p10le"
        context = stream.codec_context
        context.colorspace = context.color_primaries = 9  # BT.2020 (non-constant luminance)
        context.color_trc, context.color_range = (16 if transfer == "pq" else 18), 1
        for frame in frames:
            nits = 203 * ((frame / 255) ** 2.4 @ to_bt2020.T)
            if transfer == "pq":
                m1, m2 = 2610 / 16384, 2523 / 4096 * 128
                c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
                power = (nits / 10000) ** m1
                signal = ((c1 + c2 * power) / (1 + c3 * power)) ** m2
            else:
                display = nits / 1000
                luminance = np.maximum(display @ [0.2627, 0.6780, 0.0593], 1e-9)[..., None]
                scene = luminance ** (-0.2 / 1.2) * display
                a = 0.17883277
                b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
                signal = np.where(scene <= 1 / 12, np.sqrt(3 * scene),
                                  a * np.log(np.maximum(12 * scene - b, 1e-9)) + c)
            codes = (np.clip(signal, 0, 1) * 65535 + 0.5).astype(np.uint16)
            encoded = av.VideoFrame.from_ndarray(codes, format="rgb48le").reformat(
                format="yuv420p10le", dst_colorspace=9, dst_color_range=1)
            output.mux(stream.encode(encoded))
        output.mux(stream.encode())
    return path


def heic_file(path: Path) -> Path:
    """The first boxes of a HEIF picture as an iPhone writes it: its 'ftyp' box (brand heic,
    compatible with mif1), then a stub 'meta' box. Enough for a reader to tell the kind."""
    ftyp = b"ftyp" + b"heic" + struct.pack(">I", 0) + b"mif1heic"
    meta = b"meta" + bytes(4) + struct.pack(">I", 33) + b"hdlr" + bytes(8) + b"pict" + bytes(13)
    path.write_bytes(struct.pack(">I", len(ftyp) + 4) + ftyp
                     + struct.pack(">I", len(meta) + 4) + meta)
    return path


def frame_times(path: Path) -> list[float]:
    """When each decoded frame of a video's first video stream is shown, in seconds."""
    with av.open(str(path)) as container:
        return [frame.time for frame in container.decode(video=0)]


def packet_span(path: Path, kind: str) -> tuple[float, float]:
    """When the first packet of a file's first ``kind`` ("video", "audio") stream starts and
    its last one ends, in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.get(**{kind: 0})[0]
        times = [(float(packet.pts * packet.time_base),
                  float((packet.pts + packet.duration) * packet.time_base))
                 for packet in container.demux(stream) if packet.pts is not None]
    return min(start for start, _ in times), max(end for _, end in times)


def held_last_frame(path: Path, frames: list[np.ndarray], fps: int, hold: float) -> Path:
    """RGB frames as an MP4 a screen recorder writes: ``fps`` frames a second while the picture
    changes, then the last picture held ``hold`` seconds longer, no frame written while nothing
    moves. The hold is the duration of the last packet in decoding order, where MP4 keeps it
    (with B-frames, not the last frame shown), so the track lasts that much longer than its
    frames' times show."""
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=fps)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        packets = []
        for index, frame in enumerate(frames):
            encoded = av.VideoFrame.from_ndarray(frame, format="rgb24")
            encoded.pts = index
            packets += video.encode(encoded)
        packets += video.encode()
        packets[-1].duration += round(hold * fps)
        for packet in packets:
            output.mux(packet)
    return path


def without_track_lengths(path: Path) -> Path:
    """A Matroska file as muxers that write no per-track tags leave it: each track's
    ``DURATION`` tag renamed (to a name of the same length, so the file stays valid), so only
    the container's length, its longest track's, is declared. Returns ``path``."""
    data = path.read_bytes()
    assert b"DURATION" in data
    path.write_bytes(data.replace(b"DURATION", b"LASTINGS"))
    return path


def oriented_clip(path: Path, stored: list[np.ndarray], fps: int, rotation: int,
                  hflip: bool = False, vflip: bool = False) -> Path:
    """RGB frames as stored in an MP4 whose display matrix says to turn them ``rotation``
    degrees counter-clockwise, then mirror them left to right (``hflip``) or top to bottom
    (``vflip``), as a phone's mirrored selfie clip or an editor's flip marks them."""
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=fps)
        video.height, video.width = stored[0].shape[:2]
        video.pix_fmt = "yuv444p"
        video.set_display_rotation(rotation, hflip=hflip, vflip=vflip)
        for index, frame in enumerate(stored):
            encoded = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            encoded.pts = index
            output.mux(video.encode(encoded))
        output.mux(video.encode())
    return path


def animation(path: Path, codec: str, frames: list[np.ndarray], fps: int = 10) -> Path:
    """RGB frames as an animated GIF (``codec`` "gif") or PNG ("apng"), ``fps`` frames a second."""
    with av.open(str(path), "w", format=codec) as output:  # the muxers are named as the codecs
        stream = output.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "rgb8" if codec == "gif" else "rgb24"
        for frame in frames:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode())
    return path



def display_p3_profile() -> bytes:
    """An ICC v2 matrix/TRC profile with Display P3's primaries (D50-adapted colourants) and a
    2.2 gamma: what an iPhone embeds in its JPEGs, made here since no such file may ship."""
    def number(value: float) -> bytes:  # s15Fixed16
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + bytes(4) + number(x) + number(y) + number(z)

    text = b"Display P3 (test)\0"
    tags = [(b"desc", b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(79)),
            (b"cprt", b"text" + bytes(4) + b"none\0"),
            (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
            (b"gXYZ", xyz(0.2920, 0.6922, 0.0419)),
            (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
            *[(name, b"curv" + bytes(4) + struct.pack(">IH", 1, round(2.2 * 256)))
              for name in (b"rTRC", b"gTRC", b"bTRC")]]
    bodies = [body + bytes(-len(body) % 4) for _, body in tags]
    offset = 128 + 4 + 12 * len(tags)
    table = b""
    for (name, _), body in zip(tags, bodies, strict=True):
        table += name + struct.pack(">II", offset, len(body))
        offset += len(body)
    content = struct.pack(">I", len(tags)) + table + b"".join(bodies)
    header = (struct.pack(">I", 128 + len(content)) + b"lcms" + struct.pack(">I", 0x02100000)
              + b"mntrRGB XYZ " + bytes(12) + b"acsp" + bytes(16 + 8 + 4)
              + number(0.9642) + number(1.0) + number(0.8249) + bytes(4 + 16 + 28))
    assert len(header) == 128
    return header + content


def broken_graph(path: Path, kind: str) -> Path:
    """A graph with the real interface that loads and then does not work: one that fails on
    every frame (an index past the frame's channels), or one whose alpha is 1x1."""
    frame = helper.make_tensor_value_info("frame", TensorProto.UINT8, ["height", "width", 3])
    alpha = helper.make_tensor_value_info("alpha", TensorProto.UINT8, ["rows", "columns"])
    if kind == "fails":
        index, ends = np.array([100000], np.int64), None
    else:
        index, ends = np.array([0], np.int64), np.array([1, 1], np.int64)
    initializers = [numpy_helper.from_array(index, "index"),
                    numpy_helper.from_array(np.array([2], np.int64), "channel_axis")]
    nodes = [helper.make_node("Gather", ["frame", "index"], ["channel"], axis=2),
             helper.make_node("Squeeze", ["channel", "channel_axis"],
                              ["alpha" if ends is None else "plane"])]
    if ends is not None:
        initializers += [numpy_helper.from_array(np.array([0, 0], np.int64), "starts"),
                         numpy_helper.from_array(ends, "ends")]
        nodes.append(helper.make_node("Slice", ["plane", "starts", "ends"], ["alpha"]))
    graph = helper.make_graph(nodes, kind, [frame], [alpha], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path
