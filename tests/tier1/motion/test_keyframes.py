"""Motion keyframes, step ranges and block weights (motion/keyframes.py), on a hand-made sigma
schedule with a linear percent -> sigma map, so every expected value is worked out by hand."""
import pytest

from steadyframe.motion.keyframes import (
    BlockWeight,
    BlockWeights,
    MotionControl,
    MotionKeyframe,
    add_keyframe,
    combine,
    module_position,
    parse_block_weights,
    resolve,
)

# 5 steps from sigma 10 down; percent p <-> sigma 10 * (1 - p) (p <= 0 is "before everything")
SIGMAS = [10.0, 8.0, 6.0, 4.0, 2.0, 0.0]


def p2s(percent):
    if percent <= 0.0:
        return 999999999.9
    return 10.0 * (1.0 - percent)


def at(control, step):
    return resolve(control, SIGMAS[step], SIGMAS, p2s)


def test_combine_multiplies_floats_and_frame_lists():
    assert combine(None, None) is None and combine(2.0, None) == 2.0 and combine(None, [1.0]) == [1.0]
    assert combine(2.0, 3.0) == 6.0
    assert combine([1.0, 2.0], 3.0) == [3.0, 6.0]
    assert combine([1.0, 2.0, 3.0], [2.0]) == [2.0, 4.0, 6.0]  # the short list repeats its last value


def test_scale_keyframe_switches_at_its_percent():
    control = MotionControl(scale=2.0, keyframes=add_keyframe((), MotionKeyframe(0.5, scale=1.5)))
    # percent 0.5 is sigma 5: steps at sigma 10, 8, 6 are before it, 4 and 2 after
    assert [at(control, i).scale for i in range(5)] == [2.0, 2.0, 2.0, 3.0, 3.0]
    assert all(at(control, i).effect == 1.0 for i in range(5))


def test_inherit_missing_keeps_or_resets_values():
    first = MotionKeyframe(0.0, scale=1.5, effect=0.5)
    kept = MotionControl(keyframes=add_keyframe((first,), MotionKeyframe(0.5, effect=0.8)))
    reset = MotionControl(keyframes=add_keyframe((first,), MotionKeyframe(0.5, effect=0.8, inherit_missing=False)))
    assert (at(kept, 4).scale, at(kept, 4).effect) == (1.5, 0.8)
    assert (at(reset, 4).scale, at(reset, 4).effect) == (1.0, 0.8)
    assert (at(kept, 0).scale, at(kept, 0).effect) == (1.5, 0.5)


def test_guarantee_steps_hold_a_keyframe():
    # keyframes at 0.1 and 0.15 both start before step 1 (sigma 8); the first holds 2 steps
    keyframes = add_keyframe(add_keyframe((), MotionKeyframe(0.1, scale=2.0, guarantee_steps=2)), MotionKeyframe(0.15, scale=3.0))
    control = MotionControl(keyframes=keyframes)
    assert [at(control, i).scale for i in range(5)] == [1.0, 2.0, 2.0, 3.0, 3.0]
    skip = MotionControl(keyframes=add_keyframe(add_keyframe((), MotionKeyframe(0.1, scale=2.0, guarantee_steps=0)),
                                                MotionKeyframe(0.15, scale=3.0)))
    assert [at(skip, i).scale for i in range(5)] == [1.0, 3.0, 3.0, 3.0, 3.0]


def test_step_range_turns_the_model_off_outside():
    first_half = MotionControl(end_percent=0.5)
    second_half = MotionControl(start_percent=0.5)
    assert [at(first_half, i).active for i in range(5)] == [True, True, True, False, False]
    assert [at(second_half, i).active for i in range(5)] == [False, False, False, True, True]
    assert at(first_half, 4).for_module("down_blocks.0.motion_modules.0")[1] == 0.0
    with pytest.raises(ValueError, match="start_percent <= end_percent"):
        MotionControl(start_percent=0.6, end_percent=0.5)


def test_block_weights_most_specific_entry_wins():
    weights = BlockWeights((BlockWeight("down", effect=0.5, scale=1.0), BlockWeight("down", 1, effect=0.25),
                            BlockWeight("down", 1, 1, scale=2.0), BlockWeight("up", 3, effect=0.0)))
    resolved = at(MotionControl(scale=1.5, effect=0.8, blocks=weights), 0)
    assert resolved.for_module("down_blocks.0.motion_modules.0") == (1.5, 0.4)
    assert resolved.for_module("down_blocks.1.motion_modules.0") == (1.5, 0.2)
    assert resolved.for_module("down_blocks.1.motion_modules.1") == (3.0, 0.2)
    assert resolved.for_module("up_blocks.3.motion_modules.2") == (1.5, 0.0)
    assert resolved.for_module("mid_block.motion_modules.0") == (1.5, 0.8)


def test_keyframe_block_weights_replace_the_models():
    model_weights = BlockWeights((BlockWeight("up", effect=0.5),))
    later = BlockWeights((BlockWeight("down", effect=0.0),))
    control = MotionControl(blocks=model_weights, keyframes=add_keyframe((), MotionKeyframe(0.5, blocks=later)))
    assert at(control, 0).for_module("up_blocks.0.motion_modules.0")[1] == 0.5
    assert at(control, 4).for_module("up_blocks.0.motion_modules.0")[1] == 1.0
    assert at(control, 4).for_module("down_blocks.0.motion_modules.0")[1] == 0.0


def test_per_frame_keyframe_values():
    control = MotionControl(effect=[1.0, 0.5], keyframes=add_keyframe((), MotionKeyframe(0.0, effect=[1.0, 1.0, 0.0])))
    assert at(control, 0).effect == [1.0, 0.5, 0.0]


def test_block_text_and_module_keys():
    assert module_position("down_blocks.2.motion_modules.1") == ("down", 2, 1)
    assert module_position("mid_block.motion_modules.0") == ("mid", 0, 0)
    parsed = parse_block_weights("down: 0.5, up_3: 1.2; up_1.2: 0", "scale", "scale_per_block")
    assert parsed == [BlockWeight("down", scale=0.5), BlockWeight("up", 3, scale=1.2), BlockWeight("up", 1, 2, scale=0.0)]
    with pytest.raises(ValueError, match=r"scale_per_block: item 2 \('side_1: 2'\)"):
        parse_block_weights("down: 1, side_1: 2", "scale", "scale_per_block")
    with pytest.raises(ValueError, match="'x' is not a number"):
        parse_block_weights("mid: x", "effect", "effect_per_block")


def test_keyframe_checks():
    with pytest.raises(ValueError, match="start_percent"):
        MotionKeyframe(1.5)
    keyframes = add_keyframe(add_keyframe((), MotionKeyframe(0.7, scale=1.0)), MotionKeyframe(0.2, scale=2.0))
    assert [k.start_percent for k in keyframes] == [0.2, 0.7]
    assert MotionControl().varies is False and MotionControl(end_percent=0.5).varies is True
