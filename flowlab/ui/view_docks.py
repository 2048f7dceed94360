"""The live views as docks, built from the view table (``flowlab.ui.views.table``), and how they are fed.

Every view is a dock the user can move, tab, float or close (the View menu brings it back). The docks live in an
inner main window so that the editing panels keep their place at the sides. One rule decides which docks show:
a dock shows when its view can draw the target's data and the user has not closed it. Snapshots are drawn at
most 30 times a second, the newest only, into the visible views; the session's events go to every view.
"""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from flowlab.training.messages import Command, Event, SetViewOptions
from flowlab.training.probe import ProbeRefused, ProbeResult
from flowlab.training.views import ProbeAt, Snapshot
from flowlab.ui.views import table as view_table
from flowlab.ui.views.base import View, ViewContext, cache_axes, data_kind, set_presentation
from flowlab.ui.views.probe_marks import matches

PROBE_PANEL = "probe"  # the view table's key of the panel that lists the probe's numbers

REDRAW_MS = 33  # ≤ 30 Hz
DATA_WORDS = {"1d": "1-D points", "2d": "2-D points", "nd": "points in more than 2 dimensions", "image": "images"}


def add_dock(window: QMainWindow, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(f"dock_{title}")
    dock.setWidget(widget)
    window.addDockWidget(area, dock)
    return dock


class ViewDocks(QObject):
    """``views`` and ``docks`` by the table's keys; ``area`` is the inner window holding them, the central widget of
    ``parent``. ``command`` carries
    a view's session command (the view, the command); ``shown_changed`` fires when which views are visible may
    have changed (the session then computes only those)."""

    command = Signal(object, object)
    shown_changed = Signal()
    probe_changed = Signal(object)  # the probe point (a ProbeAt, or None) was placed, moved or cleared

    def __init__(self, parent: QMainWindow) -> None:
        super().__init__(parent)
        self.area = QMainWindow()
        self.area.setObjectName("viewArea")
        self.area.setDockNestingEnabled(True)
        parent.setCentralWidget(self.area)  # before the docks are added: their layout needs its real size
        self.views: dict[str, View] = {}
        self.docks: dict[str, QDockWidget] = {}
        for row in view_table.VIEWS:
            view = self.views[row.key] = row.cls()
            view.command.connect(lambda command, view=view: self.command.emit(view, command))
            view.probe_requested.connect(self.set_probe)
            self.docks[row.key] = add_dock(self.area, row.title, view, row.area)
        self._arrange()
        self._link_layer_choices()
        # Which docks the user closed (View menu, a dock's close button): they stay closed. The others show
        # whenever their view can draw the target's data, and hide (their menu entry disabled) when it cannot.
        self.closed: set[str] = set()
        self.lesson_closed: set[str] = set()  # closed by a lesson's ``shown`` list: not the user's, not kept
        self.ruling = False  # the window itself is showing or hiding docks: not the user's choice
        for key, dock in self.docks.items():
            dock.visibilityChanged.connect(lambda _visible: self.shown_changed.emit())
            dock.toggleViewAction().toggled.connect(lambda on, key=key: self._toggled(key, on))
        self.latest: Snapshot | None = None  # the newest snapshot; the redraw timer draws it
        self.front: tuple[str, ...] = ()  # views a preset asks to see first (its ``view.front``)
        # The probe point, shared by every view: placed in one, marked in all, followed by the session.
        self.probe: ProbeAt | None = None
        self.probe_result: ProbeResult | ProbeRefused | None = None  # the session's latest answer
        self._drawn: Snapshot | None = None
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        self.redraw_timer.start()

    def _arrange(self) -> None:
        """Tab groups and splits from the table: groups of one area side by side (split before the tabs are made:
        Qt splits a tabbed dock by adding a tab), each group's views as tabs in the table's order."""
        groups = view_table.groups()
        first = {group: self.docks[rows[0].key] for group, rows in groups.items()}
        previous: dict[Qt.DockWidgetArea, QDockWidget] = {}
        for group, rows in groups.items():
            if rows[0].area in previous:
                self.area.splitDockWidget(previous[rows[0].area], first[group], Qt.Horizontal)
            previous[rows[0].area] = first[group]
        for group, rows in groups.items():
            for a, b in pairwise(rows):
                self.area.tabifyDockWidget(self.docks[a.key], self.docks[b.key])
            first[group].raise_()
        for pair in view_table.SIDE_BY_SIDE:
            self.area.resizeDocks([first[g] for g in pair], [1, 1], Qt.Horizontal)
        self.area.resizeDocks([first[g] for g, _ in view_table.HEIGHTS], [h for _, h in view_table.HEIGHTS],
                              Qt.Vertical)

    def _link_layer_choices(self) -> None:
        """The layer a view lets the user choose (a ``layer_chosen`` signal: a flow position or None) goes to every
        view that follows one (``follow_layer(position)``): the volume view shows the scrubber's layer. No view
        knows another."""
        for source in self.views.values():
            chosen = getattr(source, "layer_chosen", None)
            if chosen is None:
                continue
            for view in self.views.values():
                if view is not source and callable(getattr(view, "follow_layer", None)):
                    chosen.connect(view.follow_layer)

    def set_lesson_views(self, shown: frozenset[str] | None) -> None:
        """A lesson shows only ``shown`` (the others are closed until the next document); None gives back the views
        an earlier lesson closed. Takes effect at the next :meth:`show_applicable`."""
        self.closed -= self.lesson_closed
        self.lesson_closed = set()
        if shown is not None:
            self.lesson_closed = {k for k in self.docks if k not in shown and k not in self.closed}
            self.closed |= self.lesson_closed
            self.closed -= shown

    def _toggled(self, key: str, on: bool) -> None:
        if not self.ruling:
            (self.closed.discard if on else self.closed.add)(key)
            self.lesson_closed.discard(key)  # the user's choice from now on

    # -- following the document -----------------------------------------------------------------------------------
    def show_applicable(self, shape: tuple[int, ...], layer_kinds: tuple[str, ...] | None = None) -> None:
        """Show the docks whose view can draw data of ``shape`` for a stack of ``layer_kinds`` (unless the user
        closed them), hide the others; the View menu entry of a view that cannot draw them is disabled and says
        why. Qt keeps a hidden dock's place (its tab group, its split) for when it shows again."""
        kind = data_kind(shape)
        self.ruling = True
        try:
            for key, dock in self.docks.items():
                view = self.views[key]
                applies = view.applies_to(shape, layer_kinds)
                action = dock.toggleViewAction()
                action.setEnabled(applies)
                why = ("" if applies else f"{dock.windowTitle()} {view.stack_needs}" if view.applies_to(shape)
                       else f"{dock.windowTitle()} does not apply to {DATA_WORDS[kind]}")
                action.setToolTip(why or dock.windowTitle())
                action.setStatusTip(why)
                show = applies and key not in self.closed
                if dock.isHidden() == show:
                    dock.setVisible(show)
        finally:
            self.ruling = False

    def configure(self, ctx: ViewContext) -> None:
        """A new model: the docks that apply show, the first shown view of each tab group (or the one the preset
        puts in front) comes to the front
        (views behind other tabs are not computed at all), every view learns the context and forgets the old
        model's pictures."""
        self.show_applicable(ctx.shape, ctx.layer_names)
        for rows in view_table.groups().values():
            shown = [r.key for r in rows if not self.docks[r.key].isHidden()]
            if shown:
                self.docks[next((k for k in shown if k in self.front), shown[0])].raise_()
        self.latest = self._drawn = None
        for v in self.views.values():
            v.configure(ctx)
            v.clear()
            cache_axes(v)  # the view may have made plots for the new context
        QTimer.singleShot(0, self._balance)

    def fit_heights(self) -> None:
        """First start: share the height between the groups above and below as ``HEIGHTS`` says (the split made
        while the docks were built is stale by the time the window has its size)."""
        docks = [self._first_shown(g) for g, _ in view_table.HEIGHTS]
        if None not in docks:
            total, parts = sum(d.height() for d in docks), [h for _, h in view_table.HEIGHTS]
            self.area.resizeDocks(docks, [total * h // sum(parts) for h in parts], Qt.Vertical)  # in pixels

    def _balance(self) -> None:
        """Even out the docks once the layout has settled (Qt keeps stale split sizes otherwise): the first shown
        dock of each group of a side-by-side pair; a group all hidden leaves its neighbour the room."""
        for pair in view_table.SIDE_BY_SIDE:
            docks = [self._first_shown(g) for g in pair]
            if None not in docks:
                self.area.resizeDocks(docks, [1, 1], Qt.Horizontal)

    def _first_shown(self, group: str) -> QDockWidget | None:
        """The first dock of a tab group that is not hidden (None: the whole group is)."""
        return next((self.docks[r.key] for r in view_table.groups()[group] if not self.docks[r.key].isHidden()),
                    None)

    def shown_views(self) -> frozenset[str]:
        """The snapshot parts the visible docks need (a tab behind another one is not visible)."""
        return frozenset(row.snapshot for row in view_table.VIEWS
                         if row.snapshot is not None and self.docks[row.key].isVisible()
                         and not self.docks[row.key].visibleRegion().isEmpty())

    def session_commands(self) -> list[tuple[View, Command]]:
        """What a new session must be told to match the views' controls (image options…) and the probe point."""
        out = [(v, c) for v in self.views.values() for c in v.session_commands()]
        if self.probe is not None:
            out.append((self.views[PROBE_PANEL], SetViewOptions({"probe": self.probe})))
        return out

    # -- the probe point ------------------------------------------------------------------------------------------
    @Slot(object)
    def set_probe(self, at: ProbeAt | None) -> None:
        """Place (or with None clear) the probe: every view marks it at once, the session follows it, and the
        panel comes to the front the first time."""
        first = self.probe is None and at is not None
        self.probe = at
        if at is None:
            self.probe_result = None
        for v in self.views.values():
            v.show_probe(at, self.probe_result)
        self.command.emit(self.views[PROBE_PANEL], SetViewOptions({"probe": at}))
        if first and not self.docks[PROBE_PANEL].isHidden():
            self.docks[PROBE_PANEL].raise_()
        self.probe_changed.emit(at)

    def _take_probe(self, snap: Snapshot) -> None:
        if snap.probe is None or snap.probe is self.probe_result or not matches(self.probe, snap.probe):
            return
        self.probe_result = snap.probe
        for v in self.views.values():
            v.show_probe(self.probe, self.probe_result)

    # -- feeding the views ----------------------------------------------------------------------------------------
    def route(self, event: Event) -> None:
        """Hand one of the session's events to every view (each takes what concerns it)."""
        for v in self.views.values():
            v.handle_event(event)

    @Slot(object)
    def show_snapshot(self, snap: Snapshot) -> None:
        self.latest = snap  # only the newest is kept; the redraw timer draws it

    def _redraw(self) -> None:
        snap = self.latest
        if snap is None or snap is self._drawn:
            return
        self._drawn = snap
        self._take_probe(snap)
        for key, view in self.views.items():
            if self.docks[key].isVisible():
                view.update_snapshot(snap)
                view.refresh_readout()  # a cursor at rest over the view reads the new frame

    def draw_now(self) -> None:
        """Draw the newest snapshot into the visible views now, not at the next tick (before a picture is taken)."""
        self._redraw()

    def redraw_all(self) -> None:
        """Draw the newest snapshot again at the next tick (after a style change, a newly shown dock)."""
        self._drawn = None

    def set_presentation(self, on: bool, scale: float) -> None:
        set_presentation(on, scale)
        for v in self.views.values():
            v.apply_style()
        self.redraw_all()

    # -- remembered between runs ----------------------------------------------------------------------------------
    def restore(self, settings: QSettings) -> None:
        state = settings.value("viewState")
        if state is not None:
            self.ruling = True
            try:
                self.area.restoreState(state)
            finally:
                self.ruling = False
        if settings.contains("closedViews"):
            self.closed = {str(k) for k in settings.value("closedViews", [], type=list) if k in self.views}
        elif state is not None:  # saved before the window hid docks itself: a hidden dock was the user's
            self.closed = {k for k, dock in self.docks.items() if dock.isHidden()}

    def save(self, settings: QSettings) -> None:
        settings.setValue("viewState", self.area.saveState())
        settings.setValue("closedViews", sorted(self.closed - self.lesson_closed))
        self.redraw_timer.stop()
