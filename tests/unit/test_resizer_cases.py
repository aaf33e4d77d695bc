"""Every case in tests/data/cases (modelled on public thumbnailer bug reports)
gets the outcome a correct 100x100 cover thumbnailer gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casecheck import failures
from thumbnailer.api import ImageRejected
from resizer.thumbnail import ThumbnailSpec, make_thumbnail

CASES_DIR = Path(__file__).resolve().parents[1] / "data" / "cases"
CASES = json.loads((CASES_DIR / "cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_gets_the_expected_outcome(case):
    thumb, rejection = None, None
    with open(CASES_DIR / Path(case["file"]).name, "rb") as fp:
        try:
            thumb = make_thumbnail(fp, ThumbnailSpec(100, 100, "cover"))
        except ImageRejected as e:
            rejection = e
    assert failures(case["expectation"], thumb, rejection) == []
