"""Where the image canvas and the Draw images… dialog used to live; both now come from the one paint canvas
(:mod:`flowlab.ui.canvas`) and its dialogs (:mod:`flowlab.ui.canvas_dialogs`). Kept so that imports of
``ImageCanvas`` from here keep working."""

from flowlab.ui.canvas import ImageCanvas, default_brush
from flowlab.ui.canvas_dialogs import DrawImagesDialog, ink_qimage, thumbnail

__all__ = ["DrawImagesDialog", "ImageCanvas", "default_brush", "ink_qimage", "thumbnail"]
