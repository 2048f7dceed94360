"""flowlab: see normalizing flows learn.

The core (``flowlab.flows``, ``flowlab.targets``, ``flowlab.training``, ``flowlab.presets``) is pure
PyTorch/NumPy and never imports Qt; ``flowlab.ui`` is the only place that does.
"""

__version__ = "0.1.0"
