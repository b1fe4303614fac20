"""Certificates for tests, made with the openssl command: a CA, server and client certificates."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _run(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _key_and_csr(d: Path, name: str, cn: str) -> tuple[Path, Path]:
    key, csr = d / f"{name}.key", d / f"{name}.csr"
    _run(
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(csr)),
    )
    return key, csr


def ca(d: Path, name: str = "ca") -> tuple[Path, Path]:
    crt, key = d / f"{name}.crt", d / f"{name}.key"
    _run(
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-days", "2", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(crt)),
    )
    return crt, key


def signed(d: Path, name: str, authority: tuple[Path, Path], san: str, cn: str = "x") -> tuple[Path, Path]:
    """A certificate for ``san`` (``IP:127.0.0.1``, ``DNS:prometheus``) signed by ``authority``."""
    key, csr = _key_and_csr(d, name, cn)
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n")
    crt = d / f"{name}.crt"
    _run(
        *("x509", "-req", "-in", str(csr), "-CA", str(authority[0]), "-CAkey", str(authority[1])),
        *("-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt)),
    )
    return crt, key
