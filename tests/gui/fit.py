"""Does a window fit a small screen? What a person would find cut, hidden or out of reach.

:func:`misfits` lists, in plain sentences, every visible button, label, field and column
header of a window (its own widgets, not those of its other windows) that lies outside it
or outside the part of a parent that shows it, whose text does not fit its room, and a
window that cannot be made as small as the screen. Vertical overflow inside a scroll area
is allowed (a form may scroll down); sideways overflow is not.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QFontMetrics, QTextDocument
from PySide6.QtGui import Qt as QtGuiQt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QStyle,
    QStyleOptionComboBox,
    QTableView,
    QTextEdit,
    QWidget,
)

CHECKED = (
    QAbstractButton,
    QLabel,
    QLineEdit,
    QComboBox,
    QAbstractSpinBox,
    QTextEdit,
    QPlainTextEdit,
)
SLACK = 1  # a pixel of rounding


def fit(window: QWidget, size: QSize) -> list[str]:
    """Resize ``window`` (first larger, as a person would after a resize, then to ``size``)
    and return what does not fit, once its layouts have settled."""
    settle(window)  # what was just shown first: the window as a person sees it
    window.resize(QSize(1900, 1060))
    settle(window)
    window.resize(size)
    settle(window)
    return misfits(window, size)


def settle(window: QWidget, rounds: int = 10) -> None:
    """Run the events until ``window``'s widgets stay where they are: a layout's request climbs
    one parent per pass, and a text that arrives meanwhile (the platform's state in the status
    bar) asks for room again."""
    last: list[QRect] | None = None
    for _round in range(rounds):
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        now = [w.geometry() for w in window.findChildren(QWidget) if w.isVisible()]
        if now == last:
            return
        last = now


def misfits(window: QWidget, size: QSize) -> list[str]:
    """What a person at a screen of ``size`` would find cut or out of reach in ``window``."""
    found: list[str] = []
    if window.width() > size.width() or window.height() > size.height():
        found.append(f"the window is {window.width()}×{window.height()}, more than {_wh(size)}")
    hint = window.minimumSizeHint()
    if hint.width() > size.width() or hint.height() > size.height():
        found.append(f"the window needs at least {_wh(hint)}, more than {_wh(size)}")
    for widget in window.findChildren(QWidget):
        if widget.window() is not window or not widget.isVisible() or _in_item_view(widget):
            continue
        if isinstance(widget, QTableView):
            found += _table_misfits(widget)
        if not isinstance(widget, CHECKED) or _inside_compound(widget):
            continue
        where = _outside(widget, window)
        if where:
            found.append(f"{describe(widget)} {where}")
            continue
        cut = _text_cut(widget)
        if cut:
            found.append(f"{describe(widget)} {cut}")
    return found


def describe(widget: QWidget) -> str:
    text = _text(widget)
    name = widget.accessibleName() or widget.objectName()
    label = f" «{text[:60]}»" if text else (f" ({name})" if name else "")
    return f"{type(widget).__name__}{label}"


def _wh(size: QSize) -> str:
    return f"{size.width()}×{size.height()}"


def _text(widget: QWidget) -> str:
    if isinstance(widget, QAbstractButton | QLabel):
        return widget.text()
    if isinstance(widget, QComboBox):
        return widget.currentText()
    return ""


def _in_item_view(widget: QWidget) -> bool:
    """A cell's editor or a widget in a view's viewport: the view scrolls it."""
    parent = widget.parentWidget()
    while parent is not None and not parent.isWindow():
        if isinstance(parent, QAbstractItemView):
            return True
        parent = parent.parentWidget()
    return False


def _inside_compound(widget: QWidget) -> bool:
    """The line edit of a spin box or a combo box: judged with its owner."""
    parent = widget.parentWidget()
    return isinstance(widget, QLineEdit) and isinstance(parent, QAbstractSpinBox | QComboBox)


def _outside(widget: QWidget, window: QWidget) -> str:
    """Where ``widget`` leaves the part of an ancestor that shows it, or ``""``."""
    rect = QRect(QPoint(0, 0), widget.size())
    child = widget
    while child is not window:
        parent = child.parentWidget()
        assert parent is not None
        rect = rect.translated(child.pos())
        bounds = parent.rect()
        area = parent.parentWidget()
        scrolls = isinstance(area, QAbstractScrollArea) and parent is area.viewport()
        if rect.left() < bounds.left() - SLACK or rect.right() > bounds.right() + SLACK:
            whose = "the window" if parent is window else type(parent).__name__
            return (
                f"lies outside {whose} sideways (x {rect.left()}…{rect.right()}, "
                f"room {bounds.left()}…{bounds.right()})"
            )
        if not scrolls and (
            rect.top() < bounds.top() - SLACK or rect.bottom() > bounds.bottom() + SLACK
        ):
            whose = "the window" if parent is window else type(parent).__name__
            return (
                f"lies outside {whose} (y {rect.top()}…{rect.bottom()}, "
                f"room {bounds.top()}…{bounds.bottom()})"
            )
        if scrolls:
            rect = QRect(rect.left(), bounds.top(), rect.width(), bounds.height())
        child = parent
    return ""


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _text_cut(widget: QWidget) -> str:
    metrics = QFontMetrics(widget.font())
    style = widget.style()
    if isinstance(widget, QCheckBox | QRadioButton):
        need = widget.sizeHint().width()
        if widget.text() and widget.width() + SLACK < need:
            return f"is {widget.width()} px wide, its text needs {need}"
        return ""
    if isinstance(widget, QAbstractButton):
        text = _plain(widget.text())
        if not text:
            return ""
        margins = 2 * (
            style.pixelMetric(QStyle.PixelMetric.PM_ButtonMargin, None, widget)
            + style.pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth, None, widget)
        )
        icon = widget.iconSize().width() + 4 if not widget.icon().isNull() else 0
        need = max(metrics.horizontalAdvance(line) for line in text.split("\n")) + margins + icon
        room = widget.contentsRect().width()
        if room + SLACK < need:
            return f"shows its text in {room} px, it needs {need} (cut)"
        return ""
    if isinstance(widget, QLabel):
        return _label_cut(widget, metrics)
    if isinstance(widget, QComboBox):
        text = widget.currentText()
        if not text:
            return ""
        option = QStyleOptionComboBox()
        option.initFrom(widget)
        option.editable = widget.isEditable()
        option.currentText = text
        field = style.subControlRect(
            QStyle.ComplexControl.CC_ComboBox,
            option,
            QStyle.SubControl.SC_ComboBoxEditField,
            widget,
        )
        need = metrics.horizontalAdvance(text) + 4
        if field.width() + SLACK < need:
            return f"shows its choice in {field.width()} px, it needs {need} (cut)"
        return ""
    if isinstance(widget, QAbstractSpinBox):
        need = widget.sizeHint().width()
        if widget.width() + SLACK < need:
            return f"is {widget.width()} px wide, its text needs {need} (cut)"
    return ""


def _label_cut(label: QLabel, metrics: QFontMetrics) -> str:
    text = label.text()
    if not text:
        return ""
    room = label.contentsRect()
    inner = room.width() - 2 * label.margin() - max(label.indent(), 0)
    if label.wordWrap():
        need = label.heightForWidth(label.width())
        if need > label.height() + SLACK:
            return f"is {label.height()} px high, its wrapped text needs {need} (cut)"
        return ""
    rich = label.textFormat() == Qt.TextFormat.RichText
    if rich or (label.textFormat() == Qt.TextFormat.AutoText and QtGuiQt.mightBeRichText(text)):
        document = QTextDocument()
        document.setDefaultFont(label.font())
        document.setDocumentMargin(0)
        document.setHtml(text)
        width = int(document.idealWidth() + 0.999)
    else:
        width = max(metrics.horizontalAdvance(line) for line in text.split("\n"))
    if inner + SLACK < width:
        return f"shows its text in {inner} px, it needs {width} (cut)"
    return ""


def _table_misfits(table: QTableView) -> list[str]:
    """Every column shown fits the table's width, and its header its text."""
    header: QHeaderView = table.horizontalHeader()
    found = []
    room = table.viewport().width()
    if header.length() > room + SLACK:
        found.append(
            f"{describe(table)} needs {header.length()} px for its columns, has {room} "
            "(scrolling sideways)"
        )
    metrics = QFontMetrics(header.font())
    model = table.model()
    for logical in range(header.count()):
        if header.isSectionHidden(logical):
            continue
        text = str(model.headerData(logical, header.orientation()) or "")
        need = metrics.horizontalAdvance(text) + 2 * header.style().pixelMetric(
            QStyle.PixelMetric.PM_HeaderMargin, None, header
        )
        size = header.sectionSize(logical)
        if size + SLACK < need:
            found.append(f"the column «{text}» is {size} px wide, its header needs {need} (cut)")
    return found
