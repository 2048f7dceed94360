"""View computations: the density grid and model samples through ``flow`` (the baseline) and through the views'
path (``flowlab.training.views``, which pushes points with ``Flow.push``: chunked, no autograd, the couplings'
activations in place), for the built-in RealNVP (8 affine couplings, alternating halves, MLP 1→128→128→2) on 2-D data.

    python bench/bench_views.py [--threads 2] [--repeats 40] [--device cpu] [--profile]

Baseline and candidate are timed in interleaved rounds (A, B, A, B, ...) after a warm-up, so a burst of load from
other processes hits both alike; it prints the median and the min–max of each and the ratio of the medians. The
weights are perturbed away from the identity the builder starts from, so every layer does real work. The
results are checked to be identical to ``flow.log_prob`` / ``flow.sample`` before timing. ``--profile`` adds a
``torch.profiler`` table of each 256² grid.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from flowlab.flows import build_flow
from flowlab.training.views import density_grid, model_samples

STACK = [{"kind": "affine_coupling",
          "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 128, "depth": 2}} for i in range(8)]
BOUNDS = (-4.0, 4.0, -4.0, 4.0)


def realnvp(device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    flow = build_flow(STACK, (2,))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return flow.to(device).eval()


@torch.no_grad()
def grid_via_flow(flow, bounds, res: int, chunk: int = 8192) -> torch.Tensor:
    """The density grid as it was computed before the fast path: ``flow.log_prob`` in chunks of 8192."""
    xs = torch.linspace(bounds[0], bounds[1], res)
    ys = torch.linspace(bounds[2], bounds[3], res)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1).to(next(flow.parameters()).device)
    logp, ladj = [], []
    for c in pts.split(chunk):
        z, step = flow(c)
        logp.append(flow.base.log_prob(z) + step)
        ladj.append(step)
    return torch.cat(logp).reshape(res, res).cpu()


def interleaved(fns: dict, repeats: int, sync, warmup: int = 3) -> dict[str, list[float]]:
    for f in fns.values():
        for _ in range(warmup):
            f()
    sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            sync()
            times[k].append((time.perf_counter() - t) * 1000)
    return times


def report(title: str, times: dict[str, list[float]], target: str = "") -> None:
    base = None
    print(title + (f"   ({target})" if target else ""))
    for k, v in times.items():
        med = statistics.median(v)
        base = base or med
        print(f"  {k:34s} median {med:7.1f} ms   min–max {min(v):6.1f}–{max(v):7.1f}   {base / med:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    flow = realnvp(device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.repeats} rounds")
    a, w = torch.randn(8192, 128, device=device), torch.randn(128, 128, device=device)
    mm = interleaved({"mm": lambda: torch.mm(a, w)}, 50, sync)["mm"]
    print(f"machine speed now: {2 * 8192 * 128 * 128 / statistics.median(mm) / 1e6:.0f} GFLOP/s on an 8192×128×128 "
          "matmul (median; the flow's 128×128 layers are ~95% of its FLOPs)")

    fast = torch.from_numpy(density_grid(flow, BOUNDS, 256).log_density)
    same = torch.equal(fast, grid_via_flow(flow, BOUNDS, 256))
    gen = torch.Generator(device=device)
    with torch.no_grad():
        same_samples = torch.equal(model_samples(flow, 10000, generator=gen.manual_seed(1)),
                                   flow.sample(10000, generator=gen.manual_seed(1)))
    print(f"density_grid identical to flow.log_prob: {same}; model_samples identical to flow.sample: {same_samples}")

    def flow_sample() -> None:
        with torch.no_grad():
            flow.sample(10000)

    for res, target in ((256, "target well under 200 ms"), (128, "the live heatmap")):
        report(f"{res}x{res} density grid", interleaved({
            "flow.log_prob, chunks of 8192": lambda res=res: grid_via_flow(flow, BOUNDS, res),
            "views.density_grid (Flow.push)": lambda res=res: density_grid(flow, BOUNDS, res),
        }, args.repeats, sync), target)
    report("10 000 samples", interleaved({
        "flow.sample (no_grad)": flow_sample,
        "views.model_samples (Flow.push)": lambda: model_samples(flow, 10000),
    }, args.repeats * 3, sync), "target under 30 ms")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for name, f in (("flow.log_prob", lambda: grid_via_flow(flow, BOUNDS, 256)),
                        ("Flow.push", lambda: density_grid(flow, BOUNDS, 256))):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(5):
                    f()
            print(f"\n256x256 grid, {name}, 5 runs")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
