"""``workspace-exporter export-connections`` against the fake Workspace API over HTTP."""

from __future__ import annotations

import io
import math
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from exporter.cli import export_connections as export
from exporter.cli.main import build_parser, main
from exporter.clock import FakeClock
from exporter.fake import FAILURE_EXAMPLE
from exporter.timeutil import fmt_minutes
from tests.conftest import FakeApi

pytestmark = pytest.mark.integration


@pytest.fixture
def config_file(fake_api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in fake_api.env().items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(fake_api.config()))
    now = math.floor(fake_api.state.now())
    for i in range(6):
        fake_api.state.add_connection_record(
            connection_start_time=now - 600 + 60 * i,
            user_name="alice" if i % 2 else "bob",
            connection_failure_reason=FAILURE_EXAMPLE if i == 3 else "",
        )
    return path


def _run(config_file: Path, *argv: str) -> int:
    return main(["export-connections", "--config.file", str(config_file), *argv])


def _window(fake_api: FakeApi) -> list[str]:
    now = fake_api.state.now()
    return ["--start", fmt_minutes(now - 3600), "--end", fmt_minutes(now + 60)]


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _text(data: bytes) -> str:
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            data = zf.read("xl/worksheets/sheet1.xml")
    return data.decode()


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_the_sync_export_writes_exactly_the_bytes_the_api_served(
    fake_api: FakeApi, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    fake_api.state.configure(export_format=fmt)
    out = tmp_path / f"records.{fmt}"
    window = _window(fake_api)
    assert (
        _run(config_file, *window, "--user-name", "alice", "--language", "en_US", "--output", str(out)) == 0
    )
    expected = fake_api.state.exported_bytes(
        None, start_time=window[1], end_time=window[3], user_name="alice", language="en_US"
    )
    assert out.read_bytes() == expected
    text = _text(expected)
    assert text.count("alice") == 3 and "bob" not in text
    kind = "XLSX workbook (ZIP container)" if fmt == "xlsx" else "text/CSV"
    captured = capsys.readouterr()
    assert captured.out == f"wrote {len(expected)} bytes to {out} ({kind})\n"
    assert captured.err == ""
    call = fake_api.state.call_log[-1]
    assert call.api == "connections_export"
    assert call.query == {
        "start_time": window[1],
        "end_time": window[3],
        "user_name": "alice",
        "language": "en_US",
    }
    assert _files(tmp_path) == ["config.yaml", out.name]


def test_a_wrong_extension_is_warned_about_but_the_bytes_are_kept(
    fake_api: FakeApi, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "records.csv"
    assert _run(config_file, "--output", str(out)) == 0
    assert out.read_bytes().startswith(b"PK\x03\x04")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "records.csv has .csv but the export is XLSX workbook (ZIP container); consider .xlsx" in err


def test_the_async_export_polls_the_task_and_downloads_the_file(
    fake_api: FakeApi, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_api.state.configure(export_task_polls=3)
    out = tmp_path / "records.xlsx"
    window = _window(fake_api)
    rc = _run(
        config_file,
        "--async",
        *window,
        "--terminal-type",
        "W",
        "--poll-interval",
        "0.1s",
        "--output",
        str(out),
    )
    assert rc == 0
    downloads = [c for c in fake_api.state.call_log if c.api == "export_download"]
    assert len(downloads) == 1
    task_id = downloads[0].path.rsplit("/", 2)[-2]
    assert out.read_bytes() == fake_api.state.exported_bytes(task_id)
    assert fake_api.state.calls("export_tasks") == 4
    assert fake_api.state.calls("connections_export_v3") == 1
    created = next(c for c in fake_api.state.call_log if c.api == "connections_export_v3")
    assert created.query["start_time"].endswith(":00Z") and created.query["terminal_type"] == "W"
    captured = capsys.readouterr()
    assert captured.err.count(": CREATING,") == 3
    assert f"export task {task_id}: SUCCESS" in captured.err
    assert "server file name connection_records_" in captured.out


def test_a_failed_async_task_is_one_error_line_and_leaves_no_file(
    fake_api: FakeApi, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_api.state.configure(export_task_polls=0, export_task_outcome="FAIL")
    out = tmp_path / "records.xlsx"
    assert _run(config_file, "--async", "--output", str(out)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("ended FAIL: Failed to export the connection records. (WKS.00211401)")
    assert _files(tmp_path) == ["config.yaml"]


def test_the_async_wait_is_bounded(fake_api: FakeApi, config_file: Path, tmp_path: Path) -> None:
    fake_api.state.configure(export_task_polls=1000)
    out = tmp_path / "records.xlsx"
    args = build_parser().parse_args(
        [
            "export-connections",
            "--config.file",
            str(config_file),
            "--async",
            "--timeout",
            "1m",
            "--output",
            str(out),
        ]
    )
    stdout, stderr = io.StringIO(), io.StringIO()
    clock = FakeClock(time.time())  # the fake checks signature dates against real time
    assert export.run(args, clock, stdout, stderr) == 1
    assert stderr.getvalue().splitlines()[-1].endswith("still CREATING after 60s (--timeout)")
    assert fake_api.state.calls("export_tasks") == 13  # at 0, 5, ... 60 s
    assert _files(tmp_path) == ["config.yaml"]


def test_an_upstream_error_keeps_an_existing_file_untouched(
    fake_api: FakeApi, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "records.xlsx"
    out.write_bytes(b"previous export")
    fake_api.state.fail("connections_export", status=403, error_code="WKS.00081102")
    assert _run(config_file, "--output", str(out)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "status=403 error_code=WKS.00081102" in err
    assert out.read_bytes() == b"previous export"
    assert _files(tmp_path) == ["config.yaml", "records.xlsx"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--start", "2027-01-10T08:00Z"],
        ["--end", "2027-01-10T08:00Z"],
        ["--start", "yesterday", "--end", "2027-01-10T08:00Z"],
        ["--start", "2027-01-10T08:00Z", "--end", "2027-01-10T07:00Z"],
        ["--async", "--start", "2020-01-01T00:00Z", "--end", "2020-01-02T00:00Z"],
        ["--user-name", ""],
        ["--timeout", "forever"],
    ],
)
def test_each_bad_argument_is_one_line_exit_2_and_no_call(
    fake_api: FakeApi, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    out = tmp_path / "records.xlsx"
    assert _run(config_file, *argv, "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("workspace-exporter export-connections: ")
    assert fake_api.state.calls() == 0
    assert _files(tmp_path) == ["config.yaml"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [([], "the following arguments are required: --output"), (["--language", "fr_FR"], "invalid choice")],
)
def test_argparse_errors_are_one_line_and_exit_2(
    fake_api: FakeApi,
    config_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    extra = ["--output", str(tmp_path / "x.csv")] if argv else []
    with pytest.raises(SystemExit) as e:
        _run(config_file, *argv, *extra)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("workspace-exporter export-connections: ")
    assert message in err
    assert fake_api.state.calls() == 0


def test_a_bad_config_is_exit_2(
    fake_api: FakeApi, config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("region: nowhere\n")
    assert main(["export-connections", "--config.file", str(bad), "--output", str(tmp_path / "x.csv")]) == 2
    assert "invalid configuration: region" in capsys.readouterr().err
    assert fake_api.state.calls() == 0
