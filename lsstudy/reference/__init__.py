"""Numbers from outside this project that its results are put beside: ``authors``, the authors' own result files."""
