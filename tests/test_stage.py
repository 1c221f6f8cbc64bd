"""The stage runner stops before any work on bad parameters or absent data, with one message."""

from pathlib import Path

import yaml

from lsstudy.params import apply_overrides, load_params
from lsstudy.stage import main

ROOT = Path(__file__).resolve().parents[1]


def write_params(folder: Path, overrides: dict) -> None:
    params = apply_overrides(load_params(ROOT / "params.yaml"), overrides)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))


def test_absent_paper_scale_data_stops_the_first_stage_with_the_files_expected(tmp_path, monkeypatch, capsys):
    paper_mnist = load_params(ROOT / "params-paper.yaml")["mnist"]
    write_params(tmp_path, paper_mnist)
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 2
    message = capsys.readouterr().err
    assert "dataset 'mnist'" in message and "train-images-idx3-ubyte" in message and "base.download" in message
    assert not (tmp_path / "reports").exists()  # stopped before papermill wrote anything


def test_bad_value_stops_within_the_runner(tmp_path, monkeypatch, capsys):
    write_params(tmp_path, {"attack": {"eps": [0.1, -1]}})
    monkeypatch.chdir(tmp_path)
    assert main(["attack"]) == 2
    assert "attack.eps[1]=-1 is not allowed" in capsys.readouterr().err
