"""The verdict's ladder: the strong evaluation made stronger one rung at a time, in the order the confirm stage
runs its attacks.

Each rung adds attacks to every rung before it, and a point counts as robust at a rung only if every attack of
that rung and of the rungs before failed on it, so accuracy can only go down the ladder. The confirm stage runs
the attacks in ``ORDER`` as a cascade (``lsstudy.evaluate``, ``cascade=True``): each attack only on the points
that every attack before it left robust, which is all the last rung's number needs (AutoAttack runs its own
attacks the same way). The sanity checks (``lsstudy.report.sanity``) ask what an attack adds to every attack before it
in this order, which a cascade measures exactly.

Attacks are named by the rows of the attack table: (attack or row name, loss).
"""

PAPER_PROTOCOL = ("bim", "smoothed")  # the paper's strongest Linf attack, on the model's own smoothed loss
CE_ITERATIVE = [("bim", "ce"), ("pgd", "ce"), ("pgd_more", "ce"), ("apgd", "ce")]
MARGIN_LOSS = [("pgd", "margin"), ("apgd", "dlr")]
BLACK_BOX = [("square", "margin"), ("transfer", "ce")]
AUTOATTACK = ("autoattack", "standard")
EXACT = ("exact", "none")  # the exact worst case of an affine model (lsstudy.attacks.exact): off the ladder, its yardstick

LADDER = [
    ("paper: BIM on the smoothed loss", [PAPER_PROTOCOL]),
    ("+ BIM on cross-entropy", [("bim", "ce"), ("fgsm", "ce"), ("fgsm", "smoothed")]),
    ("+ PGD-CE, restarts, 2x steps", [("pgd", "ce"), ("pgd_more", "ce"), ("apgd", "ce")]),
    ("+ margin losses (PGD-CW, APGD-DLR)", MARGIN_LOSS),
    ("+ black box and transfer", BLACK_BOX),
    ("+ AutoAttack's ensemble (all attacks)", [AUTOATTACK]),
]
ORDER = [pair for _, pairs in LADDER for pair in pairs]


def before(pair: tuple[str, str]) -> list[tuple[str, str]]:
    """The attacks that come before ``pair`` in ``ORDER`` (those a cascade runs first)."""
    return ORDER[: ORDER.index(pair)]
