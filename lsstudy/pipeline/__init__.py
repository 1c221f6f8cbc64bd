"""The DVC pipeline: params.yaml's schema (``params``), the stages and dvc.yaml (``dvc``; ``python -m
lsstudy.pipeline``), one stage's run (``stage``, ``notebook``) and DVC experiments (``experiment``).
May import the science and ``report``; the notebooks it runs import the drivers of ``grid``."""
