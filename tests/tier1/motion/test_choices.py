"""The fixed choice lists of the motion nodes: the saved strings, their parsing, the auto schedule."""
import pytest

from steadyframe.motion.beta_schedules import BETA_RANGES, BetaSchedule, resolve_beta_schedule
from steadyframe.motion.noise import NoiseMode
from steadyframe.motion.windows import ContextSchedule, FuseMethod, plan_context


def test_values_are_the_strings_saved_workflows_hold():
    assert [s.value for s in BetaSchedule] == ["auto", "sqrt_linear (AnimateDiff)", "linear (HotshotXL/default)",
                                               "linear (AnimateDiff-SDXL)", "lcm (AnimateLCM)", "use existing"]
    assert [s.value for s in ContextSchedule] == ["standard_static", "standard_uniform", "looped_uniform", "batched"]
    assert [s.value for s in FuseMethod] == ["pyramid", "flat", "overlap-linear", "relative"]
    assert [s.value for s in NoiseMode] == ["per-frame", "shared", "mixed", "FreeNoise", "flow-warped"]
    assert f"{BetaSchedule.LCM}" == "lcm (AnimateLCM)" and BetaSchedule.LCM == "lcm (AnimateLCM)"


def test_every_concrete_schedule_has_betas():
    assert set(BETA_RANGES) == set(BetaSchedule) - {BetaSchedule.AUTO, BetaSchedule.USE_EXISTING}
    assert BETA_RANGES[BetaSchedule.SQRT_LINEAR].kind == "sqrt_linear"
    assert BETA_RANGES[BetaSchedule.LINEAR_SDXL].end == 0.020


def test_auto_takes_the_files_schedule_and_others_stay():
    assert resolve_beta_schedule("auto", BetaSchedule.LCM) is BetaSchedule.LCM
    assert resolve_beta_schedule("use existing", BetaSchedule.LCM) is BetaSchedule.USE_EXISTING
    assert resolve_beta_schedule(BetaSchedule.LINEAR, BetaSchedule.SQRT_LINEAR) is BetaSchedule.LINEAR


def test_unknown_choices_name_the_input_and_every_choice():
    with pytest.raises(ValueError, match=r"unknown beta_schedule 'cosine'; expected one of auto, sqrt_linear \(AnimateDiff\), "):
        resolve_beta_schedule("cosine", BetaSchedule.SQRT_LINEAR)
    with pytest.raises(ValueError, match="unknown context schedule 'static'; expected one of standard_static, standard_uniform"):
        plan_context(32, schedule="static")
    with pytest.raises(ValueError, match="unknown fuse method 'gauss'; expected one of pyramid, flat, overlap-linear, relative"):
        plan_context(32, fuse_method="gauss")


def test_planned_context_carries_members():
    settings, _ = plan_context(32, schedule="standard_uniform", fuse_method="flat")
    assert settings.schedule is ContextSchedule.STANDARD_UNIFORM and settings.fuse_method is FuseMethod.FLAT
