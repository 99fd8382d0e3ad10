"""RunRecords, determinism and the command line."""

from __future__ import annotations

import json

import pytest
import torch

from proxybench import ProxybenchError, RunSpec
from proxybench.cli import main
from proxybench.results.schema import REQUIRED_KEYS
from proxybench.run.resolved import ResolvedRun
from proxybench.run.runner import run

from .conftest import TINY_ARGS, TINY_RUN


def test_same_spec_and_seed_give_identical_selection_and_metrics(tmp_path):
    spec = RunSpec(sampler="ecos", client_domain="street", sampler_params={"R": 10}, **TINY_RUN)
    a, _ = run(spec, tmp_path / "a")
    torch.rand(13)  # whatever the process drew before must not matter
    b, _ = run(spec, tmp_path / "b")
    assert a["run_id"] == b["run_id"]
    assert a["selection"]["indices_hash"] == b["selection"]["indices_hash"]
    assert a["metrics"] == b["metrics"]  # includes the trained model's digest
    assert a["ledger"]["bytes_up"] == b["ledger"]["bytes_up"]
    assert a["privacy"] == b["privacy"]
    c, _ = run(RunSpec(sampler="ecos", client_domain="street", sampler_params={"R": 10},
                       **{**TINY_RUN, "seed": 1}), tmp_path / "c")
    assert c["selection"]["indices_hash"] != a["selection"]["indices_hash"]


def test_record_has_the_schema_keys(tmp_path):
    record, path = run(RunSpec(sampler="random", client_domain="thick", **TINY_RUN), tmp_path)
    on_disk = json.loads(path.read_text())
    assert set(REQUIRED_KEYS) <= set(on_disk)
    assert on_disk["schema"] == 1 and on_disk["status"] == "ok" and on_disk["error"] is None
    assert on_disk["non_default"] == {"sampler": [], "task": ["epochs", "k"],  # what tables name the run by
                                      "dataset": ["distractors", "test_per_domain", "train_per_domain"]}
    assert on_disk["privacy"]["epsilon_select"] == 0.0
    assert path.name == f"{record['run_id']}.json"
    for key in ("torch", "timm", "faiss", "python"):
        assert on_disk["environment"][key]


def test_spec_hash_ignores_spelled_out_defaults():
    assert RunSpec().run_id == RunSpec(sampler_params={"R": 100}).run_id
    assert RunSpec().run_id != RunSpec(sampler_params={"R": 50}).run_id


def test_failed_run_is_recorded(tmp_path):
    spec = RunSpec(sampler="oracle-domain", client_domain="street", **{**TINY_RUN, "budget": 5000})
    with pytest.raises(ProxybenchError, match="budget 5000"):
        run(spec, tmp_path)
    (path,) = tmp_path.glob("*.json")
    rec = json.loads(path.read_text())
    assert rec["status"] == "failed" and "budget 5000" in rec["error"] and rec["traceback"]
    assert rec["non_default"]["task"] == ["epochs", "k"]


def test_mixed_domain_client_run_records_its_shares(tmp_path):
    spec = RunSpec(sampler="oracle-domain", client_domain="street:0.7,photo:0.3", **TINY_RUN)
    record, _ = run(spec, tmp_path)
    sel = record["selection"]
    assert sel["client_domain_shares"]["street"] == pytest.approx(0.7, abs=0.05)
    assert sel["domain_shares"]["street"] == pytest.approx(0.7, abs=0.02)
    assert sel["domain_shares"]["photo"] == pytest.approx(0.3, abs=0.02)
    assert sel["in_domain_share"] == pytest.approx(1.0)
    with pytest.raises(ProxybenchError, match="sum to 1.1"):
        ResolvedRun.of(RunSpec(client_domain="street:0.8,photo:0.3", **TINY_RUN))


def test_cli_run_prints_summary_and_record_path(tmp_path, capsys):
    assert main(["run", "--sampler", "ecos", "--client-domain", "photo", "--param", "R=10", "--budget", "60",
                 "--results-dir", str(tmp_path), *TINY_ARGS]) == 0
    out = capsys.readouterr().out
    for needle in ("accuracy", "in-domain share", "bytes select", "device FLOPs", "epsilon", "RunRecord:"):
        assert needle in out
    assert len(list(tmp_path.glob("*.json"))) == 1


@pytest.mark.parametrize(
    "args,message",
    [
        (["--sampler", "ecoss"], "unknown sampler 'ecoss' (did you mean 'ecos'?)"),
        (["--task", "autolabl"], "did you mean 'autolabel'"),
        (["--budget", "0"], "argument --budget: must be a positive integer, got '0'"),
        (["--param", "nope=1"], "unknown parameter 'nope'"),
        (["--param", "R=abc"], "parameter ecos.R: 'abc' is not an integer"),
        (["--param", "sigma=1"], "belongs to several plugins"),
        (["--param", "R"], "--param expects key=value"),
        (["--weights", "imagenet"], "unknown weights 'imagenet'"),
        (["--client-domain", "letters", *TINY_ARGS], "unknown client domain 'letters'"),
        (["--budget", "100000", *TINY_ARGS], "budget 100000 is larger than the pool"),
    ],
)
def test_cli_errors_name_the_bad_value(args, message, capsys, tmp_path):
    assert main(["run", "--results-dir", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_list_and_help(capsys):
    assert main(["list", "samplers"]) == 0
    out = capsys.readouterr().out
    assert "ecos" in out and "oracle-domain" in out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_run_finished_hook_reaches_plugins(tmp_path):
    from proxybench import hookimpl
    from proxybench.contract.registry import registry

    seen = []

    class Logger:
        @hookimpl
        def proxybench_run_finished(self, record):
            seen.append(record["run_id"])

    registry().register(Logger(), name="logger")
    record, _ = run(RunSpec(sampler="random", client_domain="printed", **TINY_RUN), tmp_path)
    assert seen == [record["run_id"]]
