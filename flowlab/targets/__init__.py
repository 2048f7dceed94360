"""What to fit: 2-D toy sets, 1-D sets, the user's own data, energies and image data sets. No Qt here."""

import importlib
import pkgutil

from flowlab.targets.base import (
    TARGETS,
    DataMissing,
    DataSource,
    EnergyTarget,
    Estimate,
    SampleTarget,
    Target,
    TargetError,
    TargetSpec,
    build_target,
    grid_points,
    register_target,
)

# Every module in this package registers its target kinds when imported (one file per family).
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in {"base"}
                      and not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["TARGETS", "DataMissing", "DataSource", "Target", "SampleTarget", "EnergyTarget", "Estimate",
           "TargetError", "TargetSpec", "build_target", "grid_points", "register_target"]
