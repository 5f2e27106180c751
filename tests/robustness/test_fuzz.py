"""The fuzz run of the suite: mutated files may only ever raise TiffFileError.

Seeds are small files written with tifffile and, where ../shared/corpus is present, small
real files of other writers.  FUZZ_COUNT and FUZZ_SEED make it longer or different; the
default, 20,000 files, takes under a minute on two cores.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import fuzz


def test_mutated_files_raise_only_tifffileerror(tmp_path: Path) -> None:
    count = int(os.environ.get("FUZZ_COUNT", "20000"))
    seed = int(os.environ.get("FUZZ_SEED", "3"))
    # generated seeds always; real files of other writers too where the corpus is present
    seeds = fuzz.make_seeds(tmp_path / "seeds") + fuzz.corpus_seeds()
    report = fuzz.run(seeds, seed=seed, count=count, workers=os.cpu_count() or 1, tmp=tmp_path)
    print(
        f"fuzzed {count} files from {len(seeds)} seeds: {report.read} read, "
        f"{report.refused} refused, "
        f"{len(report.escapes)} escapes, {len(report.hangs)} hangs, {len(report.crashes)} crashes"
    )
    assert report.escapes == []
    assert report.hangs == []
    assert report.crashes == []
    # the run must really exercise the reader: many files read through, many refused
    assert report.read + report.refused == count
    assert report.read > count // 10
    assert report.refused > count // 10
