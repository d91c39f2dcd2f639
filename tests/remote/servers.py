"""Real XRootD and HTTP (nginx) servers on 127.0.0.1, started by the fixtures, stopped by PID.

The XRootD server refuses to run as root (CI runs as root), so it runs with ``-R nobody`` and
its folders are made readable (served files) or writable (admin, pid, log) by that user. The
served folder lives under ``/tmp`` because pytest's own temporary folders are private (0700).
Both fixtures skip with a reason where the binary is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "processing"))
from corrupt import make_sample

XROOTD = shutil.which("xrootd") or "/usr/bin/xrootd"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, proc: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"{what} exited ({proc.returncode}): {log.read_text()[-2000:] if log.exists() else ''}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"{what} did not listen on port {port} within 20 s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def served(nanoaod_dir) -> Path:
    """A world-readable folder under /tmp with the real samples and two generated files."""
    root = Path(tempfile.mkdtemp(prefix="hepml-remote-", dir="/tmp"))
    data = root / "data"
    data.mkdir()
    for f in nanoaod_dir.glob("*.root"):
        shutil.copy(f, data / f.name)
    make_sample(data / "gen_0.root", n=5000, seed=21)
    make_sample(data / "gen_1.root", n=5000, seed=22)
    for d in (root, data):
        d.chmod(0o755)
    for f in data.iterdir():
        f.chmod(0o644)
    yield data
    shutil.rmtree(root, ignore_errors=True)


def start_xrootd(served: Path) -> tuple[str, subprocess.Popen, Path]:
    """Start an XRootD server exporting ``/``; returns (``root://127.0.0.1:PORT/``, process, dir)."""
    if not Path(XROOTD).is_file():
        pytest.skip(f"xrootd server not installed ({XROOTD}); apt-get install xrootd-server")
    work = Path(tempfile.mkdtemp(prefix="hepml-xrootd-", dir="/tmp"))
    work.chmod(0o777)
    for sub in ("admin", "run", "logs"):
        (work / sub).mkdir()
        (work / sub).chmod(0o777)
    port = free_port()
    cfg = work / "xrootd.cfg"
    cfg.write_text(
        f"all.export /\nall.adminpath {work}/admin\nall.pidpath {work}/run\nxrd.port {port}\n"
    )
    cfg.chmod(0o644)
    log = work / "logs" / "xrootd.log"
    cmd = [XROOTD, "-c", str(cfg), "-l", str(log)]
    if os.geteuid() == 0:
        cmd += ["-R", "nobody"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(port, proc, log, "xrootd")
    return f"root://127.0.0.1:{port}/", proc, work


@pytest.fixture(scope="session")
def xrootd_url(served):
    """``root://127.0.0.1:PORT/`` of a session-wide XRootD server (stopped by PID at the end)."""
    url, proc, work = start_xrootd(served)
    yield url
    _stop(proc)
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def http_url(served):
    """``http://127.0.0.1:PORT/`` of nginx serving the served folder (Range requests)."""
    if not Path(NGINX).is_file():
        pytest.skip(f"nginx not installed ({NGINX}); apt-get install nginx")
    work = Path(tempfile.mkdtemp(prefix="hepml-nginx-", dir="/tmp"))
    work.chmod(0o777)
    port = free_port()
    conf = work / "nginx.conf"
    temp = "\n".join(
        f"  {k}_temp_path {work}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"daemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\nworker_processes 1;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log off;\n{temp}\n"
        f"  server {{ listen 127.0.0.1:{port}; root {served}; }}\n}}\n"
    )
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(port, proc, work / "error.log", "nginx")
    yield f"http://127.0.0.1:{port}/"
    _stop(proc)
    shutil.rmtree(work, ignore_errors=True)
