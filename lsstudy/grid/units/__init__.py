"""Units of work for ``lsstudy.grid.engine``: pure functions of (payload, context) that return results.

``training`` trains one model (or a stack of them), ``evaluation`` attacks one; they live in separate modules so
that the digest of each one's code (``lsstudy.grid.study``) covers exactly what it imports: an edit to an attack
re-attacks the models but never retrains them. Units import the science and ``lsstudy.grid.runs`` only.
"""
