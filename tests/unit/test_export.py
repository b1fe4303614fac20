"""export-connections without the network: argument validation, kind detection, atomic writes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from exporter.cli import export_connections as export
from exporter.cli.main import build_parser

NOW = 1_800_000_000.0  # 2027-01-15T08:00Z


def _args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["export-connections", "--output", str(tmp_path / "out.xlsx"), *extra])


def test_valid_arguments_become_the_documented_query_parameters(tmp_path: Path) -> None:
    args = _args(
        tmp_path,
        "--start",
        "2027-01-10T08:00Z",
        "--end",
        "2027-01-11T09:30:15Z",
        "--user-name",
        "alice",
        "--terminal-type",
        "WI",
        "--language",
        "zh_CN",
    )
    opts = export.validate(args, NOW)
    assert opts.params() == {
        "start_time": "2027-01-10T08:00Z",
        "end_time": "2027-01-11T09:30Z",
        "user_name": "alice",
        "terminal_type": "WI",
        "language": "zh_CN",
    }
    assert (opts.timeout, opts.poll_interval, opts.asynchronous) == (600.0, 5.0, False)


def test_the_async_export_sends_second_precision_times(tmp_path: Path) -> None:
    args = _args(tmp_path, "--async", "--start", "2027-01-10T08:00Z", "--end", "2027-01-11T09:30:15Z")
    assert export.validate(args, NOW).params() == {
        "start_time": "2027-01-10T08:00:00Z",
        "end_time": "2027-01-11T09:30:15Z",
    }


def test_without_a_window_no_times_are_sent(tmp_path: Path) -> None:
    assert export.validate(_args(tmp_path), NOW).params() == {}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2027-01-10T08:00Z"], "--start and --end must be given together"),
        (["--end", "2027-01-10T08:00Z"], "--start and --end must be given together"),
        (["--start", "2027-01-10 08:00", "--end", "2027-01-11T08:00Z"], "--start: must be a UTC time"),
        (["--start", "2027-01-10T08:00Z", "--end", "2027-01-11T08:00"], "--end: must be a UTC time"),
        (["--start", "2027-13-10T08:00Z", "--end", "2027-01-11T08:00Z"], "--start: not a valid date"),
        (["--start", "2027-02-29T08:00Z", "--end", "2027-03-11T08:00Z"], "--start: not a valid date"),
        (["--start", "1999-01-10T08:00Z", "--end", "2027-01-11T08:00Z"], "--start: not a valid date"),
        (["--start", "2027-01-10T08:00Z", "--end", "2100-01-01T00:00Z"], "--end: not a valid date"),
        (["--start", "2027-01-10T08:00Z", "--end", "2027-01-09T08:00Z"], "--end must be after --start"),
        (["--start", "2027-01-10T08:00Z", "--end", "2027-01-10T08:00Z"], "--end must be after --start"),
        (
            ["--async", "--start", "2026-12-01T08:00Z", "--end", "2027-01-11T08:00Z"],
            "--start: the --async export covers only the last 30 days",
        ),
        (  # exactly 30 days old when checked: older than 30 days by the time it arrives
            ["--async", "--start", "2026-12-16T08:00Z", "--end", "2027-01-11T08:00Z"],
            "--start: the --async export covers only the last 30 days (earliest 2026-12-16T08:01Z)",
        ),
        (
            ["--async", "--start", "2027-01-15T08:00:01Z", "--end", "2027-01-16T08:00Z"],
            "--start: the --async export needs a start in the past",
        ),
        (["--user-name", " "], "--user-name: must not be empty"),
        (["--computer-name", ""], "--computer-name: must not be empty"),
        (["--terminal-type", ""], "--terminal-type: must not be empty"),
        (["--timeout", "soon"], "--timeout: must be a duration"),
        (["--timeout", "0s"], "--timeout: must be between"),
        (["--poll-interval", "5m"], "--poll-interval: must be between"),
    ],
)
def test_each_bad_argument_is_one_clear_problem(tmp_path: Path, extra: list[str], message: str) -> None:
    with pytest.raises(export.ArgumentProblem) as e:
        export.validate(_args(tmp_path, *extra), NOW)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


def test_the_async_export_sends_an_end_in_the_future_as_now(tmp_path: Path) -> None:
    """The v3 export takes times within the last 30 days only: a later end is sent as now
    (no record is newer), a start a minute inside the 30 days as it is."""
    args = _args(tmp_path, "--async", "--start", "2026-12-16T08:01Z", "--end", "2027-02-01T00:00Z")
    assert export.validate(args, NOW).params() == {
        "start_time": "2026-12-16T08:01:00Z",
        "end_time": "2027-01-15T08:00:00Z",
    }


def test_the_30_day_limit_applies_only_to_the_async_export(tmp_path: Path) -> None:
    window = ["--start", "2026-12-01T08:00Z", "--end", "2027-01-11T08:00Z"]
    assert export.validate(_args(tmp_path, *window), NOW).start is not None


def test_the_output_must_be_a_file_in_an_existing_directory(tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["export-connections", "--output", str(tmp_path / "missing" / "x.csv")])
    with pytest.raises(export.ArgumentProblem, match="does not exist"):
        export.validate(args, NOW)
    args = parser.parse_args(["export-connections", "--output", str(tmp_path)])
    with pytest.raises(export.ArgumentProblem, match="not a directory"):
        export.validate(args, NOW)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"PK\x03\x04\x14\x00rest", "xlsx"),
        (b"PK\x05\x06" + b"\x00" * 18, "xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "xls"),
        (b"computer_name,user_name\r\nws-1,alice\r\n", "csv"),
        ("\ufeff计算机名,用户名\r\n".encode(), "csv"),
        ("计算机名,用户名\r\n".encode("gbk"), "csv"),
        (b'{"error_code": "WKS.0001"}', "json"),
        (b"\x00\x01\x02binary", "binary"),
        (b"", "empty"),
    ],
)
def test_the_kind_is_detected_from_the_first_bytes(data: bytes, kind: str) -> None:
    assert export.detect_kind(data) == kind


def test_a_mismatched_extension_is_warned_about() -> None:
    assert export.extension_warning(Path("out.xlsx"), "xlsx") is None
    assert export.extension_warning(Path("out.ZIP"), "xlsx") is None
    assert export.extension_warning(Path("out.csv"), "csv") is None
    assert export.extension_warning(Path("out.bin"), "binary") is None
    warning = export.extension_warning(Path("out.csv"), "xlsx")
    assert warning is not None and "out.csv" in warning and ".xlsx" in warning
    warning = export.extension_warning(Path("records"), "csv")
    assert warning is not None and "no extension" in warning


def test_an_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")
    export.write_atomically(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        export.write_atomically(target, b"new bytes")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
