"""The verdict's arithmetic on planted tables: the evaluation ladder as per-point worst cases, gains against the
t-test computed directly, Holm within each family of calls, the paper's own choice kept apart, and the summary."""

import numpy as np
import pandas as pd
import pytest

from lsstudy.report import inference, verdict

EPS = 0.1


def attack_rows(method: str, alpha: float, seed: int, points: dict[tuple[str, str], str]) -> list[dict]:
    """Rows of an attack table for one model: the clean row and one row per (attack, loss) at EPS."""
    base = {"dataset": "d", "arch": "a", "method": method, "alpha": alpha, "temperature": 1.0, "seed": seed,
            "checkpoint": f"{method}_{alpha}_{seed}.pt", "class": "all"}
    n = len(next(iter(points.values())))
    rows = [{**base, "attack": "clean", "loss": "none", "eps": 0.0, "accuracy": 1.0, "robust_points": "1" * n}]
    for (attack, loss), robust in points.items():
        rows.append({**base, "attack": attack, "loss": loss, "eps": EPS, "robust_points": robust,
                     "accuracy": robust.count("1") / len(robust)})
    return rows


def test_ladder_accumulates_the_worst_case_point_by_point_and_ends_with_autoattack():
    points = {("bim", "smoothed"): "11111111", ("bim", "ce"): "11111110", ("fgsm", "ce"): "11111101",
              ("pgd", "ce"): "11111011", ("pgd", "margin"): "11100111", ("square", "margin"): "01111111",
              ("autoattack", "standard"): "10111111"}
    steps = verdict.ladder_masks(pd.DataFrame(attack_rows("none", 0.0, 0, points)), [EPS]).sort_values("order")
    # paper 8/8; + BIM-CE and FGSM 6/8; + PGD-CE 5/8; + margin 3/8; + black box 2/8; + AutoAttack 1/8
    assert steps["accuracy"].tolist() == [1.0, 0.75, 0.625, 0.375, 0.25, 0.125]
    assert steps["step"].tolist() == [step for step, _ in verdict.LADDER]
    assert steps["robust"].iloc[-1].tolist() == [False, False, True, False, False, False, False, False]


def planted(rng: np.random.Generator, gain: float, seeds: int = 5, points: int = 300) -> pd.DataFrame:
    """Masks of a ladder with one step: none and one ALS configuration per seed, ALS robust on ``gain`` more
    of the points on average."""
    rows = []
    for seed in range(seeds):
        base = rng.random(points) < 0.4
        better = base | (rng.random(points) < gain / 0.6)
        for method, alpha, robust in [("none", 0.0, base), ("adversarial", 0.3, better)]:
            rows.append({"dataset": "d", "arch": "a", "method": method, "alpha": alpha, "temperature": 1.0,
                         "seed": seed, "checkpoint": f"{method}{seed}", "eps": EPS, "order": 0, "step": "s",
                         "robust": robust, "accuracy": robust.mean()})
    return pd.DataFrame(rows)


CHOSEN = pd.DataFrame([{"dataset": "d", "arch": "a", "method": m, "alpha": a, "temperature": 1.0, "eps": EPS}
                       for m, a in [("none", 0.0), ("adversarial", 0.3)]])


def test_a_gain_is_the_t_test_of_the_masks_of_the_same_seeds():
    masks = planted(np.random.default_rng(0), 0.2)
    row = verdict.gains(masks, CHOSEN, level=0.05, delta=0.03).iloc[0]
    method = np.stack(masks[masks["method"] == "adversarial"]["robust"])
    none = np.stack(masks[masks["method"] == "none"]["robust"])
    direct = inference.compare(method, none, delta=0.03)
    assert row["gain"] == pytest.approx(method.mean() - none.mean())
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == (direct["ci_low"], direct["ci_high"], direct["p_value"])
    assert row["call"] == "gain" and row["seeds"] == 5 and row["points"] == 300 and row["kind"] == "label smoothing"


def test_each_family_is_holm_corrected_on_its_own_and_the_steps_between_are_described():
    rng = np.random.default_rng(1)
    ladder = pd.concat([planted(rng, 0.08).assign(order=order, step=f"step {order}") for order in range(6)])
    pgd = ladder[ladder["method"] == "adversarial"].assign(method="pgd_training", alpha=0.0)
    steps = pd.concat([ladder, pgd])
    chosen = pd.concat([CHOSEN, CHOSEN.iloc[[1]].assign(method="pgd_training", alpha=0.0)])
    table = verdict.gains(steps, chosen, level=0.05, delta=0.03)
    for family, rows in [("every attack", table[(table["order"] == 5) & (table["kind"] == "label smoothing")]),
                         ("paper's protocol", table[(table["order"] == 0) & (table["kind"] == "label smoothing")]),
                         ("baselines", table[table["kind"] == "baseline defence"].query("order in [0, 5]"))]:
        assert (rows["family"] == family).all()
        np.testing.assert_allclose(pd.concat([rows["p_holm"], rows["p_below_holm"]]),
                                   inference.holm(pd.concat([rows["p_value"], rows["p_below"]])))
    middle = table[~table["order"].isin([0, 5])]
    assert middle["p_holm"].isna().all() and (middle["call"] == "not called").all()
    assert verdict.calls(table) == 1 and verdict.calls(table, "baselines") == 2


def test_the_primary_family_is_fixed_in_advance_by_the_hypotheses():
    rng = np.random.default_rng(5)
    masks = planted(rng, 0.1)
    sbls = masks[masks["method"] == "adversarial"].assign(method="second_best", alpha=0.1)
    steps = pd.concat([masks, sbls])
    chosen = pd.concat([CHOSEN, CHOSEN.iloc[[1]].assign(method="second_best", alpha=0.1)])
    primary = verdict.hypotheses("d", ["a"], ["adversarial"], [EPS])
    assert primary[["arch", "method", "eps", "against"]].values.tolist() == [["a", "adversarial", EPS, "none"]]
    table = verdict.gains(steps, chosen, level=0.05, delta=0.03, primary=primary)
    # a smoothing method left out of the primary family is corrected on its own, and does not dilute the question
    assert table.set_index("method")["family"].to_dict() == {"adversarial": "every attack", "second_best": "other methods"}
    alone = verdict.gains(masks, CHOSEN, level=0.05, delta=0.03)
    assert table.loc[table["method"] == "adversarial", "p_holm"].iloc[0] == alone["p_holm"].iloc[0]
    # a hypothesis with no data is an error, not a smaller family
    with pytest.raises(ValueError, match=r"verdict\.primary.*'boltzmann'"):
        verdict.gains(steps, chosen, level=0.05, delta=0.03,
                      primary=verdict.hypotheses("d", ["a"], ["adversarial", "boltzmann"], [EPS]))


def test_one_point_per_seed_is_not_a_gain_and_power_is_reported():
    masks = planted(np.random.default_rng(2), 0.0, seeds=3, points=150)
    for seed in range(3):  # each seed's smoothed model wins exactly one more point
        row = masks.index[(masks["method"] == "adversarial") & (masks["seed"] == seed)][0]
        robust = masks.at[row, "robust"].copy()
        robust[:] = masks[(masks["method"] == "none") & (masks["seed"] == seed)]["robust"].iloc[0]
        robust[np.flatnonzero(~robust)[0]] = True
        masks.at[row, "robust"] = robust
    table = verdict.gains(masks, CHOSEN, level=0.05, delta=0.03)
    assert table["gain"].iloc[0] == pytest.approx(1 / 150) and table["call"].iloc[0] != "gain"
    power = verdict.power(table, level=0.05, delta=0.03, points_available=9000).iloc[0]
    assert power["seeds"] == 3 and power["points"] == 150 and power["tests_in_family"] == 2
    row = table.iloc[0]
    assert power["min_detectable_gain"] == pytest.approx(inference.min_detectable_gain(row["se"], row["df"], 0.05 / 2))
    assert 0 <= power["simulated_power"] <= 1
    shares = verdict.variance_components(table).iloc[0]
    assert shares[["share_seeds", "share_points", "share_residual"]].sum() == pytest.approx(1.0, abs=0.05)


def test_the_papers_choice_is_made_on_the_reported_points_and_labelled_as_such():
    rng = np.random.default_rng(3)
    masks = []
    for alpha, gain in [(0.1, 0.05), (0.3, 0.25), (0.5, 0.0)]:
        planted_alpha = planted(rng, gain, seeds=2)
        masks.append(planted_alpha.assign(alpha=np.where(planted_alpha["method"] == "none", 0.0, alpha)))
    masks = pd.concat(masks).drop_duplicates(["method", "alpha", "seed"])
    repro = verdict.reproduction(masks, level=0.05, delta=0.03)
    assert repro["alpha"].tolist() == [0.3]  # the largest mean accuracy on these very points
    assert "call" not in repro and "p_holm" not in repro and "protocol" in repro


def test_the_summary_marks_a_choice_at_the_grids_largest_alpha():
    masks = planted(np.random.default_rng(4), 0.1)
    table = verdict.gains(masks, CHOSEN, level=0.05, delta=0.03)
    confirmed = CHOSEN.assign(masking_suspected=False)
    summary = verdict.summary(table, verdict.reproduction(masks, 0.05, 0.03), confirmed, alphas=[0.1, 0.3])
    assert summary["chosen alpha (T)"].tolist() == ["0.3 (grid's edge)"]
    wider = verdict.summary(table, verdict.reproduction(masks, 0.05, 0.03), confirmed, alphas=[0.1, 0.3, 0.5])
    assert wider["chosen alpha (T)"].tolist() == ["0.3"]
    assert summary["call"].iloc[0] in inference.CALLS
