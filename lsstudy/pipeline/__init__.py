"""The DVC pipeline: params.yaml and its schema (``params``, ``schema``, ``rules``, ``messages``), the stages and
dvc.yaml (``dvc``; ``python -m lsstudy.pipeline``), one stage's run (``stage``, ``notebook``), ``experiment``s.
May import the science and ``report``; the notebooks it runs import the drivers of ``grid``."""
