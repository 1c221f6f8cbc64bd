"""Can the black box win? Square with more queries on the points every white-box attack left robust.

    python benchmarks/black_box_budget.py [--run .] [--study mnist5k] [--eps 0.1] [--seeds 2 3]
                                          [--queries 1000 5000] [--quick]

The sanity check ``black_box`` (``lsstudy.report.sanity``) asks whether Square (score-based: it never reads a gradient)
or the transfer attack breaks points that every white-box attack left. In the default study Square has 200
queries (``attack.strong.square_queries``), a budget that may be too small to win anywhere, so the check could not
fire even on a masker. This script takes the confirm stage's models of a finished ``make study`` (in ``--run``),
finds at ``--eps`` the points that every white-box attack before Square in ``lsstudy.ladder.ORDER`` left robust,
and runs Square on just those points with each budget of ``--queries``: how many of them it breaks, beside how
many the study's own Square and transfer attacks broke. A check that can win and still finds nothing says the
white-box attacks left nothing a gradient-free search finds at that budget; one that wins only with more queries
says the study's budget is too small.

Writes benchmarks/results/black_box_budget_<study>.md. ``--quick`` (two models, 50 queries) only checks that the script
runs: it prints its table and writes nothing.
"""

import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from finished_study import arguments, confirmed
from lsstudy import models
from lsstudy.attacks.autoattack import square
from lsstudy.evaluate import points_mask
from lsstudy.files import write_text
from lsstudy.ladder import BLACK_BOX, EXACT, before

RESULTS = Path(__file__).parent / "results"
WHITE_BOX = before(BLACK_BOX[0])  # every attack the cascade runs before Square


def white_box_survivors(rows: pd.DataFrame) -> np.ndarray:
    """The points that every white-box attack present in one model's ``rows`` (one eps) left robust."""
    masks = [points_mask(r.robust_points).numpy() for r in rows.itertuples() if (r.attack, r.loss) in WHITE_BOX]
    return np.logical_and.reduce(masks)


def broken_by(rows: pd.DataFrame, pair: tuple[str, str], among: np.ndarray) -> int | None:
    """How many of the ``among`` points the study's ``pair`` attack broke (None where it was not run)."""
    found = rows[(rows["attack"] == pair[0]) & (rows["loss"] == pair[1])]
    return int((among & ~points_mask(found["robust_points"].iloc[0]).numpy()).sum()) if len(found) else None


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], seeds=[2, 3])
    parser.add_argument("--queries", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = Path(args.run)
    settings, x, y, table = confirmed(run, args.study)
    offset, size = settings["base"]["test_offset"], settings["confirm"]["test_size"]
    table = table[(table["class"] == "all") & np.isclose(table["eps"], args.eps) & table["seed"].isin(args.seeds)]
    if table.empty:
        raise SystemExit(f"--eps={args.eps} with --seeds={args.seeds} has no rows in the confirm stage's table of "
                         f"{args.study}; choose an eps of attack.strong.eps and seeds of confirm.seeds")
    queries = [50] if args.quick else args.queries
    groups = list(table.groupby("checkpoint", sort=False))[: 2 if args.quick else None]
    out = []
    for checkpoint, rows in groups:
        model, _ = models.load(run / checkpoint)
        model.eval()
        left = white_box_survivors(rows)
        index = torch.from_numpy(np.flatnonzero(left))
        row = {"arch": rows["arch"].iloc[0], "method": rows["method"].iloc[0], "alpha": float(rows["alpha"].iloc[0]),
               "seed": int(rows["seed"].iloc[0]), "white-box left": int(left.sum()),
               "study's Square (200)": broken_by(rows, BLACK_BOX[0], left),
               "study's transfer": broken_by(rows, BLACK_BOX[1], left),
               "exact: breakable": broken_by(rows, EXACT, left)}  # affine models only: the most any attack can break
        for budget in queries:
            start = time.perf_counter()
            if len(index):
                x_adv = square(model, x[index], y[index], args.eps, queries=budget)
                with torch.no_grad():
                    row[f"Square {budget}"] = int((model(x_adv).argmax(1) != y[index]).sum())
            else:
                row[f"Square {budget}"] = 0
            row[f"s ({budget})"] = round(time.perf_counter() - start, 1)
        out.append(row)
        print(row, flush=True)
    result = pd.DataFrame(out).to_markdown(index=False)
    print(result)
    if args.quick:
        return
    command = (f"python benchmarks/black_box_budget.py --run {args.run} --study {args.study} --eps {args.eps} "
               f"--seeds {' '.join(map(str, args.seeds))} --queries {' '.join(map(str, args.queries))}")
    write_text(RESULTS / f"black_box_budget_{args.study}.md", f"""# Square with more queries, on the points every \
white-box attack left

`{command}`
on {date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one torch thread, after
`make study`: the confirm stage's models of {args.study} at eps {args.eps:.4g}, points {offset}-{offset + size - 1}.
"white-box left": the points every attack before Square in the ladder left robust; the other counts are how many of
those each black box broke (the study's own Square at attack.strong.square_queries and its transfer attack, then
Square run again here on just those points with each budget; seconds beside). On the linear models, "exact:
breakable" is how many of them the exact worst case (`lsstudy/attacks/exact.py`) breaks: the most any attack can.

{result}
""")


if __name__ == "__main__":
    main()
