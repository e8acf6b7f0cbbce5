"""Tests of the procedurally rendered demo dataset."""

from __future__ import annotations

import numpy as np
import pytest

from zsl_pipeline.data.demo import DemoConfig, render_demo_dataset
from zsl_pipeline.data.images import read_image_dataset

SMALL = DemoConfig(num_classes=12, num_unseen=3, images_per_class=5, seed=3)


@pytest.fixture(scope="module")
def small():
    return render_demo_dataset(SMALL)


def _roles(rendering):
    """class name -> set of (split, train_val) pairs in the manifest."""
    m = rendering.manifest
    return {c: set(zip(g.split, g.train_val)) for c, g in m.groupby("class_name")}


def test_same_config_gives_byte_identical_images(small):
    again = render_demo_dataset(SMALL)
    assert list(again.images) == list(small.images)
    for key, image in small.images.items():
        assert again.images[key].tobytes() == image.tobytes(), key
    assert again.manifest.equals(small.manifest)
    assert again.attributes.equals(small.attributes)


def test_another_seed_gives_other_images(small):
    other = render_demo_dataset(DemoConfig(num_classes=12, num_unseen=3, images_per_class=5, seed=4))
    first_small, first_other = next(iter(small.images.values())), next(iter(other.images.values()))
    assert first_small.tobytes() != first_other.tobytes()


def test_counts_per_split(small):
    m = small.manifest
    n_trainval = round(SMALL.trainval_fraction * SMALL.images_per_class)  # 4 of 5
    seen = SMALL.num_classes - SMALL.num_unseen
    assert len(small.images) == len(m) == SMALL.num_classes * SMALL.images_per_class
    assert (m.split == "trainval").sum() == seen * n_trainval
    assert (m.split == "test_seen").sum() == seen * (SMALL.images_per_class - n_trainval)
    assert (m.split == "test_unseen").sum() == SMALL.num_unseen * SMALL.images_per_class
    assert m.class_name.nunique() == SMALL.num_classes
    assert set(m.train_val[m.split != "trainval"]) == {""}
    assert set(m.train_val[m.split == "trainval"]) == {"train", "val"}
    # 1/5 of the 9 seen classes (rounded) are validation classes.
    assert m[m.train_val == "val"].class_name.nunique() == round(SMALL.val_class_fraction * seen)


def test_manifest_keys_and_names(small):
    m = small.manifest
    assert m.image_path.tolist() == [f"{key}.png" for key in small.images]
    first = m.iloc[0]
    assert first.image_path == f"{first.class_name}/{first.class_name}_0000.png"
    size, colour, pattern, shape = first.class_name.split("_")
    row = small.attributes.set_index("class_name").loc[first.class_name]
    assert row[f"size_{size}"] == row[f"colour_{colour}"] == row[f"pattern_{pattern}"] == row[f"shape_{shape}"] == 1
    assert row.sum() == 4  # one value per attribute group


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_unseen_and_val_attribute_values_all_occur_in_training_classes(seed):
    config = DemoConfig(num_classes=20, num_unseen=6, images_per_class=2, trainval_fraction=0.5, seed=seed)
    r = render_demo_dataset(config)
    att = r.attributes.set_index("class_name")
    roles = _roles(r)
    unseen = [c for c, s in roles.items() if ("test_unseen", "") in s]
    val = [c for c, s in roles.items() if ("trainval", "val") in s]
    train = [c for c, s in roles.items() if ("trainval", "train") in s]
    seen = val + train
    assert len(unseen) == 6 and len(seen) == 14 and len(val) == round(0.2 * 14)
    assert not set(unseen) & set(seen) and not set(val) & set(train)
    for held, covering in ((unseen, seen), (val, train)):
        used_by_held = att.loc[held].to_numpy().max(axis=0) > 0
        used_by_covering = att.loc[covering].to_numpy().max(axis=0) > 0
        assert np.all(used_by_covering[used_by_held]), att.columns[used_by_held & ~used_by_covering].tolist()


def test_reader_gives_unit_norm_embeddings_and_disjoint_train_val_classes(small, tmp_path):
    ds = read_image_dataset(small.manifest, small.attributes, tmp_path, name="demo")
    assert ds.num_classes == SMALL.num_classes
    assert ds.embedding_dim == small.attributes.shape[1] - 1
    np.testing.assert_allclose(np.linalg.norm(ds.class_embeddings, axis=1), 1.0, rtol=1e-6)
    # four groups, one-hot each: every non-zero entry is 1/sqrt(4)
    assert set(np.round(np.unique(ds.class_embeddings), 6)) == {0.0, 0.5}
    train, val = set(ds.split_labels("train")), set(ds.split_labels("val"))
    assert train and val and not train & val
    assert train | val == set(ds.seen_classes)
    assert ds.seen_classes.size == 9 and ds.unseen_classes.size == 3


def test_images_are_64px_rgb_and_vary_within_a_class(small):
    for image in small.images.values():
        assert image.mode == "RGB" and image.size == (64, 64)
    for class_name in small.attributes.class_name:
        arrays = [np.asarray(im) for key, im in small.images.items() if key.startswith(f"{class_name}/")]
        assert len(arrays) == SMALL.images_per_class
        stack = np.stack(arrays).astype(np.int16)
        assert all(np.abs(stack[0] - a).mean() > 5 for a in stack[1:]), class_name


def test_default_config_sizes():
    r = render_demo_dataset(DemoConfig())
    m = r.manifest
    assert len(r.images) == 2400 and len(r.attributes) == 60
    assert m[m.split == "test_unseen"].class_name.nunique() == 15
    assert m[m.split == "trainval"].class_name.nunique() == 45
    assert (m.split == "trainval").sum() == 45 * 32 and (m.split == "test_seen").sum() == 45 * 8
    assert m[m.train_val == "val"].class_name.nunique() == 9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 500},  # more than the 240 attribute combinations
        {"num_unseen": 0},
        {"shapes": ("circle", "blob")},
        {"images_per_class": 2, "trainval_fraction": 0.9},  # no test_seen image left
        {"val_class_fraction": 1.0},
    ],
)
def test_bad_config_is_rejected(kwargs):
    with pytest.raises(ValueError, match="DemoConfig"):
        DemoConfig(**kwargs)


def test_too_many_unseen_classes_for_coverage_is_rejected():
    # 2 shapes x 1 colour x 1 pattern x 1 size: holding one out loses its shape value.
    config = DemoConfig(
        num_classes=2,
        num_unseen=1,
        shapes=("circle", "square"),
        colours=("red",),
        patterns=("solid",),
        sizes=("small",),
    )
    with pytest.raises(ValueError, match="keep every attribute value"):
        render_demo_dataset(config)
