"""Numbers from outside this project that its results are put beside: ``authors``, the authors' own result files
(``authors.yaml``, read beside its module). May import the science and the rest of ``lsstudy.report``."""
