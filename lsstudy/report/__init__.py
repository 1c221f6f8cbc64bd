"""What the study concludes and shows: the verdict and its inference, variance components and sanity checks,
statistics, tables, figures, the style they share, and the authors' own numbers (``reference``).
May import the science (lsstudy's top level); never ``grid`` or ``pipeline``."""
