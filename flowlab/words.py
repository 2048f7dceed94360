"""Counted nouns for what the program prints: ``count(1, "layer")`` is '1 layer', ``count(3, "layer")`` '3 layers'."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
