"""Training across processes (torchrun, DDP on gloo): the same model as one process with the same global batch,
decisions taken together, bad input said once by rank 0, and no process left waiting when another fails."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from flowlab.errors import FlowlabError
from flowlab.headless import train_preset
from flowlab.presets import load_preset
from flowlab.targets import build_target
from flowlab.training import threads
from flowlab.training.distributed import Launch, Replicas, launched, refusal, speaks
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120  # a hang fails the test instead of the suite

# A small one-scale Glow on the 8×8 digits: ActNorm (data-dependent start), an LU 1×1 convolution, couplings.
TINY_GLOW = {
    "schema_version": 1, "name": "tiny glow",
    "layers": [{"kind": "logit", "params": {"alpha": 0.05}}, {"kind": "squeeze"}, {"kind": "actnorm"},
               {"kind": "lu_linear"}, {"kind": "affine_coupling", "params": {"mask": "channel", "hidden": 16,
                                                                             "depth": 1}},
               {"kind": "actnorm"},
               {"kind": "affine_coupling", "params": {"mask": "channel", "flip": True, "hidden": 16, "depth": 1}}],
    "target": {"kind": "digits"},
    # 30 rows over 2 processes; an uneven share (a batch of 31) is tested on the arithmetic below
    "training": {"batch_size": 30, "eval_every": 2, "n_test": 100, "learning_rate": 1e-3, "compile": False},
}


def _write(tmp_path: Path, doc: dict, name: str = "preset.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={processes}", "-m", "flowlab", "train", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)


def _exit_codes(report: str) -> dict[int, int]:
    """The failed workers' exit codes in torchrun's failure report, by rank."""
    return {int(rank): int(code) for rank, code in
            re.findall(r"rank\s+:\s*(\d+) \(local_rank.*?\n\s*exitcode\s+:\s*(-?\d+) \(pid", report)}


def _only_rank_0_failed(report: str, code: int) -> bool:
    """Rank 0 exited with ``code`` and no other process failed on its own: one that had not yet exited 0 when rank 0
    ended is stopped by torchrun (SIGTERM, -15), which under load happens."""
    codes = _exit_codes(report)
    return codes.get(0) == code and all(c == -signal.SIGTERM for rank, c in codes.items() if rank != 0)


def test_two_processes_train_what_one_process_trains_with_the_same_global_batch(tmp_path: Path) -> None:
    preset_path = _write(tmp_path, TINY_GLOW)
    steps = 4
    r = _torchrun(str(preset_path), "--steps", str(steps), "--out", str(tmp_path / "two"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("wrote ") == 1 and "(2 processes)" in r.stdout  # rank 0 alone reports
    one = train_preset(load_preset(preset_path), steps, tmp_path / "one")
    assert one.diverged is None
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == steps
    assert torch.equal(a["generator"], b["generator"])  # the same batch stream, drawn whole by every process
    # The first step: the same initialised weights on the same batch, so the whole batch's loss and the gradient
    # norm after DDP's averaging agree to rounding. Adam divides by the gradient's size: where a gradient is ~0 its
    # rounding can flip a step of ±lr, so later the weights, and the scores, agree a little less closely.
    ours, theirs = a["metrics"], b["metrics"]
    for column in ("train_nll", "grad_norm"):
        assert ours[column][0] == pytest.approx(theirs[column][0], rel=1e-6), column
    for column in ("train_nll", "grad_norm", "valid_nll", "test_nll"):
        assert len(ours[column]) == len(theirs[column]) and sum(not math.isnan(v) for v in ours[column]) >= 2
        assert ours[column] == pytest.approx(theirs[column], rel=1e-4, nan_ok=True), column
    lr = TINY_GLOW["training"]["learning_rate"]
    apart = total = 0
    for key, mine in a["flow"].items():
        other = b["flow"][key]
        if not mine.is_floating_point():
            assert torch.equal(mine, other), key  # ActNorm's "initialised" flag, LU's permutation
            continue
        gap = (mine - other).abs()  # a few weights up to 2·lr a step apart (see above), most to rounding
        assert float(gap.max()) <= 2 * lr * steps, key
        apart, total = apart + int((gap > 1e-5).sum()), total + gap.numel()
    assert apart <= 0.05 * total, f"{apart} of {total} weights differ by more than 1e-5"
    assert not (tmp_path / "two" / "best_weights.pt").exists() or (tmp_path / "one" / "best_weights.pt").exists()


def test_a_loss_that_becomes_infinite_stops_every_process_at_the_step_one_process_stops(tmp_path: Path) -> None:
    """A drawn point set with one point at 1e30: the step whose batch draws it sees an infinite loss on the process
    that holds it; the reduced loss is infinite on all, so all roll back together and exit with 3."""
    points = [[0.1 * i, 0.05 * i * i - 1.0] for i in range(-10, 10)] + [[1e30, 1e30]]
    doc = {"schema_version": 1, "name": "one far point",
           "layers": [{"kind": "affine_coupling", "params": {"hidden": 8}},
                      {"kind": "affine_coupling", "params": {"hidden": 8, "flip": True}}],
           "target": {"kind": "points", "data": {"points": points}},
           "training": {"batch_size": 2, "n_train": 400, "n_test": 50, "eval_every": 10, "valid_fraction": 0.0}}
    path = _write(tmp_path, doc)
    one = train_preset(load_preset(path), 60, tmp_path / "one")
    assert one.stop_kind == "diverged" and "became inf" in one.diverged
    r = _torchrun(str(path), "--steps", "60", "--out", str(tmp_path / "two"), "--quiet")
    assert _only_rank_0_failed(r.stderr, 3), r.stderr  # rank 0 reports the run; rank 1 ended its part with 0
    stopped = re.findall(r"flowlab: training stopped: (step \d+): the loss became inf", r.stderr)
    assert stopped == [one.diverged.split(":")[0]], r.stderr  # said once, by rank 0, at one process's step
    assert (tmp_path / "two" / "metrics.csv").exists()  # rank 0 still wrote what was kept


def test_a_preset_every_process_refuses_is_said_once_and_every_process_exits(tmp_path: Path) -> None:
    """A drawn target saved empty cannot be sampled by any process: rank 0 says why and exits with 2, the other
    with 0 (a failure there would make torchrun stop rank 0 before it spoke)."""
    doc = {"schema_version": 1, "name": "nothing drawn", "layers": [{"kind": "affine_coupling"}],
           "target": {"kind": "points", "data": {"points": []}}}
    r = _torchrun(str(_write(tmp_path, doc)), "--steps", "5", "--out", str(tmp_path / "out"))
    assert r.stderr.count("flowlab: ") == 1 and "the drawing is empty" in r.stderr, r.stderr
    assert _only_rank_0_failed(r.stderr, 2), r.stderr
    assert not (tmp_path / "out").exists()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _rank(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((int(v.split(b"=", 1)[1]) for v in env if v.startswith(b"RANK=")), None)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes through /proc")
def test_a_process_that_dies_ends_the_others_and_rank_0_says_so(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "flowlab", "train", str(_write(tmp_path, TINY_GLOW)), "--steps", "1000000",
                             "--out", str(tmp_path / "out")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: proc.stderr.read(1).decode(), "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while "/1000000" not in "".join(err):  # rank 0's progress bar: both processes are training
            assert proc.poll() is None and time.monotonic() < deadline, "".join(err)
            time.sleep(0.2)
        workers = _children(proc.pid)
        rank1 = next(p for p in workers if _rank(p) == 1)
        os.kill(rank1, signal.SIGKILL)
        assert proc.wait(timeout=TIMEOUT_S) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    text = "".join(err)
    assert "flowlab: training stopped: torchrun ended the 2 processes" in text, text
    assert all(not Path(f"/proc/{p}").exists() or "Z" in Path(f"/proc/{p}/stat").read_text().split()[2]
               for p in workers)


# -- the arithmetic and the refusals, in this process ---------------------------------------------------------------
def test_the_environment_torchrun_sets_is_read_and_checked() -> None:
    env = {"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"}
    assert launched(env) == Launch(2, 4, 0, 2) and not launched(env).main
    assert launched({}) is None and launched({"WORLD_SIZE": "1", "RANK": "0"}) is None  # one process: alone
    with pytest.raises(FlowlabError, match="whole numbers"):
        launched({"WORLD_SIZE": "two"})
    with pytest.raises(FlowlabError, match="do not fit"):
        launched({"WORLD_SIZE": "2", "RANK": "2"})
    assert speaks({}) and speaks({"WORLD_SIZE": "2", "RANK": "0"}) and not speaks({"WORLD_SIZE": "2", "RANK": "1"})


def test_processes_on_one_machine_share_its_cores() -> None:
    assert threads.policy_for(False, cores=16, processes=4).training == 4
    assert threads.policy_for(False, cores=2, processes=3).training == 1  # never none
    assert threads.policy_for(False, cores=8).training == 8
    if hasattr(os, "sched_getaffinity"):  # taskset and containers narrow it: counted, not the machine's cores
        assert threads.usable_cores() == len(os.sched_getaffinity(0))


def test_what_cannot_train_alike_across_processes_is_refused_with_the_reason() -> None:
    actnorm = [{"kind": "actnorm", "params": {}}]
    assert refusal(actnorm, "mle", 64, 2) is None
    assert "maximum likelihood" in refusal(actnorm, "reverse_kl", 64, 2)
    assert "layer 2 (batchnorm)" in refusal(actnorm + [{"kind": "batchnorm", "params": {}}], "mle", 64, 2)
    assert refusal(actnorm + [{"kind": "batchnorm", "enabled": False}], "mle", 64, 2) is None  # switched off
    assert "batch_size 3" in refusal(actnorm, "mle", 3, 4)


DIGIT_VECTORS = {"kind": "digits", "params": {"flatten": True}}  # no known density: no entropy to estimate


def _together(rank: int, folder: str) -> None:
    """One of two gloo processes: a NaN on rank 1 only, uneven shares, and data that differ between them."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    try:
        replicas = Replicas(Launch(rank, 2, rank, 2), torch.device("cpu"))
        out: dict[str, object] = {"nan": replicas.average(torch.tensor(float("nan") if rank else 1.0))}
        out["mean"] = replicas.average(torch.tensor(3.0 + rank))  # (3 + 4) / 2
        settings = TrainSettings(batch_size=31, n_train=200, n_test=51, compile=False)
        layers = [{"kind": "actnorm", "params": {}}, {"kind": "affine_coupling", "params": {"hidden": 8}}]
        trainer = Trainer(layers, build_target(DIGIT_VECTORS), settings, replicas=replicas)
        out["test_nll"] = trainer.evaluate()["test_nll"]  # ActNorm set from the first batch, as step 1 sets it
        out["loss"] = trainer.train_step().loss
        mine = {"kind": "digits", "params": {"flatten": True, "digit": -1 if rank == 0 else 1}}
        try:
            Trainer(layers, build_target(mine), settings, replicas=replicas)
        except FlowlabError as e:
            out["different"] = str(e)
        del trainer
        replicas.close()
    finally:
        dist.destroy_process_group()
    Path(folder, f"rank{rank}.json").write_text(json.dumps(out))


def test_processes_decide_together_and_refuse_different_data(tmp_path: Path) -> None:
    mp.spawn(_together, args=(str(tmp_path),), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert math.isnan(r0["nan"]) and math.isnan(r1["nan"])  # rank 1's NaN, seen by rank 0 too
    assert r0["mean"] == r1["mean"] == 3.5
    alone = Trainer([{"kind": "actnorm", "params": {}}, {"kind": "affine_coupling", "params": {"hidden": 8}}],
                    build_target(DIGIT_VECTORS), TrainSettings(batch_size=31, n_train=200, n_test=51,
                                                                   compile=False))
    alone.initialize_from_next_batch()
    assert r0["test_nll"] == r1["test_nll"] == pytest.approx(alone.evaluate()["test_nll"], rel=1e-6)  # shares of 26, 25
    first = alone.train_step().loss
    assert r0["loss"] == r1["loss"] == pytest.approx(first, rel=1e-6)  # shares of 16 and 15 rows, weighted right
    assert "different data" in r0["different"] and "different data" in r1["different"]


