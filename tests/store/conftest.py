"""Fixtures of the store tests; the cases themselves live in store_cases.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from store_cases import Target, write_case


@pytest.fixture
def case_file(tmp_path: Path) -> Callable[..., tuple[Path, Target]]:
    """Write a case of store_cases.CASES into tmp_path: (name, byteorder, compression)."""

    def make(name: str, byteorder: str = "<", compression: str = "none") -> tuple[Path, Target]:
        return write_case(tmp_path, name, byteorder, compression)

    return make
