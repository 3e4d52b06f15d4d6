"""Consistent-noise modes: per-frame statistics and frame-to-frame correlation."""
import pytest
import torch

from steadyframe.motion import noise as sfnoise

SHAPE = (8, 4, 32, 32)  # 4096 values per frame: the standard error of a frame mean is 1/64


def frame_stats(noise):
    flat = noise.reshape(noise.shape[0], -1).double()
    return flat.mean(dim=1), flat.var(dim=1)


def correlation(a, b):
    a = a.reshape(-1).double()
    b = b.reshape(-1).double()
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def neighbour_correlations(noise):
    return [correlation(noise[i], noise[i + 1]) for i in range(noise.shape[0] - 1)]


def translation_flow(frames, height, width, dx, dy):
    flow = torch.zeros(frames - 1, 2, height, width)
    flow[:, 0] = dx
    flow[:, 1] = dy
    return flow


def make(mode, **kwargs):
    if mode == "flow-warped" and "forward_flow" not in kwargs:
        kwargs["forward_flow"] = translation_flow(SHAPE[0], 256, 256, 8.0 * 1.5, -8.0 * 0.75)
    return sfnoise.make_noise(mode, SHAPE, seed=1234, **kwargs)


@pytest.mark.parametrize("mode", list(sfnoise.NoiseMode))
def test_every_frame_is_standard_gaussian(mode):
    noise = make(mode)
    assert noise.shape == SHAPE and noise.dtype == torch.float32
    means, variances = frame_stats(noise)
    assert means.abs().max() < 0.08, means
    assert (variances - 1).abs().max() < 0.12, variances
    # Gaussian tails: about 0.27% of N(0, 1) values lie beyond 3 sigma.
    beyond = (noise.abs() > 3).double().mean().item()
    assert 0.001 < beyond < 0.006


@pytest.mark.parametrize("mode", list(sfnoise.NoiseMode))
def test_same_seed_same_noise_other_seed_other_noise(mode):
    first = make(mode)
    assert torch.equal(first, make(mode))
    kwargs = {"forward_flow": translation_flow(SHAPE[0], 256, 256, 12.0, -6.0)} if mode == "flow-warped" else {}
    other = sfnoise.make_noise(mode, SHAPE, seed=99, **kwargs)
    assert abs(correlation(first, other)) < 0.05


def test_per_frame_is_independent_and_matches_torch_manual_seed():
    noise = make("per-frame")
    assert max(abs(c) for c in neighbour_correlations(noise)) < 0.06
    # core ComfyUI's RandomNoise draws torch.randn(shape) right after torch.manual_seed(seed)
    torch.manual_seed(1234)
    assert torch.equal(noise, torch.randn(SHAPE))


def test_per_frame_batch_index_picks_the_noise_of_that_index():
    full = sfnoise.per_frame_noise((6, 4, 8, 8), 7)
    picked = sfnoise.per_frame_noise((3, 4, 8, 8), 7, batch_index=[4, 1, 4])
    assert torch.equal(picked, full[[4, 1, 4]])
    with pytest.raises(ValueError, match="2 indices but the latent has 3 frames"):
        sfnoise.per_frame_noise((3, 4, 8, 8), 7, batch_index=[0, 1])


def test_shared_is_one_image_on_every_frame():
    noise = make("shared")
    assert all(torch.equal(noise[0], noise[i]) for i in range(SHAPE[0]))
    assert min(neighbour_correlations(noise)) > 0.999999
    # independent of the per-frame noise of the same seed, so mixed stays unit variance
    assert abs(correlation(noise[0], make("per-frame")[0])) < 0.06


@pytest.mark.parametrize("strength", [0.25, 0.5, 0.8])
def test_mixed_correlation_matches_the_analytic_value(strength):
    noise = sfnoise.make_noise("mixed", (6, 4, 64, 64), seed=5, strength=strength)
    expected = strength ** 2 / (strength ** 2 + (1 - strength) ** 2)
    assert sfnoise.mixed_correlation(strength) == pytest.approx(expected)
    for value in neighbour_correlations(noise):
        assert value == pytest.approx(expected, abs=0.04)
    _, variances = frame_stats(noise)
    assert (variances - 1).abs().max() < 0.06


def test_mixed_ends_are_per_frame_and_shared():
    assert torch.allclose(sfnoise.make_noise("mixed", SHAPE, 3, strength=0.0), sfnoise.make_noise("per-frame", SHAPE, 3))
    assert torch.allclose(sfnoise.make_noise("mixed", SHAPE, 3, strength=1.0), sfnoise.make_noise("shared", SHAPE, 3))
    with pytest.raises(ValueError, match="between 0 and 1"):
        sfnoise.make_noise("mixed", SHAPE, 3, strength=1.5)


def test_freenoise_reuses_shuffled_frames_of_the_previous_window():
    length, overlap = 4, 1
    shape = (11, 2, 16, 16)
    base = sfnoise.per_frame_noise(shape, 42)
    noise = sfnoise.freenoise(shape, 42, length, overlap)
    # the first window is untouched
    assert torch.equal(noise[:length], base[:length])
    # with windows every 3 frames, frames [s+4, s+7) are a permutation of frames [s, s+3) as they were
    expected = base.clone()
    step = length - overlap
    for start in range(0, shape[0] - length, step):
        block = expected[start:start + min(step, shape[0] - start - length)].clone()
        target = noise[start + length:start + length + block.shape[0]]
        matches = sorted(next(j for j in range(block.shape[0]) if torch.equal(t, block[j])) for t in target)
        assert matches == list(range(block.shape[0])), f"window at {start}"
        expected[start + length:start + length + block.shape[0]] = target
    # a window-sized shift repeats the noise content, so the correlation at lag L is high on average
    lag = [correlation(noise[i], noise[i + length]) for i in range(shape[0] - length)]
    assert sum(lag) / len(lag) > 0.2
    # neighbouring frames are still independent draws most of the time
    assert abs(correlation(noise[0], noise[1])) < 0.2


def test_freenoise_leaves_short_clips_alone_and_checks_overlap():
    shape = (4, 2, 8, 8)
    assert torch.equal(sfnoise.freenoise(shape, 3, 16, 4), sfnoise.per_frame_noise(shape, 3))
    with pytest.raises(ValueError, match="smaller than context_length"):
        sfnoise.freenoise(shape, 3, 4, 4)


def test_flow_warped_integer_translation_carries_noise_exactly():
    frames, height, width = 4, 16, 16
    # image flow of 16 px right, 8 px down = 2 and 1 latent pixels at 8x downscaling
    flow = translation_flow(frames, height * 8, width * 8, 16.0, 8.0)
    noise = sfnoise.make_noise("flow-warped", (frames, 4, height, width), seed=3, forward_flow=flow, subdivisions=4)
    for i in range(frames - 1):
        # content at p moves to p + (2, 1): new[y + 1, x + 2] == old[y, x] away from the entering edge
        assert torch.allclose(noise[i + 1][:, 1:, 2:], noise[i][:, :-1, :-2], atol=1e-5)
        # the entering strip is fresh noise, not a copy of anything
        assert abs(correlation(noise[i + 1][:, :1, :], noise[i][:, :1, :])) < 0.5
    # frame 0 is the per-frame noise of the seed
    assert torch.equal(noise[0], sfnoise.per_frame_noise((frames, 4, height, width), 3)[0])


def test_flow_warped_fractional_motion_stays_correlated_along_the_flow():
    frames, height, width = 6, 48, 48
    flow = translation_flow(frames, height * 8, width * 8, 8 * 0.5, 0.0)  # half a latent pixel per frame
    noise = sfnoise.make_noise("flow-warped", (frames, 4, height, width), seed=11, forward_flow=flow, subdivisions=8)
    means, variances = frame_stats(noise)
    assert (variances - 1).abs().max() < 0.1 and means.abs().max() < 0.06
    for i in range(frames - 1):
        old, new = noise[i], noise[i + 1]
        # each new pixel is half of the pixel it sits on and half of its left neighbour (n = N, so
        # no rescaling): the correlation with each is the shared area, 1/2
        assert correlation(new[:, :, 1:], old[:, :, 1:]) == pytest.approx(0.5, abs=0.05)
        assert correlation(new[:, :, 1:], old[:, :, :-1]) == pytest.approx(0.5, abs=0.05)
        # pixels two columns apart share no sub-pixels
        assert abs(correlation(new[:, :, 2:], old[:, :, :-2])) < 0.06
    # neighbouring pixels within a frame stay independent (no blur, unlike bilinear warping)
    last = noise[-1]
    assert abs(correlation(last[:, :, 1:], last[:, :, :-1])) < 0.06


def test_flow_warped_keeps_statistics_under_zoom_and_shear():
    frames, height, width = 5, 32, 32
    ys, xs = torch.meshgrid(torch.arange(height * 8.0), torch.arange(width * 8.0), indexing="ij")
    cx, cy = width * 4.0, height * 4.0
    flow = torch.zeros(frames - 1, 2, height * 8, width * 8)
    flow[:, 0] = 0.15 * (xs - cx) + 0.1 * (ys - cy)  # zoom in with a shear: strong expansion
    flow[:, 1] = 0.15 * (ys - cy)
    noise = sfnoise.make_noise("flow-warped", (frames, 4, height, width), seed=8, forward_flow=flow)
    means, variances = frame_stats(noise)
    assert means.abs().max() < 0.1 and (variances - 1).abs().max() < 0.15
    for frame in noise:
        assert abs(correlation(frame[:, :, 1:], frame[:, :, :-1])) < 0.08
        assert abs(correlation(frame[:, 1:, :], frame[:, :-1, :])) < 0.08


def test_flow_warped_needs_a_flow_of_the_same_length():
    with pytest.raises(ValueError, match="covers 3 frames but the latent has 8 frames"):
        sfnoise.make_noise("flow-warped", SHAPE, 1, forward_flow=torch.zeros(2, 2, 64, 64))
    with pytest.raises(ValueError, match="needs the source video's optical flow"):
        sfnoise.make_noise("flow-warped", SHAPE, 1)


def test_unknown_mode_and_bad_shape_are_clear_errors():
    with pytest.raises(ValueError, match="unknown noise mode 'pink'"):
        sfnoise.make_noise("pink", SHAPE, 1)
    with pytest.raises(ValueError, match=r"\(frames, channels, height, width\)"):
        sfnoise.make_noise("per-frame", (2, 4, 8, 8, 8), 1)
