"""roofline._io: files are complete or absent; progress is silent when not shown."""

import os

import pytest

from roofline._io import progress, write_atomic, write_text_atomic
from roofline.errors import RooflineError


def test_write_text_atomic_replaces_whole(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    assert write_text_atomic(path, "new\n") == path
    assert path.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "fig.png"
    path.write_bytes(b"old")

    def fail(handle):
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(RooflineError, match=r"fig.png: cannot write: No space left on device"):
        write_atomic(path, fail, binary=True)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["fig.png"]


def test_an_unwritable_place_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RooflineError, match=r"file/out.json: cannot write") as info:
        write_text_atomic(blocker / "out.json", "{}")
    assert "\n" not in str(info.value)


def test_progress_off_is_a_no_op(capsys):
    with progress(False, "sweep", 3) as advance:
        advance()
        advance(2, "done")
    assert capsys.readouterr() == ("", "")


def test_progress_on_counts_to_the_total():
    with progress(True, "sweep", 3) as advance:
        for _ in range(3):
            advance(1, "step")
    with progress(True, "crossover", None) as advance:  # unknown length: a spinner
        advance(0, "searching")
