#!/usr/bin/env bash
# Packaging check: build the sdist and the wheel, install each into a fresh venv, and
# run the installed command: `--help`, then `demo` on free loopback ports, scraped once
# and stopped. Fails on a setuptools deprecation warning. Bounded: about a minute.
# Usage: .ci/check-wheel.sh  (PYTHON=... picks the interpreter, default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
work="$(mktemp -d)"
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "--- build sdist and wheel"
"$PY" -m venv "$work/build-env"
"$work/build-env/bin/pip" install -q build
"$work/build-env/bin/python" -m build --sdist --wheel --outdir "$work/dist" . >"$work/build.log" 2>&1 ||
  { cat "$work/build.log"; exit 1; }
if grep -Ei "SetuptoolsDeprecationWarning|license.*(deprecated|TOML table)" "$work/build.log"; then
  echo "setuptools warns about the package metadata (see above)" >&2
  exit 1
fi
ls "$work/dist"
"$PY" - "$work"/dist/*.whl <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    names = zf.namelist()
    meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
assert "License-Expression: Apache-2.0" in meta, "no SPDX License-Expression in the wheel metadata"
assert any(n.endswith("licenses/LICENSE") for n in names), "LICENSE is not in the wheel"
EOF

check() {  # $1 = artifact to install
  local name env out
  name="$(basename "$1")"
  env="$work/venv-${name%%.tar.gz}"
  echo "--- install $name into a fresh venv"
  "$PY" -m venv "$env"
  "$env/bin/pip" install -q "$1"
  "$env/bin/workspace-exporter" --help >/dev/null
  "$env/bin/workspace-exporter" demo --help | grep -q "login-failure-storm"
  out="$work/demo-$name.log"
  "$env/bin/workspace-exporter" demo --desktops 3 --web.listen-address 127.0.0.1:0 \
    --demo.dir "$work/demo-$name" >/dev/null 2>"$out" &
  demo_pid=$!
  "$env/bin/python" - "$out" <<'EOF'
import re, sys, time, urllib.request
log = sys.argv[1]
deadline = time.monotonic() + 30
url = None
while time.monotonic() < deadline and url is None:
    found = re.search(r"msg=serving .*url=(http://\S+/metrics)", open(log).read())
    url = found.group(1) if found else None
    time.sleep(0.2)
if url is None:
    sys.exit("demo did not start within 30 s:\n" + open(log).read())
while time.monotonic() < deadline:
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    if 'huaweicloud_workspace_up{source="inventory"} 1.0' in body:
        print(f"scraped {url}: {body.count(chr(10))} lines")
        sys.exit(0)
    time.sleep(0.5)
sys.exit("the demo's inventory never came up:\n" + open(log).read())
EOF
  kill "$demo_pid"
  wait "$demo_pid" || true
  demo_pid=""
}

check "$(ls "$work"/dist/*.whl)"
check "$(ls "$work"/dist/*.tar.gz)"
echo "--- wheel and sdist install and run"
