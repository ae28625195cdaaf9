"""The run folder's files are whole or absent (runner/report/tables.py)."""

import errno

import pytest

from runner.errors import LoggingFailed, WriteFailed
from runner.report.tables import write_whole


def test_a_file_is_renamed_into_place_only_once_it_is_all_written(tmp_path):
    path = tmp_path / "predictions.parquet"
    path.write_bytes(b"the last run's, whole")

    def half_then_full_disk(fh):
        fh.write(b"half a table")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteFailed) as e:
        write_whole(path, half_then_full_disk)
    assert str(e.value) == (
        f"the run folder could not be written: {path}: No space left on device; free space "
        "there (or run elsewhere: hydra.run.dir=PATH) and run the same command again. "
        "Nothing was logged to MLflow")
    assert isinstance(e.value, LoggingFailed)  # the command line's one line, exit code 3
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.parquet"]  # no part left
    assert path.read_bytes() == b"the last run's, whole"
    write_whole(path, lambda fh: fh.write(b"new"))
    assert path.read_bytes() == b"new" and len(list(tmp_path.iterdir())) == 1


def test_two_writers_of_one_file_at_once_both_finish(tmp_path):
    """CI: two commands started in the same second shared a run folder; one's rename took the
    other's part file (one name for every writer) and it failed with 'No such file or
    directory' and the advice to free space."""
    path = tmp_path / "seeds.parquet"

    def first(fh):
        fh.write(b"first")
        write_whole(path, lambda g: g.write(b"second"))  # the other writer, meanwhile

    write_whole(path, first)
    assert path.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_only_a_full_disk_is_told_to_free_space(tmp_path):
    def denied(fh):
        raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(WriteFailed) as e:
        write_whole(tmp_path / "x.parquet", denied)
    assert "Permission denied; make it writable (or run elsewhere" in str(e.value)
    assert "free space" not in str(e.value)
