"""Landlock confinement (proxybench.util.sandbox).

Every confinement happens in a child made with os.fork, so the test process itself stays unconfined:
Landlock, no-new-privs and non-dumpable cannot be undone. A forked child has one thread even when
pytest's process has several (torch, OpenBLAS), which is what confine() requires.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from proxybench.util import sandbox
from proxybench.util.errors import ProxybenchError
from proxybench.util.sandbox import Confinement, SandboxPolicy, confine, landlock_abi, runtime_read_paths

ABI = landlock_abi()
needs_landlock = pytest.mark.skipif(ABI == 0, reason=f"Landlock unavailable here ({sandbox._probe()[1]})")
needs_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc are Linux-only")


def in_child(fn, timeout: float = 60.0):
    """Run fn() in a forked child; its JSON-able return value, or {"error": ...} when it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(r)
        try:
            try:
                out = {"ok": fn()}
            except BaseException as e:  # noqa: B036 - everything must reach the parent
                out = {"error": f"{type(e).__name__}: {e}"}
            with os.fdopen(w, "wb") as f:
                f.write(json.dumps(out, default=str).encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    try:
        with os.fdopen(r, "rb") as f:
            while True:
                ready, _, _ = select.select([f], [], [], timeout)
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                    pytest.fail(f"the confined child did not answer within {timeout}s")
                chunk = os.read(f.fileno(), 65536)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.waitpid(pid, 0)
    out = json.loads(b"".join(chunks) or b'{"error": "the child died without answering"}')
    assert "error" not in out, out["error"]
    return out["ok"]


def attempt(fn) -> str:
    """'ok', or the name of the OSError fn raised (PermissionError is Landlock's EACCES/EPERM)."""
    try:
        fn()
    except OSError as e:
        return type(e).__name__
    return "ok"


def dumpable() -> int:
    return ctypes.CDLL(None, use_errno=True).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE


def proc_status(field: str) -> str:
    return next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))


def no_new_privs() -> str:
    return proc_status("NoNewPrivs")


def outside(path: Path, trees) -> bool:
    """True when path lies under none of the trees (so a denial there is the sandbox's doing)."""
    real = os.path.realpath(path)
    return not any(real == t or real.startswith(t.rstrip("/") + "/") for t in map(os.path.realpath, trees))


def create(path: Path):
    return lambda: path.open("w").close()


def test_abi_and_record_are_plain_data():
    assert isinstance(ABI, int) and ABI >= 0
    record = Confinement("none", "Landlock unavailable: ENOSYS").to_record()
    assert json.loads(json.dumps(record)) == {"mechanism": "none", "reason": "Landlock unavailable: ENOSYS", "unenforced": []}
    assert all(os.path.isabs(p) and os.path.exists(p) for p in runtime_read_paths())
    with pytest.raises(ProxybenchError, match="65536"):
        SandboxPolicy(tcp_connect=(65536,))
    with pytest.raises(ProxybenchError, match="tuple of paths"):
        SandboxPolicy(read="/usr")  # type: ignore[arg-type]


@needs_landlock
def test_writes_only_in_its_scratch_and_granted_file(tmp_path, tmp_path_factory):
    scratch, elsewhere = tmp_path / "scratch", tmp_path_factory.mktemp("elsewhere")
    scratch.mkdir()
    log = tmp_path_factory.mktemp("logs") / "run.log"
    log.write_text("start\n")
    read = runtime_read_paths()
    assert outside(elsewhere, read) and outside(log, read)

    def child():
        c = confine(SandboxPolicy(read=read, write=(str(scratch), str(log), str(tmp_path / "missing"))))
        (scratch / "made.txt").write_text("x")
        return {
            "record": json.dumps(c.to_record()),
            "scratch": (scratch / "made.txt").read_text(),
            "mkdir_scratch": attempt(lambda: (scratch / "sub").mkdir()),
            "create_elsewhere": attempt(create(elsewhere / "x.txt")),
            "mkdir_elsewhere": attempt(lambda: (elsewhere / "sub").mkdir()),
            "append_log": attempt(lambda: log.open("a").write("more\n")),  # a file rule: file rights only
            "create_beside_log": attempt(create(log.parent / "other.log")),
            "dumpable": dumpable(),
            "no_new_privs": no_new_privs(),
            "capabilities": [int(proc_status(f), 16) for f in ("CapEff", "CapPrm", "CapBnd", "CapAmb")],
        }

    out = in_child(child)
    assert json.loads(out["record"])["mechanism"] == f"landlock-abi{ABI}"
    assert out["scratch"] == "x" and out["mkdir_scratch"] == "ok" and out["append_log"] == "ok"
    assert out["create_elsewhere"] == out["mkdir_elsewhere"] == out["create_beside_log"] == "PermissionError"
    assert (out["dumpable"], out["no_new_privs"], out["capabilities"]) == (0, "1", [0, 0, 0, 0])
    assert not (elsewhere / "x.txt").exists() and log.read_text() == "start\nmore\n"


@needs_landlock
def test_cannot_read_outside_its_read_paths(tmp_path):
    scratch, secret = tmp_path / "scratch", tmp_path / "secret" / "key.txt"
    scratch.mkdir()
    secret.parent.mkdir()
    secret.write_text("hunter2")
    read = runtime_read_paths()
    assert outside(secret, read)

    def child():
        confine(SandboxPolicy(read=read, write=(str(scratch),)))
        return {
            "read_secret": attempt(secret.read_text),
            "list_parent": attempt(lambda: os.listdir(tmp_path)),
            "exists": secret.exists(),  # Landlock does not hide names: stat stays allowed
            "read_etc": attempt(Path("/etc/hostname" if Path("/etc/hostname").exists() else "/etc/passwd").read_text),
        }

    out = in_child(child)
    assert out == {"read_secret": "PermissionError", "list_parent": "PermissionError", "exists": True, "read_etc": "ok"}


@needs_landlock
def test_cannot_read_memory_environ_or_signal_of_a_sibling(tmp_path):
    env = dict(os.environ, PROXYBENCH_TEST_SECRET="s3cret")
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        def child():
            proc = f"/proc/{sibling.pid}"
            before = {"environ": attempt(lambda: open(f"{proc}/environ", "rb").read()),
                      "mem": attempt(lambda: open(f"{proc}/mem", "rb").close())}
            confine(SandboxPolicy(read=runtime_read_paths(), write=(str(tmp_path),)))
            return {
                "before": before,
                "environ": attempt(lambda: open(f"{proc}/environ", "rb").read()),
                "mem": attempt(lambda: open(f"{proc}/mem", "rb").close()),
                "parent_environ": attempt(lambda: open(f"/proc/{os.getppid()}/environ", "rb").read()),
                "status": attempt(lambda: open(f"{proc}/status").read()),
                "signal_sibling": attempt(lambda: os.kill(sibling.pid, 0)),
                "signal_parent": attempt(lambda: os.kill(os.getppid(), 0)),
            }

        out = in_child(child)
    finally:
        sibling.kill()
        sibling.wait()
    assert out["before"] == {"environ": "ok", "mem": "ok"}  # the control: only confinement stops it
    assert out["environ"] == out["mem"] == out["parent_environ"] == "PermissionError"
    assert out["status"] == "ok"
    if ABI >= 6:
        assert out["signal_sibling"] == out["signal_parent"] == "PermissionError"


@needs_landlock
@pytest.mark.skipif(ABI < 4, reason=f"Landlock TCP rules need ABI 4, this kernel has {ABI}")
def test_tcp_connect_and_bind_only_to_listed_ports(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]

        def child(allowed):
            def run():
                confine(SandboxPolicy(read=runtime_read_paths(), write=(str(tmp_path),), tcp_connect=allowed))

                def connect():
                    with socket.create_connection(("127.0.0.1", port), timeout=5):
                        pass

                def bind():
                    with socket.socket() as s:
                        s.bind(("127.0.0.1", 0))

                return {"connect": attempt(connect), "bind": attempt(bind)}
            return run

        assert in_child(child(())) == {"connect": "PermissionError", "bind": "PermissionError"}
        assert in_child(child((port,))) == {"connect": "ok", "bind": "PermissionError"}


@needs_landlock
def test_confined_python_still_imports_numpy(tmp_path):
    code = "import numpy as np; a = np.arange(12.0).reshape(3, 4); print(float((a @ a.T).trace()))"

    def child():
        confine(SandboxPolicy(read=runtime_read_paths(), write=(str(tmp_path),)))
        import numpy as np  # already loaded by the fork: computing must still work

        here = float(np.linalg.norm(np.ones(4)))
        fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        return {"here": here, "rc": fresh.returncode, "out": fresh.stdout.strip(), "err": fresh.stderr[-2000:]}

    out = in_child(child)
    assert out["here"] == 2.0
    assert (out["rc"], out["out"]) == (0, "506.0"), out["err"]


@needs_linux
def test_refuses_a_second_thread():
    def child():
        stop = threading.Event()
        t = threading.Thread(target=stop.wait)
        t.start()
        try:
            confine(SandboxPolicy(read=runtime_read_paths()))
        except ProxybenchError as e:
            return {"message": str(e), "no_new_privs": no_new_privs()}
        finally:
            stop.set()
            t.join()
        return {"message": "", "no_new_privs": no_new_privs()}

    out = in_child(child)
    assert "2 threads" in out["message"]
    assert out["no_new_privs"] == "0"  # refused before touching anything


@needs_linux
def test_without_landlock_still_hardens_and_says_why(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("visible")
    monkeypatch.setattr(sandbox, "_probe", lambda: (0, "Landlock unavailable: ENOSYS"))

    def child():
        c = confine(SandboxPolicy(read=("/usr",)))
        return {"record": c.to_record(), "read": secret.read_text(), "dumpable": dumpable(), "no_new_privs": no_new_privs(),
                "cap_eff": int(proc_status("CapEff"), 16)}

    out = in_child(child)
    assert out["record"]["mechanism"] == "none" and out["record"]["reason"] == "Landlock unavailable: ENOSYS"
    assert out["read"] == "visible"  # honestly unconfined
    assert (out["dumpable"], out["no_new_privs"], out["cap_eff"]) == (0, "1", 0)
