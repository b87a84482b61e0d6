"""The link half of the properties dock: per-direction parameters with live sliders.

A link's parameters belong to the end that sends (a → b is end a). The form edits one direction
at a time, or both at once when "Same both ways" is ticked (the default for symmetric links).
Every value is checked by the model before anything is applied: a bad value shows its message
under the field and leaves the link as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from engine.errors import LinkParamError, TopologyError
from engine.model import SPECS, USER_PARAMS, BerMode, DirectionParams, End, Link, format_value
from nemu_gui.commands import Which
from nemu_gui.controller import Controller
from nemu_gui.properties.link_ends import LinkEnds
from nemu_gui.properties.quantity_field import QuantityField
from nemu_gui.properties.scales import BY_UNIT


def _formatter(name: str) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        text = format_value(name, value)
        return "" if text is None else str(text)
    return fmt


def _placeholder(name: str) -> str:
    spec = SPECS[name]
    return ", ".join(t for t in (spec.none_means, spec.example) if t)


# Every link field users set, as the vswitch declares it: a quantity (with a slider where its
# unit has a scale), a choice (ber_mode) or a tick box (bool).
_QUANTITIES = [n for n in USER_PARAMS if SPECS[n].unit not in ("bool", "ber_mode")]
_TICKS = [n for n in USER_PARAMS if SPECS[n].unit == "bool"]


class LinkForm(QWidget):
    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.link_name: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.title = QLabel()
        self.title.setObjectName("formTitle")
        self.ends = QLabel()
        self.ends.setObjectName("formSubtitle")
        self.ends.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self.ends)
        self.iface_ends = LinkEnds()
        self.iface_ends.chosen.connect(self._iface_chosen)
        layout.addWidget(self.iface_ends)
        self.same = QCheckBox("Same both ways")
        self.same.setToolTip("Edit both directions at once")
        self.same.toggled.connect(self._same_toggled)
        layout.addWidget(self.same)
        self.direction = QTabBar()
        self.direction.setExpanding(True)
        self.direction.addTab("a → b")
        self.direction.addTab("b → a")
        self.direction.currentChanged.connect(lambda _i: self.refresh())
        layout.addWidget(self.direction)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.fields: dict[str, QuantityField] = {}
        for name in _QUANTITIES:
            f = QuantityField(_formatter(name), BY_UNIT.get(SPECS[name].unit),
                              _placeholder(name))
            f.setObjectName(f"link_{name}")
            f.edited.connect(lambda value, key, name=name: self._edited(name, value, key))
            self.fields[name] = f
            form.addRow(SPECS[name].label, f)
        self.ber_mode = QComboBox()
        self.ber_mode.addItems([m.value for m in BerMode])
        self.ber_mode.setToolTip("drop: a bit error loses the frame; flip: delivered damaged")
        self.ber_mode.activated.connect(
            lambda _i: self._edited("ber_mode", self.ber_mode.currentText(), None))
        form.addRow(SPECS["ber_mode"].label, self.ber_mode)
        self.ticks: dict[str, QCheckBox] = {}
        for name in _TICKS:
            box = QCheckBox(SPECS[name].label)
            box.setObjectName(f"link_{name}")
            box.clicked.connect(lambda on, name=name: self._edited(name, bool(on), None))
            self.ticks[name] = box
            form.addRow("", box)
        self.up = self.ticks["up"]
        layout.addLayout(form)
        self.applied = QLabel()
        self.applied.setObjectName("appliedNote")
        self.applied.setWordWrap(True)
        self.applied.setStyleSheet("color: #1e8449; font-size: 8.5pt;")
        self.applied.hide()
        layout.addWidget(self.applied)
        self._applied: dict[str, dict[str, dict[str, Any]]] = {}
        layout.addStretch(1)

    # ---- showing -------------------------------------------------------------------
    @property
    def which(self) -> Which:
        if self.same.isChecked():
            return "both"
        return "a" if self.direction.currentIndex() == 0 else "b"

    def show_link(self, name: str) -> None:
        link = self.controller.topology.link(name)
        if name != self.link_name:
            self.link_name = name
            for f in self.fields.values():
                f.clear_error()
            self.iface_ends.clear_error()
            self.same.blockSignals(True)
            self.same.setChecked(link.a.params == link.b.params)
            self.same.blockSignals(False)
            self.direction.setCurrentIndex(0)
        self.refresh()

    def refresh(self) -> None:
        if self.link_name is None:
            return
        link = self.controller.topology.link(self.link_name)
        self.title.setText(f"Link {link.name}")
        self.ends.setText(f"{link.a.label} ⟷ {link.b.label}")
        self.iface_ends.show_link(self.controller.topology, link)
        self.direction.setTabText(0, f"{link.a.node} → {link.b.node}")
        self.direction.setTabText(1, f"{link.b.node} → {link.a.node}")
        self.direction.setEnabled(not self.same.isChecked())
        p = self._params(link)
        for name, f in self.fields.items():
            f.set_value(getattr(p, name))
        self.ber_mode.setCurrentText(p.ber_mode.value)
        for name, box in self.ticks.items():
            box.setChecked(bool(getattr(p, name)))
        self._show_applied()

    def refresh_ends(self) -> None:
        """Only the interface choices (another edit freed or took one): typing elsewhere in
        the form is left alone."""
        if self.link_name is not None:
            link = self.controller.topology.link(self.link_name)
            self.ends.setText(f"{link.a.label} ⟷ {link.b.label}")
            self.iface_ends.show_link(self.controller.topology, link)

    # ---- what the running lab confirmed ---------------------------------------------
    def show_applied(self, link: str, changes: dict[str, dict[str, Any]]) -> None:
        """The engine confirmed these parameters (vswitch values) for `link`."""
        per_link = self._applied.setdefault(link, {})
        for end, fields in changes.items():
            per_link.setdefault(end, {}).update(fields)
        self._show_applied()

    def clear_applied(self) -> None:
        self._applied.clear()
        self._show_applied()

    def _show_applied(self) -> None:
        per_link = self._applied.get(self.link_name or "")
        if not per_link or self.link_name is None:
            self.applied.hide()
            return
        link = self.controller.topology.link(self.link_name)
        lines = []
        for end, fields in sorted(per_link.items()):
            src, dst = (link.a.node, link.b.node) if end == "a" else (link.b.node, link.a.node)
            lines.append(f"{src} → {dst}: " + applied_summary(fields))
        self.applied.setText("✓ running lab: " + "<br>".join(lines))
        self.applied.show()

    def _params(self, link: Link) -> DirectionParams:
        return link.b.params if self.which == "b" else link.a.params

    def _same_toggled(self, on: bool) -> None:
        self.direction.setEnabled(not on)
        self.refresh()

    # ---- editing -------------------------------------------------------------------
    def _edited(self, field: str, value: Any, merge_key: object | None) -> None:
        if self.link_name is None:
            return
        link = self.controller.topology.link(self.link_name)
        field_widget = self.fields.get(field)
        try:   # check first: a refused value is shown here and nothing is applied
            ends: tuple[End, ...] = ("a", "b") if self.which == "both" else (self.which,)
            for end in ends:
                link.end(end).params.replace(**{field: value})
        except LinkParamError as e:
            if field_widget is not None:
                field_widget.show_error(e.message)
            return
        if field_widget is not None:
            field_widget.clear_error()
        self.controller.set_link_params(self.link_name, self.which, merge_key=merge_key,
                                        **{field: value})


    def _iface_chosen(self, end: End, iface: str | None) -> None:
        """Plug an end into another interface: checked first, so a refusal shows here, the
        combo goes back to the interface in use, and nothing is applied."""
        if self.link_name is None:
            return
        try:
            self.controller.topology.check_link_iface(self.link_name, end, iface)
        except TopologyError as e:
            self.iface_ends.show_error(e.message)
            self.refresh_ends()
            return
        self.iface_ends.clear_error()
        self.controller.set_link_iface(self.link_name, end, iface)


def applied_summary(fields: dict[str, Any]) -> str:
    """The vswitch's confirmed values, in the file's words: 'bandwidth 2Mbit, loss 1%'."""
    parts = [f"{SPECS[n].label.lower()} {format_value(n, fields[n])}"
             for n in USER_PARAMS if n in fields and n != "up"]
    if fields.get("up") is False:
        parts.append("down")
    return ", ".join(parts) or "applied"
