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

Import each attack from its module: ``from lsstudy.attacks.gradient import pgd`` (fgsm, bim, pgd),
``lsstudy.attacks.deepfool``, ``lsstudy.attacks.cw`` (cw_l2), ``lsstudy.attacks.autoattack`` (apgd, square,
autoattack), ``lsstudy.attacks.transfer`` (transfer, TransferSource), ``lsstudy.attacks.objectives`` (the
losses), and ``lsstudy.attacks.registry.ATTACKS``, every attack by name (what ``lsstudy.evaluate`` runs).
This file imports none of them on purpose: the digest of the training code follows imports
(``lsstudy.grid.study.code_digest``), and training, which needs only PGD, must not depend on every attack's source.
"""
