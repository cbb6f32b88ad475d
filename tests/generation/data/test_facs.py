"""The FACS cells of the CASME II and SAMM sheets, parsed: the cells quoted from SAMM's
sheet verbatim, each with the codes, alternatives, references and notes it holds."""

from __future__ import annotations

import pytest

from generation.data.facs import AUCode, parse_au_cell, parse_code


def _texts(codes) -> tuple[str, ...]:
    return tuple(c.text for c in codes)


@pytest.mark.parametrize(
    ("cell", "aus", "alternatives", "refs", "notes"),
    [
        ("(R6 or R12)+R15", ("R15",), (("R6", "R12"),), (), ()),
        ("ref(7B)+43", ("43",), (), ("7B",), ()),
        ("10A/B", (), (("10A", "10B"),), (), ()),
        ("ref(L10)+A12B", ("A12B",), (), ("L10",), ()),
        ("A/L12", (), (("A12", "L12"),), (), ()),
        ("A9E+ref(10)", ("A9E",), (), ("10",), ()),
        ("R14+17+soft focus", ("R14", "17"), (), (), ("soft focus",)),
        ("R14A or 17A or 24A", (), (("R14A", "17A", "24A"),), (), ()),
        ("4A/B", (), (("4A", "4B"),), (), ()),
        ("R12+L14", ("R12", "L14"), (), (), ()),
        ("AU1 + AU2+ au5", ("1", "2", "5"), (), (), ()),
        (12.0, ("12",), (), (), ()),
        ("/", (), (), (), ()),
    ],
)
def test_sheet_cells(cell, aus, alternatives, refs, notes):
    parsed = parse_au_cell(cell)
    assert parsed.aus == aus
    assert tuple(_texts(g) for g in parsed.alternatives) == alternatives
    assert _texts(parsed.refs) == refs
    assert parsed.notes == notes
    assert parsed.raw == (str(cell) if not isinstance(cell, float) else "12")
    # every code's text is one code again (side, number, intensity survive the round trip)
    for code in parsed.codes + parsed.refs + tuple(c for g in parsed.alternatives for c in g):
        assert parse_code(code.text) == code


def test_codes_have_side_number_intensity():
    assert parse_code("R12B") == AUCode(12, "R", "B")
    assert parse_code("AU4") == AUCode(4)
    assert parse_code("A9E") == AUCode(9, "A", "E")
    assert parse_code("U14") == AUCode(14, "U")
    assert parse_code("soft") is None and parse_code("12F") is None
    cell = parse_au_cell("(R6 or R12)+R15")
    assert (cell.alternatives_text, cell.refs_text, cell.notes_text) == ("R6|R12", "", "")
