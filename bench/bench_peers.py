"""flowlab against its peers: zuko, nflows and normflows, with the same shapes, each row in its own process.

    pip install -e '.[bench]'          # the peers, pinned (a missing one is skipped, with the reason)
    python bench/bench_peers.py [--device cpu|cuda] [--rounds 5] [--seconds 2] [--batch 512] [--threads 2]
    python bench/bench_peers.py --quality [--steps 2000] [--models realnvp,maf,nsf] [--sets moons,...]

Three models, built alike in every library (2-D data, batch 512, fused Adam at 1e-3 as the engine's):

* RealNVP: 8 affine couplings on alternating coordinates, conditioner MLP 1→128→128→2 (ReLU);
* MAF: 5 MADE layers 2→128→128→4 (ReLU), the order reversed between layers;
* NSF: 4 rational-quadratic spline couplings, 8 bins on [−5, 5] with linear tails, MLP 1→128→128→23.

Rows: ``bare`` (a minimal RealNVP written in this file: the floor), ``zuko``, ``nflows``, ``normflows``,
``flowlab layers`` (flowlab's flow in the same hand-written loop) and ``flowlab engine``: the
:class:`~flowlab.training.session.Session` that ``flowlab train`` and the window run, on its own thread, with
its default settings (evaluation every 100 steps, early-stopping copies, gradient clipping, its default step);
``flowlab engine, eager`` is the same with ``compile`` off. The engine's default step compiles in the
background and swaps in when ready: the bench first lets it train until then (and says how long that took,
how fast the eager steps ran meanwhile and how long the first step took) so that no compile runs beside the
timed rounds. Then every row trains for ``--seconds`` per round, in interleaved rounds (one row at a time, each
in its own process, so no row's OpenMP threads slow another's: see :class:`RowProcess`); the medians are
printed with each ratio against the fastest peer (zuko, nflows or normflows) measured in the same rounds.

Peers as their users build them, with two choices said here: normflows' MAF layer runs its one MADE pass in
the sampling direction (its density takes D passes), so it is wrapped to score data in one pass as MAF does;
normflows' and nflows' spline couplings use the plain MLP above (their defaults are residual nets, and
normflows adds an unconditional spline on the passive half).

``--quality``: each row trains ``--steps`` steps on the same data stream (the engine's training split and its
batch indices), then scores the engine's held-out test split: the test NLL in nats against the set's true
entropy H(p) (the floor; the gap is KL(data‖model)). Figures depend on the machine: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from torch import Tensor, nn

from flowlab.flows import build_flow
from flowlab.training import threads
from flowlab.training.messages import Failure, Finished, Pause, Play, Progress, Ready, RunningChanged, Stop
from flowlab.training.session import Session, SessionSpec
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer

HIDDEN, DEPTH, BINS, TAIL = 128, 2, 8, 5.0
LEARNING_RATE = 1e-3
LOG_2PI = math.log(2 * math.pi)
MODELS = ("realnvp", "maf", "nsf")
SETS = ("moons", "checkerboard", "8gaussians", "2spirals")
PEERS = ("zuko", "nflows", "normflows")
ENGINE, ENGINE_EAGER = "flowlab engine", "flowlab engine, eager"

STACKS: dict[str, list[dict]] = {
    "realnvp": [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1,
                                                       "hidden": HIDDEN, "depth": DEPTH}} for i in range(8)],
    "maf": [entry for _ in range(5) for entry in ({"kind": "maf", "params": {"hidden": HIDDEN, "depth": DEPTH}},
                                                  {"kind": "reverse", "params": {}})],
    "nsf": [{"kind": "spline_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "bins": BINS,
                                                   "tail_bound": TAIL, "hidden": HIDDEN, "depth": DEPTH}}
            for i in range(4)],
}

Loss = Callable[[Tensor], Tensor]  # a batch → the mean NLL (differentiable)


@dataclass(frozen=True)
class Built:
    """One row's model: its module, its training loss, and log p(x) per example (in the library's own words)."""

    module: nn.Module
    loss: Loss
    log_prob: Callable[[Tensor], Tensor]


class Skip(Exception):
    """A row that cannot run here (a peer not installed, a model a library lacks); the message says why."""


# -- the floor: a minimal RealNVP, written out -------------------------------------------------------------------
class BareCoupling(nn.Module):
    """The textbook affine coupling on 2-D data: y_b = x_b · exp(s(x_a)) + t(x_a), s soft-clamped to (−3, 3)."""

    def __init__(self, flip: bool) -> None:
        super().__init__()
        self.flip = flip
        self.net = nn.Sequential(nn.Linear(1, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, 2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, b = (x[:, 1:], x[:, :1]) if self.flip else (x[:, :1], x[:, 1:])
        s, t = self.net(a).chunk(2, dim=1)
        s = 3.0 * torch.tanh(s / 3.0)
        b = b * torch.exp(s) + t
        return (torch.cat([b, a], 1) if self.flip else torch.cat([a, b], 1)), s.sum(1)


class BareRealNVP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BareCoupling(i % 2 == 1) for i in range(8))

    def log_prob(self, x: Tensor) -> Tensor:
        ladj = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, step = layer(x)
            ladj = ladj + step
        return -0.5 * (x * x).sum(1) - LOG_2PI + ladj


def build_bare(model: str) -> Built:
    if model != "realnvp":
        raise Skip("the bare loop is RealNVP only")
    flow = BareRealNVP()
    return Built(flow, lambda x: -flow.log_prob(x).mean(), flow.log_prob)


# -- the peers -------------------------------------------------------------------------------------------------
def build_zuko(model: str) -> Built:
    try:
        import zuko
    except ImportError as e:
        raise Skip(f"zuko is not installed ({e}): pip install -e '.[bench]'") from None
    hidden = (HIDDEN,) * DEPTH
    if model == "realnvp":
        flow = zuko.flows.RealNVP(2, transforms=8, hidden_features=hidden)
    elif model == "maf":
        flow = zuko.flows.MAF(2, transforms=5, hidden_features=hidden)
    else:  # on 2 features zuko's NSF (an autoregressive spline) is a coupling; its bound set to ours
        univariate = partial(zuko.transforms.MonotonicRQSTransform, bound=TAIL, slope=1e-3)
        flow = zuko.flows.MAF(2, transforms=4, univariate=univariate, shapes=[(BINS,), (BINS,), (BINS - 1,)],
                              hidden_features=hidden)
    return Built(flow, lambda x: -flow().log_prob(x).mean(), lambda x: flow().log_prob(x))


def build_nflows(model: str) -> Built:
    try:
        from nflows.distributions.normal import StandardNormal
        from nflows.flows.base import Flow
        from nflows.nn.nets import MLP
        from nflows.transforms import (
            AffineCouplingTransform,
            CompositeTransform,
            MaskedAffineAutoregressiveTransform,
            PiecewiseRationalQuadraticCouplingTransform,
            ReversePermutation,
        )
        from nflows.utils.torchutils import create_alternating_binary_mask
    except ImportError as e:
        raise Skip(f"nflows is not installed or does not import ({e}): pip install -e '.[bench]'") from None

    class Net(MLP):
        """nflows' MLP, taking the context argument its couplings pass (None here)."""

        def forward(self, inputs: Tensor, context: Tensor | None = None) -> Tensor:
            return super().forward(inputs)

    def net(n_in: int, n_out: int) -> nn.Module:
        return Net((n_in,), (n_out,), [HIDDEN] * DEPTH)

    if model == "realnvp":
        layers = [AffineCouplingTransform(create_alternating_binary_mask(2, even=i % 2 == 0), net) for i in range(8)]
    elif model == "maf":
        layers = []
        for _ in range(5):
            layers += [MaskedAffineAutoregressiveTransform(2, HIDDEN, num_blocks=DEPTH - 1, use_residual_blocks=False),
                       ReversePermutation(2)]
    else:
        layers = [PiecewiseRationalQuadraticCouplingTransform(
            create_alternating_binary_mask(2, even=i % 2 == 0), net, num_bins=BINS, tails="linear",
            tail_bound=TAIL) for i in range(4)]
    flow = Flow(CompositeTransform(layers), StandardNormal([2]))
    return Built(flow, lambda x: -flow.log_prob(x).mean(), flow.log_prob)


def build_normflows(model: str) -> Built:
    try:
        import normflows as nf
        from normflows.flows.neural_spline.coupling import PiecewiseRationalQuadraticCoupling
        from normflows.utils.masks import create_alternating_binary_mask
    except ImportError as e:
        raise Skip(f"normflows is not installed or does not import ({e}): pip install -e '.[bench]'") from None

    class DensityInOnePass(nf.flows.Flow):
        """normflows' flows map latent → data; this one scores data (``inverse``) with the wrapped layer's one
        MADE pass, as MAF does."""

        def __init__(self, inner: nf.flows.Flow) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
            return self.inner.inverse(z)

        def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
            return self.inner(x)

    class Net(nf.nets.MLP):
        """normflows' MLP, taking the context argument its spline coupling passes (None here)."""

        def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
            return super().forward(x)

    class SplineCoupling(nf.flows.Flow):
        """normflows' CoupledRationalQuadraticSpline with a plain MLP and no unconditional spline."""

        def __init__(self, reverse_mask: bool) -> None:
            super().__init__()
            self.prqct = PiecewiseRationalQuadraticCoupling(
                mask=create_alternating_binary_mask(2, even=reverse_mask),
                transform_net_create_fn=lambda n_in, n_out: Net([n_in, *[HIDDEN] * DEPTH, n_out], init_zeros=True),
                num_bins=BINS, tails="linear", tail_bound=TAIL, apply_unconditional_transform=False)

        def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
            z, log_det = self.prqct.inverse(z)
            return z, log_det.view(-1)

        def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
            z, log_det = self.prqct(z)
            return z, log_det.view(-1)

    flows: list[nn.Module] = []
    if model == "realnvp":
        for _ in range(8):
            flows += [nf.flows.AffineCouplingBlock(nf.nets.MLP([1, *[HIDDEN] * DEPTH, 2], init_zeros=True)),
                      nf.flows.Permute(2, mode="swap")]
    elif model == "maf":
        for _ in range(5):
            flows += [DensityInOnePass(nf.flows.MaskedAffineAutoregressive(2, HIDDEN, num_blocks=DEPTH - 1,
                                                                            use_residual_blocks=False)),
                      nf.flows.Permute(2, mode="swap")]
    else:
        flows = [SplineCoupling(reverse_mask=i % 2 == 1) for i in range(4)]
    flow = nf.NormalizingFlow(q0=nf.distributions.DiagGaussian(2, trainable=False), flows=flows)
    return Built(flow, flow.forward_kld, flow.log_prob)


def build_flowlab_layers(model: str) -> Built:
    flow = build_flow(STACKS[model], (2,))
    return Built(flow, lambda x: -flow.log_prob(x).mean(), flow.log_prob)


BUILDERS: dict[str, Callable[[str], Built]] = {
    "bare": build_bare, "zuko": build_zuko, "nflows": build_nflows, "normflows": build_normflows,
    "flowlab layers": build_flowlab_layers,
}


# -- the one hand-written loop every row but the engine runs ---------------------------------------------------
class Loop:
    """Adam on ``loss``; batches are rows of ``data`` drawn by a seeded generator (the engine's stream)."""

    def __init__(self, built: Built, data: Tensor, batch: int, seed: int) -> None:
        self.built, self.loss, self.data, self.batch = built, built.loss, data, batch
        # Fused Adam, as the engine's (fused AdamW without decay): the optimizer is not what is compared here.
        self.optimizer = torch.optim.Adam(built.module.parameters(), lr=LEARNING_RATE,
                                          fused=data.device.type in ("cpu", "cuda"))
        self.gen = torch.Generator(device=data.device).manual_seed(seed)
        self.steps = 0

    def step(self) -> None:
        idx = torch.randint(0, self.data.shape[0], (self.batch,), device=self.data.device, generator=self.gen)
        loss = self.loss(self.data[idx])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.steps += 1

    def run_for(self, seconds: float, sync: Callable[[], None]) -> float:
        """Steps per second over about ``seconds``."""
        sync()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            self.step()
            n += 1
            if n % 10 == 0:
                sync()
        sync()
        return n / (time.perf_counter() - start)

    @torch.no_grad()
    def test_nll(self, test: Tensor) -> float:
        self.built.module.eval()
        return float(sum(-self.built.log_prob(chunk).sum() for chunk in test.split(8192))) / test.shape[0]


# -- the engine, as a user gets it -----------------------------------------------------------------------------
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
        self.ready = False
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

    def run_to_end(self) -> Finished:
        self.ready = False
        self.thread.start()
        self.session.send(Play())
        while self.finished is None:
            self._drain(timeout=1.0)
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


def engine_settings(args: argparse.Namespace, compile: bool) -> TrainSettings:
    return TrainSettings(batch_size=args.batch, learning_rate=LEARNING_RATE, device=args.device, compile=compile)


# -- speed -----------------------------------------------------------------------------------------------------
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
            [sys.executable, os.path.abspath(__file__), "--worker", name, "--models", model, "--batch",
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
            data = Trainer(STACKS["realnvp"], _target("moons"), engine_settings(args, False)).train_data
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
        print(f"\n== {model}: {_describe(model)}")
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


# -- quality ---------------------------------------------------------------------------------------------------
def quality(args: argparse.Namespace, device: torch.device) -> None:
    print(f"test NLL (nats) after {args.steps} steps, same training stream and test split for every row")
    for model in args.models:
        for set_name in args.sets:
            trainer = Trainer(STACKS[model], _target(set_name), engine_settings(args, False))
            data, test = trainer.train_data, trainer.test_data
            entropy = trainer.target_entropy()
            results: dict[str, float | str] = {}
            for name, build in BUILDERS.items():
                try:
                    torch.manual_seed(0)  # the engine's weights seed (flowlab layers start where the engine does)
                    built = build(model)
                    built.module.to(device)
                except Skip as e:
                    results[name] = f"skipped: {e}"
                    continue
                except Exception as e:
                    results[name] = f"skipped: it failed to build ({type(e).__name__}: {e})"
                    continue
                loop = Loop(built, data, args.batch, seed=1)  # the engine's batch generator: its seed + 1
                for _ in range(args.steps):
                    loop.step()
                results[name] = loop.test_nll(test)
            scores: list[float] = []
            engine = Engine(model, engine_settings(args, True), target=set_name, max_steps=args.steps,
                            finish=lambda tr, scores=scores: scores.append(tr.evaluate()["test_nll"]) or {})
            engine.run_to_end()
            results[ENGINE] = scores[0] if scores else f"failed: {engine.failure}"
            floor = f"H(p) = {entropy:.3f}" if entropy is not None else "H(p) unknown"
            numbers = {n: v for n, v in results.items() if isinstance(v, float)}
            best = min(numbers, key=numbers.get) if numbers else None
            print(f"\n{model} on {set_name} ({floor}):")
            for name, value in results.items():
                if isinstance(value, float):
                    gap = f"  gap {value - entropy:+.3f}" if entropy is not None else ""
                    mark = "  best" if name == best else f"  {value - numbers[best]:+.3f} vs best"
                    print(f"  {name:<22} {value:7.3f}{gap}{mark}")
                else:
                    print(f"  {name:<22} {value}")


def _target(name: str):
    from flowlab.targets import build_target

    return build_target({"kind": name})


def _describe(model: str) -> str:
    return {"realnvp": "8 affine couplings, MLP 2x128", "maf": "5 MADE layers 2x128, reversals",
            "nsf": f"4 RQ spline couplings, {BINS} bins on [-{TAIL:g}, {TAIL:g}], MLP 2x128"}[model]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (speed)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per row and round (speed)")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")
    parser.add_argument("--compile-wait", type=float, default=300.0,
                        help="seconds the engine may train before its compiled step is in use (speed)")
    parser.add_argument("--quality", action="store_true", help="held-out NLL after --steps instead of speed")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one row of the speed table (RowProcess)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they are measured, even through a pipe
    args.models = [m for m in args.models.split(",") if m]
    args.sets = [s for s in args.sets.split(",") if s]
    for m in args.models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r} (choose from {', '.join(MODELS)})")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    torch.set_num_threads(args.threads)
    threads.adopt(threads.ThreadPolicy(training=args.threads, views=1, switch_interval_s=None))
    if args.worker:
        worker(args, device)
        return
    versions = []
    for peer in PEERS:
        try:
            versions.append(f"{peer} {importlib.metadata.version(peer)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{peer} missing")
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{', '.join(versions)}")
    (quality if args.quality else speed)(args, device)


if __name__ == "__main__":
    main()
