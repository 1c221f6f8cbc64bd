"""Adversarial attacks on logits models with inputs in [0, 1] (N, C, H, W).

Every attack takes (model, x, y, ...), returns adversarial images in [0, 1] within its budget,
computes gradients w.r.t. the input only (the model's parameter .grad stay untouched) and leaves
the model's train/eval mode as the caller set it (put it in eval).

==========  ========  ==================================================================
name        norm      returns
==========  ========  ==================================================================
fgsm        Linf      x_adv
bim         Linf      x_adv
pgd         Linf      x_adv
deepfool    L2        (x_adv, l2) with l2 = +inf where the attack failed
cw_l2       L2        (x_adv, l2) with l2 = +inf where the attack failed
apgd        Linf      x_adv (torchattacks' APGD-CE / APGD-DLR)
autoattack  Linf      x_adv (standard AutoAttack from torchattacks' classes, the authors' settings)
square      Linf      x_adv (torchattacks' Square, black box)
transfer    Linf      x_adv crafted on another model (a ``TransferSource``)
==========  ========  ==================================================================
"""

from lsstudy.attacks.autoattack import apgd, autoattack, square
from lsstudy.attacks.cw import cw_l2
from lsstudy.attacks.deepfool import deepfool
from lsstudy.attacks.gradient import bim, fgsm, pgd
from lsstudy.attacks.objectives import LOSSES, attack_loss, attack_target, margin
from lsstudy.attacks.transfer import TransferSource, transfer

ATTACKS = {"fgsm": fgsm, "bim": bim, "pgd": pgd, "deepfool": deepfool, "cw_l2": cw_l2, "apgd": apgd,
           "autoattack": autoattack, "square": square, "transfer": transfer}

__all__ = ["ATTACKS", "LOSSES", "TransferSource", "apgd", "attack_loss", "attack_target", "autoattack", "bim", "cw_l2",
           "deepfool", "fgsm", "margin", "pgd", "square", "transfer"]
