"""The command line answers at once: no torch, timm or faiss for --help or a bad input, one line, exit code 2.

Nothing here generates data or trains: a bad input must fail before either.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proxybench.cli import build_parser, main
from proxybench.plugins.datasets.digits import DigitsDomains

HEAVY = ("torch", "timm", "faiss")
REPO = Path(__file__).resolve().parent.parent


def _fresh_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter (nothing imported yet), with the test's environment."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={**os.environ, "PROXYBENCH_PROGRESS": "0"})


def _heavy_loaded(stdout: str) -> list[str]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_torch_timm_or_faiss():
    done = _fresh_python(f"""
        import json, sys
        import proxybench, proxybench.cli
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert done.returncode == 0, done.stderr
    assert _heavy_loaded(done.stdout) == []


def test_help_and_version_load_no_torch_timm_or_faiss():
    """Every command's --help (run's lists the plugins and client domains), and --version."""
    commands = [[], ["run"], ["device", "serve"], ["list"], ["datasets", "info"], ["plugins"], ["sweep"],
                ["leaderboard"], ["report"], ["compare"], ["audit"], ["new"]]
    done = _fresh_python(f"""
        import json, sys
        from proxybench.cli import main
        for command in {commands!r}:
            try:
                main([*command, "--help"])
            except SystemExit as exc:
                assert exc.code == 0, (command, exc.code)
        try:
            main(["--version"])
        except SystemExit as exc:
            assert exc.code == 0
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert done.returncode == 0, done.stderr
    assert "client domains of digits" in done.stdout and "proxybench 0." in done.stdout
    assert _heavy_loaded(done.stdout) == []


def test_the_console_script_help_imports_no_torch():
    """``proxybench --help`` as a user runs it; -X importtime lists every module the process imported."""
    script = Path(sys.executable).with_name("proxybench")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "proxybench.cli"]
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0 and "usage: proxybench" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "proxybench.cli" in imported and not imported & set(HEAVY)


def _battery(tmp: Path) -> list[tuple[list[str], str]]:
    a_file = tmp / "a-file"
    a_file.write_text("not a folder")
    return [
        (["--budget", "0"], "argument --budget: must be a positive integer, got '0'"),
        (["--budget", "-3"], "argument --budget: must be a positive integer, got '-3'"),
        (["--budget", "999999"], "budget 999999 is larger than the pool (at most 17000 images"),
        (["--sampler", "ecoss"], "unknown sampler 'ecoss' (did you mean 'ecos'?); known samplers: "),
        (["--task", "autolabl"], "unknown task 'autolabl' (did you mean 'autolabel'?); known tasks: "),
        (["--client-domain", "stret"], "unknown client domain 'stret' (did you mean 'street'?)"),
        (["--param", "epoch=3"], "unknown parameter 'epoch' (did you mean 'epochs'?). Known parameters: "),
        (["--cache-dir", str(a_file / "cache")], f"--cache-dir {a_file / 'cache'} cannot be created: {a_file} is a file"),
        (["--results-dir", str(a_file / "results")], f"--results-dir {a_file / 'results'} cannot be created"),
        (["--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    ]


CASES = ["budget-0", "budget-negative", "budget-over-pool", "sampler", "task", "client-domain", "param-typo",
         "cache-dir-under-file", "results-dir-under-file", "seed"]


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASES)
def test_a_bad_input_is_one_line_exit_2_no_record_and_no_data(case, tmp_path, capsys, monkeypatch):
    args, message = _battery(tmp_path)[case]
    monkeypatch.setattr(DigitsDomains, "generate", lambda self: pytest.fail("the dataset was generated"))
    monkeypatch.setattr(DigitsDomains, "load", lambda self, cache: pytest.fail("the dataset was loaded"))
    results = tmp_path / "results"
    assert main(["run", "--results-dir", str(results), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err, captured.err
    assert not results.exists() or not any(results.iterdir())


def test_the_bad_inputs_load_no_torch_timm_or_faiss(tmp_path):
    """The whole battery in one fresh interpreter: each case fails before any heavy import."""
    cases = [args for args, _ in _battery(tmp_path)]
    done = _fresh_python(f"""
        import json, sys
        from proxybench.cli import main
        codes = [main(["run", "--results-dir", {str(tmp_path / "results")!r}, *args]) for args in {cases!r}]
        assert codes == [2] * len(codes), codes
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    assert done.returncode == 0, done.stderr
    assert len(done.stderr.strip().splitlines()) == len(cases)
    assert _heavy_loaded(done.stdout) == []
    assert not (tmp_path / "results").exists()


def test_list_samplers_gives_kinds_parameters_and_numbers_as_written(capsys):
    assert main(["list", "samplers"]) == 0
    out = capsys.readouterr().out
    assert "\necos [private]: " in out and "\nrandom [client-free]: " in out and "\nherding [client-free]" in out
    assert "sigma: float = 7.071" in out and "7.0710678" not in out
    assert "    R: " in out and "candidates: uniform|nearest = uniform" in out
    assert main(["list", "weights"]) == 0
    out = capsys.readouterr().out
    assert "image_size: int = 32" in out and "side in pixels of the images phi is fed" in out
    assert main(["list", "datasets"]) == 0
    assert re.search(r"\n    train_per_domain: int = 6000 +training images per digit domain, public and private parts together\n",
                     capsys.readouterr().out)


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """A parser and every subcommand's parser below it."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return [parser, *(p for sub in subs for child in sub.choices.values() for p in _parsers(child))]


def test_every_help_shows_its_defaults_and_teaches():
    parser = build_parser()
    for command in _parsers(parser):
        formatter = command._get_formatter()
        assert isinstance(formatter, argparse.ArgumentDefaultsHelpFormatter), command.prog
        for action in command._actions:
            if action.option_strings and action.default not in (None, False, [], argparse.SUPPRESS):
                assert "default" in formatter._get_help_string(action), (command.prog, action.dest)
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {name: command.format_help() for name, command in sub.choices.items()}
    assert "(default: ecos)" in helps["run"] and "(default: 1000)" in helps["run"]
    assert "handwritten, printed, street, photo, thick" in helps["run"]
    assert "proxybench report --results" in helps["report"] and "proxybench leaderboard" not in helps["report"]
    assert "--cache-dir" in helps["audit"] and "--results-dir" in helps["audit"] and "1e-05" in helps["audit"]
    assert "--out" in helps["sweep"] and "96 runs" in helps["sweep"] and "about a minute" not in helps["sweep"]
    assert "{pipe,tcp}" in helps["run"] and "{local,dask}" in helps["sweep"]


def test_the_names_the_cli_spells_out_are_the_code_s():
    from proxybench.cli.audit import DEFAULT_DELTA
    from proxybench.cli.parsing import TRANSPORTS
    from proxybench.harness.options import TRANSPORTS as HARNESS_TRANSPORTS
    from proxybench.privacy.accounting import DEFAULT_DELTA as ACCOUNTING_DELTA

    assert TRANSPORTS == HARNESS_TRANSPORTS and DEFAULT_DELTA == ACCOUNTING_DELTA


def test_a_sweep_writes_its_leaderboard_under_the_results_never_beside_the_grid(tmp_path):
    from proxybench.cli.results import sweep_folders

    grid = tmp_path / "leaderboards" / "mine.toml"
    grid.parent.mkdir()
    grid.write_text('samplers = ["random"]\n')
    args = build_parser().parse_args(["sweep", str(grid)])
    results, out = sweep_folders(args)
    assert results == Path("results") / "mine" and out == results / "leaderboards" / "mine"
    args = build_parser().parse_args(["sweep", str(grid), "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "o")])
    assert sweep_folders(args) == (tmp_path / "r", tmp_path / "o")
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2


def test_audit_checks_before_it_audits(tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    assert main(["audit", "--sampler", "ecos", "--cache-dir", str(a_file / "c")]) == 2
    assert "--cache-dir" in capsys.readouterr().err
    assert main(["audit", "--sampler", "ecoss"]) == 2
    assert "did you mean 'ecos'" in capsys.readouterr().err
    assert main(["audit", "--sampler", "ecos", "--spec", "budget=999999"]) == 2
    assert "larger than the pool" in capsys.readouterr().err
