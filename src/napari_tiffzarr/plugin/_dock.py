"""The widget's place in napari's window: its dock's title and side, and a dock as tall as
the widget's content asks, as far as the other docks can give.

napari's left dock area holds its layer controls and layer list above this widget.  When a
folded section of the widget unfolds, the dock grows into the height the docks around it
have beyond their minimum (the layer list rarely needs all it has); what still does not
fit scrolls, and the unfolded section is scrolled into view.  Both happen once the
section's unfolding animation has ended: before, its height is not yet known.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from functools import partial
from typing import Any

from qtpy.QtCore import QAbstractAnimation, QEvent, QObject, QPropertyAnimation, Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QWidget
from superqt import QCollapsible

__all__ = ["DOCK_AREA", "PLUGIN", "WIDGET_NAME", "DockFitting", "dock_left", "dock_title"]

PLUGIN = "napari-tiffzarr"
# The widget's display name in the manifest: napari names its dock after it.
WIDGET_NAME = "Levels and export"
# Left, below the layer list: napari's layer controls already make the left dock about
# 350 pixels wide, and a second dock on the right would leave the image half the window.
DOCK_AREA = "left"


def _display_name() -> str:
    """The plugin's display name in napari's menus; the package name if npe2 lacks it."""
    from npe2 import PluginManager

    with contextlib.suppress(KeyError):
        return str(PluginManager.instance().get_manifest(PLUGIN).display_name)
    return PLUGIN


def dock_title() -> str:
    """The title napari's Plugins menu gives the widget's dock: "Levels and export (TIFF as
    Zarr)".  A dock added under this title is the one that menu item shows and hides."""
    from napari.plugins import menu_item_template

    return str(menu_item_template.format(_display_name(), WIDGET_NAME))


def dock_left() -> None:
    """Ask napari to dock the widget on the left, unless the user has docked it elsewhere
    before: napari remembers that under the dock's title, the one the Plugins menu gives
    it, or the one Window.add_plugin_dock_widget gives it (the package name in brackets)."""
    from napari.settings import get_settings

    positions = get_settings().application.plugin_widget_positions
    for title in {dock_title(), f"{WIDGET_NAME} ({PLUGIN})"}:
        positions.setdefault(title, DOCK_AREA)


def _activate_upwards(widget: QWidget, last: QWidget | None = None) -> None:
    """Lay out widget and its ancestors up to last (or to the window) now, innermost first:
    each layout then knows its children's new size hints, where Qt would take one turn of
    the event loop per level."""
    current: QWidget | None = widget
    while current is not None:
        layout = current.layout()
        if layout is not None:
            layout.activate()
        if current is last:
            break
        current = current.parentWidget()


def _column(window: QMainWindow, dock: QDockWidget) -> list[QDockWidget]:
    """The docks stacked with dock in its area (not beside it, not floating, not hidden
    behind a tab), top to bottom."""
    area = window.dockWidgetArea(dock)
    left, right = dock.x(), dock.x() + dock.width()
    column = [
        other
        for other in window.findChildren(QDockWidget)
        if other.isVisible()
        and not other.isFloating()
        and window.dockWidgetArea(other) == area
        and other.x() < right
        and left < other.x() + other.width()
    ]
    return sorted(column, key=lambda other: other.y())


def _shows(part: QWidget) -> bool:
    """Whether a part of the widget has something to show: a section unfolded, a line
    not hidden."""
    return part.isExpanded() if isinstance(part, QCollapsible) else not part.isHidden()


def _spare(dock: QDockWidget) -> int:
    """The height a dock has beyond what it needs."""
    return max(0, dock.height() - max(dock.minimumHeight(), dock.minimumSizeHint().height()))


class DockFitting(QObject):
    """Fits the dock of widget to its content's height and keeps an unfolded section (or a
    new status) in view: at the first show, when the window resizes, when other docks
    squeeze it, when a section has unfolded or folded, when the widget says something.

    The widget's vertical size policy is Maximum: napari's dock never makes it taller than
    its size hint, so a fold gives the height back on its own; growing needs asking.
    """

    def __init__(self, widget: QWidget, scroll: QScrollArea, sections: Sequence[QCollapsible]):
        super().__init__(widget)
        self._widget = widget
        self._scroll = scroll
        self._window: weakref.ref[QWidget] | None = None  # weakly: it must not outlive napari
        # the part last asked to show (a section clicked open, a new status): the one kept
        # in view, whatever settles after it (a slow section's unfolding ends after an
        # export has said it is done)
        self._asked: weakref.ref[QWidget] | None = None
        self._revealing: weakref.ref[QWidget] | None = None
        # resizes come in bursts: one fit once they have been handled (a timer owned by
        # the widget dies with it)
        self._refit = QTimer(self)
        self._refit.setSingleShot(True)
        self._refit.setInterval(0)
        self._refit.timeout.connect(self.fit)
        # the scroll range changes in the content's resize, before its layout has moved the
        # parts in it: the part is placed again once the event loop has finished that resize
        self._reveal = QTimer(self)
        self._reveal.setSingleShot(True)
        self._reveal.setInterval(0)
        self._reveal.timeout.connect(self._keep_revealed)
        widget.installEventFilter(self)
        bar = scroll.verticalScrollBar()
        if bar is not None:
            # the range changes as the layouts settle: the section is brought back into view
            bar.rangeChanged.connect(self._range_changed)
            bar.actionTriggered.connect(self._user_scrolled)
        for section in sections:
            section.toggled.connect(partial(self._toggled, section))
            animation = section.findChild(QPropertyAnimation)
            if animation is not None:
                animation.finished.connect(partial(self._settled, section))

    # -- what starts a fit ------------------------------------------------------------
    def eventFilter(self, watched: Any, event: Any) -> bool:  # Qt's name
        kind = event.type()
        if watched is self._widget and kind == QEvent.Type.Show:
            self._watch_window()
            self._refit.start()
        elif watched is self._widget and kind == QEvent.Type.Resize:
            # squeezed by the other docks: ask for the height back once they have settled
            if self._widget.height() < self._widget.sizeHint().height():
                self._refit.start()
        elif kind == QEvent.Type.Resize and watched is self._watched_window():
            # a growing window gives its height to the layer list: take what is needed
            self._refit.start()
        return False

    def _watched_window(self) -> QWidget | None:
        return self._window() if self._window is not None else None

    def _watch_window(self) -> None:
        window = self._widget.window()
        watched = self._watched_window()
        if window is None or window is self._widget or window is watched:
            return
        if watched is not None:
            watched.removeEventFilter(self)
        window.installEventFilter(self)
        self._window = weakref.ref(window)

    def _toggled(self, section: QCollapsible, _opened: bool) -> None:
        self._asked = weakref.ref(section)  # folded, it asks for nothing to be shown
        animation = section.findChild(QPropertyAnimation)
        if animation is None or animation.state() != QAbstractAnimation.State.Running:
            self._settled(section)  # folded or unfolded at once: its height is known now
        # else the animation's end settles it

    def settle(self, part: QWidget) -> None:
        """part of the widget (the status line) has its final height and asks to be seen:
        fit the dock to it, then, if it shows, bring it into view where the dock could
        not grow enough."""
        self._asked = weakref.ref(part)
        self._settled(part)

    def _settled(self, part: QWidget) -> None:
        """part has its final height: fit the dock, and keep the part last asked for in
        view."""
        _activate_upwards(part, self._widget)
        self._widget.updateGeometry()  # its size hint follows the content's
        found = self._dock()
        if found is not None:
            # the dock learns the widget's new height, and a folded section's shrinks it
            # at once, leaving a gap the window has not shared out yet: fitted from the
            # height the dock had, the gap goes back where the dock's height came from
            allotted = found[1].height()
            _activate_upwards(self._widget, found[1])
            self.fit(allotted)
        asked = self._asked() if self._asked is not None else None
        self._revealing = weakref.ref(asked) if asked is not None and _shows(asked) else None
        self._keep_revealed()
        self._reveal.start()  # and again once the layouts have placed it

    def close(self) -> None:
        watched = self._watched_window()
        if watched is not None:
            watched.removeEventFilter(self)
        self._window = None
        self._refit.stop()
        self._reveal.stop()

    # -- the fit ----------------------------------------------------------------------
    def _dock(self) -> tuple[QMainWindow, QDockWidget] | None:
        dock = self._widget.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        window = dock.parentWidget() if dock is not None else None
        if dock is None or dock.isFloating() or not isinstance(window, QMainWindow):
            return None
        return window, dock

    def fit(self, allotted: int | None = None) -> None:
        """Give the dock the height the widget asks for: taken from the docks stacked with
        it, nearest first, down to their minimum height; given back to the nearest.
        allotted: the height the dock has in the window's layout, if not its own."""
        found = self._dock()
        if found is None:
            return
        window, dock = found
        wanted = self._widget.sizeHint().height() + dock.height() - self._widget.height()
        has = dock.height() if allotted is None else allotted
        column = _column(window, dock)
        if wanted == has or dock not in column or len(column) < 2:
            return
        here = column.index(dock)
        others = sorted(
            (d for d in column if d is not dock), key=lambda d: abs(column.index(d) - here)
        )
        sizes = {other: other.height() for other in column}
        sizes[dock] = has
        if wanted < has:
            sizes[others[0]] += has - wanted
            sizes[dock] = wanted
        for other in others:
            taken = min(_spare(other), wanted - sizes[dock])
            if taken > 0:
                sizes[other] -= taken
                sizes[dock] += taken
        if sizes[dock] == has and wanted > has:
            return  # nothing to spare
        window.resizeDocks(column, [sizes[other] for other in column], Qt.Orientation.Vertical)
        layout = window.layout()
        if layout is not None:
            layout.activate()  # the docks take their heights now, the scroll range with them

    # -- a part in view ---------------------------------------------------------------
    def _range_changed(self, *_range: int) -> None:
        self._keep_revealed()
        self._reveal.start()

    def _keep_revealed(self, *_range: int) -> None:
        part = self._revealing() if self._revealing is not None else None
        if part is None or not _shows(part):
            self._revealing = None
            return
        bar = self._scroll.verticalScrollBar()
        content = self._scroll.widget()
        viewport = self._scroll.viewport()
        if bar is None or content is None or viewport is None:
            return
        top = part.mapTo(content, part.rect().topLeft()).y()
        bottom = top + part.height()
        # the whole part where it fits, else its top (a section's title) and what fits below
        value = max(bar.value(), bottom - viewport.height())
        bar.setValue(min(value, top))

    def _user_scrolled(self, _action: int) -> None:
        """Once the user scrolls, where the view is is theirs."""
        self._revealing = None
