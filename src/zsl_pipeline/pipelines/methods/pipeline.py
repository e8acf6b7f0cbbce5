"""Method branches as namespaced modular pipelines, and the ``compare`` pipeline over them.

A branch is ``<method>.train`` → ``<method>.trained_models`` → ``<method>.evaluate`` →
``<method>.runs``; every arrow is a versioned catalog dataset (``conf/base/catalog.yml``'s
``{namespace}.*`` patterns), so ``--namespaces=<method>`` or ``--from-nodes=<method>.evaluate``
reruns one branch or one stage. Branches share one ``zsl_dataset`` (features are extracted
once) and differ only in their method's parameters (``params:<method>``).
"""

from __future__ import annotations

from typing import Sequence

from kedro.pipeline import Node, Pipeline, pipeline

from zsl_pipeline.methods import ALL_METHODS

from .nodes import eszsl_method, evaluate_node, report, train_node

REPORT_OUTPUTS = ["comparison_table", "comparison_markdown", "comparison_figure", "comparison_metrics"]


def _branch_nodes(method: str) -> list[Node]:
    if method == "eszsl":
        return [Node(eszsl_method, inputs="zsl_dataset", outputs="runs", name="evaluate")]
    return [
        Node(
            train_node(method),
            inputs=["zsl_dataset", "params:method", "params:runs", "params:device"],
            outputs="trained_models",
            name="train",
        ),
        Node(
            evaluate_node(method),
            inputs=["trained_models", "zsl_dataset", "params:runs", "params:device"],
            outputs="runs",
            name="evaluate",
        ),
    ]


def _namespaced(method: str, nodes: list[Node], runs_param: str) -> Pipeline:
    params = {} if method == "eszsl" else {
        "params:runs": f"params:{runs_param}", "params:device": "params:device", "params:method": f"params:{method}"
    }
    return pipeline(Pipeline(nodes), namespace=method, inputs={"zsl_dataset"}, parameters=params)


def create_method_pipeline(method: str) -> Pipeline:
    """One method on its own (``kedro run --pipeline=<method>``): its branch and its report,
    run with the ``runs`` parameters (seeds, n_shots, retrieval_k)."""
    nodes = _branch_nodes(method) + [Node(report, inputs="runs", outputs=REPORT_OUTPUTS, name="report")]
    return _namespaced(method, nodes, "runs")


def create_compare_pipeline(methods: Sequence[str] = ALL_METHODS) -> Pipeline:
    """Every method in ``methods`` as a branch, with the ``compare_runs`` parameters, and one
    report over all of them."""
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown or not methods:
        raise ValueError(f"parameter 'compare_methods' must list methods among {ALL_METHODS}, got {list(methods)}")
    branches = Pipeline([])
    for method in methods:
        branches += _namespaced(method, _branch_nodes(method), "compare_runs")
    inputs = [f"{m}_runs" for m in methods]
    summary = Pipeline([Node(report, inputs=inputs, outputs=REPORT_OUTPUTS, name="report")])
    return branches + pipeline(summary, inputs={name: f"{m}.runs" for name, m in zip(inputs, methods)})
