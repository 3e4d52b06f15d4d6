"""Optical-flow accuracy and speed on synthetic ground truth the pack generates itself.

    python benchmarks/flow.py                       # 256x256, 512x512 and 768x512 on the CPU
    python benchmarks/flow.py --sizes 768x512 --device cuda --seeds 3
    python benchmarks/flow.py --sizes 768x512 --disc-motion=-20,10 --motion 6   # other motions

Each case is a pair from flow/synthetic.py: a multi-octave texture moved by a known flow (smooth
sub-pixel affine + sinusoidal motion, or one whole-pixel translation) plus a textured disc moving on
its own, which disoccludes background. Reported per estimator:

- EPE noc / occ: mean endpoint error (px) on visible / occluded pixels;
- >1px: share of visible pixels with error above 1 px;
- occ P / R: precision and recall of the unreliable mask (forward-backward norm test + coverage,
  the checks FlowWarp uses, without the photometric one) against the true disocclusion, out-of-frame
  pixels excluded;
- s/pair: median wall-clock seconds for one direction of one pair (after a warm-up run);
- cpu s: median CPU seconds (all threads) for the same; on a shared, busy machine wall time
  inflates while CPU time stays close to the work done, so compare both;
- ratio: EPE noc relative to the zero-flow baseline measured in the same run.

Baselines in the same run: zero flow, and OpenCV DIS (medium) and Farneback when
``opencv-python-headless`` is importable (it is not a dependency of the pack).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pack import import_pack  # noqa: E402

import_pack()
from steadyframe.flow.estimate import PRESETS, estimate_flow  # noqa: E402
from steadyframe.flow.occlusion import flow_confidence  # noqa: E402
from support.flow_synthetic import moving_disc_pair  # noqa: E402

try:
    import cv2  # optional baseline
except ImportError:
    cv2 = None


def _opencv_estimator(kind: str):
    def run(frame_a: torch.Tensor, frame_b: torch.Tensor) -> torch.Tensor:
        flows = []
        for a, b in zip(frame_a, frame_b):
            ga = cv2.cvtColor((a.permute(1, 2, 0).cpu().numpy() * 255).round().astype("uint8"), cv2.COLOR_RGB2GRAY)
            gb = cv2.cvtColor((b.permute(1, 2, 0).cpu().numpy() * 255).round().astype("uint8"), cv2.COLOR_RGB2GRAY)
            if kind == "dis-medium":
                flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(ga, gb, None)
            else:
                flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 5, 15, 3, 5, 1.2, 0)
            flows.append(torch.from_numpy(flow).permute(2, 0, 1))
        return torch.stack(flows).to(frame_a.device)

    return run


def _zero_estimator(frame_a, frame_b):
    return torch.zeros(frame_a.shape[0], 2, *frame_a.shape[-2:], device=frame_a.device)


def _estimators(presets):
    rows = [("zero flow (baseline)", _zero_estimator)]
    if cv2 is not None:
        rows += [("OpenCV DIS medium", _opencv_estimator("dis-medium")), ("OpenCV Farneback", _opencv_estimator("farneback"))]
    for preset in presets:
        rows.append((f"TV-L1 {preset}", lambda a, b, p=preset: estimate_flow(a, b, p)))
        if preset != "quality":
            rows.append((f"TV-L1 {preset} half-res", lambda a, b, p=preset: estimate_flow(a, b, p, half_resolution=True)))
    return rows


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _score(flow, back, pair, frame_a, frame_b):
    error = torch.linalg.vector_norm(flow.cpu() - pair.flow, dim=1, keepdim=True)
    visible = 1 - pair.occluded
    epe_noc = ((error * visible).sum() / visible.sum()).item()
    epe_occ = ((error * pair.occluded).sum() / pair.occluded.sum().clamp_min(1)).item()
    outliers = (((error > 1).float() * visible).sum() / visible.sum()).item()
    unreliable = 1 - flow_confidence(frame_a, frame_b, flow, back, photometric_threshold=None).cpu()
    truth = pair.occluded * (1 - pair.out_of_frame)
    predicted = unreliable * (1 - pair.out_of_frame)
    hits = (predicted * truth).sum().item()
    precision = hits / max(predicted.sum().item(), 1.0)
    recall = hits / max(truth.sum().item(), 1.0)
    return epe_noc, epe_occ, outliers, precision, recall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256x256,512x512,768x512", help="comma-separated WxH")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--seeds", type=int, default=2, help="pairs per size and motion kind")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per pair (median)")
    parser.add_argument("--motion", type=float, default=10.0, help="mean background motion in px at 768 px width (scaled with width)")
    parser.add_argument("--disc-motion", default="14,6", help="the disc's own motion dx,dy in px at 768 px width (scaled with width; rounded in the integer case)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    presets = [p for p in args.presets.split(",") if p]

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"CPU threads {torch.get_num_threads()}, device {device} ({gpu}), OpenCV {'yes ' + cv2.__version__ if cv2 else 'not installed'}")
    header = f"{'size':>8} {'motion':>8} {'estimator':<26} {'EPE noc':>8} {'ratio':>6} {'EPE occ':>8} {'>1px %':>7} {'occ P':>6} {'occ R':>6} {'s/pair':>8} {'cpu s':>7}"
    print(header)
    print("-" * len(header))
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.lower().split("x"))
        scale = width / 768
        for kind in ("sub-pixel", "integer"):
            disc = [float(v) * scale for v in args.disc_motion.split(",")]
            disc_motion = tuple(float(round(v)) for v in disc) if kind == "integer" else tuple(disc)
            pairs = [moving_disc_pair(height, width, magnitude=args.motion * scale, disc_motion=disc_motion, seed=s,
                                      integer=kind == "integer") for s in range(args.seeds)]
            baseline = None
            for name, estimator in _estimators(presets):
                scores, times, cpu_times = [], [], []
                for pair in pairs:
                    a, b = pair.frame_a.to(device), pair.frame_b.to(device)
                    estimator(a, b)  # warm-up (allocations, kernel selection)
                    for _ in range(args.repeats):
                        _sync(device)
                        start, cpu_start = time.perf_counter(), time.process_time()
                        flow = estimator(a, b)
                        _sync(device)
                        times.append(time.perf_counter() - start)
                        cpu_times.append(time.process_time() - cpu_start)
                    back = estimator(b, a)
                    scores.append(_score(flow.float(), back.float(), pair, a, b))
                means = [statistics.fmean(col) for col in zip(*scores)]
                if baseline is None:
                    baseline = means[0]
                baseline_row = name == "zero flow (baseline)"
                seconds = 0.0 if baseline_row else statistics.median(times)
                cpu_seconds = 0.0 if baseline_row else statistics.median(cpu_times)
                print(f"{size:>8} {kind:>8} {name:<26} {means[0]:8.3f} {means[0] / baseline:6.3f} {means[1]:8.3f} "
                      f"{100 * means[2]:7.2f} {means[3]:6.2f} {means[4]:6.2f} {seconds:8.3f} {cpu_seconds:7.3f}", flush=True)


if __name__ == "__main__":
    main()
