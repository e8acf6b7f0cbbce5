"""f-CLSWGAN (methods_spec.md §4), ZS-WGAN and FiLM-WGAN (methods_spec_part2.md §7).

``config`` (settings and the three methods' defaults), ``models`` (concat and FiLM generators
and critics), ``loop`` (the shared WGAN-GP training loop) and ``method`` (synthesis, classifier
sets and the three :class:`~zsl_pipeline.methods.base.Method` records).
"""
