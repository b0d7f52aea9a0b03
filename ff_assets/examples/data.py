"""Readers of the UCI data sets the examples use; plain Python so they validate row by row.

The files are small (3 × 1000 sentences, 4521 clients), so reading them in Python and handing
rows to Spark costs little and lets every error name the file, the line and the column.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ff_assets.core.errors import DataFormatError, DataNotFoundError

REVIEW_SITES = ("amazon", "imdb", "yelp")
REVIEW_FILES = {
    "amazon": "sentiment_labelled_sentences/amazon_cells_labelled.txt",
    "imdb": "sentiment_labelled_sentences/imdb_labelled.txt",
    "yelp": "sentiment_labelled_sentences/yelp_labelled.txt",
}
BANK_FILE = "bank_marketing/bank.csv"

_WHERE = {
    REVIEW_FILES["amazon"]: "https://archive.ics.uci.edu/dataset/331/sentiment+labelled+sentences",
    BANK_FILE: "https://archive.ics.uci.edu/dataset/222/bank+marketing",
}


def require(root: Path, relative: str) -> Path:
    """The path of a data file, or DataNotFoundError saying where to get the data set."""
    path = root / relative
    if not path.is_file():
        where = _WHERE.get(relative) or next(
            (url for rel, url in _WHERE.items() if rel.split("/")[0] == relative.split("/")[0]),
            "the UCI Machine Learning Repository",
        )
        raise DataNotFoundError(
            f"data file {path} not found. Download the UCI data set from {where}, unpack it as "
            f"{root}/{relative.split('/')[0]}/, and point FF_DATA_DIR (or the data_dir setting) "
            "at that folder."
        )
    return path


def _lines(path: Path) -> list[str]:
    """The file's lines (LF or CRLF, a UTF-8 byte order mark dropped), or DataFormatError."""
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFormatError(f"{path} is empty: expected one labelled row per line.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataFormatError(
            f"{path}, line {line}: bytes that are not UTF-8 ({exc.reason}). Re-encode the file "
            "as UTF-8."
        ) from None
    # Split on newlines only: str.splitlines() would also split on NEL (U+0085), which the
    # imdb file has inside sentences.
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    for number, line in enumerate(lines, start=1):
        if "\r" in line:
            raise DataFormatError(
                f"{path}, line {number}: a carriage return inside the line, which would join "
                "rows: end lines with LF or CRLF (for example with dos2unix)."
            )
    return lines


def read_reviews(root: Path) -> list[tuple[str, str, float, str, float]]:
    """Rows (review_id, text, sentiment, site, site_label) from the three labelled files."""
    rows: list[tuple[str, str, float, str, float]] = []
    for site_index, site in enumerate(REVIEW_SITES):
        path = require(root, REVIEW_FILES[site])
        for number, line in enumerate(_lines(path), start=1):
            if not line.strip():
                continue
            text, tab, score = line.rpartition("\t")
            if not tab:
                raise DataFormatError(
                    f"{path}, line {number}: no tab before the sentiment column; expected "
                    "'sentence<TAB>0|1'."
                )
            if score.strip() not in ("0", "1"):
                raise DataFormatError(
                    f"{path}, line {number}, column sentiment: {score!r} is not 0 or 1."
                )
            if not text.strip():
                raise DataFormatError(
                    f"{path}, line {number}, column text: no sentence before the tab; expected "
                    "'sentence<TAB>0|1'. Remove the line or restore its sentence."
                )
            review_id = f"{site}-{number:05d}"
            rows.append((review_id, text.strip(), float(score), site, float(site_index)))
    return rows


BANK_NUMERIC = ("age", "balance", "day", "duration", "campaign", "pdays", "previous")
BANK_FLAGS = ("default", "housing", "loan", "y")
BANK_CATEGORIES = ("job", "marital", "education", "contact", "month", "poutcome")
BANK_COLUMNS = (*BANK_NUMERIC, *BANK_CATEGORIES, *BANK_FLAGS)


def read_bank(root: Path) -> list[dict[str, object]]:
    """Clients of bank.csv: numbers as floats, yes/no as 1.0/0.0, a stable client_id (the
    row's position). Columns beyond the UCI ones are ignored; every row has the header's
    number of fields."""
    path = require(root, BANK_FILE)
    reader = csv.reader(_lines(path), delimiter=";", strict=True)
    try:
        header = next(reader, [])
        position = _columns(path, header)
        rows = []
        for record in reader:
            if not any(v.strip() for v in record):
                continue
            rows.append(_client(path, reader.line_num, header, position, record, len(rows) + 1))
    except csv.Error as exc:
        raise DataFormatError(
            f"{path}, line {reader.line_num}: not ';'-separated CSV ({exc}); a quote is "
            "probably unbalanced. Fix the quoting of that line."
        ) from None
    if not rows:
        raise DataFormatError(f"{path} has a header but no client rows.")
    return rows


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    """Where each UCI column is in the header, or DataFormatError naming what is wrong."""
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise DataFormatError(
            f"{path}, line 1: column(s) {', '.join(twice)} appear twice in the header: keep one."
        )
    missing = [c for c in BANK_COLUMNS if c not in header]
    if missing:
        raise DataFormatError(
            f"{path}: column(s) {', '.join(missing)} missing from the header; expected the UCI "
            f"bank marketing columns ({', '.join(BANK_COLUMNS)}) separated by ';'."
        )
    return {c: header.index(c) for c in BANK_COLUMNS}


def _client(
    path: Path,
    line: int,
    header: list[str],
    position: dict[str, int],
    record: list[str],
    index: int,
) -> dict[str, object]:
    if len(record) != len(header):
        raise DataFormatError(
            f"{path}, line {line}: {len(record)} fields where the header has {len(header)}: "
            "the row is truncated or has a stray ';'. Fix or remove the line."
        )
    row: dict[str, object] = {"client_id": f"client-{index:05d}"}
    for column in BANK_NUMERIC:
        row[column] = _number(path, line, column, record[position[column]])
    for column in BANK_FLAGS:
        row[column] = _flag(path, line, column, record[position[column]])
    for column in BANK_CATEGORIES:
        value = record[position[column]]
        if not value.strip():
            raise DataFormatError(
                f"{path}, line {line}, column {column}: empty; the UCI file writes 'unknown' "
                "for a missing value."
            )
        row[column] = value
    return row


def _number(path: Path, line: int, column: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise DataFormatError(f"{path}, line {line}, column {column}: {value!r} is not a number.")
    return number


def _flag(path: Path, line: int, column: str, value: str) -> float:
    if value not in ("yes", "no"):
        raise DataFormatError(
            f"{path}, line {line}, column {column}: {value!r} is not 'yes' or 'no'."
        )
    return 1.0 if value == "yes" else 0.0
