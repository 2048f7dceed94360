"""Save what a view shows: PNG through pyqtgraph's ImageExporter, SVG through its SVGExporter.

Both render the view's whole scene (every plot of a multi-plot view, titles and colour bars included). The
exporters' own file writing ignores failures, so the bytes come back here and are written with errors raised.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6.QtCore import QBuffer, QPoint, QRect
from PySide6.QtGui import QColor, QImage, QPainter, QTextDocument
from PySide6.QtSvg import QSvgGenerator

FORMATS = {"png": "PNG image (*.png)", "svg": "SVG drawing (*.svg)"}
PNG_SCALE = 2  # pixels per screen pixel: a crisp picture for slides


def _closed_explicitly(d: str) -> str:
    """SVG path data with each close-path ``Z`` written as a line back to the subpath's start."""
    out: list[str] = []
    start = None
    for token in d.split():
        closes = token[-1] in "Zz"
        token = token.rstrip("Zz")
        if token:
            if token[0] == "M":
                start = token[1:]
            out.append(token)
        if closes and start is not None:
            out.append("L" + start)
    return " ".join(out)


def _tolerate_closed_paths() -> None:
    """pyqtgraph 0.14.0's SVGExporter fails on the ``Z`` that Qt ≥ 6.10 writes after closed paths (pyqtgraph
    issue #3495, fixed upstream in PR #3458, not yet released): rewrite ``Z`` before its coordinate pass.
    Drawing is unchanged (a closed fill is the same; a stroke gains the closing segment it had)."""
    module = importlib.import_module("pyqtgraph.exporters.SVGExporter")  # the module, not the class
    original = module.correctCoordinates
    if getattr(original, "_flowlab_closed_paths", False):
        return

    def correct(node: Any, *args: Any, **kwargs: Any) -> Any:
        for path in node.getElementsByTagName("path"):
            d = path.getAttribute("d")
            if "Z" in d or "z" in d:
                path.setAttribute("d", _closed_explicitly(d))
        return original(node, *args, **kwargs)

    correct._flowlab_closed_paths = True  # type: ignore[attr-defined]
    module.correctCoordinates = correct


_tolerate_closed_paths()


def export_text(document: QTextDocument, width: float, path: str | Path, fmt: str | None = None) -> Path:
    """Write a text view (a rich-text ``document`` laid out ``width`` pixels wide) as PNG or SVG."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ExportError(f"{path}: choose a .png or .svg file")
    document = document.clone()
    document.setTextWidth(width)
    size = document.size().toSize()
    if fmt == "png":
        image = QImage(size * PNG_SCALE, QImage.Format_ARGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        painter.scale(PNG_SCALE, PNG_SCALE)
        document.drawContents(painter)
        painter.end()
        if not image.save(str(path), "PNG"):
            why = "no such folder" if not path.parent.is_dir() else "cannot be written there"
            raise ExportError(f"{path}: {why}")
        return path
    buffer = QBuffer()
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(size)
    generator.setViewBox(QRect(QPoint(0, 0), size))
    painter = QPainter(generator)
    document.drawContents(painter)
    painter.end()
    try:
        path.write_bytes(bytes(buffer.data()))
    except OSError as e:
        raise ExportError(f"{path}: {e.strerror or e}") from None
    return path


class ExportError(OSError):
    """A view could not be written; the message names the file and the reason."""


def with_suffix(path: str | Path, fmt: str) -> Path:
    """``path`` with ``.fmt`` added when it has no suffix of that format."""
    path = Path(path)
    return path if path.suffix.lower() == f".{fmt}" else path.with_name(path.name + f".{fmt}")


def export_view(graphics: pg.GraphicsView, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``graphics``' scene to ``path`` as PNG or SVG (``fmt``, else the file's suffix); returns the path."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ExportError(f"{path}: choose a .png or .svg file")
    scene = graphics.scene()
    if graphics.width() < 1 or graphics.height() < 1:
        raise ExportError(f"{path}: the view has no size (is its dock closed?)")
    if fmt == "png":
        exporter = ImageExporter(scene)
        exporter.parameters()["width"] = int(graphics.width() * PNG_SCALE)  # the height follows the aspect
        image = exporter.export(toBytes=True)
        if image is None or image.isNull() or not image.save(str(path), "PNG"):
            why = "no such folder" if not path.parent.is_dir() else "cannot be written there"
            raise ExportError(f"{path}: {why}")
        return path
    data = SVGExporter(scene).export(toBytes=True)
    try:
        path.write_bytes(data)
    except OSError as e:
        raise ExportError(f"{path}: {e.strerror or e}") from None
    return path
