"""TF-VAEGAN (Narayan et al., ECCV 2020), methods_spec.md §2.

``config`` (settings), ``models`` (E, G, D, Dec, F), ``steps`` (one critic / generator phase),
``loop`` (the §2.5 training loop), ``checkpoint`` (resume), ``synthesis`` (unseen features and
the x ⊕ Dec(x) ⊕ h transform), ``evaluate`` (per-epoch evaluation and classifier protocols),
``stages`` (what the pipeline's nodes call), ``validation`` (epoch count chosen on val) and
``method`` (the :class:`~zsl_pipeline.methods.base.Method` record for the comparison).
"""
