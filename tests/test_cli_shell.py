"""The command line as a shell uses it: --version, a reader that goes away (``| head``),
Ctrl-C, folders whose files differ, a missing output folder, use-as-default."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_tiffzarr
from napari_tiffzarr.cli import EXIT_INTERRUPT, EXIT_PIPE, main

COMMAND = [sys.executable, "-m", "napari_tiffzarr"]
PIPE_RUNS = 20


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"napari-tiffzarr {napari_tiffzarr.__version__}\n"
    done = subprocess.run(
        [*COMMAND, "--version"], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    assert done.stdout.split() == ["napari-tiffzarr", napari_tiffzarr.__version__]


def test_the_command_line_does_not_import_napari() -> None:
    code = "import sys, napari_tiffzarr.cli; print('napari' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert done.stdout.strip() == "False", done.stderr


@pytest.fixture
def many_series(tmp_path: Path) -> Path:
    """An OME-TIFF of 600 small images: 600 series, JSON beyond twice a pipe's buffer
    (64 KiB), so the writer is still writing when the reader goes."""
    path = tmp_path / "many.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for i in range(600):
            tif.write(np.zeros((4, 8), np.uint8), metadata={"Name": f"image {i}"})
    return path


def test_a_closed_pipe_ends_quietly(many_series: Path) -> None:
    """``info --json FILE | head -2``, 20 times: head's two lines, nothing on stderr,
    and the status a shell gives a tool that SIGPIPE ended."""
    done = subprocess.run(
        [*COMMAND, "info", "--json", str(many_series)],
        check=False,
        capture_output=True,
        timeout=300,
    )
    assert len(done.stdout) > 2 * 65536  # so head leaves while the tool still writes
    command = " ".join([*COMMAND, "info", "--json", str(many_series)])
    for _ in range(PIPE_RUNS):
        piped = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {command} | head -2"],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert piped.stderr == ""
        assert piped.stdout == '{\n  "file": ' + json.dumps(many_series.name) + ",\n"
        assert piped.returncode == EXIT_PIPE


def test_a_reader_gone_before_the_first_line_ends_quietly(many_series: Path) -> None:
    """The pipe's reader end closed before the tool writes at all, 20 times."""
    for _ in range(PIPE_RUNS):
        read, write = os.pipe()
        os.close(read)
        try:
            done = subprocess.run(
                [*COMMAND, "info", str(many_series)],
                check=False,
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                timeout=300,
            )
        finally:
            os.close(write)
        assert done.stderr == ""
        assert done.returncode == EXIT_PIPE


def _folder(tmp_path: Path, odd: int | None, count: int = 7) -> Path:
    """count frames alike but for file ``odd``, of another shape and dtype."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(count):
        data = np.full((16, 24), i, np.uint8)
        if i == odd:
            data = np.zeros((20, 24), np.uint16)
        tifffile.imwrite(folder / f"t{i:03d}.tif", data)
    return folder


@pytest.mark.parametrize("odd", [3, 6])
def test_info_on_a_folder_says_when_the_middle_or_last_file_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], odd: int
) -> None:
    folder = _folder(tmp_path, odd)
    assert main(["info", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "checked 2 files of 7 against the first: 1 file differs" in out
    assert f"t{odd:03d}.tif: (20, 24) uint16" in out
    assert main(["info", "--json", str(folder)]) == 1
    info = json.loads(capsys.readouterr().out)
    assert [Path(f).name for f in info["checked"]] == ["t003.tif", "t006.tif"]
    assert [Path(d["file"]).name for d in info["differ"]] == [f"t{odd:03d}.tif"]


def test_info_checks_every_file_with_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, odd=1)
    # the cheap check reads the middle and the last file: file 1 goes unseen
    assert main(["info", str(folder)]) == 0
    assert "alike (--check compares every file)" in capsys.readouterr().out
    assert main(["info", "--check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "checked every file against the first: 1 file differs" in out
    assert "t001.tif: (20, 24) uint16" in out
    # the check says what reading would: tifffile cannot stack them either
    with pytest.raises(ValueError, match="shape"):
        tifffile.imread(str(folder / "*.tif"))


def test_info_on_a_folder_of_alike_files_checks_quietly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, odd=None)
    assert main(["info", "--check", str(folder)]) == 0
    assert "checked every file against the first: alike\n" in capsys.readouterr().out


def test_refs_into_a_missing_folder_names_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    out = tmp_path / "missing" / "a.json"
    assert main(["refs", str(path), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"the folder {tmp_path / 'missing'} does not exist" in err
    assert ".refs-" not in err
    assert ".tmp" not in err
    assert not (tmp_path / "missing").exists()
    (tmp_path / "plain").write_text("")
    assert main(["refs", str(path), "-o", str(tmp_path / "plain" / "a.json")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_use_as_default_and_undo_through_napari_settings(tmp_path: Path) -> None:
    """The command writes napari's reader preference where a later napari process reads
    it, and --undo puts back exactly what was there."""
    settings = tmp_path / "napari" / "settings.yaml"
    settings.parent.mkdir()
    settings.write_text(
        "schema_version: 0.9.0\nplugins:\n  extension2reader:\n"
        "    '*.tif': napari\n    '*.czi': other-reader\n"
    )
    env = {**os.environ, "NAPARI_CONFIG": str(settings)}
    read = (
        "import json\nfrom napari.settings import get_settings\n"
        "print(json.dumps(get_settings().plugins.extension2reader))\n"
    )

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(argv), check=False, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done

    def napari_table() -> dict[str, str]:
        return json.loads(run(sys.executable, "-c", read).stdout)  # type: ignore[no-any-return]

    def command(*args: str) -> str:
        done = run(*COMMAND, "use-as-default", *args)
        assert done.stderr == ""
        return done.stdout

    before = {"*.tif": "napari", "*.czi": "other-reader"}
    assert "napari now opens *.tif *.tiff" in command()
    table = napari_table()
    assert table["*.czi"] == "other-reader"
    for suffix in ("tif", "tiff", "btf", "tf8", "ome.tif", "ome.tiff", "svs", "ndpi", "qptiff"):
        assert table[f"*.{suffix}"] == "napari-tiffzarr"
        assert table[f"*.{suffix.upper()}"] == "napari-tiffzarr"
    assert table["*.scn"] == "napari-tiffzarr"
    assert "back as it was" in command("--undo")
    assert napari_table() == before
    assert "did not point at napari-tiffzarr" in command("--undo")


def test_ctrl_c_while_waiting_for_a_server_ends_quietly(tmp_path: Path) -> None:
    """Ctrl-C on a command blocked in a read: no traceback, the shell's status for it."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections and never answers
    port = listener.getsockname()[1]
    try:
        child = subprocess.Popen(
            [*COMMAND, "info", f"http://127.0.0.1:{port}/slide.tif"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        connected = threading.Event()

        def accept() -> None:
            connection, _ = listener.accept()
            connected.set()
            connection.recv(1024)  # the request, left unanswered

        threading.Thread(target=accept, daemon=True).start()
        assert connected.wait(120), "the command never asked the server"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        listener.close()
    assert child.returncode == EXIT_INTERRUPT
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    assert out == ""


@pytest.mark.viewer
def test_ctrl_c_ends_demo_quietly(tmp_path: Path) -> None:
    """``napari-tiffzarr demo FILE`` blocks in napari's event loop; Ctrl-C closes the
    window and returns without a traceback (a real viewer, on pytest-xvfb's display)."""
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, np.zeros((64, 64), np.uint8))
    child = subprocess.Popen(
        [*COMMAND, "demo", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        said: list[str] = []
        ready = threading.Event()

        def watch() -> None:  # the line the command prints once the window is up
            assert child.stderr is not None
            for line in child.stderr:
                said.append(line)
                if "napari is open" in line:
                    ready.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        assert ready.wait(300), "".join(said)
        child.send_signal(signal.SIGINT)
        assert child.wait(120) == EXIT_INTERRUPT
        watcher.join(60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    err = "".join(said)
    assert "Traceback" not in err, err
    assert "KeyboardInterrupt" not in err, err
