"""Every attack of ``lsstudy.attacks`` by name: what ``lsstudy.evaluate`` runs for a spec's ``attack`` key."""

from lsstudy.attacks.autoattack import apgd, autoattack, square
from lsstudy.attacks.cw import cw_l2
from lsstudy.attacks.deepfool import deepfool
from lsstudy.attacks.exact import worst_case
from lsstudy.attacks.gradient import bim, fgsm, pgd
from lsstudy.attacks.transfer import transfer

ATTACKS = {"fgsm": fgsm, "bim": bim, "pgd": pgd, "deepfool": deepfool, "cw_l2": cw_l2, "apgd": apgd,
           "autoattack": autoattack, "square": square, "transfer": transfer,
           "exact": worst_case}
