"""Per-frame motion-module settings from Load Motion Module's number, text and FLOATS inputs."""
import pytest

from steadyframe.motion.per_frame import frame_setting, parse_frame_values


def test_per_frame_values_are_parsed_with_positions_in_errors():
    assert parse_frame_values("1.25", "x") == 1.25
    assert parse_frame_values("0, 0.5; 1", "x") == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"effect_per_frame: item 2 \('abc'\) is not a number"):
        parse_frame_values("1, abc", "effect_per_frame")
    with pytest.raises(ValueError, match="effect_per_frame: empty"):
        parse_frame_values(" , ;", "effect_per_frame")


def test_floats_override_text_which_overrides_the_number():
    assert frame_setting(0.7) == 0.7
    assert frame_setting(0.7, "  ") == 0.7
    assert frame_setting(0.7, "1, 0.5") == [1.0, 0.5]
    assert frame_setting(0.7, "1, 0.5", floats=(0.25, 0)) == [0.25, 0.0]
    with pytest.raises(ValueError, match=r"motion_scale_per_frame: item 1 \('x'\)"):
        frame_setting(0.7, "x", name="motion_scale_per_frame")
