"""Frame interpolation quality and speed against exact in-between frames.

Scenes: a textured, tinted square gliding over a textured, panning background (the analytic
scene of tests/support/moving_scene.py, scaled to --size), rendered exactly at every in-between
instant. For each scene and each in-between time t = k / multiplier, PSNR (dB, higher is better)
against the exact frame of:

- ``ours``     SteadyFrame's interpolation with flow from the embedded estimator (--preset);
- ``no repair`` the same without the motion-edge repair of the estimated flow (refine_passes=0);
- ``ours*``    the synthesis with the exact flow and no repair (what a perfect estimator would give);
- ``blend``    the plain cross-fade (1 - t) * a + t * b (the baseline);
- ``nearest``  the nearer source frame (frame duplication).

Times, on this machine, over --repeats runs of one scene (fastest and median, since a shared
machine adds noise): flow estimation per frame pair (both directions) and synthesis per
in-between (flow repair and visibility maps amortised over the pair's in-betweens).

    python benchmarks/interpolate.py [--size 512] [--multiplier 2] [--preset balanced] [--threads N]
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _pack import import_pack, machine_line, print_table  # noqa: E402

import_pack()
from steadyframe.flow.estimate import estimate_flow  # noqa: E402
from steadyframe.postprocess.interpolate import PairInterpolator, cross_fade  # noqa: E402
from support.moving_scene import MovingSquareScene  # noqa: E402

# (name, square velocity, background velocity) in pixels per frame at 128 px; scaled with --size.
SCENES = (
    ("slow: square 4.5 px/frame, pan 2", (4.0, 2.0), (-2.0, 0.0)),
    ("medium: square 6.3 px/frame, pan 2", (6.0, 2.0), (-2.0, 0.0)),
    ("fast: square 8.9 px/frame, pan 2", (8.0, 4.0), (-2.0, 0.0)),
    ("static camera: square 6.3 px/frame", (6.0, 2.0), (0.0, 0.0)),
    # Beyond what the embedded estimator follows (the square is lost): shows the failure mode.
    ("too fast: square 13.4 px/frame, pan 2", (12.0, 6.0), (-2.0, 0.0)),
)
# The first TRACKABLE scenes are within the embedded estimator's reach; the table also gives their mean.
TRACKABLE = 4


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean().clamp_min(1e-12)))


def make_scene(size: int, square_velocity, background_velocity, seed: int) -> MovingSquareScene:
    k = size / 128
    return MovingSquareScene(
        height=size, width=size, square_size=round(48 * k), square_origin=(30 * k, 30 * k),
        square_velocity=(square_velocity[0] * k, square_velocity[1] * k),
        background_velocity=(background_velocity[0] * k, background_velocity[1] * k),
        background_wavelengths=(6 * k, 40 * k), square_wavelengths=(6 * k, 24 * k), seed=seed,
    )


def chw(frame: torch.Tensor) -> torch.Tensor:
    return frame.permute(2, 0, 1)[None]


def _mean(values) -> float:
    return sum(values) / len(values)


def _row(name: str, scores: dict) -> tuple:
    mean = {key: _mean(values) for key, values in scores.items()}
    return (name, f"{mean['ours']:.2f}", f"{mean['no repair']:.2f}", f"{mean['ours*']:.2f}", f"{mean['blend']:.2f}",
            f"{mean['nearest']:.2f}", f"{mean['ours'] - mean['blend']:+.2f}", f"{mean['ours'] - mean['nearest']:+.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="frame width and height in pixels")
    parser.add_argument("--multiplier", type=int, default=2, help="in-betweens per gap + 1 (times k/multiplier)")
    parser.add_argument("--preset", default="balanced", help="optical-flow preset: fast, balanced or quality")
    parser.add_argument("--seeds", type=int, default=1, help="texture seeds per scene (results are averaged)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs (the fastest and the median are shown)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    times = [k / args.multiplier for k in range(1, args.multiplier)]
    max_motion = 16 * args.size / 128

    print(machine_line())
    print(f"{args.size}x{args.size}, multiplier {args.multiplier} (t = {', '.join(f'{t:.3g}' for t in times)}), "
          f"flow preset {args.preset}, {args.seeds} seed(s); PSNR in dB against the exact in-between")
    keys = ("ours", "no repair", "ours*", "blend", "nearest")
    rows, per_scene = [], []
    for name, square_velocity, background_velocity in SCENES:
        scores = {key: [] for key in keys}
        for seed in range(args.seeds):
            scene = make_scene(args.size, square_velocity, background_velocity, seed)
            frame_a, frame_b = chw(scene.frame(0.0)), chw(scene.frame(1.0))
            pair = torch.cat((frame_a, frame_b))
            flows = estimate_flow(pair, pair.flip(0), preset=args.preset, max_motion=max_motion)
            ours = PairInterpolator(frame_a, frame_b, flows[:1], flows[1:])
            outputs = [ours.at(t) for t in times]
            unrepaired = PairInterpolator(frame_a, frame_b, flows[:1], flows[1:], refine_passes=0)
            exact = PairInterpolator(frame_a, frame_b, scene.flow(0.0, 1.0), scene.flow(1.0, 0.0), refine_passes=0)
            for t, out in zip(times, outputs):
                truth = chw(scene.frame(t))
                scores["ours"].append(psnr(out, truth))
                scores["no repair"].append(psnr(unrepaired.at(t), truth))
                scores["ours*"].append(psnr(exact.at(t), truth))
                scores["blend"].append(psnr(cross_fade(frame_a, frame_b, t), truth))
                scores["nearest"].append(psnr(frame_a if t < 0.5 else frame_b, truth))
        per_scene.append(scores)
        rows.append(_row(name, scores))
    trackable = {key: [v for scores in per_scene[:TRACKABLE] for v in scores[key]] for key in keys}
    everything = {key: [v for scores in per_scene for v in scores[key]] for key in keys}
    rows.append(_row(f"mean of scenes 1-{TRACKABLE} (flow follows the square)", trackable))
    rows.append(_row("mean of all", everything))
    print_table(("scene", "ours", "no repair", "ours* (exact flow)", "blend", "nearest", "ours - blend", "ours - nearest"),
                rows)
    gain = _mean(trackable["ours"]) - _mean(trackable["blend"])
    gain_all = _mean(everything["ours"]) - _mean(everything["blend"])
    print(f"target >= 6 dB over the cross-fade on moving content: scenes 1-{TRACKABLE} {gain:+.2f} dB "
          f"({'met' if gain >= 6 else 'NOT met'}), all scenes {gain_all:+.2f} dB ({'met' if gain_all >= 6 else 'NOT met'})")
    print()
    flow_runs, synth_runs = _timings(args, times, max_motion)
    rows = []
    for label, runs in (("flow per frame pair (both directions)", flow_runs),
                        ("synthesis per in-between", synth_runs),
                        (f"per in-between incl. flow at multiplier {args.multiplier}",
                         [f + s * len(times) for f, s in zip(flow_runs, synth_runs)])):
        if label.startswith("per in-between"):
            runs = [r / len(times) for r in runs]
        ordered = sorted(runs)
        rows.append((label, f"{ordered[0]:.3f}", f"{ordered[len(ordered) // 2]:.3f}"))
    print(f"time on this machine, {args.repeats} run(s) of the medium scene")
    print_table(("step", "fastest s", "median s"), rows)


def _timings(args, times, max_motion):
    """Seconds of flow estimation per pair and of synthesis per in-between, one value per run."""
    scene = make_scene(args.size, SCENES[1][1], SCENES[1][2], 0)
    frame_a, frame_b = chw(scene.frame(0.0)), chw(scene.frame(1.0))
    pair = torch.cat((frame_a, frame_b))
    flow_runs, synth_runs = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        flows = estimate_flow(pair, pair.flip(0), preset=args.preset, max_motion=max_motion)
        flow_runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        interpolator = PairInterpolator(frame_a, frame_b, flows[:1], flows[1:])
        for t in times:
            interpolator.at(t)
        synth_runs.append((time.perf_counter() - start) / len(times))
    return flow_runs, synth_runs


if __name__ == "__main__":
    main()
