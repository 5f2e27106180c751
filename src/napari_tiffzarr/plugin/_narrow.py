"""Combo boxes that never widen the dock for a long choice.

A series reads "0: generic 4096 x 4096 x 3 uint8 YXS, 5 levels, JPEG": more than a dock of
napari's width shows.  The box shows the choice cut with an ellipsis, its tooltip the whole
text, and its list opens as wide as its longest line.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import ComboBox
from qtpy.QtCore import QEvent, QObject, Qt
from qtpy.QtGui import QPalette
from qtpy.QtWidgets import (
    QComboBox,
    QSizePolicy,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
)

__all__ = ["ElidedChoice", "narrow_combo", "shown_text"]

# Characters a box asks room for, whatever its choices; the dock gives it more.
MIN_CHARACTERS = 6
POPUP_MARGIN = 24  # the list's scroll bar and frame, beside its longest line


def _option(combo: QComboBox) -> QStyleOptionComboBox:
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    return option


def shown_text(combo: QComboBox) -> str:
    """The current choice as the box shows it: whole where it fits, else cut at the right
    with an ellipsis, to the width of the box's text field."""
    option = _option(combo)
    style = combo.style()
    text = option.currentText or ""
    if style is None:
        return text
    field = style.subControlRect(
        QStyle.ComplexControl.CC_ComboBox,
        option,
        QStyle.SubControl.SC_ComboBoxEditField,
        combo,
    )
    # Qt draws the label a pixel inside the field on either side
    width = field.width() - 2
    return combo.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, width)


class ElidedChoice(QObject):
    """Paints a combo box as Qt does, its current text elided: Qt's own box cuts a long
    text off mid-letter, with nothing to say it is cut."""

    def eventFilter(self, watched: Any, event: Any) -> bool:  # Qt's name
        if event.type() != QEvent.Type.Paint or not isinstance(watched, QComboBox):
            return False
        # as QComboBox.paintEvent, but for the text
        painter = QStylePainter(watched)
        painter.setPen(watched.palette().color(QPalette.ColorRole.Text))
        option = _option(watched)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = shown_text(watched)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)
        painter.end()
        return True


def narrow_combo(combo: ComboBox, tip: str = "") -> None:
    """Make combo narrow: its choice elided, the whole choice and tip in its tooltip, its
    list as wide as its longest line."""
    native: QComboBox = combo.native
    native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    native.setMinimumContentsLength(MIN_CHARACTERS)
    native.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    native.installEventFilter(ElidedChoice(native))  # owned by the box, dies with it

    def update(_value: Any = None) -> None:
        text = native.currentText()
        native.setToolTip(f"{text}\n\n{tip}" if tip and text else text or tip)
        view = native.view()
        if view is not None:
            view.setMinimumWidth(view.sizeHintForColumn(0) + POPUP_MARGIN)

    combo.changed.connect(update)
    native.currentTextChanged.connect(update)
    update()
