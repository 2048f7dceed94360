"""The `cnf` layer's fixed-step RK4: how exact it is against the number of steps, and what a step costs.

    python bench/cnf_solver.py [--train-steps 300] [--threads 1]

1. On a randomised float64 field (the contract tests' kind, 2-D, hidden 8): the round-trip error
   max|f⁻¹(f(x)) − x|, the layer's log-det against log|det| of the autograd Jacobian of the map it applies (the
   exact discrete log-det: rounding level at any step count), and the same for the augmented-ODE log-det with the
   exact divergence (FFJORD's way: RK4 applied to dL/dt = tr J, which is off by O(h⁴)).
2. On a field trained by maximum likelihood on two moons (``--train-steps``, hidden 32): the round trip, and z and
   log-det against a 256-step solve (the continuous-time answer).
3. Milliseconds per maximum-likelihood training step (batch 512) and per flow-matching step, and per 128² density
   grid, against the steps.

Times are for comparing step counts in one run; the machine's load moves them between runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from torch.func import jacrev

from flowlab.flows import build_flow
from flowlab.flows.layers.continuous import rk4_augmented
from flowlab.targets import build_target
from flowlab.training.objectives import flow_matching_loss
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer

STEPS = (1, 2, 4, 8, 16, 32)


def random_field_table() -> None:
    print("randomised 2-D field (float64, hidden 8, weights + N(0, 0.3²)):")
    print(f"{'steps':>5} {'round trip':>11} {'log-det err':>12} {'augmented err':>14}")
    for steps in STEPS:
        torch.manual_seed(0)
        flow = build_flow([{"kind": "cnf", "params": {"hidden": 8, "steps": steps}}], (2,)).double().eval()
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in flow.parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        layer = flow.layers[0]
        x = 1.5 * torch.randn(64, 2, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            z, ladj = layer(x)
            back, _ = layer.inverse(z)
            _, aug = rk4_augmented(layer.field, x, 0.0, 1.0, steps,
                                   layer.field.with_divergence)
        jac = torch.stack([jacrev(lambda v, f=layer: f(v.unsqueeze(0))[0][0])(xi) for xi in x[:8]])
        ref = torch.linalg.slogdet(jac)[1]
        print(f"{steps:5d} {(back - x).abs().max():11.1e} {(ladj[:8] - ref).abs().max():12.1e} "
              f"{(aug[:8] - ref).abs().max():14.1e}")


def trained_field_table(train_steps: int) -> None:
    target = build_target({"kind": "moons", "params": {}, "data": {}})
    settings = TrainSettings(learning_rate=5e-3, batch_size=256, eval_every=10**6, n_train=5000, n_test=2000)
    trainer = Trainer([{"kind": "cnf", "params": {"hidden": 32, "steps": 8}}], target, settings)
    for _ in range(train_steps):
        trainer.train_step()
    flow = trainer.flow.double().eval()
    layer = flow.layers[0]
    x = trainer.test_data.double()
    layer.steps = 256
    with torch.no_grad():
        z_ref, l_ref = layer(x)
    print(f"\nfield trained {train_steps} steps on two moons by maximum likelihood ({x.shape[0]} test points):")
    print(f"{'steps':>5} {'round trip max':>15} {'median':>8} {'z vs 256':>9} {'log-det vs 256':>15}")
    for steps in STEPS:
        layer.steps = steps
        with torch.no_grad():
            z, ladj = layer(x)
            back, _ = layer.inverse(z)
        err = (back - x).abs().max(dim=1).values
        print(f"{steps:5d} {err.max():15.1e} {err.median():8.1e} {(z - z_ref).abs().max():9.1e} "
              f"{(ladj - l_ref).abs().max():15.1e}")


def _ms(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1000


def _step_ms(flow, loss_fn, repeat: int) -> float:
    """Milliseconds per optimiser step of ``loss_fn(flow)``."""
    opt = torch.optim.Adam(flow.parameters(), 1e-3)

    def step() -> None:
        loss = loss_fn(flow)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return _ms(step, repeat)


def cost_table() -> None:
    print("\ncost, float32, hidden 64 × 2, batch 512 (ms):")
    print(f"{'steps':>5} {'MLE step':>9} {'FM step':>8} {'128² grid':>10}")
    x = torch.randn(512, 2)
    grid = torch.randn(128 * 128, 2)
    for steps in (4, 8, 16):
        torch.manual_seed(0)
        flow = build_flow([{"kind": "cnf", "params": {"steps": steps}}], (2,))
        mle = _step_ms(flow, lambda f: -f.log_prob(x).mean(), 5)
        fm = _step_ms(flow, lambda f: flow_matching_loss(f, x), 20)
        print(f"{steps:5d} {mle:9.1f} {fm:8.2f} {_ms(lambda f=flow: f.push(grid), 2):10.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    random_field_table()
    trained_field_table(args.train_steps)
    cost_table()


if __name__ == "__main__":
    main()
