"""The properties dock: sliders, exact text fields, inline errors, per-direction edits."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from engine import examples
from engine.model import NicModel
from nemu_gui.main_window import MainWindow
from nemu_gui.properties.quantity_field import QuantityField
from nemu_gui.properties.scales import BANDWIDTH, DELAY, SHARE, STEPS


@pytest.fixture
def lab(window: MainWindow) -> MainWindow:
    window.document.replace(examples.build("two-hosts"), None)
    window.scene.select(links=["h1-h2"])
    assert window.properties.stack.currentWidget() is window.properties.link_form
    return window


def type_into(qtbot, field: QuantityField, text: str) -> None:
    field.text.setFocus()
    field.text.selectAll()
    qtbot.keyClicks(field.text, text)
    qtbot.keyClick(field.text, Qt.Key.Key_Return)


def test_link_form_shows_the_selected_link(lab: MainWindow) -> None:
    form = lab.properties.link_form
    assert form.title.text() == "Link h1-h2"
    assert form.fields["bandwidth"].text.text() == "10Mbit"
    assert form.fields["delay"].text.text() == "10ms"
    assert form.same.isChecked()
    assert form.fields["bandwidth"].slider is not None
    assert form.fields["bandwidth"].slider.value() == BANDWIDTH.to_pos(10_000_000)


def test_a_slider_drag_applies_live_and_is_one_undo_step(lab: MainWindow) -> None:
    slider = lab.properties.link_form.fields["bandwidth"].slider
    assert slider is not None
    slider.setSliderDown(True)                       # the user grabs the handle
    for pos in (300, 350, 400, 450):
        slider.setValue(pos)
        link = lab.controller.topology.link("h1-h2")
        assert link.a.params.bandwidth == link.b.params.bandwidth == BANDWIDTH.from_pos(pos)
    slider.setSliderDown(False)
    assert lab.controller.undo_stack.count() == 1
    expected = BANDWIDTH.from_pos(450)
    assert lab.scene.links["h1-h2"].label.text.startswith(
        lab.properties.link_form.fields["bandwidth"].text.text())
    lab.acts.undo.trigger()
    assert lab.controller.topology.link("h1-h2").a.params.bandwidth == 10_000_000
    assert slider.value() == BANDWIDTH.to_pos(10_000_000)        # the form followed the undo
    lab.acts.redo.trigger()
    assert lab.controller.topology.link("h1-h2").b.params.bandwidth == expected
    # a second drag is a second step
    slider.setSliderDown(True)
    slider.setValue(100)
    slider.setSliderDown(False)
    assert lab.controller.undo_stack.count() == 2


def test_sliders_reach_unlimited_and_zero(lab: MainWindow) -> None:
    f = lab.properties.link_form.fields
    assert f["bandwidth"].slider is not None and f["delay"].slider is not None
    f["bandwidth"].slider.setValue(BANDWIDTH.maximum)
    f["delay"].slider.setValue(0)
    p = lab.controller.topology.link("h1-h2").a.params
    assert p.bandwidth is None and p.delay == 0
    assert f["bandwidth"].text.text() == "unlimited"


def test_exact_text_applies(qtbot, lab: MainWindow) -> None:
    f = lab.properties.link_form.fields
    type_into(qtbot, f["delay"], "25ms")
    type_into(qtbot, f["loss"], "0.5%")
    type_into(qtbot, f["ber"], "1e-6")
    type_into(qtbot, f["mtu"], "9000")
    p = lab.controller.topology.link("h1-h2").b.params
    assert (p.delay, p.loss, p.ber, p.mtu) == (25_000_000, 0.005, 1e-6, 9000)   # 0.5%
    assert f["delay"].slider is not None and f["loss"].slider is not None
    assert f["delay"].slider.value() == DELAY.to_pos(25_000_000)
    assert f["loss"].slider.value() == SHARE.to_pos(0.005)
    assert lab.controller.undo_stack.count() == 4


def test_invalid_text_shows_an_inline_error_and_applies_nothing(
        qtbot, lab: MainWindow) -> None:
    f = lab.properties.link_form.fields
    before = lab.controller.topology.link("h1-h2")
    for field, text, words in (("delay", "-5ms", ">= 0"), ("bandwidth", "10", "needs a unit"),
                               ("loss", "150%", "between 0% and 100%"), ("mtu", "20", "mtu")):
        type_into(qtbot, f[field], text)
        assert f[field].has_error(), field
        assert words in f[field].error.text(), (field, f[field].error.text())
    assert lab.controller.topology.link("h1-h2") == before
    assert lab.controller.undo_stack.count() == 0
    type_into(qtbot, f["delay"], "5ms")                      # fixing it clears the error
    assert not f["delay"].has_error()
    assert lab.controller.topology.link("h1-h2").a.params.delay == 5_000_000


def test_one_direction_at_a_time(qtbot, lab: MainWindow) -> None:
    form = lab.properties.link_form
    form.same.setChecked(False)
    form.direction.setCurrentIndex(1)                          # h2 -> h1 is end b
    type_into(qtbot, form.fields["bandwidth"], "1Mbit")
    link = lab.controller.topology.link("h1-h2")
    assert link.a.params.bandwidth == 10_000_000 and link.b.params.bandwidth == 1_000_000
    form.direction.setCurrentIndex(0)
    assert form.fields["bandwidth"].text.text() == "10Mbit"
    form.up.click()                                            # a -> b down
    assert not lab.controller.topology.link("h1-h2").a.params.up
    assert lab.controller.topology.link("h1-h2").b.params.up
    form.ber_mode.setCurrentIndex(1)
    form.ber_mode.activated.emit(1)
    assert lab.controller.topology.link("h1-h2").a.params.ber_mode.value == "flip"


def test_node_form_edits_and_refuses(qtbot, window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("star"), None)
    w.scene.select(["h1"])
    form = w.properties.node_form
    assert w.properties.stack.currentWidget() is form
    assert form.memory.value() == 128
    form.memory.setValue(512)
    form.cpus.setValue(2)
    form.nic.setCurrentIndex(form.nic.findData(NicModel.E1000))
    form.nic.activated.emit(form.nic.currentIndex())
    form.image.setText("debian")
    form.image.editingFinished.emit()
    node = w.controller.topology.node("h1")
    assert (node.memory, node.cpus, node.nic, node.image) == (512, 2, NicModel.E1000, "debian")
    assert form.arch.currentText() == "x86_64"
    form.arch.setCurrentText("i386")
    form.arch.activated.emit(form.arch.currentIndex())
    assert w.controller.topology.node("h1").arch == "i386"
    w.controller.undo_stack.undo()                             # one undoable step
    assert w.controller.topology.node("h1").arch == "x86_64" and form.arch.currentText() == "x86_64"
    w.controller.undo_stack.redo()
    form.arch.setCurrentText("i 386")                          # not an architecture name
    form.arch.activated.emit(form.arch.currentIndex())
    assert "not a QEMU architecture name" in form.error.text()
    assert w.controller.topology.node("h1").arch == "i386"
    form.name.setText("web")
    form.name.editingFinished.emit()
    assert w.controller.topology.has_node("web") and "web" in w.scene.nodes
    assert form.title.text() == "Host web"
    form.name.setText("h2")                                    # taken
    form.name.editingFinished.emit()
    assert form.error.isVisible() and "exists already" in form.error.text()
    form.name.setText("9bad")
    form.name.editingFinished.emit()
    assert "must start with a letter" in form.error.text()
    assert w.controller.topology.has_node("web")
    form.notes.setPlainText("web server")
    form.notes.setFocus()
    form.name.setFocus()                                       # focus out applies notes
    qtbot.waitUntil(lambda: w.controller.topology.node("web").notes == "web server")
    for _ in range(7):
        w.acts.undo.trigger()
    node = w.controller.topology.node("h1")
    assert (node.memory, node.cpus, node.image, node.arch) == (128, 1, "host", "x86_64")
    # hubs and switches have no machine fields
    w.scene.select(["sw1"])
    assert not form.memory.isVisible() and form.host.isVisible()


def test_several_selected_and_nothing_selected(window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("star"), None)
    w.scene.select(["h1", "h2"], ["r1-sw1"])
    assert "2 nodes, 1 link selected" in w.properties.many.text()
    w.scene.clearSelection()
    assert "star" in w.properties.summary.text()


def test_scales_round_trip() -> None:
    assert BANDWIDTH.from_pos(0) == 1000
    assert BANDWIDTH.from_pos(STEPS) == 10_000_000_000
    assert BANDWIDTH.from_pos(BANDWIDTH.maximum) is None
    assert DELAY.from_pos(0) == 0 and DELAY.from_pos(STEPS) == 10_000_000_000
    for v in (1000, 64_000, 10_000_000, 1_000_000_000):
        assert BANDWIDTH.from_pos(BANDWIDTH.to_pos(v)) == pytest.approx(v, rel=0.01)
    assert DELAY.to_pos(0) == 0
    assert DELAY.from_pos(DELAY.to_pos(20_000_000)) == pytest.approx(20_000_000, rel=0.01)


def test_the_applied_note_speaks_the_files_units():
    """What the running lab confirmed reads as the file writes it: a 1% loss is 'loss 1%'."""
    from nemu_gui.properties.link_form import applied_summary
    assert applied_summary({"loss": 0.01}) == "loss 1%"
    assert applied_summary({"bandwidth": 2_000_000, "delay": 10_000_000, "up": False}) == \
        "bandwidth 2Mbit, delay 10ms, down"
    assert applied_summary({"queue_bytes": 65536, "mtu": 9000}) == "mtu 9000, queue bytes 65536"
