"""Training speed: a bare hand-written PyTorch loop vs the engine headless vs the engine on its QThread with live
views, for the same RealNVP (8 affine couplings, alternating halves, MLP 1→128→128→2, batch 512) on two moons.

    python bench/bench_training.py [--threads 2] [--seconds 10] [--device cpu]

Prints steps/s and ratios against the bare loop measured in the same run, the share of the training thread's
time spent on views and the density-heatmap refresh rate, and the median (min–max) time of a 256×256 density
grid and of 10 000 samples over ``--repeats`` interleaved rounds, against plain ``flow.log_prob`` in chunks
measured in the same rounds (``bench/bench_views.py`` has the details). Figures are from this machine; compare
ratios, not absolute numbers, across machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from bench_views import grid_via_flow, interleaved
from torch import nn

from flowlab.targets import build_target
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer
from flowlab.training.views import density_grid, model_samples

STACK = [{"kind": "affine_coupling",
          "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 128, "depth": 2}} for i in range(8)]
BATCH = 512


class BareCoupling(nn.Module):
    """The textbook affine coupling on 2-D data, written directly (the baseline)."""

    def __init__(self, flip: bool) -> None:
        super().__init__()
        self.flip = flip
        self.net = nn.Sequential(nn.Linear(1, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = (x[:, 1:], x[:, :1]) if self.flip else (x[:, :1], x[:, 1:])
        s, t = self.net(a).chunk(2, dim=1)
        s = 3.0 * torch.tanh(s / 3.0)
        b = b * torch.exp(s) + t
        out = torch.cat([b, a], 1) if self.flip else torch.cat([a, b], 1)
        return out, s.sum(1)


def bare_loop(data: torch.Tensor, seconds: float, device: torch.device) -> float:
    torch.manual_seed(0)
    layers = nn.ModuleList(BareCoupling(i % 2 == 1) for i in range(8)).to(device)
    opt = torch.optim.Adam(layers.parameters(), lr=1e-3)
    data = data.to(device)

    def step() -> float:
        x = data[torch.randint(0, len(data), (BATCH,), device=device)]
        ladj = torch.zeros(BATCH, device=device)
        for layer in layers:
            x, layer_ladj = layer(x)
            ladj = ladj + layer_ladj
        loss = -(-0.5 * (x * x).sum(1) - 1.8378770664093453 + ladj).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return _rate(step, seconds)


def _rate(step, seconds: float, warmup: int = 20) -> float:
    for _ in range(warmup):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def engine_headless(target, seconds: float, device: str, compile: bool = False) -> tuple[float, Trainer]:
    trainer = Trainer(STACK, target, TrainSettings(batch_size=BATCH, device=device, eval_every=10**6,
                                                   n_train=20000, n_test=5000, compile=compile))
    if compile:  # train eagerly until the compiled step (built in another process) is in use, as a session does
        while trainer.compile_state[0] in ("waiting", "compiling"):
            trainer.train_step()
            trainer.maybe_start_compile(None)
        if trainer.compile_state[0] != "compiled":
            print(f"  (compiled step not in use: {trainer.compile_state[1]})")
    rate = _rate(trainer.train_step, seconds)
    trainer.close()
    return rate, trainer


def engine_on_thread(target, seconds: float, device: str) -> dict[str, float]:
    """The window's way: a Session on its QThread (``SessionWorker``), views computed and delivered as events."""
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from flowlab.training import threads
    from flowlab.training.messages import Failure, Play, Progress, Ready, SnapshotReady
    from flowlab.training.session import SessionSpec
    from flowlab.ui.worker import SessionWorker

    app = QCoreApplication.instance() or QCoreApplication([])
    threads.configure(interactive=True)
    # Eager steps, as the bare loop's: this measures what the views cost (bench_peers.py measures compiled steps).
    settings = TrainSettings(batch_size=BATCH, device=device, eval_every=10**6, n_train=20000, n_test=5000,
                             compile=False)
    worker = SessionWorker(SessionSpec(STACK, {"kind": "moons", "params": {}, "data": {}}, settings))
    progress, snaps, started = [], [], []  # ``started``: Ready or a build Failure, polled (a quit() that reaches
    # the loop before exec() is lost, and the bench then hung for good)

    def on_event(event) -> None:
        if isinstance(event, Progress):
            progress.append(event)
        elif isinstance(event, SnapshotReady):
            snaps.append(event.snapshot)
        elif isinstance(event, (Ready, Failure)):
            started.append(event)

    worker.event.connect(on_event)
    loop = QEventLoop()
    worker.start()
    deadline = time.perf_counter() + 120
    while not started and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not started or isinstance(started[0], Failure):
        worker.shutdown()
        raise RuntimeError(f"the session did not start: {started[0] if started else 'no reply in 120 s'}")
    worker.send(Play())
    QTimer.singleShot(2000, loop.quit)  # warm-up
    loop.exec()
    step0, snaps0, t0 = progress[-1].step, len(snaps), time.perf_counter()
    view0 = worker.view_time_s
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    elapsed = time.perf_counter() - t0
    steps = progress[-1].step - step0
    window = snaps[snaps0:]
    view_share = (worker.view_time_s - view0) / elapsed
    worker.shutdown()
    app.processEvents()
    return {"steps_per_s": steps / elapsed, "view_share": view_share,
            "view_thread_share": sum(s.cost_s for s in window) / elapsed,
            "heatmaps_per_s": sum(1 for s in window if s.density is not None) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-thread", action="store_true", help="no Qt run (e.g. on a GPU box without Qt)")
    parser.add_argument("--compile", action="store_true",
                        help="also the engine once its compiled step is in use (training eagerly until then)")
    parser.add_argument("--repeats", type=int, default=20, help="interleaved rounds for the grid (×3 for samples)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    target = build_target({"kind": "moons"})
    data, _ = target.split(20000, 10, seed=0)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}")

    bare = bare_loop(data, args.seconds, device)
    print(f"bare loop            {bare:8.1f} steps/s   1.00x")
    headless, trainer = engine_headless(target, args.seconds, args.device, compile=False)
    print(f"engine headless      {headless:8.1f} steps/s   {headless / bare:.2f}x   (target >= 1.0x)")
    if args.compile:
        start = time.perf_counter()
        compiled, _ = engine_headless(target, args.seconds, args.device, compile=True)
        print(f"engine + compile     {compiled:8.1f} steps/s   {compiled / bare:.2f}x   "
              f"(warm-up and run {time.perf_counter() - start:.0f} s)")
    flow = trainer.flow.eval()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    bounds = (-4.0, 4.0, -4.0, 4.0)

    def flow_sample() -> None:
        with torch.no_grad():
            flow.sample(10000)

    grid = interleaved({"flow": lambda: grid_via_flow(flow, bounds, 256),
                        "views": lambda: density_grid(flow, bounds, 256)}, args.repeats, sync)
    samples = interleaved({"flow": flow_sample, "views": lambda: model_samples(flow, 10000)},
                          3 * args.repeats, sync)
    for what, times, base_name, goal in (
            ("256x256 density grid", grid, "flow.log_prob", "target well under 200 ms"),
            ("10 000 samples      ", samples, "flow.sample", "target under 30 ms")):
        fast, plain = times["views"], times["flow"]
        fast_ms, plain_ms = statistics.median(fast), statistics.median(plain)
        print(f"{what} {fast_ms:8.1f} ms   median, {min(fast):.1f}–{max(fast):.1f} over {len(fast)} runs   ({goal}); "
              f"{plain_ms / fast_ms:.2f}x plain {base_name}: {plain_ms:.1f} ms, {min(plain):.1f}–{max(plain):.1f}")

    if not args.skip_thread:
        live = engine_on_thread(target, args.seconds, args.device)
        print(f"engine + live views  {live['steps_per_s']:8.1f} steps/s   {live['steps_per_s'] / bare:.2f}x   "
              f"(target >= 0.8x); views take {100 * live['view_share']:.1f}% of the training thread (target <= 20%) "
              f"and {100 * live['view_thread_share']:.0f}% of the view thread, "
              f"128x128 heatmap {live['heatmaps_per_s']:.1f}/s (target >= 4)")


if __name__ == "__main__":
    main()
