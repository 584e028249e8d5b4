"""Presentations: a badge brought in, held about a second, deterministic per seed."""

from __future__ import annotations

import numpy as np
import pytest

from presensi.hardware.decoder_zxing import ZxingDecoder
from presensi.hardware.field_frames import FieldCondition
from presensi.hardware.field_presentations import field_presentation


def test_a_presentation_is_the_same_for_the_same_seed() -> None:
    a = field_presentation(3, FieldCondition.GLARE)
    b = field_presentation(3, FieldCondition.GLARE)
    assert a.text == b.text and a.fps == b.fps
    assert np.array_equal(a.frame_at(4), b.frame_at(4))
    assert not np.array_equal(a.frame_at(4), a.frame_at(5))  # the hand moves


@pytest.mark.parametrize("seed", range(4))
def test_timing_follows_the_frame_rate_and_hold(seed: int) -> None:
    p = field_presentation(seed, FieldCondition.TYPICAL)
    assert 10 <= p.fps <= 30 and 0 <= p.phase_s < 1 / p.fps
    assert 0.95 <= p.duration_s <= 1.55
    last = p.frame_count() - 1
    assert p.frame_time(last) <= p.duration_s < p.frame_time(last + 1)


def test_the_card_comes_to_rest_and_reads() -> None:
    p = field_presentation(1, FieldCondition.TYPICAL)
    decoder = ZxingDecoder()
    rest = p.frame_count() - 1
    assert decoder.decode(p.frame_at(rest)) == [p.text]
    first, settled = p.frame_at(0), p.frame_at(rest)
    assert first.shape == settled.shape == (p.size[1], p.size[0])


def test_a_shaking_hand_blurs_some_frames_not_all() -> None:
    p = field_presentation(2, FieldCondition.MOTION)
    assert p.look.look.motion is None  # no blur fixed for the whole presentation
    assert max(a for a, _, _ in p.motion.tremor) > 1.0  # px: a large sway
