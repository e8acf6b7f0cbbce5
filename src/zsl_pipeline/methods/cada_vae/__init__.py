"""CADA-VAE (Schönfeld et al., CVPR 2019), methods_spec.md §3.

``config`` (settings), ``models`` (the two VAEs and their losses), ``loop`` (training) and
``method`` (the latent classifier sets and the :class:`~zsl_pipeline.methods.base.Method` record).
"""
