"""The ``flowlab engine`` rows: the :class:`~flowlab.training.session.Session` that ``flowlab train`` and the window
run, on its own thread, with its default settings (evaluation every 100 steps, early-stopping copies, gradient
clipping, its default step); ``flowlab engine, eager`` is the same with ``compile`` off."""

from __future__ import annotations

import argparse
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from bench.peers.models import LEARNING_RATE, STACKS
from flowlab.targets import TARGETS, build_target, register_target
from flowlab.training.messages import Failure, Finished, Pause, Play, Progress, Ready, RunningChanged, Stop
from flowlab.training.session import Session, SessionSpec
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer

ENGINE, ENGINE_EAGER = "flowlab engine", "flowlab engine, eager"


@dataclass
class EngineStart:
    ready_s: float  # the session built (data split, model, entropy)
    first_step_s: float  # from Play to the first step done
    compiled_after_s: float | None  # from Play to the compiled step in use (None: it never was)
    eager_rate: float  # steps/s before that
    note: str


class Engine:
    """A :class:`Session` on its own thread, played and paused round by round; its rate is read from its own
    Progress events (step counts at the times they arrive), so waking up costs nothing measured."""

    def __init__(self, model: str, settings: TrainSettings, target: str = "moons", max_steps: int | None = None,
                 finish: Callable[[Trainer], dict] | None = None) -> None:
        self.events: queue.Queue = queue.Queue()
        spec = SessionSpec(STACKS[model], {"kind": target, "params": {}, "data": {}}, settings, snapshots=False,
                           max_steps=max_steps, finish=finish)
        self.session = Session(spec, self._on_event)
        self.thread = threading.Thread(target=self.session.run, name="engine", daemon=True)
        self.progress: list[tuple[float, Progress]] = []
        self.finished: Finished | None = None
        self.failure: Failure | None = None
        self.ready = False  # the session said Ready (built)
        self.running = False  # as the session last said (RunningChanged)

    def _on_event(self, event) -> None:
        self.events.put((time.perf_counter(), event))

    def _drain(self, timeout: float = 0.0) -> None:
        """Take the events that have arrived, waiting up to ``timeout`` for the first."""
        try:
            t, event = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        while True:
            if isinstance(event, Progress):
                self.progress.append((t, event))
            elif isinstance(event, Finished):
                self.finished = event
            elif isinstance(event, Failure):
                self.failure = event
                if event.kind == "build":
                    raise RuntimeError(f"the engine did not start: {event.message}")
            elif isinstance(event, Ready):
                self.ready = True
            elif isinstance(event, RunningChanged):
                self.running = event.running
            try:
                t, event = self.events.get_nowait()
            except queue.Empty:
                return

    def start(self, compile_wait_s: float = 0.0) -> EngineStart:
        """Build, play until the compiled step is in use (at most ``compile_wait_s``), pause."""
        start = time.perf_counter()
        self.thread.start()
        while not self.ready:
            self._drain(timeout=1.0)
        ready_s = time.perf_counter() - start
        played = time.perf_counter()
        self.session.send(Play())
        while not self.progress or self.progress[-1][1].step < 1:
            self._drain(timeout=1.0)
        first = next(t for t, p in self.progress if p.step >= 1) - played
        compiled_at = None
        while time.perf_counter() - played < compile_wait_s:
            self._drain(timeout=0.5)
            state = self.progress[-1][1].compile_state if self.progress else "off"
            if state == "compiled":
                compiled_at = next(t for t, p in self.progress if p.compile_state == "compiled") - played
                break
            if state in ("off", "failed"):
                break
        before = [(t, p) for t, p in self.progress if p.compile_state != "compiled"]
        eager_rate = _rate(before) if len(before) > 1 else float("nan")
        self._until(lambda: self.running)
        self._pause()
        last = self.progress[-1][1]
        return EngineStart(ready_s, first, compiled_at, eager_rate, last.compile_note or last.compile_state)

    def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._drain(timeout=1.0)

    def _pause(self) -> None:
        """Pause, and wait until the session says it has (a Pause that arrives before Play took effect is one
        the session never reports, so callers wait for it to say "running" first)."""
        self.session.send(Pause())
        self._until(lambda: not self.running)
        self._drain()

    def run_for(self, seconds: float) -> float:
        self._drain()
        self.session.send(Play())
        self._until(lambda: self.running)
        mark = len(self.progress)
        time.sleep(seconds)
        self._pause()
        return _rate([(t, p) for t, p in self.progress[mark:] if p.running])

    def run_to_end(self) -> Finished | None:
        """Train to ``max_steps``; None when a failure (a divergence, a step that raised) stopped it first: the
        session then pauses and would never finish, so it is stopped (:attr:`failure` says why)."""
        self.thread.start()
        self.session.send(Play())
        while self.finished is None and (self.failure is None or self.failure.kind == "load"):
            self._drain(timeout=1.0)  # a failed load trains on from fresh weights; the other failures pause
        if self.finished is None:
            self.close()
            return None
        self.thread.join()
        return self.finished

    def close(self) -> None:
        self.session.send(Stop())
        self.thread.join(timeout=60)


def _rate(progress: list[tuple[float, Progress]]) -> float:
    """Steps per second between the first and last Progress events of a run."""
    if len(progress) < 2:
        return float("nan")
    (t0, p0), (t1, p1) = progress[0], progress[-1]
    return (p1.step - p0.step) / (t1 - t0) if t1 > t0 else float("nan")


def engine_settings(args: argparse.Namespace, compile: bool, seed: int = 0) -> TrainSettings:
    """The engine's default settings but for the bench's batch, rate, device, ``compile`` and ``seed``."""
    return TrainSettings(batch_size=args.batch, learning_rate=LEARNING_RATE, device=args.device, compile=compile,
                         seed=seed)


def pinned_split(kind: str, seed: int = 0) -> str:
    """A target kind registered (once per process) as ``kind`` but whose train/test split is always the one drawn
    from ``seed``, whatever seed the trainer asks with: a trainer's ``seed`` then moves its weights and its batches,
    not its data. Every build returns the same object, so H(p) is estimated once."""
    name = f"{kind}, split of seed {seed}"
    if name not in TARGETS:
        target = build_target({"kind": kind})
        draw = target.split

        def split(n_train: int, n_test: int, _seed: int = 0,
                  device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
            return draw(n_train, n_test, seed, device)

        target.split = split
        register_target(replace(TARGETS[kind], kind=name, builder=lambda params, data: target))
    return name
