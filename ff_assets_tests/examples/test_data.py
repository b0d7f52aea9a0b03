"""The UCI readers on the real files and on broken copies (no JVM, no Dagster)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from ff_assets.core.errors import DataFormatError, DataNotFoundError
from ff_assets.examples.data import (
    BANK_COLUMNS,
    BANK_FILE,
    REVIEW_FILES,
    REVIEW_SITES,
    read_bank,
    read_reviews,
)

PROJECT = Path(__file__).resolve().parents[2]
NEL = "\u0085"


@pytest.fixture(scope="module")
def data_root() -> Path:
    configured = os.environ.get("FF_DATA_DIR")
    path = Path(configured) if configured else PROJECT.parent / "shared" / "data"
    if not (path / BANK_FILE).is_file():
        pytest.fail(f"the reference data is not at {path}: set FF_DATA_DIR (see its README).")
    return path


@pytest.fixture(scope="module")
def reviews(data_root: Path) -> list[tuple[str, str, float, str, float]]:
    return read_reviews(data_root)


def _reviews_dir(tmp_path: Path, **contents: bytes) -> Path:
    """A data folder with the three review files: good two-line files unless given."""
    for site in REVIEW_SITES:
        path = tmp_path / REVIEW_FILES[site]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents.get(site, b"Great phone.\t1\nAwful battery.\t0\n"))
    return tmp_path


def _bank_dir(tmp_path: Path, text: str) -> Path:
    path = tmp_path / BANK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return tmp_path


BANK_HEADER = ";".join(f'"{c}"' for c in BANK_COLUMNS)
BANK_ROW = {
    "age": "30", "balance": "1787", "day": "19", "duration": "79", "campaign": "1",
    "pdays": "-1", "previous": "0", "job": '"unemployed"', "marital": '"married"',
    "education": '"primary"', "contact": '"cellular"', "month": '"oct"', "poutcome": '"unknown"',
    "default": '"no"', "housing": '"no"', "loan": '"no"', "y": '"no"',
}  # fmt: skip


def _bank_line(**changes: str) -> str:
    row = {**BANK_ROW, **changes}
    return ";".join(row[c] for c in BANK_COLUMNS)


# -- the real files ------------------------------------------------------------------------


def test_every_review_file_has_1000_rows_half_positive(reviews: list) -> None:
    assert len(reviews) == 3000
    per_site = Counter(site for _, _, _, site, _ in reviews)
    assert per_site == {"amazon": 1000, "imdb": 1000, "yelp": 1000}
    positive = Counter(site for _, _, score, site, _ in reviews if score == 1.0)
    assert positive == {"amazon": 500, "imdb": 500, "yelp": 500}
    assert {score for _, _, score, _, _ in reviews} == {0.0, 1.0}
    assert {(site, label) for _, _, _, site, label in reviews} == {
        ("amazon", 0.0), ("imdb", 1.0), ("yelp", 2.0),
    }  # fmt: skip
    assert len({review_id for review_id, *_ in reviews}) == 3000


def test_nel_inside_imdb_lines_does_not_split_them(reviews: list, data_root: Path) -> None:
    raw = (data_root / REVIEW_FILES["imdb"]).read_text(encoding="utf-8")
    assert NEL in raw  # the quirk the README keeps on purpose
    assert len(raw.splitlines()) > 1000  # what a careless loader would do
    with_nel = [text for _, text, _, site, _ in reviews if site == "imdb" and NEL in text]
    assert with_nel  # the NEL stayed inside its sentence
    assert all(text and "\t" not in text for _, text, *_ in reviews)
    assert all(text == text.strip() for _, text, *_ in reviews)  # trailing spaces trimmed


def test_bank_has_4521_clients_with_typed_columns(data_root: Path) -> None:
    rows = read_bank(data_root)
    assert len(rows) == 4521
    assert len({r["client_id"] for r in rows}) == 4521
    first = rows[0]
    assert set(first) == {"client_id", *BANK_COLUMNS}
    assert first["age"] == 30.0 and first["job"] == "unemployed" and first["y"] == 0.0
    assert {r["y"] for r in rows} == {0.0, 1.0}
    assert all(isinstance(r["balance"], float) for r in rows)


@pytest.mark.parametrize(
    ("reader", "url"),
    [
        (read_reviews, "https://archive.ics.uci.edu/dataset/331/sentiment+labelled+sentences"),
        (read_bank, "https://archive.ics.uci.edu/dataset/222/bank+marketing"),
    ],
)
def test_missing_data_says_where_to_get_it(tmp_path: Path, reader, url: str) -> None:
    with pytest.raises(DataNotFoundError) as error:
        reader(tmp_path / "nowhere")
    message = str(error.value)
    assert str(tmp_path / "nowhere") in message
    assert url in message
    assert "FF_DATA_DIR" in message
    assert isinstance(error.value, FileNotFoundError)


# -- broken review files -------------------------------------------------------------------


def test_line_without_tab_names_file_line_and_column(tmp_path: Path) -> None:
    root = _reviews_dir(tmp_path, yelp=b"Good.\t1\nno tab here 1\nBad.\t0\n")
    with pytest.raises(DataFormatError) as error:
        read_reviews(root)
    message = str(error.value)
    assert str(root / REVIEW_FILES["yelp"]) in message
    assert "line 2" in message and "sentiment" in message


def test_bad_score_names_file_line_and_column(tmp_path: Path) -> None:
    root = _reviews_dir(tmp_path, amazon=b"Good.\t1\nBad.\t0\nMeh.\tmaybe\n")
    with pytest.raises(DataFormatError) as error:
        read_reviews(root)
    message = str(error.value)
    assert str(root / REVIEW_FILES["amazon"]) in message
    assert "line 3, column sentiment" in message and "'maybe'" in message


def test_undecodable_bytes_name_file_and_line(tmp_path: Path) -> None:
    root = _reviews_dir(tmp_path, imdb=b"Good.\t1\nBad.\t0\nCaf\xe9 \xff.\t1\n")
    with pytest.raises(DataFormatError) as error:
        read_reviews(root)
    message = str(error.value)
    assert str(root / REVIEW_FILES["imdb"]) in message
    assert "line 3" in message and "UTF-8" in message


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_names_the_file(tmp_path: Path, content: bytes) -> None:
    root = _reviews_dir(tmp_path, imdb=content)
    with pytest.raises(DataFormatError) as error:
        read_reviews(root)
    assert str(root / REVIEW_FILES["imdb"]) in str(error.value)
    assert "empty" in str(error.value)


def test_crlf_and_nel_lines_are_read_as_one_row_each(tmp_path: Path) -> None:
    root = _reviews_dir(tmp_path, imdb=f"A{NEL}film.\t1\r\nBad.  \t0\r\n".encode())
    rows = [r for r in read_reviews(root) if r[3] == "imdb"]
    assert [(text, score) for _, text, score, _, _ in rows] == [
        (f"A{NEL}film.", 1.0),
        ("Bad.", 0.0),
    ]


# -- broken bank files ---------------------------------------------------------------------


def test_bank_missing_column_names_file_and_column(tmp_path: Path) -> None:
    header = ";".join(f'"{c}"' for c in BANK_COLUMNS if c != "balance")
    line = ";".join(BANK_ROW[c] for c in BANK_COLUMNS if c != "balance")
    root = _bank_dir(tmp_path, f"{header}\n{line}\n")
    with pytest.raises(DataFormatError) as error:
        read_bank(root)
    message = str(error.value)
    assert str(root / BANK_FILE) in message and "balance" in message


@pytest.mark.parametrize(
    ("changes", "column", "value"),
    [({"age": "thirty"}, "age", "thirty"), ({"loan": '"maybe"'}, "loan", "maybe")],
)
def test_bank_wrong_type_names_file_line_and_column(
    tmp_path: Path, changes: dict[str, str], column: str, value: str
) -> None:
    root = _bank_dir(tmp_path, f"{BANK_HEADER}\n{_bank_line()}\n{_bank_line(**changes)}\n")
    with pytest.raises(DataFormatError) as error:
        read_bank(root)
    message = str(error.value)
    assert str(root / BANK_FILE) in message
    assert f"line 3, column {column}" in message and repr(value) in message


def test_bank_header_only_is_an_error(tmp_path: Path) -> None:
    root = _bank_dir(tmp_path, f"{BANK_HEADER}\n")
    with pytest.raises(DataFormatError, match="no client rows"):
        read_bank(root)
