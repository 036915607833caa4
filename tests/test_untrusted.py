"""What a terminal or a review page shows of untrusted text: every control
character, bidi override and undecodable byte written out, the rest as it was."""

from __future__ import annotations

import logging

from trunkgate.untrusted import PrintableFormatter, printable, printable_bytes


def test_escape_sequences_are_written_out_not_obeyed() -> None:
    shown = printable("title \x1b]0;pwned\x07 clear \x1b[2J red \x1b[31mred\x1b[0m")
    assert shown == "title \\x1b]0;pwned\\x07 clear \\x1b[2J red \\x1b[31mred\\x1b[0m"


def test_every_c0_c1_and_del_is_written_out_but_tab_and_newline() -> None:
    controls = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
    shown = printable("".join(map(chr, controls)))
    assert shown.isprintable() is False  # the tab and the newline
    assert shown.replace("\t", "").replace("\n", "").isprintable()
    assert "\t" in shown
    assert "\n" in shown
    assert "\\x0d" in shown
    assert "\\x9b" in shown  # the one-byte CSI


def test_text_that_must_stay_on_one_line_has_its_newlines_written_out() -> None:
    assert printable("a\nforged line", newlines=False) == "a\\x0aforged line"


def test_bidi_overrides_cannot_reorder_what_a_reader_sees() -> None:
    shown = printable("invoice\u202egnp.exe and \u2066isolated\u2069")
    assert shown == "invoice\\u202egnp.exe and \\u2066isolated\\u2069"


def test_ordinary_text_is_left_alone() -> None:
    text = 'naïve café ✓ 日本語 C:\\path\\x41 $HOME "quoted"'
    assert printable(text) == text


def test_bytes_that_are_not_utf8_show_as_the_bytes_they_were() -> None:
    assert printable_bytes(b"bad \xff\xfe end \xc3\xa9 \x1b[2J") == "bad \\xff\\xfe end é \\x1b[2J"


def test_log_lines_quoting_a_node_are_printable() -> None:
    record = logging.LogRecord("x", logging.WARNING, "f", 1, "node said %s", ("\x1b[2J",), None)
    assert PrintableFormatter("%(message)s").format(record) == "node said \\x1b[2J"
