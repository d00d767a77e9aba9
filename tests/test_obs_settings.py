"""The OBS filter's settings as read from OBS's JSON: defaults, replacements and what is said."""

from __future__ import annotations

import pytest

from obs_bgremover.obs.settings import (
    DEFAULT_COLOR,
    DEFAULT_EDGE_RADIUS,
    DEFAULT_THRESHOLD,
    THRESHOLD_RANGE,
    FilterSettings,
    settings_from_json,
)


def test_values_not_set_are_the_defaults() -> None:
    """A value of the wrong type, once cleared, stays in OBS's settings as a key without a
    value: read with ``obs_data_get_double`` it was 0, which the slider's range turned into its
    minimum without a word (threshold 0.05: a halo of wall around the person)."""
    read = settings_from_json({})
    assert read == FilterSettings() and read.notes == ()
    assert (read.threshold, read.edge_radius) == (DEFAULT_THRESHOLD, DEFAULT_EDGE_RADIUS)
    assert read.threshold != THRESHOLD_RANGE[0]


def test_a_choice_that_is_no_text_is_replaced_and_said() -> None:
    """``{"device": {}}`` over obs-websocket raised ``unhashable type: 'dict'``: the whole
    update was dropped, and every later one failed the same way."""
    read = settings_from_json({"device": {}, "model": ["x"], "background": "blur",
                               "threshold": 0.7})
    assert (read.device, read.model, read.kind, read.threshold) == ("auto", "general", "blur",
                                                                    0.7)
    assert read.notes == ("model ['x'] is not one of general, landscape, custom; using general",
                          "device {} is not one of auto, tensorrt, cuda, directml, coreml, cpu; "
                          "using auto")


def test_text_and_switches_of_the_wrong_type_are_replaced_and_said() -> None:
    read = settings_from_json({"image": 5, "low_latency": "yes", "clean_edges": False,
                               "skip_static": True})
    assert (read.image, read.low_latency, read.clean_edges, read.skip_static) == (
        "", False, False, True)
    assert read.notes == ("image 5 is not text; using none",
                          "low_latency 'yes' is not true or false; using false")


@pytest.mark.parametrize("color", [2**40, 2**32, -(2**31) - 1, "green", True])
def test_a_colour_that_is_none_is_replaced_and_said(color: object) -> None:
    """A number past 32 bits (over obs-websocket) was masked to them: 2**40 came out black,
    without a word."""
    read = settings_from_json({"background": "color", "color": color})
    assert read.color == DEFAULT_COLOR
    assert read.notes == (f"color {color!r} is not a colour (0xAABBGGRR); using the default",)


@pytest.mark.parametrize(("color", "meant"), [(-1, 0xFFFFFFFF), (-16731840, 0xFF00B140)])
def test_a_signed_colour_is_read_as_obs_reads_it(color: int, meant: int) -> None:
    """OBS takes a colour's 32 bits, signed or not (a Lua script's, a websocket client's)."""
    read = settings_from_json({"background": "color", "color": color})
    assert (read.color, read.notes) == (meant, ())

