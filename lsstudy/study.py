"""The study grid: which models params.yaml asks for, training them, attacking them.

The notebooks of the pipeline call these functions; they hold no logic of their own.
"""

import hashlib
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from lsstudy import baselines, data, models, smoothing
from lsstudy import train as train_module
from lsstudy.attacks import TransferSource
from lsstudy.attacks import gradient as gradient_attacks
from lsstudy.diagnostics import point_diagnostics
from lsstudy.evaluate import evaluate
from lsstudy.train import predict, train

TRAIN_RECIPE_KEYS = ["epochs", "lr", "momentum", "batch_size", "val_fraction", "patience"]
# The code a checkpoint depends on: when it changes, reusing old checkpoints would be wrong.
TRAINING_CODE = [data, models, smoothing, train_module, baselines, gradient_attacks]


def training_code_digest() -> str:
    """SHA-256 of the source of the modules that shape a trained model."""
    digest = hashlib.sha256()
    for module in TRAINING_CODE:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class RunConfig:
    """One model of the grid."""

    dataset: str
    arch: str
    method: str
    alpha: float
    temperature: float
    seed: int

    def checkpoint(self, models_dir: str | Path) -> Path:
        name = f"{self.method}_alpha{self.alpha:g}_T{self.temperature:g}_seed{self.seed}.pt"
        return Path(models_dir) / self.dataset / self.arch / name


def grid(base: dict, train_params: dict) -> list[RunConfig]:
    """Every model of the study: per arch and seed, the unsmoothed baseline, each method over the
    alpha grid (BLS at ``temperature``), BLS over its temperature grid at ``bls_alpha``, and the
    defences of ``train.baselines`` (alpha 0; distillation at its temperature)."""
    runs: dict[RunConfig, None] = {}  # a dict keeps order and drops repeats
    for arch in train_params["archs"]:
        for seed in base["seeds"]:
            def add(method, alpha, temperature):
                runs[RunConfig(base["dataset"], arch, method, float(alpha), float(temperature), seed)] = None

            add("none", 0.0, train_params["temperature"])
            for method in train_params["methods"]:
                if method != "none":
                    for alpha in train_params["alphas"]:
                        add(method, alpha, train_params["temperature"])
            if "boltzmann" in train_params["methods"]:
                for temperature in train_params["bls_temperatures"]:
                    add("boltzmann", train_params["bls_alpha"], temperature)
            for baseline in train_params["baselines"]:
                add(baseline, 0.0, baseline_temperature(baseline, train_params))
    return list(runs)


def baseline_temperature(baseline: str, train_params: dict) -> float:
    """The temperature column of a baseline: distillation's T; the grid's temperature otherwise."""
    return train_params["distillation"]["temperature"] if baseline == "distillation" else train_params["temperature"]


def transfer_sources(base: dict, train_params: dict) -> list[RunConfig]:
    """Per arch, the source of the transfer attacks: an unsmoothed model trained with
    ``train.transfer_seed``, a seed no model of the grid uses, so it is independent of them all."""
    return [RunConfig(base["dataset"], arch, "none", 0.0, float(train_params["temperature"]), train_params["transfer_seed"])
            for arch in train_params["archs"]]


def _train_one(run: RunConfig, x: torch.Tensor, y: torch.Tensor, train_params: dict, settings: dict):
    """A trained model of ``run`` and its history."""
    model = models.build(run.arch, run.dataset, seed=run.seed)
    if run.method in baselines.BASELINES:
        teacher = models.build(run.arch, run.dataset, seed=run.seed) if run.method == "distillation" else None
        options = dict(train_params[run.method])
        if run.method == "distillation":
            options["lr"] = options["lr"][run.arch]
        history = baselines.train_baseline(run.method, model, teacher, x, y, settings, seed=run.seed, **options)
    else:
        # one progress bar for the grid: per-epoch bars would flood the executed notebook
        history = train(model, x, y, run.method, run.alpha, run.temperature, seed=run.seed, progress=False, **settings)
    return model, history


def load_split(base: dict, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """``split`` of the study's dataset; ``base.data_root`` is relative to the repository ``root``."""
    return data.load(base["dataset"], split, root=Path(root) / base["data_root"], download=base["download"])


def test_split(base: dict, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Points [test_offset, test_offset + test_size) of the test split (the paper's test slices)."""
    return data.load_test_slice(base["dataset"], base["test_offset"], base["test_size"],
                                root=Path(root) / base["data_root"], download=base["download"])


def train_grid(base: dict, train_params: dict, root: Path, progress: bool = True) -> pd.DataFrame:
    """Train every model of ``grid`` that has no checkpoint with the same recipe yet; return the
    training histories of all of them (one row per model and epoch).

    Reusing checkpoints is what lets a new alpha train only the new models; the recipe includes a
    digest of the training code, so a change to that code retrains everything. Checkpoints of models
    no longer in the grid are removed, so ``<root>/models`` always mirrors params.yaml.
    """
    runs = grid(base, train_params)
    sources = transfer_sources(base, train_params)
    models_dir = Path(root) / "models"
    settings = {k: train_params[k] for k in TRAIN_RECIPE_KEYS}
    code = training_code_digest()
    x, y = load_split(base, "train", root)
    x_test, y_test = test_split(base, root)
    histories = []
    for run in tqdm(runs + sources, desc="models", disable=not progress):
        path = run.checkpoint(models_dir)
        recipe = {**settings, **({run.method: train_params[run.method]} if run.method in baselines.BASELINES else {}),
                  "code": code}
        meta = models.load(path)[1] if path.exists() else {}
        if meta.get("recipe") == recipe:
            history = pd.DataFrame(meta["history"])
        else:
            model, history = _train_one(run, x, y, train_params, settings)
            clean = (predict(model, x_test).argmax(1) == y_test).float().mean().item()
            models.save(model, path, **asdict(run), recipe=recipe, clean_accuracy=clean, history=history.to_dict("list"))
        if run not in sources:
            histories.append(history.assign(**asdict(run)))
    wanted = {run.checkpoint(models_dir) for run in runs + sources}
    for stale in Path(models_dir).glob("**/*.pt"):
        if stale not in wanted:
            stale.unlink()
    return pd.concat(histories, ignore_index=True)


def attack_specs(attack_params: dict) -> tuple[list[dict], list[dict]]:
    """(bounded Linf attacks over the eps grid, minimum-norm attacks) as ``evaluate`` specs."""
    eps = attack_params["eps"]
    linf = []
    for loss in attack_params["protocols"]:
        linf.append({"attack": "fgsm", "eps": eps, "loss": loss})
        linf.append({"attack": "bim", "eps": eps, "loss": loss, "steps": attack_params["bim_steps"]})
    min_norm = [{"attack": "deepfool", **attack_params["deepfool"]}, {"attack": "cw_l2", **attack_params["cw_l2"]}]
    return linf, min_norm


def strong_specs(strong: dict, source: TransferSource) -> list[dict]:
    """The strong evaluation at each eps of ``attack.strong.eps``, as ``evaluate`` specs.

    Rows are named by attack and loss: pgd (ce, margin), pgd_more (ce, twice the steps: the
    convergence check), apgd (ce, dlr), square (margin, black box), transfer (ce, crafted on
    ``source``), and unbounded (PGD-CE at ``unbounded_eps``, where a working attack leaves ~0).
    """
    eps, pgd = strong["eps"], strong["pgd"]
    return [
        {"attack": "pgd", "eps": eps, "loss": "ce", **pgd},
        {"attack": "pgd", "eps": eps, "loss": "margin", **pgd},
        {"attack": "pgd", "name": "pgd_more", "eps": eps, "loss": "ce", "steps": 2 * pgd["steps"],
         "restarts": pgd["restarts"]},
        {"attack": "apgd", "eps": eps, "loss": "ce", "steps": strong["apgd_steps"]},
        {"attack": "apgd", "eps": eps, "loss": "dlr", "steps": strong["apgd_steps"]},
        {"attack": "square", "eps": eps, "queries": strong["square_queries"]},
        {"attack": "transfer", "eps": eps, "source": source},
        {"attack": "pgd", "name": "unbounded", "eps": [strong["unbounded_eps"]], "loss": "ce", **pgd},
    ]


def _attacked_smoothing(run: RunConfig) -> dict:
    """The loss the paper's protocol attacks: the model's own smoothed loss; plain cross-entropy for
    the baselines, as they are deployed."""
    if run.method in baselines.BASELINES:
        return {"method": "none", "alpha": 0.0, "temperature": 1.0}
    return {"method": run.method, "alpha": run.alpha, "temperature": run.temperature}


def attack_grid(base: dict, train_params: dict, attack_params: dict, root: Path, progress: bool = True) -> pd.DataFrame:
    """Attack every model of the grid; one tidy table with the model's settings on every row.

    The ``checkpoint`` column is the model file's path relative to the repository ``root``.
    """
    x, y = test_split(base, root)
    n_min_norm = attack_params["min_norm_size"]
    linf, min_norm = attack_specs(attack_params)
    strong = attack_params["strong"]
    sources = {}
    for source in transfer_sources(base, train_params):
        sources[source.arch] = TransferSource(models.load(source.checkpoint(Path(root) / "models"))[0],
                                              seed=source.seed, **strong["transfer"])
    tables = []
    for run in tqdm(grid(base, train_params), desc="attacked models", disable=not progress):
        path = run.checkpoint(Path(root) / "models")
        model = models.load(path)[0]
        kwargs = {"smoothing": _attacked_smoothing(run), "batch_size": attack_params["batch_size"], "seed": run.seed,
                  "progress": False}
        results = pd.concat([
            evaluate(model, x, y, linf + strong_specs(strong, sources[run.arch]), **kwargs),
            evaluate(model, x[:n_min_norm], y[:n_min_norm], min_norm, **kwargs).query("attack != 'clean'"),
        ])
        tables.append(results.assign(**asdict(run), checkpoint=os.path.relpath(path, root)))
    return _settings_first(pd.concat(tables, ignore_index=True))


def diagnose_grid(base: dict, train_params: dict, root: Path) -> pd.DataFrame:
    """``point_diagnostics`` of every model of the grid on the attacked test points, with the model's settings."""
    x, y = test_split(base, root)
    tables = []
    for run in grid(base, train_params):
        model = models.load(run.checkpoint(Path(root) / "models"))[0]
        tables.append(point_diagnostics(model, x, y).assign(**asdict(run)))
    return _settings_first(pd.concat(tables, ignore_index=True))


def _settings_first(table: pd.DataFrame) -> pd.DataFrame:
    front = [field.name for field in fields(RunConfig)]
    return table[front + [c for c in table.columns if c not in front]]
