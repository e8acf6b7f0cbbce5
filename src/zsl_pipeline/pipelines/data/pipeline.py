"""The data stage: the image dataset in the contract, from one of three sources (``image_source``).

* ``demo``: render the built-in demo into its own folder, then read it;
* ``manifest``: a user's own images (``image_manifest``, ``class_attributes``, ``image_root``);
* ``release``: a benchmark's image release joined to its xlsa17 folder (``image_root``,
  ``xlsa17_folder``, ``dataset_name``).

Only the demo has a rendering node, and it writes only the demo's own catalog entries, so no
run ever writes into a user's image folder, manifest or attribute table. Whatever the source,
the reading node is ``read_image_dataset`` (``--from-nodes=read_image_dataset`` works alike).
"""

from kedro.pipeline import Node, Pipeline

from .nodes import read_image_dataset, read_release_images, render_demo_dataset

IMAGE_SOURCES = ("demo", "manifest", "release")
OUTPUTS = ["image_dataset", "skipped_images"]


def create_pipeline(image_source: str = "demo") -> Pipeline:
    """The data stage for ``image_source`` (module docstring)."""
    if image_source not in IMAGE_SOURCES:
        raise ValueError(f"parameter 'image_source' must be one of {IMAGE_SOURCES}, got {image_source!r}")
    check = "params:images"
    if image_source == "release":
        inputs = {"image_root": "params:image_root", "xlsa17_folder": "params:xlsa17_folder",
                  "dataset_name": "params:dataset_name", "check": check}  # fmt: skip
        return Pipeline([Node(read_release_images, inputs=inputs, outputs=OUTPUTS, name="read_image_dataset")])
    nodes = []
    if image_source == "demo":
        nodes.append(
            Node(
                render_demo_dataset,
                inputs="params:demo",
                outputs=["demo_images", "demo_manifest", "demo_attributes"],
                name="render_demo_dataset",
            )
        )
        tables, root = ("demo_manifest", "demo_attributes"), "params:demo_image_root"
    else:
        tables, root = ("image_manifest", "class_attributes"), "params:image_root"
    inputs = {"manifest": tables[0], "attributes": tables[1], "image_root": root,
              "dataset_name": "params:dataset_name", "check": check}  # fmt: skip
    nodes.append(Node(read_image_dataset, inputs=inputs, outputs=OUTPUTS, name="read_image_dataset"))
    return Pipeline(nodes)
