"""FACS cells of the coding sheets: `(R6 or R12)+R15`, `ref(7B)+43`, `10A/B`, ... parsed.

The grammar the CASME II and SAMM sheets write (SAMM's key says `/` means "or"):

- a cell is terms joined by `+` (also `,` `;` `&`); parentheses group;
- a code is an optional `AU` prefix, an optional side, the AU number and an optional
  intensity: `R12B` is AU 12 on the right at intensity B. Sides: `L` left, `R` right,
  `U` unilateral, `A` asymmetric, `B` bilateral, `T` top and `M` (as the datasets use them);
  intensities `A`-`E`;
- `X or Y` is an alternative (`R14A or 17A or 24A`: one of the three);
- `/` inside a code is an alternative sharing what the other side gives: `10A/B` is 10A or
  10B, `A/L12` is A12 or L12, `4A/B` is 4A or 4B;
- `ref(...)` marks codes noted for reference, not coded as present (`ref(7B)+43`);
- anything else (`soft focus`) is a note.

`parse_au_cell` returns an `AUCell` with the raw cell kept beside the parsed codes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

SIDES = "LRUABTM"
INTENSITIES = "ABCDE"
_CODE = re.compile(rf"(?:AU)?([{SIDES}])?(\d+)([{INTENSITIES}])?")
_REF = re.compile(r"ref\s*\(([^()]*)\)", re.IGNORECASE)
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
# what the sheets write for "not coded" / "not known" (compared lower case)
EMPTY_CELLS = frozenset({"", "/", "-", "nan", "none", "n/a", "na", "?", "unknown"})


@dataclass(frozen=True)
class AUCode:
    """One FACS code: AU number, side ('' when not given) and intensity ('' when not given)."""

    number: int
    side: str = ""
    intensity: str = ""

    @property
    def text(self) -> str:
        return f"{self.side}{self.number}{self.intensity}"


@dataclass(frozen=True)
class AUCell:
    """A parsed sheet cell: the codes coded as present, the alternatives (one of each group),
    the codes given for reference, free-text notes, and the cell as written."""

    raw: str = ""
    codes: tuple[AUCode, ...] = ()
    alternatives: tuple[tuple[AUCode, ...], ...] = ()
    refs: tuple[AUCode, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def aus(self) -> tuple[str, ...]:
        """The codes coded as present, as text ('R12', '4', ...)."""
        return tuple(c.text for c in self.codes)

    @property
    def alternatives_text(self) -> str:
        """'R6|R12' per group, groups joined by '+'."""
        return "+".join("|".join(c.text for c in group) for group in self.alternatives)

    @property
    def refs_text(self) -> str:
        return "+".join(c.text for c in self.refs)

    @property
    def notes_text(self) -> str:
        return "; ".join(self.notes)


def parse_code(text: str) -> AUCode | None:
    """'R12B' -> AUCode(12, 'R', 'B'); None when `text` is not one code."""
    m = _CODE.fullmatch(re.sub(r"\s+", "", text).upper().removesuffix(".0"))
    if not m:
        return None
    return AUCode(int(m.group(2)), m.group(1) or "", m.group(3) or "")


def _slash(text: str) -> tuple[AUCode, ...] | None:
    """'10A/B' -> (10A, 10B); 'A/L12' -> (A12, L12); '4/7' -> (4, 7); None if not codes."""
    parts = [re.sub(r"\s+", "", p).upper() for p in text.split("/")]
    full = [parse_code(p) for p in parts]
    donor = next((c for c in full if c is not None), None)
    if donor is None:
        return None
    first = next(i for i, c in enumerate(full) if c is not None)
    out = []
    for i, (part, code) in enumerate(zip(parts, full)):
        if code is None:
            if len(part) != 1 or part not in SIDES + INTENSITIES:
                return None
            # a lone letter before the code replaces its side, after it its intensity
            as_side = part in SIDES and (
                (i < first and donor.side) or (not donor.intensity and part not in INTENSITIES)
            )
            if as_side:
                code = AUCode(donor.number, part, donor.intensity)
            else:
                code = AUCode(donor.number, donor.side, part)
        out.append(code)
    return tuple(out)


def _split_top(text: str) -> list[str]:
    """Split at '+', ',', ';', '&' outside parentheses."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if depth == 0 and ch in "+,;&":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [t.strip() for t in out if t.strip()]


def _codes_of(text: str) -> list[AUCode] | None:
    """Plain codes of a reference or a space-separated term, None if any part is not one."""
    codes = []
    for term in _split_top(text):
        for part in term.split():
            code = parse_code(part)
            if code is None:
                return None
            codes.append(code)
    return codes


def cell_text(value: object) -> str:
    """A sheet cell as text: '' for empty/NaN, 12.0 -> '12', strings stripped."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


def parse_au_cell(value: object) -> AUCell:
    """Parse a sheet's Action Units cell (see the module docstring for the grammar)."""
    raw = cell_text(value)
    if raw.lower() in EMPTY_CELLS:
        return AUCell(raw=raw)
    codes: list[AUCode] = []
    alternatives: list[tuple[AUCode, ...]] = []
    refs: list[AUCode] = []
    notes: list[str] = []

    def ref(m: re.Match) -> str:
        inner = _codes_of(m.group(1))
        if inner is None:
            notes.append(m.group(0))
        else:
            refs.extend(inner)
        return "+"

    rest = _REF.sub(ref, raw)
    for term in _split_top(rest):
        inner = term
        while inner.startswith("(") and inner.endswith(")"):
            inner = inner[1:-1].strip()
        options = _OR.split(inner)
        if len(options) > 1:
            group: list[AUCode] = []
            for option in options:
                parsed = _slash(option) if "/" in option else _codes_of(option)
                if not parsed:
                    group = []
                    break
                group.extend(parsed)
            if group:
                alternatives.append(tuple(group))
            else:
                notes.append(term)
            continue
        if "/" in inner:
            parsed_alt = _slash(inner)
            if parsed_alt:
                alternatives.append(parsed_alt)
            else:
                notes.append(term)
            continue
        plain = _codes_of(inner)
        if plain:
            codes.extend(plain)
        else:
            notes.append(term)
    return AUCell(raw, tuple(codes), tuple(alternatives), tuple(refs), tuple(notes))
