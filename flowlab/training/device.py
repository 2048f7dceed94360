"""Choosing where to train: CUDA, else Apple MPS, else CPU, unless the user says otherwise."""

from __future__ import annotations

import torch

from flowlab.errors import FlowlabError
from flowlab.words import count

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; asking for a device that is not there is a clear error."""
    if requested not in DEVICE_CHOICES:
        raise FlowlabError(f"unknown device '{requested}' (choose {', '.join(DEVICE_CHOICES)})")
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise FlowlabError("CUDA was asked for, but PyTorch sees no CUDA GPU here (use --device cpu or auto)")
    if requested == "mps" and not _mps_available():
        raise FlowlabError("Apple MPS was asked for, but it is not available on this machine")
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """A short human name: 'CPU (2 threads)', 'CUDA: NVIDIA H100', 'Apple MPS'."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({count(torch.get_num_threads(), 'thread')})"
