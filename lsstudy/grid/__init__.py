"""The drivers of a study's grid of models: which models (``runs``), training them, attacking them, confirming
the choice (``training``, ``attacks``, ``confirm``), the digests that key reused work (``study``), the engine
and its units of work (``engine``, ``units``). May import the science (lsstudy's top level) and ``report``."""
