"""``proxybench new``: the packages it writes install without network and pass their own tests at once."""

from __future__ import annotations

import os
import site
import subprocess
import venv

import pytest

from proxybench import ProxybenchError
from proxybench.cli import main
from proxybench.cli.new import KINDS, package_files


def throwaway_python(folder) -> str:
    """A venv in ``folder`` that sees this environment's packages (proxybench, pytest, setuptools, pip) but
    installs into its own site-packages, so nothing it installs outlives the test."""
    venv.create(folder, with_pip=False)
    python = str(folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # a .pth line starting with "import" runs: addsitedir also runs the outer .pth files (editable installs)
    lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
    with open(os.path.join(purelib, "_outer_environment.pth"), "w") as pth:
        pth.write("\n".join(lines) + "\n")
    return python


def test_new_packages_install_offline_and_pass_their_own_tests(tmp_path, capsys):
    for kind in KINDS:
        assert main(["new", kind, f"scaffold-{kind}", "--dir", str(tmp_path / "src")]) == 0
    assert "pip install -e" in capsys.readouterr().out
    packages = [tmp_path / "src" / f"proxybench-scaffold-{kind}" for kind in KINDS]
    python = throwaway_python(tmp_path / "venv")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                              *sum((["-e", str(p)] for p in packages), [])],
                             capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    tests = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(str(p / "tests") for p in packages)],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert f"{2 * len(KINDS)} passed" in tests.stdout


def test_new_refuses_bad_names_taken_names_and_full_folders(tmp_path, capsys):
    with pytest.raises(ProxybenchError, match="lowercase words joined by dashes"):
        package_files("sampler", "My_Sampler")
    with pytest.raises(ProxybenchError, match="exists already"):
        package_files("sampler", "ecos")
    assert main(["new", "task", "twice", "--dir", str(tmp_path)]) == 0
    assert main(["new", "task", "twice", "--dir", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_new_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["new", "--help"])
    out = capsys.readouterr().out
    assert "proxybench new sampler my-sampler" in out and "pip install -e" in out and "--dir" in out
