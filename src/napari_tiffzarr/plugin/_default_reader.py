"""Make napari open TIFFs with this plugin, and undo it: napari's own reader preference.

napari keeps, in its settings file, a table from file-name patterns to reader plugins
(``settings.plugins.extension2reader``, shown in *Preferences > Plugins*). When a file is
opened with no plugin named (drag and drop, *File > Open*, ``napari FILE``,
``viewer.open(path, plugin=None)``), the most specific matching pattern picks the reader,
and napari's *Choose reader* dialog is not shown. ``viewer.open(path)`` in Python names
napari's builtin reader by default and ignores the table.

``use_as_default`` points our reader's patterns at us and remembers, in a small JSON beside
napari's settings, what each pattern pointed at before; ``undo_default`` puts exactly that
back. Patterns are matched by ``fnmatch`` against the file's full path, case-sensitively
on Linux and macOS, while napari hands files to readers whatever the case of their
extension: so the upper-case spelling of each pattern (``*.TIF``) is set too.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

__all__ = ["MEMO_NAME", "default_patterns", "is_default", "undo_default", "use_as_default"]

# Beside napari's settings file; napari's own per-plugin settings take "<plugin>.yaml".
MEMO_NAME = "napari-tiffzarr-previous-readers.json"


@cache
def _manifest() -> tuple[str, tuple[str, ...]]:
    """Our plugin's name and its reader's patterns, from the manifest (their one source)."""
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(str(files("napari_tiffzarr") / "napari.yaml"))
    patterns: list[str] = []
    for reader in manifest.contributions.readers or []:
        patterns.extend(reader.filename_patterns)
    return manifest.name, tuple(patterns)


def plugin_name() -> str:
    return _manifest()[0]


def default_patterns() -> list[str]:
    """The patterns we claim: the manifest's, and their upper-case spellings."""
    patterns = list(_manifest()[1])
    return list(dict.fromkeys(patterns + [p.upper() for p in patterns]))


def _settings() -> Any:
    from napari.settings import get_settings

    return get_settings()


def _memo_path(settings: Any) -> Path | None:
    """Where the previous choices are kept: beside napari's settings file, if it has one
    (napari's test mode keeps none)."""
    config = settings.config_path
    if not config or not isinstance(config, str | os.PathLike):
        return None
    return Path(config).expanduser().resolve().with_name(MEMO_NAME)


def _read_memo(path: Path | None) -> dict[str, str | None] | None:
    if path is None or not path.exists():
        return None
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    previous = data.get("previous") if isinstance(data, dict) else None
    if not isinstance(previous, dict):
        raise ValueError(f"{path}: not a record of napari's previous reader choices")
    return {str(k): (v if isinstance(v, str) else None) for k, v in previous.items()}


def _write_memo(path: Path, previous: dict[str, str | None]) -> None:
    """Atomically: a half-written record would lose the user's previous choices."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"plugin": plugin_name(), "previous": previous}, indent=2)
    fd, tmp = tempfile.mkstemp(prefix=".napari-tiffzarr-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _store(settings: Any, table: dict[str, str]) -> None:
    """Assign the whole table (napari saves on assignment, not on in-place edits) and
    save it, so the next napari process reads it."""
    settings.plugins.extension2reader = table
    if _memo_path(settings) is not None:
        settings.save()


def use_as_default() -> list[str]:
    """Point napari's reader preference for our patterns at this plugin; returns the
    patterns that changed. The first call remembers what they pointed at before."""
    settings = _settings()
    name = plugin_name()
    table: dict[str, str] = dict(settings.plugins.extension2reader)
    patterns = default_patterns()
    memo = _memo_path(settings)
    remembered = _read_memo(memo)
    previous = dict(remembered or {})
    for pattern in patterns:
        # a pattern already ours before any call stays ours after undo
        if pattern not in previous and table.get(pattern) != name:
            previous[pattern] = table.get(pattern)
    if memo is not None and previous != remembered:
        _write_memo(memo, previous)
    changed = [p for p in patterns if table.get(p) != name]
    if changed:
        _store(settings, {**table, **dict.fromkeys(patterns, name)})
    return changed


def undo_default() -> list[str]:
    """Put back what napari had for our patterns before ``use_as_default``; returns the
    patterns that changed. A pattern the user has since pointed elsewhere is left alone;
    without a record, only the patterns pointing at us are removed."""
    settings = _settings()
    name = plugin_name()
    table: dict[str, str] = dict(settings.plugins.extension2reader)
    memo = _memo_path(settings)
    remembered = _read_memo(memo)
    if remembered is None:
        remembered = dict.fromkeys(default_patterns())
    changed = []
    for pattern, before in remembered.items():
        if table.get(pattern) != name:
            continue
        if before is None:
            del table[pattern]
        else:
            table[pattern] = before
        changed.append(pattern)
    if changed:
        _store(settings, table)
    if memo is not None and memo.exists():
        memo.unlink()
    return changed


def is_default() -> bool:
    """Whether napari opens every file our patterns match with this plugin."""
    table = _settings().plugins.extension2reader
    name = plugin_name()
    return all(table.get(p) == name for p in default_patterns())
