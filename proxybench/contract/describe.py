"""Third-party plugin modules run here, in a confined process of their own, never in the harness.

The harness (the process of ``proxybench run``, ``sweep`` or ``audit``) holds every row and
the ground truth; a module imported there could reach them. So the registry of such a process
asks this helper (``python -m proxybench.contract.describe``, a fresh interpreter with a clean
environment) to import the installed third-party entry points and describe what they provide;
the answer crosses as JSON. The helper confines itself before it imports anything of the
plugins: it reads installed code, writes only a scratch folder, reaches no network and no other
process. Hooks that see finished records (``proxybench_run_finished``) run here too, after the
run, with the record alone; they may write and reach the network (exporters do), but the
Landlock domain still keeps them out of every other process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..util.errors import ProxybenchError

#: how long the helper may take to import every third-party plugin (they may import torch)
TIMEOUT_S = 300


@dataclass(frozen=True)
class Described:
    """The helper's answer: each third-party entry point's descriptions, kinds, hooks and failures."""

    plugins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # entry point -> description messages
    provides: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # entry point -> kind -> names
    run_finished: tuple[str, ...] = ()  # entry points with a proxybench_run_finished hook
    failures: tuple[tuple[str, str, str], ...] = ()  # (entry point, distribution, error)
    sandbox: dict[str, Any] = field(default_factory=dict)


def _helper(op: str, payload: dict[str, Any], capture: bool) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="proxybench-plugins-") as scratch:
        env = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": scratch, "TMPDIR": scratch, "OMP_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
               **{k: v for k, v in os.environ.items() if k == "PROXYBENCH_STRICT_PLUGINS"}}
        request = json.dumps({"op": op, "sys_path": [p for p in sys.path if p], "scratch": scratch, **payload})
        try:
            return subprocess.run([sys.executable, "-m", __name__], input=request, text=True, env=env,
                                  capture_output=capture, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise ProxybenchError(f"describing the third-party plugins took over {TIMEOUT_S} s") from None


def describe_third_party() -> Described:
    """Import the third-party plugins in the confined helper; what they provide, as descriptions."""
    done = _helper("describe", {}, capture=True)
    if done.returncode != 0 or not done.stdout.strip():
        tail = (done.stderr or "").strip().splitlines()[-3:]
        raise ProxybenchError("the process that reads third-party plugins failed: " + " / ".join(tail))
    sys.stderr.write(done.stderr)  # the registry's own "skipping plugin" lines
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return Described(out["plugins"], out["provides"], tuple(out["run_finished"]),
                     tuple(tuple(f) for f in out["failures"]), out["sandbox"])


def run_finished_outside(record: dict[str, Any], entry_points: tuple[str, ...]) -> None:
    """Call the third-party ``proxybench_run_finished`` hooks in the helper, with the finished record only."""
    done = _helper("run_finished", {"record": record, "entry_points": list(entry_points)}, capture=False)
    if done.returncode != 0:
        print(f"proxybench: a run_finished hook failed (exit {done.returncode})", file=sys.stderr)


def _confine(op: str, scratch: str) -> dict[str, Any]:
    from ..util.sandbox import SandboxPolicy, confine, runtime_read_paths

    if op == "describe":  # reads installed code, writes its scratch only, no network
        policy = SandboxPolicy(read=runtime_read_paths(other_processes=False), write=(scratch,))
    else:  # exporters write and reach the network; the domain still scopes ptrace and signals
        policy = SandboxPolicy(write=("/",), tcp_open=True)
    try:
        return confine(policy).to_record()
    except ProxybenchError as exc:
        return {"mechanism": "none", "reason": str(exc)}


def _describe() -> dict[str, Any]:
    from .described import describe
    from .registry import Registry, base_class

    reg = Registry(imports_third_party=True)
    reg.discover(builtins=False)
    reg.load_pending()
    plugins, provides, hooks = {}, {}, []
    for loaded in reg.loaded:
        provides[loaded.name] = loaded.provides
        plugins[loaded.name] = [describe(reg.get(kind, name), kind, reg.provider(kind, name),
                                         base_class(kind)).to_message()
                                for kind, names in loaded.provides.items() if kind in ("sampler", "task")
                                for name in names]
        if reg.pm.get_plugin(loaded.name) is not None and hasattr(reg.pm.get_plugin(loaded.name),
                                                                    "proxybench_run_finished"):
            hooks.append(loaded.name)
    return {"plugins": plugins, "provides": provides, "run_finished": hooks,
            "failures": [[f.name, f.distribution, f.error] for f in reg.failures]}


def _run_finished(record: dict[str, Any], entry_points: list[str]) -> None:
    from .registry import Registry

    reg = Registry(imports_third_party=True)
    reg.discover(builtins=False)
    reg.load_pending(lambda ep: ep.name in entry_points)
    reg.pm.hook.proxybench_run_finished(record=record)


def main() -> None:
    request = json.loads(sys.stdin.read())
    sys.path[:0] = [p for p in request["sys_path"] if p not in sys.path]  # readable once confined
    sandbox = _confine(request["op"], request["scratch"])  # before any plugin (or numpy) is imported
    if request["op"] == "describe":
        print(json.dumps({**_describe(), "sandbox": sandbox}))
    else:
        _run_finished(request["record"], request["entry_points"])


if __name__ == "__main__":
    main()
