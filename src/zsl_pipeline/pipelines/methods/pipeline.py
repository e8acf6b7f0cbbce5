"""Method branches as namespaced modular pipelines, and the ``compare`` pipeline over them.

A branch is ``<method>.train`` → ``<method>.trained_models`` → ``<method>.evaluate`` →
``<method>_runs`` (and ``<method>.generator_figure``); every arrow is a versioned catalog dataset (``conf/base/catalog.yml``'s
``{namespace}.*`` and ``{method}_runs`` patterns), so ``--namespaces=<method>`` or
``--from-nodes=<method>.evaluate`` reruns one branch or one stage. A branch's runs leave its
namespace (``<method>_runs``, not ``<method>.runs``) because the comparison report, outside every
namespace, reads them. Branches share one ``zsl_dataset`` (features are extracted once) and
differ only in their method's parameters (``params:<method>``).
"""

from __future__ import annotations

from typing import Sequence

from kedro.pipeline import Node, Pipeline, pipeline

from zsl_pipeline.methods import ALL_METHODS

from .nodes import evaluate_node, report, train_node

REPORT_OUTPUTS = ["comparison_table", "comparison_markdown", "comparison_figure", "comparison_metrics"]


def _branch(method: str, runs_param: str) -> Pipeline:
    """``method``'s nodes in its namespace, reading ``params:<runs_param>``; outputs ``<method>_runs``."""
    if method == "eszsl":
        nodes = [Node(evaluate_node(method), inputs={"dataset": "zsl_dataset"}, outputs="runs", name="evaluate")]
        params: dict[str, str] = {}
    else:
        nodes = [
            Node(
                train_node(method),
                inputs={"dataset": "zsl_dataset", "params": "params:method", "runs": "params:runs",
                        "device": "params:device", "checkpoint_dir": "params:checkpoint_dir"},
                outputs="trained_models",
                name="train",
            ),
            Node(
                evaluate_node(method),
                inputs={"trained": "trained_models", "dataset": "zsl_dataset", "runs": "params:runs",
                        "device": "params:device"},
                outputs=["runs", "generator_figure"],
                name="evaluate",
            ),
        ]
        params = {"params:runs": f"params:{runs_param}", "params:device": "params:device",
                  "params:method": f"params:{method}", "params:checkpoint_dir": "params:checkpoint_dir"}
    return pipeline(
        Pipeline(nodes), namespace=method, inputs={"zsl_dataset"}, outputs={"runs": f"{method}_runs"},
        parameters=params,
    )


def _report(methods: Sequence[str], namespace: str | None) -> Pipeline:
    """The report over ``methods``' runs; its node and outputs in ``namespace`` when given."""
    runs = [f"{m}_runs" for m in methods]
    node = Node(report, inputs=runs, outputs=REPORT_OUTPUTS, name="report")
    return pipeline(Pipeline([node]), namespace=namespace, inputs=set(runs))


def create_method_pipeline(method: str) -> Pipeline:
    """One method on its own (``kedro run --pipelines=<method>``): its branch and its report
    (``<method>.report``), run with the ``runs`` parameters (seeds, n_shots, retrieval_k)."""
    return _branch(method, "runs") + _report([method], namespace=method)


def create_compare_pipeline(methods: Sequence[str] = ALL_METHODS) -> Pipeline:
    """Every method in ``methods`` as a branch, with the ``compare_runs`` parameters, and one
    report over all of them."""
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown or not methods:
        raise ValueError(f"parameter 'compare_methods' must list methods among {ALL_METHODS}, got {list(methods)}")
    branches = Pipeline([])
    for method in methods:
        branches += _branch(method, "compare_runs")
    return branches + _report(methods, namespace=None)
