"""The flow core: pure PyTorch, no Qt.

>>> from flowlab.flows import LAYERS, build_flow
>>> flow = build_flow([{"kind": "affine_coupling", "params": {"mask": "half"}}], shape=(2,))
>>> x = flow.sample(5); flow.log_prob(x).shape
torch.Size([5])
"""

from flowlab.flows import layers as _layers  # noqa: F401  (registers every layer kind)
from flowlab.flows.base import Bijection
from flowlab.flows.build import build_flow, stack_shapes, validate_stack
from flowlab.flows.distributions import BASES, DiagonalNormal, StandardNormal, Uniform
from flowlab.flows.flow import Flow, LayerInfo
from flowlab.flows.registry import LAYERS, Directions, LayerSpec, Param, layer_summary, register

__all__ = ["LAYERS", "build_flow", "stack_shapes", "validate_stack", "Flow", "LayerInfo", "Bijection", "LayerSpec",
           "Param", "Directions", "register", "layer_summary", "StandardNormal", "DiagonalNormal",
           "Uniform", "BASES"]
