"""The ``flowlab`` command: the window, and headless subcommands for scripts and benchmarks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flowlab import __version__
from flowlab.errors import FlowlabError

if TYPE_CHECKING:
    from flowlab.headless import RunSummary
    from flowlab.presets import Preset
    from flowlab.training.distributed import Launch, Replicas


def _cmd_layers(args: argparse.Namespace) -> int:
    """Print the layer registry: every kind, its family, data, directions and parameters."""
    from flowlab.flows import LAYERS

    for kind, spec in LAYERS.items():
        if args.kind and kind != args.kind:
            continue
        d = spec.directions
        data = "/".join(sorted(spec.data))
        print(f"{kind}  [{spec.family}; {data}; density {d.forward}, sampling {d.inverse}, fast {d.fast}]")
        print(f"    {spec.help}")
        if d.note:
            print(f"    note: {d.note}")
        for p in spec.params:  # parameters that change the directions: what each choice gives
            if spec.directions_of is not None and p.type == "choice":
                for choice in p.choices:
                    dc = spec.directions_for({p.name: choice})
                    if dc != d:
                        print(f"    with {p.name}={choice}: density {dc.forward}, sampling {dc.inverse}, "
                              f"fast {dc.fast} ({dc.note})")
        for p in spec.params:
            rng = f" in {p.choices}" if p.choices else (
                f" in [{p.low:g}, {p.high:g}]" if p.low is not None and p.high is not None else "")
            print(f"    - {p.name} ({p.type}, default {p.default!r}{rng}): {p.help}")
    if args.kind and args.kind not in LAYERS:
        raise FlowlabError(f"unknown layer kind '{args.kind}'")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    """Print the built-in presets: the name to give `flowlab`, `flowlab train` or `flowlab render`, and the title."""
    from flowlab.presets import PresetDataMissing, PresetError, load_preset
    from flowlab.presets.builtin import builtin_paths
    from flowlab.presets.comparison import comparison_paths, load_comparison

    for key, path in builtin_paths().items():
        try:
            title = load_preset(path).name
        except PresetDataMissing as e:
            title = f"{e.name} (its data is not on this machine: `flowlab train {key}` says how to get it)"
        except PresetError as e:
            title = f"(cannot be read: {e})"
        print(f"{key:28s} {title}")
    comparisons = comparison_paths()
    if comparisons:
        print("\ncomparisons (flowlab compare NAME --steps N --out DIR):")
    for key, path in comparisons.items():
        try:
            title = load_comparison(path).name
        except PresetError as e:
            title = f"(cannot be read: {e})"
        print(f"{key:28s} {title}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    """Train a preset headless with a progress bar; write metrics.csv, weights and PNG plots into --out. Started
    by torchrun with several processes, they train one model together (``flowlab.training.distributed``): rank 0
    alone draws the bar, prints and writes."""
    from flowlab.presets import load_preset
    from flowlab.presets.builtin import preset_file
    from flowlab.training import distributed, threads

    if args.steps < 1:
        raise FlowlabError("--steps must be at least 1")
    launch = distributed.launched()
    if launch is None:
        preset = load_preset(preset_file(args.preset))
        return _report_training(preset, args, _train(args, preset, None), None)
    threads.configure(interactive=False, processes=launch.local_world_size)
    distributed.say_when_stopped(launch)
    with distributed.process_group(launch):
        try:
            preset, problem = load_preset(preset_file(args.preset)), None
        except FlowlabError as e:
            preset, problem = None, str(e)
        distributed.agree(problem)  # a preset one process cannot read stops them all, said once
        replicas = distributed.replicas_on(launch, args.device or preset.training.device)
        try:
            summary = _train(args, preset, replicas)
        finally:
            replicas.close()
    return _report_training(preset, args, summary, launch)


def _train(args: argparse.Namespace, preset: Preset, replicas: Replicas | None) -> RunSummary:
    """``train_preset`` with a progress bar (rank 0's alone under torchrun)."""
    from flowlab.headless import ProgressBar, train_preset
    from flowlab.training import threads

    if replicas is None:
        threads.configure(interactive=False)
    bar = ProgressBar(args.steps) if not args.quiet and (replicas is None or replicas.launch.main) else None
    try:
        return train_preset(preset, args.steps, args.out, device=args.device, seed=args.seed,
                            progress=bar.update if bar else None, replicas=replicas)
    finally:
        if bar:
            bar.close()


def _report_training(preset: Preset, args: argparse.Namespace, summary: RunSummary, launch: Launch | None) -> int:
    """What ``flowlab train`` prints and its exit status: 0, or 3 when training stopped early. Under torchrun rank 0
    reports the run; another process exits 0 once its part is done, or 3 (and says why) when it failed itself."""
    main = launch is None or launch.main
    if summary.stop_kind == "step" and launch is not None:  # this process's own failure: it says so itself
        print(f"flowlab: process {launch.rank} of {launch.world_size}: training stopped, nothing written: "
              f"{summary.diverged}", file=sys.stderr)
        return 3
    if not main:
        return 0  # rank 0 reports the run, a divergence included (decided by every process together)
    shown = ("train_nll", "train_fm", "valid_nll", "valid_bpd", "test_nll", "test_bpd", "kl_gap", "elbo", "true_kl")
    scores = ", ".join(f"{k} {v:.4g}" for k, v in summary.final.items() if k in shown)
    together = f" ({launch.world_size} processes)" if launch else ""
    print(f"{preset.name}: {summary.steps} steps in {summary.seconds:.1f} s{together}; {scores}")
    if summary.best_step is not None and summary.best_step != summary.steps:
        kept = ", ".join(f"{k} {v:.4g}" for k, v in summary.best.items() if k in shown)
        print(f"best held-out weights (early stopping, best_weights.pt): step {summary.best_step}; {kept}")
    print(f"wrote {summary.out_dir}/metrics.csv, checkpoint.pt and pictures")
    if summary.diverged:
        print(f"flowlab: training stopped: {summary.diverged}", file=sys.stderr)
        return 3
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    """Train several presets' stacks on the first one's target with one seed; write summary.csv and a picture."""
    from flowlab.comparison import Run, compare, cpu_note, plan_runs
    from flowlab.headless import ProgressBar
    from flowlab.presets.comparison import runs_named
    from flowlab.training import threads

    if args.steps < 1:
        raise FlowlabError("--steps must be at least 1")
    presets = [run for name in args.presets for run in runs_named(name)]  # a comparison gives several
    # every stack is checked against the target before anything trains
    runs = plan_runs(presets, args.seed, args.steps, args.device)
    threads.configure(interactive=False)
    bars: dict[int, ProgressBar] = {}  # one progress bar per run, the latest open

    def progress(i: int, run: Run, step: int, text: str) -> None:
        if args.quiet:
            return
        if i not in bars:
            for bar in bars.values():
                bar.close()
            bars.clear()
            print(f"[{i + 1}/{len(runs)}] {run.name}: {run.title}", file=sys.stderr)
            bars[i] = ProgressBar(args.steps)
        bars[i].update(step, text)

    try:
        results = compare(runs, args.steps, args.out, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    width = max(len(r.name) for r in results)
    measure = results[0].measure
    print(f"{'name':{width}s} {'params':>9s} {'steps/s':>8s} {'best ' + measure:>15s} {'gap':>7s} "
          f"{'score ms':>9s} {'sample ms':>9s}")
    for r in results:
        row = r.row()
        print(f"{r.name:{width}s} {r.parameters:9d} {row['steps_per_s']:>8s} {row['best']:>15s} "
              f"{row['gap'][:7]:>7s} {row['score_ms']:>9s} {row['sample_ms']:>9s}"
              + (f"  diverged: {r.diverged.splitlines()[0]}" if r.diverged else ""))
    print(cpu_note(results))
    out = Path(args.out)
    print(f"wrote {out / 'summary.csv'}, {out / 'comparison.png'} and each run's files in {out}/NAME/")
    return 3 if any(r.diverged for r in results) else 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    """Follow one point through a preset's flow: each layer's output, log|det J| and Jacobian, then log p."""
    from flowlab.inspection import as_json, as_text, inspect_preset, parse_point
    from flowlab.presets import load_preset
    from flowlab.presets.builtin import preset_file
    from flowlab.training import threads
    from flowlab.training.checkpoints import weights_path_for

    point = parse_point(args.at)
    path = preset_file(args.preset)
    preset = load_preset(path)
    weights = Path(args.weights) if args.weights else weights_path_for(path)
    if args.weights and not weights.is_file():
        raise FlowlabError(f"no weights file {args.weights}")
    threads.configure(interactive=False)
    result, step = inspect_preset(preset, point, args.inverse, args.steps, weights)
    print(as_json(result, step) if args.json else as_text(preset.name, result, step))
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    """Train in the window (off screen when there is no display) and save a screenshot of it."""
    from flowlab.ui.render import render

    if args.steps < 0:
        raise FlowlabError("--steps must be 0 or more")
    from flowlab.presets.builtin import preset_file

    path = render(str(preset_file(args.preset)), args.steps, args.out)
    print(f"wrote {path}")
    return 0


def _size(text: str) -> tuple[int, int]:
    """'640x480' → (640, 480)."""
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise FlowlabError(f"--size {text}: give WIDTHxHEIGHT in pixels, e.g. 640x480") from None
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise FlowlabError(f"--size {text}: each side between 64 and 4096 pixels")
    return w, h


def _cmd_record(args: argparse.Namespace) -> int:
    """Train in the window off screen and record a view (or the whole window) every K steps as a GIF or MP4."""
    from flowlab.headless import ProgressBar
    from flowlab.presets.builtin import preset_file
    from flowlab.ui.render import record

    if args.steps < 1:
        raise FlowlabError("--steps must be at least 1")
    if args.every < 1:
        raise FlowlabError("--every must be at least 1")
    bar = None if args.quiet else ProgressBar(args.steps)

    def progress(frames: int, planned: int, step: int) -> None:
        if bar is not None:
            bar.update(step, f"frame {frames} of {planned}", force=True)

    try:
        outcome = record(str(preset_file(args.preset)), args.steps, args.every, args.out, view=args.view,
                         fps=args.fps, size=_size(args.size) if args.size else None, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    w, h = outcome.size
    print(f"wrote {outcome.path}: {outcome.frames} frames of {w}×{h} (steps {outcome.steps[0]}–{outcome.steps[-1]}, "
          f"every {args.every}); drawing, grabbing and encoding {outcome.ms_per_frame:.0f} ms a frame, "
          f"writing the file {outcome.write_s:.1f} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowlab", description="See normalizing flows learn. `flowlab` opens the window on the default "
                                    "preset; `flowlab FILE.json` opens a preset.")
    parser.add_argument("--version", action="version", version=f"flowlab {__version__}")
    sub = parser.add_subparsers(dest="command")
    layers = sub.add_parser("layers", help="list every layer kind and its parameters")
    layers.add_argument("kind", nargs="?", help="show only this kind")
    layers.set_defaults(run=_cmd_layers)
    presets = sub.add_parser("presets", help="list the built-in lecture presets (a name works wherever a file does)")
    presets.set_defaults(run=_cmd_presets)
    train = sub.add_parser("train", help="train a preset without a window")
    train.add_argument("preset", help="a preset JSON file, or a built-in preset's name (flowlab presets)")
    train.add_argument("--steps", type=int, required=True, help="optimiser steps")
    train.add_argument("--out", required=True, help="folder for metrics.csv, weights and PNG plots")
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None,
                       help="override the preset's device (auto: CUDA, then MPS, then CPU)")
    train.add_argument("--seed", type=int, default=None, help="override the preset's seed")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_cmd_train)
    comp = sub.add_parser("compare", help="train several presets' stacks on the first one's target, same seed; "
                                          "write summary.csv and comparison.png")
    comp.add_argument("presets", nargs="+", metavar="PRESET",
                      help="preset JSON files or built-in names, or comparisons (a list of stacks: flowlab presets "
                           "lists the built-in ones); all train on the first one's target")
    comp.add_argument("--steps", type=int, required=True, help="optimiser steps of each run")
    comp.add_argument("--out", required=True, help="folder for summary.csv, comparison.png and each run's files")
    comp.add_argument("--seed", type=int, default=None, help="the seed of every run (default: the first preset's)")
    comp.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None,
                      help="where every run trains (default: the first preset's device)")
    comp.add_argument("--quiet", action="store_true", help="no progress bars")
    comp.set_defaults(run=_cmd_compare)
    inspect = sub.add_parser("inspect", help="follow one point through a preset's layers: outputs, Jacobians, log p")
    inspect.add_argument("preset", help="a preset JSON file, or a built-in preset's name (flowlab presets)")
    inspect.add_argument("--at", required=True, metavar="X,Y", help="the point, coordinates separated by commas")
    inspect.add_argument("--inverse", action="store_true", help="the point is a latent z: follow it to x")
    inspect.add_argument("--steps", type=int, default=0, help="train this many steps first (default 0)")
    inspect.add_argument("--weights", default=None,
                         help="weights to start from (default: the ones saved beside the preset, if any)")
    inspect.add_argument("--json", action="store_true", help="print JSON for scripts")
    inspect.set_defaults(run=_cmd_inspect)
    render = sub.add_parser("render", help="train in the window off screen and save a screenshot")
    render.add_argument("preset", help="a preset JSON file, or a built-in preset's name (flowlab presets)")
    render.add_argument("--steps", type=int, default=500, help="training steps before the screenshot")
    render.add_argument("--out", required=True, help="the PNG file to write")
    render.set_defaults(run=_cmd_render)
    rec = sub.add_parser("record", help="train in the window off screen and record a view (or the window) as a "
                                        "GIF or MP4")
    rec.add_argument("preset", help="a preset JSON file, or a built-in preset's name (flowlab presets)")
    rec.add_argument("--steps", type=int, required=True, help="train to this step")
    rec.add_argument("--every", type=int, required=True, help="a frame every K steps (from step 0; the last at "
                                                             "--steps)")
    rec.add_argument("--view", default=None, help="the view to record (default: the whole window)")
    rec.add_argument("--out", required=True, help="FILE.gif, or FILE.mp4 with flowlab[video] installed")
    rec.add_argument("--fps", type=float, default=10.0, help="frames per second of the animation (default 10)")
    rec.add_argument("--size", default=None, metavar="WxH",
                     help="the frames' size: a view's plots (default 640x480), or the window (default 1400x900)")
    rec.add_argument("--quiet", action="store_true", help="no progress bar")
    rec.set_defaults(run=_cmd_record)
    return parser


SUBCOMMANDS = ("layers", "presets", "train", "compare", "inspect", "render", "record")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and not argv[0].startswith("-")):
        # `flowlab` opens the default preset; `flowlab FILE.json` (or a built-in's name) opens that; else a typo.
        from flowlab.presets.builtin import builtin_paths

        if argv and not Path(argv[0]).is_file() and argv[0] not in builtin_paths():
            print(f"flowlab: no command or preset file '{argv[0]}'; commands: {', '.join(SUBCOMMANDS)} "
                  f"(flowlab --help says more)", file=sys.stderr)
            return 2
        from flowlab.ui.app import run_app

        return run_app(str(builtin_paths().get(argv[0], argv[0])) if argv else None)
    if "--at" in argv[:-1]:  # `--at -1,2`: argparse would take the negative point for an option
        i = argv.index("--at")
        argv[i:i + 2] = [f"--at={argv[i + 1]}"]
    args = _parser().parse_args(argv)  # argparse itself exits with code 2 and one line on bad usage
    try:
        return args.run(args)
    except FlowlabError as e:
        from flowlab.training.distributed import speaks

        if not speaks():  # under torchrun every process finds the same problem (or hears it): rank 0 says it
            return 0  # a failed exit here would make torchrun stop rank 0 before it has said it
        print(f"flowlab: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`flowlab presets | head`): nothing more to say
        sys.stderr.close()
        return 0
    except OSError as e:  # e.g. an output folder that cannot be written
        print(f"flowlab: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("flowlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
