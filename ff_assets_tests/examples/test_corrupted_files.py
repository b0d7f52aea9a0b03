"""The UCI readers on corrupted copies of their files (hypothesis): flipped, inserted and
deleted bytes, truncations, empty files, dropped, extra and repeated columns, duplicated lines.

Every outcome is the parsed rows, each well formed, or a `DataFormatError` /
`DataNotFoundError` naming the file (and a line of it where one is given) and the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ff_assets.core.errors import DataFormatError, DataNotFoundError
from ff_assets.examples.data import (
    BANK_CATEGORIES,
    BANK_COLUMNS,
    BANK_FILE,
    BANK_FLAGS,
    BANK_NUMERIC,
    REVIEW_FILES,
    REVIEW_SITES,
    read_bank,
    read_reviews,
)
from ff_assets_tests.examples.test_data import BANK_HEADER, _bank_line

PROFILE = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GOOD_REVIEWS = "Great phone.\t1\nAwful battery.\t0\nCaf\u00e9 au lait, fine.\t1\n".encode()
GOOD_BANK = "\n".join(
    [BANK_HEADER, _bank_line(), _bank_line(age="41", loan='"yes"'), _bank_line(job='"admin."')]
).encode()
# What a fix looks like in a message: an instruction or the expected shape.
FIX = re.compile(r"expected|Re-encode|Fix|Remove|keep one|end lines|writes 'unknown'|is not")


@st.composite
def corrupted(draw: st.DrawFn, good: bytes) -> bytes:
    """`good` after one to three random edits."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(
            st.sampled_from(["flip", "insert", "delete", "truncate", "empty", "line", "bytes"])
        )
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if edit == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[at:at] = draw(st.sampled_from([b";", b"\t", b'"', b"\n", b"\r", b"\x00", b"\xff"]))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif edit == "truncate":
            del data[at:]
        elif edit == "empty":
            data = bytearray(draw(st.sampled_from([b"", b"\n", b"  \n\n"])))
        elif edit == "line":
            lines = bytes(data).split(b"\n")
            if lines:
                pick = draw(st.integers(0, len(lines) - 1))
                lines.insert(pick, lines[pick])  # a duplicated line: the same row twice
            data = bytearray(b"\n".join(lines))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=6))
    return bytes(data)


def _write(root: Path, relative: str, content: bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _outcome(read: Callable[[Path], list], root: Path, path: Path, content: bytes) -> list | None:
    """The rows, or None after checking the refusal names the file, a real line and the fix."""
    try:
        rows = read(root)
    except (DataFormatError, DataNotFoundError) as error:
        message = str(error)
        event(f"refused: {message.split(': ', 1)[-1][:25]}")
        assert str(path) in message, message
        line = re.search(r", line (\d+)", message)
        if line:
            assert 1 <= int(line.group(1)) <= content.count(b"\n") + 1, message
        assert FIX.search(message), f"no fix in: {message}"
        return None
    except Exception as error:  # noqa: BLE001 - the property: nothing else escapes
        pytest.fail(f"{type(error).__name__} on {content!r}: {error}")
    event("parsed")
    return rows


@PROFILE
@given(st.sampled_from(REVIEW_SITES), st.data())
def test_a_corrupted_review_file_is_read_or_refused_by_name(tmp_path, site, data) -> None:
    content = data.draw(corrupted(GOOD_REVIEWS))
    for other in REVIEW_SITES:
        _write(tmp_path, REVIEW_FILES[other], content if other == site else GOOD_REVIEWS)
    rows = _outcome(read_reviews, tmp_path, tmp_path / REVIEW_FILES[site], content)
    if rows is None:
        return
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) and all(ids)  # keys are never duplicate or null
    for review_id, text, sentiment, where, label in rows:
        assert review_id.startswith(f"{where}-") and where in REVIEW_SITES
        assert text and text == text.strip() and "\n" not in text  # a tab may stay inside
        assert sentiment in (0.0, 1.0) and label == float(REVIEW_SITES.index(where))


@PROFILE
@given(corrupted(GOOD_BANK))
def test_a_corrupted_bank_file_is_read_or_refused_by_name(tmp_path, content) -> None:
    path = _write(tmp_path, BANK_FILE, content)
    rows = _outcome(read_bank, tmp_path, path, content)
    if rows is None:
        return
    ids = [r["client_id"] for r in rows]
    assert len(ids) == len(set(ids)) and all(ids)
    for row in rows:
        assert set(row) == {"client_id", *BANK_COLUMNS}
        assert all(isinstance(row[c], float) and math.isfinite(row[c]) for c in BANK_NUMERIC)
        assert all(row[c] in (0.0, 1.0) for c in BANK_FLAGS)
        assert all(isinstance(row[c], str) and row[c].strip() for c in BANK_CATEGORIES)


@PROFILE
@given(
    st.lists(st.sampled_from(BANK_COLUMNS), unique=True, max_size=3),
    st.lists(st.sampled_from(["extra", "note", "age"]), max_size=2),
)
def test_missing_and_extra_bank_columns(tmp_path, dropped, extra) -> None:
    columns = [c for c in BANK_COLUMNS if c not in dropped] + extra
    good = dict(zip(BANK_COLUMNS, _bank_line().split(";"), strict=True))
    values = {**dict.fromkeys(extra, '"x"'), **good}
    header = ";".join(f'"{c}"' for c in columns)
    line = ";".join(values[c] for c in columns)
    path = _write(tmp_path, BANK_FILE, f"{header}\n{line}\n".encode())
    twice = sorted({c for c in columns if columns.count(c) > 1})
    missing = [c for c in BANK_COLUMNS if c not in columns]
    try:
        rows = read_bank(tmp_path)
    except DataFormatError as error:
        message = str(error)
        assert str(path) in message
        assert twice or missing, message
        assert all(c in message for c in twice or missing), message
    else:
        assert not twice and not missing  # extra columns are ignored
        assert set(rows[0]) == {"client_id", *BANK_COLUMNS}


# -- regressions the properties found -------------------------------------------------------


def _bank(tmp_path: Path, *lines: str) -> Path:
    _write(tmp_path, BANK_FILE, "\n".join(lines).encode())
    return tmp_path


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((BANK_HEADER, _bank_line() + ";7"), "line 2: 18 fields where the header has 17"),
        ((BANK_HEADER, _bank_line().rsplit(";", 3)[0]), "line 2: 14 fields where the header"),
        ((BANK_HEADER, "", _bank_line(), _bank_line(age="x")), "line 4, column age: 'x'"),
        ((BANK_HEADER, _bank_line(job='"unterminated')), "line 2: not ';'-separated CSV"),
        ((BANK_HEADER + ';"age"', _bank_line() + ";1"), "line 1: column(s) age appear twice"),
        ((BANK_HEADER, _bank_line(balance="nan")), "column balance: 'nan' is not a number"),
        ((BANK_HEADER, _bank_line(job='""')), "line 2, column job: empty"),
        ((BANK_HEADER, _bank_line() + "\r" + _bank_line()), "line 2: a carriage return"),
    ],
)
def test_bank_rows_that_used_to_crash_or_pass_are_refused(tmp_path, lines, expected) -> None:
    with pytest.raises(DataFormatError) as error:
        read_bank(_bank(tmp_path, *lines))
    assert str(tmp_path / BANK_FILE) in str(error.value)
    assert expected in str(error.value)


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path) -> None:
    root = _bank(tmp_path, "\ufeff" + BANK_HEADER, _bank_line())
    assert read_bank(root)[0]["age"] == 30.0


def test_an_empty_sentence_is_refused(tmp_path) -> None:
    for site in REVIEW_SITES:
        _write(tmp_path, REVIEW_FILES[site], b"Fine.\t1\n  \t0\n" if site == "yelp" else b"A.\t1")
    with pytest.raises(DataFormatError, match=r"yelp_labelled.txt, line 2, column text"):
        read_reviews(tmp_path)
