"""flowlab against its peers: zuko, nflows and normflows, with the same shapes, each row in its own process.

    pip install -e '.[bench]'          # the peers, pinned (a missing one is skipped, with the reason)
    python bench/bench_peers.py [--device cpu|cuda] [--rounds 5] [--seconds 2] [--batch 512] [--threads 2]
    python bench/bench_peers.py --quality [--steps 2000] [--seeds 1] [--models realnvp,maf,nsf] [--sets moons,...]

The code is in ``bench/peers/``: ``models`` (the three models in every library, and the choices made for the
peers), ``loop`` (the hand-written loop every row but the engine runs), ``engine`` (flowlab's training session as
a user gets it), ``speed`` (steps per second) and ``quality`` (held-out NLL over seeds); ``--help`` prints their
docstrings after this one.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from bench.peers import engine, loop, models, quality, speed
from flowlab.training import threads


def main() -> None:
    docs = [__doc__, *(part.__doc__ for part in (models, loop, engine, speed, quality))]
    parser = argparse.ArgumentParser(description="\n\n".join(doc.strip() for doc in docs),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (speed)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per row and round (speed)")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")
    parser.add_argument("--compile-wait", type=float, default=300.0,
                        help="seconds the engine may train before its compiled step is in use (speed)")
    parser.add_argument("--quality", action="store_true", help="held-out NLL after --steps instead of speed")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=1, help="runs of every row, seeds 0..N-1 (quality)")
    parser.add_argument("--models", default=",".join(models.MODELS))
    parser.add_argument("--sets", default=",".join(quality.SETS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one row of the speed table (RowProcess)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured, even through a pipe
    args.models = [m for m in args.models.split(",") if m]
    args.sets = [s for s in args.sets.split(",") if s]
    for m in args.models:
        if m not in models.MODELS:
            parser.error(f"unknown model {m!r} (choose from {', '.join(models.MODELS)})")
    for s in args.sets:
        if s not in quality.SETS:
            parser.error(f"unknown set {s!r} (choose from {', '.join(quality.SETS)})")
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    torch.set_num_threads(args.threads)
    threads.adopt(threads.ThreadPolicy(training=args.threads, views=1, switch_interval_s=None))
    if args.worker:
        speed.worker(args, device)
        return
    versions = []
    for peer in models.PEERS:
        try:
            versions.append(f"{peer} {importlib.metadata.version(peer)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{peer} missing")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{', '.join(versions)}")
    (quality.quality if args.quality else speed.speed)(args, device)


if __name__ == "__main__":
    main()
