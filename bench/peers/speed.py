"""Speed: every row trains for ``--seconds`` per round, in interleaved rounds (one row at a time, each in its own
process, so no row's OpenMP threads slow another's: see :class:`RowProcess`); the medians are printed with each
ratio against the fastest peer (zuko, nflows or normflows) measured in the same rounds.

The engine's default step compiles in the background and swaps in when ready: the bench first lets it train until
then (and says how long that took, how fast the eager steps ran meanwhile and how long the first step took) so
that no compile runs beside the timed rounds. Figures depend on the machine: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from bench.peers.engine import ENGINE, ENGINE_EAGER, Engine, engine_settings
from bench.peers.loop import Loop
from bench.peers.models import BUILDERS, PEERS, STACKS, Skip, describe
from flowlab.targets import build_target
from flowlab.training.trainer import Trainer

ENTRY = Path(__file__).resolve().parents[1] / "bench_peers.py"  # the command line a worker runs (``--worker``)


# Each row trains in its own process. Two threads of one process that have both run multi-threaded torch ops own
# two OpenMP teams; once a process's OpenMP threads outnumber its cores, libgomp stops its workers spinning
# between parallel regions (GOMP's "throttled" spin count), and every op then waits for its workers to wake up:
# on 2 cores a peer's steps ran at half speed while a paused engine thread merely existed beside it.
class RowProcess:
    """A row's worker process (``--worker``): it builds the row, warms it up, then trains ``run SECONDS`` at a
    time and answers with its rate, one JSON line per answer."""

    def __init__(self, name: str, model: str, args: argparse.Namespace) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(ENTRY), "--worker", name, "--models", model, "--batch",
             str(args.batch), "--threads", str(args.threads), "--device", args.device, "--compile-wait",
             str(args.compile_wait)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name!r} worker exited ({self.process.wait()})")
        return json.loads(line)

    def run_for(self, seconds: float) -> float:
        self.process.stdin.write(f"run {seconds}\n")
        self.process.stdin.flush()
        return self._read()["rate"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
        self.process.wait(timeout=120)


def worker(args: argparse.Namespace, device: torch.device) -> None:
    """The ``--worker`` side of :class:`RowProcess`: answers go to the real stdout, anything a library prints to
    stderr."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    warnings.simplefilter("ignore")  # the peers' warnings about their own initialisation, once per process

    def say(**fields) -> None:
        answers.write(json.dumps(fields) + "\n")

    name, model = args.worker, args.models[0]
    close: Callable[[], None] = lambda: None  # noqa: E731
    try:
        if name in (ENGINE, ENGINE_EAGER):
            compile = name == ENGINE
            engine = Engine(model, engine_settings(args, compile))
            started = engine.start(compile_wait_s=args.compile_wait if compile else 0.0)
            run, close = engine.run_for, engine.close
            say(ready=True, start=started.__dict__ if compile else None)
        else:
            sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
            data = Trainer(STACKS["realnvp"], build_target({"kind": "moons"}), engine_settings(args, False)).train_data
            torch.manual_seed(0)
            built = BUILDERS[name](model)
            built.module.to(device)
            loop = Loop(built, data, args.batch, seed=1)
            for _ in range(5):
                loop.step()
            run = partial(loop.run_for, sync=sync)
            say(ready=True)
    except Skip as e:
        say(skip=str(e))
        return
    except Exception as e:  # a peer that fails on this torch: say so, and the table goes on without it
        say(skip=f"it failed to build or step ({type(e).__name__}: {e})")
        return
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] != "run":
            break
        say(rate=run(float(command[1])))
    close()


def speed(args: argparse.Namespace, device: torch.device) -> None:
    for model in args.models:
        print(f"\n== {model}: {describe(model)}")
        rows: dict[str, RowProcess] = {}
        for name in (*BUILDERS, ENGINE_EAGER, ENGINE):  # started one by one: each warms up on a quiet machine
            row = RowProcess(name, model, args)
            if "skip" in row.ready:
                print(f"  {name:<22} skipped: {row.ready['skip']}")
                row.close()
                continue
            rows[name] = row
            started = row.ready.get("start")
            if started:
                if started["compiled_after_s"] is None:
                    what = f"the compiled step was not in use after {args.compile_wait:.0f} s ({started['note']})"
                else:
                    what = (f"compiled step in use {started['compiled_after_s']:.1f} s after Play, eager steps "
                            f"meanwhile at {started['eager_rate']:.0f} steps/s")
                print(f"  {name:<22} built in {started['ready_s']:.2f} s, first step "
                      f"{started['first_step_s']:.2f} s after Play; {what}")
        rates: dict[str, list[float]] = {name: [] for name in rows}
        try:
            for _ in range(args.rounds):
                for name, row in rows.items():
                    rates[name].append(row.run_for(args.seconds))
        finally:
            for row in rows.values():
                row.close()
        medians = {name: statistics.median(r) for name, r in rates.items()}
        peers = {n: m for n, m in medians.items() if n in PEERS}
        base_name = max(peers, key=peers.get) if peers else "bare" if "bare" in medians else "flowlab layers"
        base = medians[base_name]
        for name, rate in medians.items():
            r = rates[name]
            print(f"  {name:<22} {rate:8.1f} steps/s  ({min(r):.1f}–{max(r):.1f})  {rate / base:5.2f}x {base_name}")
