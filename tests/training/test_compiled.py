"""The compiled training step: built in a child process, loaded, checked and swapped in; eager until then and
whenever it does not fit. These tests wait for events (never for a time): the first one compiles for real."""

from __future__ import annotations

import copy
import time

import pytest
import torch

from flowlab.flows import build_flow
from flowlab.training import compiled as compiled_module
from flowlab.training.compiled import CompiledLoss, compile_unavailable
from flowlab.training.objectives import nll
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import COMPILE_AFTER_STEPS, Trainer
from tests.training.toy import Banana

# Small on purpose: compiling costs seconds per op traced, and a 2-core CI machine pays them.
STACK = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16, "depth": 1}}
         for i in range(2)] + [{"kind": "maf", "params": {"hidden": 16, "depth": 1}}, {"kind": "reverse"}]
SETTINGS = dict(n_train=1000, n_test=500, batch_size=64, eval_every=10**6, device="cpu", compile=True)
WAIT_S = 900  # a generous bound on a loaded machine; the test ends as soon as the state changes


@pytest.fixture
def compile_on(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWLAB_COMPILE", "1")
    monkeypatch.setenv("FLOWLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _wait_until_built(loss: CompiledLoss) -> None:
    deadline = time.monotonic() + WAIT_S
    while loss.state == "compiling" and time.monotonic() < deadline:
        time.sleep(0.2)


def _loss_and_grads(fn, flow, batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
    for p in flow.parameters():
        p.grad = None
    loss = fn(flow, batch)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in flow.parameters()]


@pytest.mark.skipif(compile_unavailable(torch.device("cpu")) not in (None, "switched off by FLOWLAB_COMPILE=0"),
                    reason=str(compile_unavailable(torch.device("cpu"))))
def test_the_swapped_in_step_gives_the_eager_loss_and_gradients(compile_on) -> None:
    trainer = Trainer(STACK, Banana(), TrainSettings(**SETTINGS))
    try:
        losses = [trainer.train_step().loss for _ in range(COMPILE_AFTER_STEPS)]
        assert trainer.compile_state[0] == "waiting"
        assert trainer.maybe_start_compile(remaining=None)
        assert trainer.compile_state[0] == "compiling"
        losses.append(trainer.train_step().loss)  # training goes on, eagerly, while the child compiles
        _wait_until_built(trainer.compiled)
        state, note = trainer.compile_state
        assert state == "compiled", note
        assert list(compile_on.glob("compiled/*.nll")), "the artifact is cached for the next start"

        # The same batch and parameters: the compiled loss and gradients are the eager ones, to float tolerance.
        batch = trainer._example_batch()
        twin = copy.deepcopy(trainer.flow)
        compiled_loss, compiled_grads = _loss_and_grads(trainer.compiled, trainer.flow, batch)
        eager_loss, eager_grads = _loss_and_grads(nll, twin, batch)
        assert float(compiled_loss) == pytest.approx(float(eager_loss), rel=1e-5, abs=1e-6)
        for a, b in zip(compiled_grads, eager_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)

        # Training on with it: the whole curve is an eager trainer's with the same seed, step for step.
        losses += [trainer.train_step().loss for _ in range(5)]
        eager = Trainer(STACK, Banana(), TrainSettings(**{**SETTINGS, "compile": False}))
        assert losses == pytest.approx([eager.train_step().loss for _ in losses], rel=1e-4, abs=1e-5)

        # A batch of another size does not fit what was compiled: that step is eager (nothing recompiles).
        other = batch[:10]
        with torch.no_grad():
            assert float(trainer.compiled(trainer.flow, other)) == pytest.approx(float(nll(trainer.flow, other)))

        # Nor does another intra-op thread count (CPU kernels are guarded on it): eager again, and no error.
        before = torch.get_num_threads()
        torch.set_num_threads(before + 1)
        try:
            with torch.no_grad():
                assert float(trainer.compiled(trainer.flow, batch)) == pytest.approx(float(nll(trainer.flow, batch)))
            assert trainer.compile_state[0] == "compiled"
        finally:
            torch.set_num_threads(before)

        # A second trainer of the same stack only loads the cached artifact.
        again = Trainer(STACK, Banana(), TrainSettings(**SETTINGS))
        again.step = COMPILE_AFTER_STEPS
        assert again.compiled.cached(again._example_batch())
        again.maybe_start_compile(remaining=10)  # a short run starts it too, since it is only a load
        _wait_until_built(again.compiled)
        assert again.compile_state[0] == "compiled", again.compile_state[1]
        again.close()
    finally:
        trainer.close()


def test_switched_off_or_without_a_compiler_training_stays_eager_and_says_why(monkeypatch, compile_on) -> None:
    monkeypatch.setenv("FLOWLAB_COMPILE", "0")
    trainer = Trainer(STACK, Banana(), TrainSettings(**SETTINGS))
    trainer.step = COMPILE_AFTER_STEPS
    trainer.maybe_start_compile(remaining=None)
    assert trainer.compile_state == ("off", "eager steps: switched off by FLOWLAB_COMPILE=0")
    trainer.train_step()

    monkeypatch.setenv("FLOWLAB_COMPILE", "1")
    monkeypatch.setattr(compiled_module.shutil, "which", lambda name: None)
    assert "no C++ compiler" in compile_unavailable(torch.device("cpu"))
    no_compiler = Trainer(STACK, Banana(), TrainSettings(**SETTINGS))
    no_compiler.step = COMPILE_AFTER_STEPS
    no_compiler.maybe_start_compile(remaining=None)
    state, note = no_compiler.compile_state
    assert state == "off" and "no C++ compiler" in note
    assert not list(compile_on.glob("compiled/*")), "nothing was built"

    off = Trainer(STACK, Banana(), TrainSettings(**{**SETTINGS, "compile": False}))
    assert off.compile_state == ("off", "eager steps: compile is off in the settings")


def test_it_is_asked_for_only_once_training_is_under_way_and_worth_it(compile_on, monkeypatch) -> None:
    started: list[int] = []
    monkeypatch.setattr(CompiledLoss, "start", lambda self, flow, batch: started.append(batch.shape[0]))
    trainer = Trainer(STACK, Banana(), TrainSettings(**SETTINGS))
    assert not trainer.maybe_start_compile(remaining=None)  # step 0: not yet
    trainer.step = COMPILE_AFTER_STEPS
    assert not trainer.maybe_start_compile(remaining=50)  # a short run, nothing cached: not worth a build
    assert trainer.maybe_start_compile(remaining=None)
    assert started == [64]
    trainer.update_settings(batch_size=32)  # a new batch shape needs its own compiled step
    assert trainer.compile_state[0] == "waiting"
    assert trainer.maybe_start_compile(remaining=None)
    assert started == [64, 32]


def test_a_compiled_loss_that_disagrees_with_eager_is_refused() -> None:
    torch.manual_seed(0)
    flow = build_flow(STACK, (2,))
    batch = torch.randn(32, 2)
    assert compiled_module._differs(nll, nll, flow, batch) is None
    off_by_a_bit = compiled_module._differs(lambda f, x: nll(f, x) * 1.01, nll, flow, batch)
    assert off_by_a_bit is not None and "differs from the eager" in off_by_a_bit


def test_a_session_asks_for_it_once_under_way_reports_it_and_ends_it(compile_on, monkeypatch) -> None:
    from flowlab.training.messages import Finished, Play, Progress
    from flowlab.training.session import Session, SessionSpec

    calls: list[str] = []

    def start(self, flow, batch) -> None:
        calls.append("start")
        self.state, self.note = "compiling", "eager steps while the compiled step is built"

    monkeypatch.setattr(CompiledLoss, "start", start)
    monkeypatch.setattr(CompiledLoss, "close", lambda self: calls.append("close"))
    events: list = []
    target = {"kind": "moons", "params": {}, "data": {}}
    spec = SessionSpec(STACK, target, TrainSettings(**SETTINGS), snapshots=False, max_steps=COMPILE_AFTER_STEPS + 5)
    session = Session(spec, events.append)
    session.send(Play())
    session.run()
    assert "start" not in calls, "a 25-step run has no use for a compiled step it would have to build"

    events.clear()
    calls.clear()
    session = Session(SessionSpec(STACK, target, TrainSettings(**SETTINGS), snapshots=False, max_steps=2000),
                      events.append)
    session.send(Play())
    session.run()
    progress = [e for e in events if isinstance(e, Progress)]
    assert calls == ["start", "close"]  # asked for once, and its process ended with the session
    assert progress[0].compile_state == "waiting"
    assert progress[-1].compile_state == "compiling"
    assert "eager steps" in progress[-1].compile_note
    assert isinstance(events[-1], Finished) and events[-1].step == 2000
