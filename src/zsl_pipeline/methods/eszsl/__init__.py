"""ESZSL (Romera-Paredes & Torr, ICML 2015), methods_spec_part2.md §9.2: the closed-form,
non-generative baseline (``closed_form``) and its comparison records (``method``)."""
