"""Training across processes: steps per second of one `flowlab train` process against torchrun with N processes.

    python bench/bench_distributed.py [PRESET ...] [--steps 200] [--processes 2 4] [--repeat 2] [--one-core]

For each preset it runs ``flowlab train`` alone (every core in one process: the baseline, measured in the same
run) and ``torchrun --standalone --nproc_per_node=N -m flowlab train`` for each N (the cores shared out), all with
the preset's own global batch, and prints steps/s and the ratio to the baseline. Steps/s come from ``metrics.csv``
(``time_s``), from step 10 to the last step, so start-up, the rendezvous and the final evaluation and pictures are
left out; held-out evaluations inside the interval count. Each run's held-out score is printed beside it: the runs
train the same model, so they must agree. The runs are interleaved ``--repeat`` times (1, N, 1, N…) and the median
of each is printed, with the load average before and after: on a shared machine the ratios say more than the
absolute figures, and one process's OpenMP threads suffer most from other work on its cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = 10  # steps left out at the start (ActNorm's first batch, allocations, thread pools warming up)


def rate(out: Path) -> tuple[float, str]:
    """Steps/s between step ``SKIP`` and the last step of a run's metrics.csv, and its last held-out score."""
    with open(out / "metrics.csv", newline="") as f:
        every = list(csv.DictReader(f))
    rows = [r for r in every if r.get("time_s")]  # training steps (a final evaluation's row has no time)
    first = next(r for r in rows if int(r["step"]) >= SKIP)
    last = rows[-1]
    score = next((f"{k} {float(every[-1][k]):.4f}" for k in ("test_bpd", "test_nll") if every[-1].get(k)), "")
    return (int(last["step"]) - int(first["step"])) / (float(last["time_s"]) - float(first["time_s"])), score


def run(preset: str, steps: int, processes: int, device: str, out: Path) -> tuple[float, str]:
    """``processes`` 0: one process pinned to one core (``taskset -c 0``), the one-core baseline."""
    cmd = [sys.executable, "-m", "flowlab", "train", preset, "--steps", str(steps), "--out", str(out), "--quiet",
           "--device", device]
    if processes > 1:
        cmd[1:3] = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m", "flowlab"]
    elif processes == 0:
        cmd = ["taskset", "-c", "0", *cmd]
    env = {**os.environ, "FLOWLAB_COMPILE": "0"}  # eager both ways: the processes train eagerly under DDP
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return rate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("presets", nargs="*", default=["glow_digits"], help="built-in preset names or files")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--processes", type=int, nargs="+", default=[2])
    parser.add_argument("--one-core", action="store_true", help="also one process pinned to one core (taskset)")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds; the median is printed")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {_load():.1f}; {args.steps} steps, device {args.device}, eager, "
          f"median of {args.repeat}")
    print(f"{'preset':24s} {'processes':>9s} {'steps/s':>8s} {'× alone':>8s}  held-out score")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            counts = [1, *args.processes] + ([0] if args.one_core else [])
            rates: dict[int, list[float]] = {n: [] for n in counts}
            scores: dict[int, str] = {}
            for i in range(args.repeat):
                for n in counts:
                    r, scores[n] = run(preset, args.steps, n, args.device, Path(tmp) / f"{preset}-{n}-{i}")
                    rates[n].append(r)
            base = statistics.median(rates[1])
            for n in counts:
                r = statistics.median(rates[n])
                label = "1 (1 core)" if n == 0 else str(n)
                print(f"{preset:24s} {label:>9s} {r:8.2f} {r / base:8.2f}  {scores[n]}  "
                      f"(runs: {', '.join(f'{v:.2f}' for v in rates[n])})", flush=True)
    print(f"load average after: {_load():.1f}")


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

if __name__ == "__main__":
    main()
