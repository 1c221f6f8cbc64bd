"""The models a study asks for: its grid of (arch, method, alpha, temperature, seed), from params.yaml."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunConfig:
    """One model of the grid."""

    dataset: str
    arch: str
    method: str
    alpha: float
    temperature: float
    seed: int

    @property
    def name(self) -> str:
        return f"{self.method}_alpha{self.alpha:g}_T{self.temperature:g}_seed{self.seed}"

    def checkpoint(self, models_dir: str | Path) -> Path:
        """<models_dir>/<arch>/<name>.pt (models_dir is models/<study>)."""
        return Path(models_dir) / self.arch / f"{self.name}.pt"

    def label(self, study: str) -> str:
        """How progress and error messages name the model."""
        return f"{study}/{self.arch}/{self.name}"


def baseline_temperature(baseline: str, train: dict) -> float:
    """The temperature column of a baseline: distillation's T; the grid's temperature otherwise."""
    return train["distillation"]["temperature"] if baseline == "distillation" else train["temperature"]


def grid(base: dict, train: dict) -> list[RunConfig]:
    """Every model of the study: per arch and seed, the unsmoothed model, each method over the alpha grid
    (BLS at ``temperature``), BLS over its temperature grid at ``bls_alpha``, and the defences of
    ``train.baselines`` (alpha 0; distillation at its temperature)."""
    runs: dict[RunConfig, None] = {}  # a dict keeps order and drops repeats
    for arch in train["archs"]:
        for seed in base["seeds"]:
            def add(method, alpha, temperature):
                runs[RunConfig(base["dataset"], arch, method, float(alpha), float(temperature), seed)] = None

            add("none", 0.0, train["temperature"])
            for method in train["methods"]:
                if method != "none":
                    for alpha in train["alphas"]:
                        add(method, alpha, train["temperature"])
            if "boltzmann" in train["methods"]:
                for temperature in train["bls_temperatures"]:
                    add("boltzmann", train["bls_alpha"], temperature)
            for baseline in train["baselines"]:
                add(baseline, 0.0, baseline_temperature(baseline, train))
    return list(runs)


def transfer_sources(base: dict, train: dict) -> list[RunConfig]:
    """Per arch, the source of the transfer attacks: an unsmoothed model trained with ``train.transfer_seed``,
    a seed no model of the grid uses, so it is independent of them all."""
    return [RunConfig(base["dataset"], arch, "none", 0.0, float(train["temperature"]), train["transfer_seed"])
            for arch in train["archs"]]


# Rough relative cost of a model's unit of work (training or attacks), so that the engine starts the longest
# first: a worker left alone at the end with a long unit leaves the others idle (longest-first scheduling).
ARCH_COST = {"linear": 1, "mlp": 3, "lenet": 10, "resnet18": 100}
METHOD_COST = {"pgd_training": 5, "distillation": 2}  # PGD steps in every batch; a teacher, then the student


def longest_first(runs: list[RunConfig]) -> list[RunConfig]:
    """``runs`` ordered by ``ARCH_COST`` x ``METHOD_COST``, largest first (ties keep their order)."""
    return sorted(runs, key=lambda run: -ARCH_COST.get(run.arch, 10) * METHOD_COST.get(run.method, 1))
