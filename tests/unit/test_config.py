"""Config validation: every bad key yields one line naming the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.config.schema import parse_duration
from exporter.config.settings import parse_config, parse_listen_address
from exporter.config.targets import load_targets
from exporter.errors import ConfigError
from exporter.secret import Secret

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
ROOT = Path(__file__).resolve().parents[2]
ENV = {"HUAWEICLOUD_SDK_AK": "AKTEST", "HUAWEICLOUD_SDK_SK": "sk-very-secret"}

# fixture file -> (key path the message must start with, a phrase saying what is expected)
BAD_CASES = {
    "missing_region": ("region:", "is required"),
    "bad_region": ("region:", "region id"),
    "unknown_top_key": ("regoin:", "unknown key"),
    "unknown_nested_key": ("monitoring.intervall:", "unknown key"),
    "bad_duration": ("monitoring.interval:", "duration such as"),
    "interval_too_short": ("monitoring.interval:", "at least 60s"),
    "window_too_short": ("monitoring.window:", "at least 3600s"),
    "bad_bool": ("http.tls_verify:", "true or false"),
    "bad_int": ("budget.max_concurrency:", "integer"),
    "bad_choice": ("auth.method:", "one of chain, aksk, token"),
    "bad_endpoint": ("endpoints.workspace:", "http:// or https://"),
    "unknown_api": ("budget.per_api.desktop_monitr:", "unknown API"),
    "bad_rate": ("budget.per_api.desktop_monitor:", "positive number"),
    "bad_listen": ("web.listen_address:", "HOST:PORT"),
    "section_not_mapping": ("monitoring:", "mapping"),
    "not_yaml": ("config:", "not valid YAML"),
    "top_level_list": ("config:", "top level must be a mapping"),
    "bad_tag_labels": ("inventory.tag_labels:", "list of strings"),
    "max_age_below_interval": ("monitoring.max_age:", "at least monitoring.interval"),
    "bad_extra_label": ("connections.extra_labels[0]:", "must be one of"),
    "missing_ca_file": ("http.ca_file:", "does not exist"),
    "token_without_user": ("auth.username:", "is required"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_invalid_config_names_the_key_and_the_fix(case: str) -> None:
    key, phrase = BAD_CASES[case]
    with pytest.raises(ConfigError) as exc:
        load_targets(FIXTURES / f"{case}.yaml", ENV)
    problems = exc.value.problems
    assert any(p.startswith(key) and phrase in p for p in problems), problems
    assert all("\n" not in p for p in problems)


def test_every_invalid_fixture_has_an_expectation() -> None:
    assert {p.stem for p in FIXTURES.glob("*.yaml")} == set(BAD_CASES)


def test_documented_example_config_is_valid() -> None:
    (settings,) = load_targets(ROOT / "config.yaml", ENV)
    cfg = settings.config
    assert cfg.region == "ap-southeast-1"
    assert cfg.endpoints.workspace == "https://workspace.ap-southeast-1.myhuaweicloud.com"
    assert cfg.monitoring.interval == 300
    assert cfg.web.listen_address == ":10187"


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"monitoring": {"interval": "1s", "window": "x"}, "bogus": 1}, ENV)
    keys = [p.split(":")[0] for p in exc.value.problems]
    assert {"bogus", "monitoring.interval", "monitoring.window", "region"} <= set(keys)


def test_sdk_environment_variables_fill_project_endpoint_and_credentials() -> None:
    env = {
        **ENV,
        "HUAWEICLOUD_SDK_PROJECT_ID": "proj-from-env",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN": "tok",
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": "http://127.0.0.1:9/",
        "HUAWEICLOUD_SDK_REGION_WORKSPACE_AP_SOUTHEAST_1": "http://127.0.0.1:8443",
    }
    s = parse_config({"region": "ap-southeast-1"}, env)
    assert s.config.project_id == "proj-from-env"
    assert s.config.endpoints.workspace == "http://127.0.0.1:8443"
    assert s.config.endpoints.iam == "http://127.0.0.1:9"
    assert s.credentials.ak == "AKTEST"
    assert s.credentials.sk.reveal() == "sk-very-secret"
    assert s.credentials.security_token.reveal() == "tok"


def test_explicit_endpoint_wins_over_environment_override() -> None:
    env = {**ENV, "HUAWEICLOUD_SDK_REGION_WORKSPACE_AP_SOUTHEAST_1": "http://127.0.0.1:1"}
    s = parse_config({"region": "ap-southeast-1", "endpoints": {"workspace": "https://proxy.local/"}}, env)
    assert s.config.endpoints.workspace == "https://proxy.local"


def test_credentials_are_read_from_files(tmp_path: Path) -> None:
    (tmp_path / "ak").write_text("AKFILE\n")
    (tmp_path / "sk").write_text("skfile\n")
    raw = {
        "region": "ap-southeast-1",
        "auth": {"ak_file": str(tmp_path / "ak"), "sk_file": str(tmp_path / "sk")},
    }
    s = parse_config(raw, {})
    assert s.credentials.ak == "AKFILE"
    assert s.credentials.sk.reveal() == "skfile"


def test_missing_credential_file_is_named(tmp_path: Path) -> None:
    raw = {
        "region": "ap-southeast-1",
        "auth": {"ak_file": str(tmp_path / "nope"), "sk_file": str(tmp_path / "x")},
    }
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, {})
    assert any(p.startswith("auth.ak_file: cannot read") for p in exc.value.problems)


def test_missing_credentials_say_which_variable_to_set() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"region": "ap-southeast-1", "auth": {"method": "aksk"}}, {})
    assert "auth: no access key: set HUAWEICLOUD_SDK_AK or auth.ak_file" in exc.value.problems


def test_token_auth_takes_the_password_from_the_environment() -> None:
    raw = {
        "region": "ap-southeast-1",
        "project_id": "p1",
        "auth": {"method": "token", "username": "u", "domain_name": "d"},
    }
    s = parse_config(raw, {"WORKSPACE_EXPORTER_IAM_PASSWORD": "pw-secret"})
    assert s.credentials.password.reveal() == "pw-secret"
    assert "pw-secret" not in repr(s)


def test_settings_repr_never_shows_secrets() -> None:
    s = parse_config({"region": "ap-southeast-1"}, ENV)
    assert "sk-very-secret" not in repr(s)
    assert "sk-very-secret" not in str(s.credentials)
    assert repr(Secret("x")) == "Secret('***')"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(300, 300.0), ("300", 300.0), ("5m", 300.0), ("1h", 3600.0), ("1.5s", 1.5), ("250ms", 0.25)],
)
def test_durations_accept_units(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-1s", True, None, "1w"])
def test_durations_reject_garbage(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("addr", "expected"),
    [(":10187", ("0.0.0.0", 10187)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9", ("::1", 9))],
)
def test_listen_addresses_parse(addr: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(addr) == expected


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_check_config_exits_0_for_a_valid_file() -> None:
    r = _cli("check-config", "--config.file", str(ROOT / "config.yaml"), env=ENV)
    assert r.returncode == 0, r.stderr
    assert "configuration is valid (1 target(s): ap-southeast-1)" in r.stdout


def test_check_config_exits_2_with_one_line_per_problem() -> None:
    r = _cli("check-config", "--config.file", str(FIXTURES / "bad_duration.yaml"), env=ENV)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines == [
        "workspace-exporter: invalid configuration: monitoring.interval: must be a duration such as 30s, "
        "5m or 1h (got 'five minutes')"
    ]


def test_run_with_invalid_config_exits_2_before_serving() -> None:
    r = _cli(
        "--config.file",
        str(FIXTURES / "unknown_top_key.yaml"),
        "--web.listen-address",
        "127.0.0.1:0",
        env=ENV,
    )
    assert r.returncode == 2
    assert "regoin: unknown key" in r.stderr


def test_help_explains_every_flag() -> None:
    r = _cli("run", "--help")
    assert r.returncode == 0
    for flag in ("--config.file", "--web.listen-address", "--web.config.file", "--log.level", "--log.format"):
        assert flag in r.stdout


# -- hostile values: every one a ConfigError naming the key, never a crash ----------------------

BASE = "region: ap-southeast-1\n"
HOSTILE_YAML = {
    "nan interval": (BASE + "monitoring: {interval: .nan}\n", "monitoring.interval:", "finite"),
    "inf refresh": (BASE + "auth: {token_refresh_before: .inf}\n", "auth.token_refresh_before:", "finite"),
    "nan budget": (
        BASE + "budget: {per_api: {desktop_monitor: .nan}}\n",
        "budget.per_api.desktop_monitor:",
        "",
    ),
    "inf budget": (
        BASE + "budget: {per_api: {desktop_monitor: .inf}}\n",
        "budget.per_api.desktop_monitor:",
        "",
    ),
    "huge budget": (
        BASE + f"budget: {{per_api: {{desktop_monitor: {'9' * 40}}}}}\n",
        "budget.per_api.",
        "up to",
    ),
    "400-digit burst": (BASE + f"budget: {{burst: {'9' * 400}}}\n", "budget.burst:", "400 characters"),
    "5000-digit burst": (BASE + f"budget: {{burst: {'9' * 5000}}}\n", "budget.burst:", "5000 characters"),
    "60-digit burst": (BASE + f"budget: {{burst: {'9' * 60}}}\n", "budget.burst:", "at most 1000"),
    "huge float": (BASE + "http: {read_timeout: 1.0e+400}\n", "http.read_timeout:", "finite"),
    "huge int duration": (
        BASE + f"http: {{read_timeout: {'9' * 60}}}\n",
        "http.read_timeout:",
        "at most 600s",
    ),
    "huge string duration": (
        BASE + f"http: {{read_timeout: '{'9' * 400}s'}}\n",
        "http.read_timeout:",
        "duration",
    ),
    "duplicate key": (BASE + "region: eu-west-101\n", "region:", "duplicate key"),
    "nested duplicate": (
        BASE + "monitoring:\n  interval: 5m\n  interval: 6m\n",
        "monitoring.interval:",
        "duplicate",
    ),
    "deep nesting": (BASE + "x: " + "[" * 3000 + "]" * 3000 + "\n", "x[0]", "nested deeper"),
    "recursive alias": (BASE + "x: &a [*a]\n", "config:", "alias refers"),
    "superscript port": (BASE + "web: {listen_address: ':²'}\n", "web.listen_address:", "HOST:PORT"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_YAML))
def test_hostile_values_are_config_errors_naming_the_key(case: str, tmp_path: Path) -> None:
    text, key, phrase = HOSTILE_YAML[case]
    path = tmp_path / "c.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as exc:
        load_targets(path, ENV)
    (problem,) = exc.value.problems
    assert problem.startswith(key) and phrase in problem, problem
    assert len(problem) < 300


def test_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    lines = [BASE, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("".join(lines), "utf-8")
    with pytest.raises(ConfigError) as exc:
        load_targets(path, ENV)
    assert exc.value.problems == [
        "config: aliases expand to more than 20000 YAML nodes (an alias bomb?); "
        "write the values out or use fewer aliases"
    ]


def test_a_few_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        BASE + "inventory: &inv {interval: 10m}\nmonitoring: {<<: *inv, interval: 15m, max_age: 30m}\n",
        "utf-8",
    )
    (settings,) = load_targets(path, ENV)
    cfg = settings.config
    assert (cfg.inventory.interval, cfg.monitoring.interval) == (600.0, 900.0)


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (BASE.encode("utf-16"), "is UTF-16 text"),
        (BASE.encode("utf-16-le"), "is UTF-16 text"),
        (b"region: ap-southeast-1\nproject_id: \xff\xfe\n", "is not UTF-8 text"),
        (b"region: ap-southeast-1\nproject_id: a\x00b\n", "not valid YAML"),
        (BASE.encode() + b"#" * 300_000, "larger than 256 KiB"),
    ],
)
def test_unreadable_bytes_are_one_line_errors(data: bytes, phrase: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as exc:
        load_targets(path, ENV)
    (problem,) = exc.value.problems
    assert problem.startswith("config: ") and phrase in problem, problem


def test_error_messages_quote_only_an_excerpt(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + f"monitoring: {{interval: '{'x' * 100_000}'}}\n", "utf-8")
    with pytest.raises(ConfigError) as exc:
        load_targets(path, ENV)
    (problem,) = exc.value.problems
    assert problem.startswith("monitoring.interval:") and len(problem) < 200


@pytest.mark.parametrize("value", ["²", "1e3", "-1", "x"])
def test_shard_index_from_the_environment_must_be_ascii_digits(value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"region": "ap-southeast-1"}, {**ENV, "WORKSPACE_EXPORTER_SHARD_INDEX": value})
    assert exc.value.problems[0].startswith("WORKSPACE_EXPORTER_SHARD_INDEX: must be a whole number")


CANARY = "CANARY-7f3a9c"


@pytest.mark.parametrize(
    ("variable", "value", "phrase"),
    [
        ("HUAWEICLOUD_SDK_SECURITY_TOKEN", f"{CANARY}\nrest", "control character at position 14"),
        ("HUAWEICLOUD_SDK_AK", f"{CANARY}\r\nX-Injected: 1", "control character"),
        ("HUAWEICLOUD_SDK_SK", f"{CANARY}\u00e9", "non-ASCII character"),
        ("HUAWEICLOUD_SDK_AK", "  \n", "is empty"),
    ],
)
def test_bad_credentials_name_the_variable_never_the_value(variable: str, value: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"region": "ap-southeast-1"}, {**ENV, variable: value})
    (problem,) = exc.value.problems
    assert problem.startswith(f"auth: environment variable {variable} ") and phrase in problem, problem
    assert CANARY not in str(exc.value)


def test_credentials_are_stripped_of_surrounding_whitespace() -> None:
    env = {**ENV, "HUAWEICLOUD_SDK_AK": " AKTEST\n", "HUAWEICLOUD_SDK_SECURITY_TOKEN": "tok-1\r\n"}
    creds = parse_config({"region": "ap-southeast-1"}, env).credentials
    assert (creds.ak, creds.security_token.reveal()) == ("AKTEST", "tok-1")


def test_iam_password_may_hold_spaces_and_non_ascii_but_no_control_characters() -> None:
    raw = {"region": "ap-southeast-1", "project_id": "p", "auth": {"method": "token", "username": "u"}}
    env = {"WORKSPACE_EXPORTER_IAM_DOMAIN": "d", "WORKSPACE_EXPORTER_IAM_PASSWORD": "pä ss\n"}
    assert parse_config(raw, env).credentials.password.reveal() == "pä ss"
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, {**env, "WORKSPACE_EXPORTER_IAM_PASSWORD": f"{CANARY}\x1b[2J"})
    assert "WORKSPACE_EXPORTER_IAM_PASSWORD holds a control character" in str(exc.value)
    assert CANARY not in str(exc.value)


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        ("utf-16", "is not UTF-8 text"),
        ("canary-newline", "control character"),
        ("whitespace", "is empty"),
        ("huge", "larger than 64 KiB"),
    ],
)
def test_bad_credential_files_name_the_key_never_the_value(data: str, phrase: str, tmp_path: Path) -> None:
    content = {
        "utf-16": CANARY.encode("utf-16"),
        "canary-newline": f"{CANARY}\nsecond line\n".encode(),
        "whitespace": b" \n\t\n",
        "huge": CANARY.encode() * 10_000,
    }[data]
    (tmp_path / "sk").write_bytes(content)
    raw = {"region": "ap-southeast-1", "auth": {"sk_file": str(tmp_path / "sk")}}
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, {"HUAWEICLOUD_SDK_AK": "AK"})
    (problem,) = exc.value.problems
    assert problem.startswith("auth.sk_file: file ") and phrase in problem, problem
    assert CANARY not in problem
