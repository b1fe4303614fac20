"""What each candidate HTTP server does with each head of benchmarks/http_corpus.py.

Starts each candidate (the children of benchmarks/hostile_clients.py, whose app marks its
answers with ``X-Reached-App``) and sends every case on a fresh connection. A
cell is the refusal status (``400``), ``app`` when the request reached the app, ``app×2``
when the server saw two requests where the case holds one (the smuggling outcome), ``close``
when it closed without an answer and ``-`` when it answered nothing in 3 s (it took the
head and waits for a body that never comes). ``ours`` is
what the corpus expects of the exporter. Then each acceptable case again, followed at once
by FIN (a half-closed client). Candidates whose package is missing are skipped.

    python -m benchmarks.http_strictness                     # loop, h11loop
    /tmp/venv/bin/python -m benchmarks.http_strictness       # + hypercorn (pip install hypercorn)
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import socket
import subprocess
import sys
from pathlib import Path

from benchmarks.hostile_clients import wait_ready
from benchmarks.http_corpus import CORPUS, Case

CANDIDATES = {"loop": None, "h11loop": "h11", "hypercorn": "hypercorn"}


def outcome(port: int, case: Case, half_close: bool) -> str:
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(case.raw)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            while chunk := s.recv(65536):
                data += chunk
                s.settimeout(0.5)  # once answered, a server keeping the connection open is done
    except TimeoutError:
        if not data:
            return "-"
    except OSError:
        pass
    if not data:
        return "close"
    statuses = re.findall(rb"HTTP/1\.[01] (\d{3})", data)
    reached = data.lower().count(b"x-reached-app: 1")
    if reached:
        return "app" if reached == 1 else f"app×{reached}"
    return statuses[0].decode() if statuses else "junk"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    repo = Path(__file__).resolve().parent.parent
    columns: dict[str, list[str]] = {}
    notes: list[str] = []
    for name, module in CANDIDATES.items():
        if module is not None and importlib.util.find_spec(module) is None:
            print(f"skipping {name}: {module} is not installed", file=sys.stderr)
            continue
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.hostile_clients", "--child", name],
            stdout=subprocess.PIPE,
            text=True,
            cwd=repo,
        )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            wait_ready(port)
            columns[name] = [outcome(port, case, half_close=False) for case in CORPUS]
            fin = [outcome(port, case, half_close=True) for case in CORPUS if case.ours is None]
            answered = sum(1 for f in fin if f.startswith("app"))
            notes.append(f"{name}: answers {answered}/{len(fin)} acceptable requests sent with FIN at once")
        finally:
            proc.kill()
            proc.wait(timeout=10)
    names = list(columns)
    width = max(len(c.name) for c in CORPUS)
    print(f"| {'case':<{width}} | ours | " + " | ".join(names) + " |")
    print(f"|{'-' * (width + 2)}|------|" + "|".join("-" * (len(n) + 2) for n in names) + "|")
    for i, case in enumerate(CORPUS):
        ours = "app" if case.ours is None else str(case.ours)
        cells = " | ".join(f"{columns[n][i]:<{len(n)}}" for n in names)
        print(f"| {case.name:<{width}} | {ours:<4} | {cells} |")
    for n in names:
        agree = sum(
            1 for i, c in enumerate(CORPUS) if columns[n][i] == ("app" if c.ours is None else str(c.ours))
        )
        looser = sum(
            1 for i, c in enumerate(CORPUS) if c.ours is not None and columns[n][i].startswith("app")
        )
        print(
            f"{n}: as the corpus expects {agree}/{len(CORPUS)}; accepts {looser} heads the exporter refuses"
        )
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
