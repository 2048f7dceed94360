"""The largest round-trip and log-determinant errors of every registered layer kind, in float64, with parameters
randomised away from the identity (the same cases as tests/flows/test_layer_contract.py).

    python bench/layer_errors.py
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from torch.func import jacrev

from flowlab.flows import LAYERS
from tests.flows.cases import cases, randomised_flow, support_sample


def errors(case) -> tuple[float, float]:
    flow = randomised_flow(case)
    gen = torch.Generator().manual_seed(1)
    x = support_sample(LAYERS[case.kind].support, 6, case.shape, gen)
    with torch.no_grad():
        z, ladj = flow(x)
        x_back, ladj_inv = flow.inverse(z)
        x2, _ = flow.inverse(z + 0.1)
        z_back, _ = flow(x2)
    trip = max(float((x_back - x).abs().max()), float((z_back - z - 0.1).abs().max()))
    b, d = x.shape[0], x[0].numel()
    worst = float((ladj + ladj_inv).abs().max())
    for fn, at, ref in ((lambda t: flow(t)[0], x, ladj), (lambda t: flow.inverse(t)[0], z, ladj_inv)):
        jac = jacrev(fn)(at).reshape(b, d, b, d)
        idx = torch.arange(b)
        worst = max(worst, float((torch.linalg.slogdet(jac[idx, :, idx, :])[1] - ref.detach()).abs().max()))
    return trip, worst


def main() -> None:
    torch.set_num_threads(1)
    worst: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for case in cases():
        trip, logdet = errors(case)
        w = worst[case.kind]
        w[0], w[1] = max(w[0], trip), max(w[1], logdet)
    print(f"{'kind':24s} {'round trip':>12s} {'log-det':>12s}")
    for kind in sorted(worst):
        print(f"{kind:24s} {worst[kind][0]:12.1e} {worst[kind][1]:12.1e}")


if __name__ == "__main__":
    main()
