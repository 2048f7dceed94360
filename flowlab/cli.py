"""The ``flowlab`` command: the window, and headless subcommands for scripts and benchmarks."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from flowlab.errors import FlowlabError


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
        for p in spec.params:
            rng = f" in {p.choices}" if p.choices else (
                f" in [{p.low:g}, {p.high:g}]" if p.low is not None and p.high is not None else "")
            print(f"    - {p.name} ({p.type}, default {p.default!r}{rng}): {p.help}")
    if args.kind and args.kind not in LAYERS:
        raise FlowlabError(f"unknown layer kind '{args.kind}'")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowlab", description="See normalizing flows learn.")
    sub = parser.add_subparsers(dest="command")
    layers = sub.add_parser("layers", help="list every layer kind and its parameters")
    layers.add_argument("kind", nargs="?", help="show only this kind")
    layers.set_defaults(run=_cmd_layers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        print("flowlab: the window is not built yet; `flowlab layers` lists the layer registry.", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except FlowlabError as e:
        print(f"flowlab: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
