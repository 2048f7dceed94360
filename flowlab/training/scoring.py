"""Anomaly scores for images: bits/dim of single images under a trained flow, against the test set's spread.

Images come as integer levels k ∈ {0, …, L−1} (as :class:`flowlab.targets.images.ImageTarget` stores them).
The scoring demo (:func:`score_image`) dequantises as training does, x = (k + u)/L with u ~ U[0, 1), and
averages the NLL over :data:`DRAWS` draws. Each image's draws are seeded from its own pixels (and :data:`SEED`):
an image scores the same alone as inside the test set, the same drawing always gets the same score, different
images get independent draws, and the mean over the test set matches the trainer's ``test_bpd`` up to the
draws' noise. ``dequantisation="centre"`` (x = (k + ½)/L) is offered too, but it is not what the model was trained
on: on digits it reads 0.1–0.25 bits/dim lower than the trainer's figure. bits/dim is the trainer's definition,
(NLL + D ln L)/(D ln 2) (:func:`flowlab.targets.images.bits_per_dim`). No Qt here.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from flowlab.errors import FlowlabError
from flowlab.flows import Flow
from flowlab.targets.images import ImageTarget, bits_per_dim

Dequantisation = Literal["centre", "uniform"]
UNUSUAL_PERCENT = 95.0  # above this share of test images: "unusual"
MAX_TEST = 2000  # test images scored for the histogram
FEW_TEST = 20  # fewer test images than this: the verdict says it is rough
DRAWS = 4  # uniform dequantisation draws averaged per image
SEED = 0
CHUNK = 512


def intensities_to_levels(image: np.ndarray, levels: int) -> np.ndarray:
    """Drawn intensities in [0, 1] → integer levels round(x·(L−1)) (0 → 0, 1 → L−1), as float32."""
    x = np.asarray(image, dtype=np.float64)
    if not np.isfinite(x).all():
        raise FlowlabError("the drawing holds a value that is not a finite number")
    return np.rint(np.clip(x, 0.0, 1.0) * (levels - 1)).astype(np.float32)


def image_noise(images: np.ndarray, draws: int, seed: int = SEED) -> np.ndarray:
    """Uniform dequantisation noise, (draws, n, *image shape) float32 in [0, 1), each image's seeded from
    (``seed``, a CRC of its levels): the noise depends on the image only, not on its batch or position."""
    out = np.empty((draws, *images.shape), dtype=np.float32)
    levels = np.rint(images).astype(np.int16)
    for i, image in enumerate(levels):
        rng = np.random.default_rng([seed, zlib.crc32(image.tobytes())])
        out[:, i] = rng.random((draws, *image.shape), dtype=np.float32)
    return out


@torch.no_grad()
def per_image_bpd(flow: Flow, images: Tensor, levels: int, dequantisation: Dequantisation = "uniform",
                  draws: int = DRAWS, seed: int = SEED) -> np.ndarray:
    """Bits/dim of each image (``images``: (n, C, H, W) levels, any float dtype) under ``flow`` in eval mode.
    Uniform dequantisation averages the NLL over ``draws`` draws of u seeded by (``seed``, the image's pixels),
    see :func:`image_noise`. Returns a fresh (n,) float64 array."""
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(flow.shape):
        raise FlowlabError(f"images of shape {tuple(images.shape[1:])} cannot be scored by a flow for "
                           f"{tuple(flow.shape)}")
    if dequantisation not in ("centre", "uniform"):
        raise ValueError(f"dequantisation must be 'centre' or 'uniform', not {dequantisation!r}")
    if dequantisation == "centre":
        noise = torch.full((1, *images.shape), 0.5)
    else:
        noise = torch.from_numpy(image_noise(images.detach().cpu().numpy(), max(1, int(draws)), seed))
    param = next(iter(flow.parameters()), None)
    device = param.device if param is not None else images.device
    dtype = param.dtype if param is not None else torch.float32
    images, noise = images.to(device=device, dtype=dtype), noise.to(device=device, dtype=dtype)
    was_training = flow.training
    flow.eval()  # ActNorm never initialises and BatchNorm uses its running averages
    try:
        nll = torch.zeros(len(images), dtype=torch.float64, device=images.device)
        for u in noise:  # draw k of every image
            x = (images + u) / levels
            nll += torch.cat([-flow.log_prob(chunk).double() for chunk in x.split(CHUNK)])
    finally:
        flow.train(was_training)
    bpd = bits_per_dim(nll / len(noise), flow.dim, levels)
    return bpd.cpu().numpy().copy()


@dataclass(frozen=True)
class ImageScore:
    """One image's bits/dim beside the test set's, as fresh arrays (safe to hand to another thread)."""

    step: int
    image: np.ndarray  # (H, W) what was scored, levels/(L−1) ∈ [0, 1] (ink = 1)
    bpd: float
    test_bpd: np.ndarray  # (n,) per test image, same dequantisation
    source: str  # "your drawing", "test image 17"
    noun: str  # "test digits", "test images"

    @property
    def percent_below(self) -> float:
        """Share (%) of test images that score fewer bits/dim (are more likely) than this one."""
        finite = self.test_bpd[np.isfinite(self.test_bpd)]
        if not len(finite):
            return math.nan
        return 100.0 * float(np.mean(finite < self.bpd))

    @property
    def unusual(self) -> bool:
        return not math.isfinite(self.bpd) or self.percent_below >= UNUSUAL_PERCENT

    def text(self) -> str:
        """E.g. "2.90 bits/dim — higher than 97% of test digits: unusual"."""
        if not math.isfinite(self.bpd):
            return f"the model gives it no finite score (bits/dim = {self.bpd}): unusual"
        p = self.percent_below
        verdict = "unusual" if self.unusual else "typical"
        if p <= 100.0 - UNUSUAL_PERCENT:  # more likely than nearly every test image
            text = (f"{self.bpd:.2f} bits/dim — lower than {100.0 - p:.0f}% of {self.noun}: more likely than "
                    f"typical (simple images can fool a flow)")
        else:
            text = f"{self.bpd:.2f} bits/dim — higher than {p:.0f}% of {self.noun}: {verdict}"
        n = len(self.test_bpd)
        return text + (f" (only {n} test image{'s' if n != 1 else ''}: a rough comparison)" if n < FEW_TEST else "")

    def histogram(self, bins: int = 30) -> tuple[np.ndarray, np.ndarray]:
        """(counts, edges) of the finite test bits/dim."""
        finite = self.test_bpd[np.isfinite(self.test_bpd)]
        return np.histogram(finite, bins=bins) if len(finite) else (np.zeros(0), np.zeros(1))


def raw_test_images(target: ImageTarget, n_test: int) -> Tensor:
    """The trainer's raw test images (its split, truncated to ``n_test``), at most :data:`MAX_TEST`."""
    return target.test_images[: min(n_test, MAX_TEST)].float()


def _check_image_target(target: ImageTarget) -> None:
    if not isinstance(target, ImageTarget):
        raise FlowlabError(f"scoring a drawing needs an image target; '{target.name}' is not one")


def test_set_bpd(flow: Flow, target: ImageTarget, n_test: int) -> np.ndarray:
    """Per-image bits/dim of the test images :func:`score_image` compares with (the same draws)."""
    _check_image_target(target)
    return per_image_bpd(flow, raw_test_images(target, n_test), target.levels)


def score_image(flow: Flow, target: ImageTarget, n_test: int, step: int, image: np.ndarray | None = None,
                test_index: int | None = None, test_bpd: np.ndarray | None = None) -> ImageScore:
    """Score a drawing (intensities in [0, 1], shape (H, W) or (C, H, W)) or test image ``test_index``
    (taken modulo the number of test images) against the test set, both with :data:`DRAWS` seeded uniform
    dequantisation draws (see the module docstring). ``test_bpd``: the test set's scores under these same
    weights from :func:`test_set_bpd`, when the caller kept them (several drawings scored at one step)."""
    _check_image_target(target)
    test = raw_test_images(target, n_test)
    if not len(test):
        raise FlowlabError(f"'{target.name}' has no test images to compare with")
    levels = target.levels
    if (image is None) == (test_index is None):
        raise ValueError("give either an image or a test_index")
    if image is None:
        index = int(test_index) % len(test)
        levels_image = test[index]
        source = f"test image {index}"
    else:
        arr = np.asarray(image)
        c, h, w = target.shape
        if arr.ndim == 2 and c == 1:
            arr = arr[None]
        if arr.shape != target.shape:
            raise FlowlabError(f"the drawing is {'×'.join(map(str, arr.shape[-2:]))} but the images of "
                               f"'{target.name}' are {h}×{w}" + ("" if c == 1 else f" with {c} channels"))
        levels_image = torch.from_numpy(intensities_to_levels(arr, levels))
        source = "your drawing"
    bpd = per_image_bpd(flow, levels_image[None], levels)[0]
    test_bpd = per_image_bpd(flow, test, levels) if test_bpd is None else np.array(test_bpd, copy=True)
    noun = "test digits" if "digit" in target.name else "test images"
    shown = (levels_image / (levels - 1)).numpy().astype(np.float32)
    return ImageScore(step=step, image=shown[0] if shown.shape[0] == 1 else shown, bpd=float(bpd),
                      test_bpd=test_bpd, source=source, noun=noun)
