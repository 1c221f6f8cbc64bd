"""The binarization test (Zimmermann et al., 'Increasing Confidence in Adversarial Robustness Evaluations', NeurIPS
2022, https://arxiv.org/abs/2206.13991) on the default study's confirmed models.

    python benchmarks/binarization_test.py [--run .] [--study mnist5k] [--eps 0.1] [--seeds 2 3] [--points 50]
                                           [--samples 200] [--quick]

An attack that reports a point robust may have failed to find an adversarial example that exists. The test builds,
per test point x, a problem where one provably exists: it keeps the model's features (the input of its last linear
layer) and replaces its head with a two-class linear readout, trained on the features of x and of ``--samples``
points drawn uniformly within eps / 2 of x (class 0, "clean") and of one corner of the eps ball around x (class 1,
"adversarial"). When the readout separates them (otherwise the point is left out), the corner is an adversarial
example of the binarized model within eps; the attack, run on the binarized model from x with the study's budget,
passes on x if it finds one. The test's score is the share of points where the attack passes: well below 1 says
the attack cannot get through this model's features, whatever it reports on the original one. Run here with the
strong evaluation's PGD on cross-entropy and on the margin (``attack.strong.pgd``); on an affine model (the
linear arch) the binarized model is affine too and both must pass everywhere, the test's own check.

The readout is trained by hand (full-batch L-BFGS on a class-weighted logistic loss): scikit-learn is not a
dependency, and a few hundred points of one feature vector each need nothing more. The features are read through
a forward hook, so any arch of ``lsstudy.models`` works unchanged; the scaled-logits control's scale sits after
the last linear layer, so its binarized model is the unsmoothed one's: the test looks past the head, by design.

Writes benchmarks/results/binarization_test_<study>.md. ``--quick`` (two models, 3 points, 20 samples) only
checks that the script runs: it prints its table and writes nothing.
"""

import os
import platform
import time
from datetime import date
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from finished_study import arguments, confirmed
from lsstudy import models
from lsstudy.attacks.gradient import pgd
from lsstudy.evaluate import points_mask
from lsstudy.files import write_text

RESULTS = Path(__file__).parent / "results"


class Binarized(nn.Module):
    """``model``'s features (the input of its last ``nn.Linear``, read by a forward hook) through ``readout``."""

    def __init__(self, model: nn.Module, readout: nn.Linear):
        super().__init__()
        self.model, self.readout = model, readout
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        last.register_forward_hook(self._keep)
        self.features = None

    def _keep(self, module, inputs, output) -> None:
        self.features = inputs[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.model(x)
        return self.readout(self.features)


def readout_for(model: Binarized, x: torch.Tensor, eps: float, samples: int, generator: torch.Generator
                ) -> tuple[nn.Linear, torch.Tensor] | None:
    """The two-class readout of one point ``x`` (shape (1, C, H, W)) and the ball's corner it calls adversarial;
    None when the readout does not separate x and its inner samples from the corner."""
    inner = (x + (torch.rand((samples, *x.shape[1:]), generator=generator) * 2 - 1) * eps / 2).clamp(0, 1)
    corner = (x + eps * torch.where(torch.rand(x.shape, generator=generator) < 0.5, -1.0, 1.0)).clamp(0, 1)
    with torch.no_grad():
        model.model(torch.cat([x, inner, corner]))
        features = model.features.detach()
    labels = torch.zeros(len(features), dtype=torch.long)
    labels[-1] = 1
    weight = torch.tensor([1.0, float(samples + 1)])  # one corner weighs as much as every clean point together
    readout = nn.Linear(features.shape[1], 2)
    nn.init.zeros_(readout.weight)  # a convex problem: start at 0, not at torch's random draw, to get one answer
    nn.init.zeros_(readout.bias)
    optimiser = torch.optim.LBFGS(readout.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = F.cross_entropy(readout(features), labels, weight=weight)
        value.backward()
        return value

    optimiser.step(loss)
    with torch.no_grad():
        separated = bool((readout(features).argmax(1) == labels).all())
    return (readout, corner) if separated else None


def score(model: nn.Module, x: torch.Tensor, eps: float, samples: int, steps: int, restarts: int
          ) -> dict[str, float | int]:
    """The binarization test's pass counts of PGD-CE and PGD on the margin over the points of ``x``."""
    generator = torch.Generator().manual_seed(0)
    passed, tested = {"ce": 0, "margin": 0}, 0
    binarized = Binarized(model, nn.Linear(1, 2))  # one hook per model; the readout changes with the point
    for point in x.split(1):
        found = readout_for(binarized, point, eps, samples, generator)
        if found is None:
            continue
        binarized.readout, tested = found[0], tested + 1
        for parameter in binarized.parameters():
            parameter.requires_grad_(False)
        clean = torch.zeros(1, dtype=torch.long)
        for loss in passed:
            x_adv = pgd(binarized, point, clean, eps, steps=steps, restarts=restarts, loss=loss,
                        generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                passed[loss] += int(binarized(x_adv).argmax(1).item() == 1)
    return {"points tested": tested, **{f"PGD-{loss} passes": count for loss, count in passed.items()}}


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], seeds=[2, 3, 4, 5, 6])
    parser.add_argument("--points", type=int, default=50)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = Path(args.run)
    settings, x, y, table = confirmed(run, args.study)
    strong = settings["attack"]["strong"]
    offset, size = settings["base"]["test_offset"], settings["confirm"]["test_size"]
    clean = table[(table["attack"] == "clean") & (table["class"] == "all") & table["seed"].isin(args.seeds)]
    if clean.empty:
        raise SystemExit(f"--seeds={args.seeds} have no model in the confirm stage's table of {args.study}; "
                         "choose among confirm.seeds")
    points, samples = (3, 20) if args.quick else (args.points, args.samples)
    out = []
    for row in list(clean.itertuples())[: 2 if args.quick else None]:
        model, _ = models.load(run / row.checkpoint)
        correct = points_mask(row.robust_points).nonzero().flatten()[:points]  # clean-correct points
        start = time.perf_counter()
        result = score(model.eval(), x[correct], args.eps, samples, strong["pgd"]["steps"], strong["pgd"]["restarts"])
        out.append({"arch": row.arch, "method": row.method, "alpha": row.alpha, "T": row.temperature, "seed": row.seed,
                    **result,
                    "seconds": round(time.perf_counter() - start, 1)})
        print(out[-1], flush=True)
    per_model = pd.DataFrame(out)
    totals = per_model.groupby(["arch", "method", "alpha", "T"], sort=False)[
        ["points tested", "PGD-ce passes", "PGD-margin passes"]].sum().reset_index()
    for loss in ["ce", "margin"]:
        totals[f"PGD-{loss} score"] = (totals[f"PGD-{loss} passes"] / totals["points tested"]).round(3)
    result = totals.to_markdown(index=False) + "\n\nPer model:\n\n" + per_model.to_markdown(index=False)
    print(result)
    if args.quick:
        return
    command = (f"python benchmarks/binarization_test.py --run {args.run} --study {args.study} --eps {args.eps} "
               f"--seeds {' '.join(map(str, args.seeds))} --points {args.points} --samples {args.samples}")
    write_text(RESULTS / f"binarization_test_{args.study}.md", f"""# The binarization test (Zimmermann et al. 2022)

`{command}` on {date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one torch
thread, after `make study`: the confirm stage's models of seeds {', '.join(map(str, args.seeds))}, the first
{args.points} clean-correct points of {offset}-{offset + size - 1}, eps {args.eps:.4g}, {args.samples} inner samples
per point. "points tested": those whose readout separated (summed over the seeds in the first table); the passes
are how many of them the strong evaluation's PGD ({strong["pgd"]["steps"]} steps, {strong["pgd"]["restarts"]}
restart) found the adversarial example that exists on.

{result}
""")


if __name__ == "__main__":
    main()
