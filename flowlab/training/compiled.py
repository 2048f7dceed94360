"""The compiled training loss, built in another process while training goes on eagerly, then swapped in.

``torch.compile`` makes the small flows' steps 1.3–2.5× faster, but compiling takes tens of seconds, and doing it
on a thread beside training is no answer: Dynamo is not thread-safe (pytorch/pytorch#118260, #105943) and,
holding the GIL through long stretches of Python, it slowed the eager steps beside it eightfold
(``bench/bench_peers.py`` history in the issue 11 note). So :class:`CompiledLoss`:

1. on :meth:`~CompiledLoss.start` (the session calls it once training is under way) looks for a compiled artifact
   for this stack, batch shape, device and torch version in the cache directory; if there is none, a child
   process at a low CPU priority (nice 10) builds the same flow from the plain-data stack and AOT-compiles the loss
   (``torch.compile(..., fullgraph=True).aot_compile``), saving the artifact atomically;
2. a loader thread loads the artifact (no tracing: guards and compiled code come from the file), checks that its
   loss and gradients equal the eager ones on a copy of the model and a real batch, and only then publishes it;
3. every call runs the compiled loss when one is published and the batch matches what it was compiled for,
   else the eager loss. A failed guard check (it never recompiles) falls back to eager for good, with a reason.

A second start of the same stack finds the artifact and only loads it. Any failure (no C++ compiler, a stack that
does not compile as one graph, an old torch) leaves training eager and says why in :attr:`CompiledLoss.note`.
``FLOWLAB_COMPILE=0`` switches it off; ``FLOWLAB_CACHE_DIR`` moves the cache (default ``~/.cache/flowlab``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from flowlab.flows import Flow, build_flow
from flowlab.training.objectives import nll

State = Literal["off", "waiting", "compiling", "compiled", "failed"]
LossFn = Callable[[Flow, Tensor], Tensor]
LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-5  # compiled vs eager, float32 (fusion reorders sums)
GRAD_RTOL, GRAD_ATOL = 1e-3, 1e-5
EAGER_NOTE = "eager steps: "  # how a note that says why training is eager begins (the reason follows)
# TorchInductor options. Its size asserts re-check every input's sizes and strides on each call (about 100 Python
# calls a step for a small flow), which the guards already check: without them MAF's step ran about 1.03× faster.
INDUCTOR_OPTIONS: dict[str, Any] = {"size_asserts": False}


def cache_dir() -> Path:
    """Where compiled artifacts live: ``$FLOWLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowlab`` or ~/.cache/flowlab."""
    given = os.environ.get("FLOWLAB_CACHE_DIR")
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flowlab"


def compile_unavailable(device: torch.device) -> str | None:
    """Why the loss cannot be compiled here, or None."""
    if os.environ.get("FLOWLAB_COMPILE", "1").strip().lower() in ("0", "false", "no", "off"):
        return "switched off by FLOWLAB_COMPILE=0"
    if not hasattr(torch.compiler, "load_compiled_function"):
        return f"torch {torch.__version__} has no AOT precompile (torch.compiler.load_compiled_function)"
    if device.type == "cpu":
        candidates = [os.environ.get("CXX"), "g++", "clang++", "c++"]
        if not any(c and shutil.which(c) for c in candidates):
            return ("no C++ compiler found (g++, clang++ or $CXX): TorchInductor needs one to compile for the "
                    "CPU; install one (e.g. apt-get install g++) to get compiled steps")
        return None
    if device.type == "cuda":
        try:
            from torch.utils._triton import has_triton
        except ImportError:
            return "this torch cannot tell whether Triton is installed"
        return None if has_triton() else "Triton is not installed: TorchInductor needs it to compile for CUDA"
    return f"compiling for {device.type} is not supported"


@functools.cache
def code_version() -> str:
    """A digest of the code a compiled loss is traced from and compiled by (the flows, the objectives, this module
    with its compiler options): an artifact traced from older layer code would still pass its guards, and run the
    old code."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted((root / "flows").rglob("*.py")) + [root / "training" / name
                                                          for name in ("objectives.py", "compiled.py")]:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def artifact_key(layers: Sequence[Mapping[str, Any]], shape: Sequence[int], base: str,
                 batch_shape: Sequence[int], dtype: torch.dtype, device: torch.device, threads: int) -> str:
    """A file name for one (stack, batch, device, intra-op threads, torch, flowlab code) combination: a guard on
    any of them would differ (CPU kernels are generated for the thread count they run with), or the code."""
    what = json.dumps({"layers": list(layers), "shape": list(shape), "base": base, "batch": list(batch_shape),
                       "dtype": str(dtype), "device": device.type, "threads": threads, "torch": torch.__version__,
                       "python": sys.version_info[:2], "code": code_version()}, sort_keys=True, default=str)
    return hashlib.sha256(what.encode()).hexdigest()[:24] + ".nll"


def compile_to_file(layers: Sequence[Mapping[str, Any]], shape: Sequence[int], base: str,
                    batch_shape: Sequence[int], dtype: torch.dtype, device: torch.device, path: Path,
                    loss: LossFn = nll) -> None:
    """AOT-compile ``loss(flow, batch)`` for a flow built from ``layers`` and save it to ``path`` atomically.
    Weights and batch values do not matter: what is compiled depends on the structure and shapes only."""
    flow = build_flow(layers, shape, base=base).to(device=device, dtype=dtype).train()
    example = torch.randn(tuple(batch_shape), dtype=dtype, device=device)
    compiled = torch.compile(loss, fullgraph=True, dynamic=False,
                             options=INDUCTOR_OPTIONS).aot_compile(((flow, example), {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    compiled.save_compiled_function(str(partial))
    os.replace(partial, path)


def _child_main(argv: Sequence[str]) -> int:
    """``python -m flowlab.training.compiled JSON``: the compiling process, at nice 10 (beside a busy trainer at
    nice 0 it gets about a tenth of a core; the eager steps keep the rest)."""
    if hasattr(os, "nice"):
        try:
            os.nice(10)
        except OSError:
            pass
    job = json.loads(argv[0])
    torch.set_num_threads(job["threads"])  # the training thread's count: the compiled code is guarded on it
    compile_to_file(job["layers"], job["shape"], job["base"], job["batch"], getattr(torch, job["dtype"]),
                    torch.device(job["device"]), Path(job["path"]))
    return 0


def _signature(flow: Flow, batch: Tensor) -> tuple:
    return (tuple(batch.shape), batch.dtype, batch.device, flow.training, torch.is_grad_enabled(),
            torch.get_num_threads())


class CompiledLoss:
    """``loss(flow, batch)``: eager until a verified compiled loss is loaded, compiled from then on (see the module
    docstring). :attr:`state` and :attr:`note` say where it stands; :meth:`close` ends a compiling child."""

    def __init__(self, layers: Sequence[Mapping[str, Any]], shape: Sequence[int], base: str,
                 device: torch.device, eager: LossFn = nll) -> None:
        self.layers, self.shape, self.base, self.device = list(layers), tuple(shape), base, device
        self.eager = eager
        self.state: State = "waiting"
        self.note = "eager steps; the compiled step is built once training is under way"
        self.seconds: float | None = None  # from start() to the compiled loss in use
        self._fn: Callable[[Flow, Tensor], Tensor] | None = None
        self._for: tuple | None = None
        self._child: subprocess.Popen | None = None
        self._closed = False
        self._lock = threading.Lock()

    def __call__(self, flow: Flow, batch: Tensor) -> Tensor:
        fn = self._fn
        if fn is not None and _signature(flow, batch) == self._for:
            try:
                return fn(flow, batch)
            except RuntimeError as e:  # a guard failed: never recompile on the training thread
                self._fail(f"the compiled step no longer fits the model ({str(e).splitlines()[0][:200]})")
        return self.eager(flow, batch)

    @property
    def started(self) -> bool:
        return self.state != "waiting"

    def path_for(self, batch: Tensor) -> Path:
        """The cache file of the compiled loss for batches like ``batch``."""
        return cache_dir() / "compiled" / artifact_key(self.layers, self.shape, self.base, batch.shape, batch.dtype,
                                                       self.device, torch.get_num_threads())

    def cached(self, batch: Tensor) -> bool:
        """Whether a compiled loss for batches like ``batch`` is in the cache (starting is then only a load)."""
        return compile_unavailable(self.device) is None and self.path_for(batch).exists()

    def start(self, flow: Flow, batch: Tensor) -> None:
        """Begin: called on the training thread (which owns ``flow``) with a real batch; returns at once."""
        if self.started:
            return
        reason = compile_unavailable(self.device)
        if reason is not None:
            self._fail(reason, state="off")
            return
        self.state, self.note = "compiling", "eager steps while the compiled step is built"
        shadow = copy.deepcopy(flow)  # the loader's own model: the training weights are never touched
        example = batch.detach().clone()
        path = self.path_for(batch)
        threading.Thread(target=self._build, args=(shadow, example, path, torch.get_num_threads(),
                                                   time.perf_counter()),
                         name="flowlab-compile", daemon=True).start()

    def _build(self, shadow: Flow, example: Tensor, path: Path, threads: int, t0: float) -> None:
        torch.set_num_threads(threads)  # the check below runs under the training thread's guards
        try:
            if not path.exists():
                self._compile_in_child(example, threads, path)
            if self._closed:
                return
            with open(path, "rb") as f:
                fn = torch.compiler.load_compiled_function(f)
            problem = _differs(fn, self.eager, shadow, example)
            if problem is not None:
                self._fail(f"the compiled step was not used: {problem}")
                return
        except Exception as e:
            self._fail(f"the compiled step could not be built ({type(e).__name__}: {str(e).splitlines()[0][:300]})"
                       if str(e) else f"the compiled step could not be built ({type(e).__name__})")
            return
        with self._lock:
            if self._closed or self.state != "compiling":
                return
            self._for = _signature(shadow, example)
            self._fn = fn
            self.seconds = time.perf_counter() - t0
            self.state, self.note = "compiled", f"compiled step in use (ready {self.seconds:.0f} s after it began)"

    def _compile_in_child(self, example: Tensor, threads: int, path: Path) -> None:
        job = json.dumps({"layers": self.layers, "shape": list(self.shape), "base": self.base,
                          "batch": list(example.shape), "dtype": str(example.dtype).removeprefix("torch."),
                          "device": str(self.device), "threads": threads, "path": str(path)}, default=str)
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # this flowlab, wherever it is imported from
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
        with self._lock:
            if self._closed:
                return
            self._child = subprocess.Popen([sys.executable, "-m", "flowlab.training.compiled", job], env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, err = self._child.communicate()
        if self._child.returncode != 0 and not self._closed:
            lines = [line for line in (err or "").strip().splitlines() if line.strip()]
            raise RuntimeError(lines[-1] if lines else f"the compiling process exited with {self._child.returncode}")

    def _fail(self, why: str, state: State = "failed") -> None:
        with self._lock:
            self._fn = None
            self.state, self.note = state, f"{EAGER_NOTE}{why}"

    def close(self) -> None:
        """Stop a compiling child (the session is over); a finished artifact stays in the cache."""
        with self._lock:
            self._closed = True
            self._fn = None
            child = self._child
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()


def _differs(fn: LossFn, eager: LossFn, flow: Flow, batch: Tensor) -> str | None:
    """Why ``fn`` is not ``eager`` (loss and gradients on ``flow`` at ``batch``), or None when they agree."""
    params = [p for p in flow.parameters() if p.requires_grad]

    def loss_and_grads(loss_fn: LossFn) -> tuple[Tensor, list[Tensor]]:
        for p in params:
            p.grad = None
        loss = loss_fn(flow, batch)
        loss.backward()
        return loss.detach(), [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params]

    flow.train()
    compiled_loss, compiled_grads = loss_and_grads(fn)
    eager_loss, eager_grads = loss_and_grads(eager)
    if not torch.allclose(compiled_loss, eager_loss, rtol=LOSS_RTOL, atol=LOSS_ATOL):
        return f"its loss {float(compiled_loss):.6g} differs from the eager {float(eager_loss):.6g}"
    for a, b in zip(compiled_grads, eager_grads, strict=True):
        if not torch.allclose(a, b, rtol=GRAD_RTOL, atol=GRAD_ATOL):
            return f"its gradients differ from the eager ones (by up to {float((a - b).abs().max()):.3g})"
    return None


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
