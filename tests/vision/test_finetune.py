"""Seen-class fine-tuning: never reads an unseen-class image; self-describing checkpoint;
held-out early stopping (stratified holdout, best epoch returned, exact across a resume)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from crashes import Killed, crash_after_epoch_checkpoint
from device_checks import saved_devices, tensor_devices
from zsl_pipeline.data.contract import ZeroShotDataset
from zsl_pipeline.training.epoch_resume import EpochCheckpoint
from zsl_pipeline.vision import extraction, finetune
from zsl_pipeline.vision.backbone import FEATURE_DIM, build_backbone, build_preprocess
from zsl_pipeline.vision.finetune import (
    FinetuneConfig,
    UnseenClassLeakError,
    finetune_backbone,
    holdout_counts,
    holdout_split,
    seen_training_indices,
)

SEEN, UNSEEN = (0, 1, 2), (3, 4)
TINY = dict(resize=36, crop=32, batch_size=4, lr=1e-3, epochs=2)


@pytest.fixture(scope="module")
def backbone():
    return build_backbone("none")


def make_image_dataset(root, leak_unseen: bool = False, trainval_per_class=(2, 2, 2)) -> ZeroShotDataset:
    """3 seen classes (2 trainval + 1 test_seen images each) and 2 unseen (2 test_unseen each)."""
    rng = np.random.default_rng(0)
    labels, splits = [], {"trainval": [], "test_seen": [], "test_unseen": []}
    for c, n_trainval in zip(SEEN, trainval_per_class):
        for split in ("trainval",) * n_trainval + ("test_seen",):
            splits[split].append(len(labels))
            labels.append(c)
    for c in UNSEEN:
        for _ in range(2):
            splits["test_unseen"].append(len(labels))
            labels.append(c)
    if leak_unseen:
        splits["trainval"].append(splits["test_unseen"][0])
    paths = []
    for i, c in enumerate(labels):
        path = root / f"c{c}_{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return ZeroShotDataset(
        labels=np.asarray(labels, dtype=np.int64),
        class_embeddings=rng.normal(size=(len(SEEN) + len(UNSEEN), 4)).astype(np.float32),
        splits={k: np.asarray(v, dtype=np.int64) for k, v in splits.items()},
        class_names=tuple(f"class_{c}" for c in range(len(SEEN) + len(UNSEEN))),
        image_paths=tuple(paths),
        name="tiny_images",
    )


@pytest.fixture
def spy_reads(monkeypatch) -> list[str]:
    """Every path the image loader decodes (DataLoader runs in-process: num_workers=0)."""
    reads: list[str] = []
    original = extraction.load_image

    def spy(path):
        reads.append(path)
        return original(path)

    monkeypatch.setattr(extraction, "load_image", spy)
    return reads


@pytest.mark.parametrize("cache", [True, False])
def test_finetuning_reads_only_seen_trainval_images(tmp_path, backbone, spy_reads, cache):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(cache_frozen_activations=cache, **TINY)
    checkpoint, history = finetune_backbone(ds, config, "cpu", backbone)

    allowed = {ds.image_paths[i] for i in ds.splits["trainval"]}
    assert spy_reads and set(spy_reads) <= allowed
    read_indices = {ds.image_paths.index(p) for p in spy_reads}
    assert all(ds.labels[i] in SEEN for i in read_indices)
    assert len(history["loss"]) == config.epochs and np.isfinite(history["loss"]).all()
    assert checkpoint["seen_classes"] == list(SEEN)


def test_unseen_image_in_trainval_raises_before_any_read(tmp_path, backbone, spy_reads):
    ds = make_image_dataset(tmp_path, leak_unseen=True)
    with pytest.raises(UnseenClassLeakError, match="unseen"):
        seen_training_indices(ds)
    with pytest.raises(UnseenClassLeakError):
        finetune_backbone(ds, FinetuneConfig(**TINY), "cpu", backbone)
    assert spy_reads == []


def test_checkpoint_is_self_describing_and_loads_as_backbone(tmp_path, backbone):
    ds = make_image_dataset(tmp_path)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    config = FinetuneConfig(epochs=1, cached_views=2, **{k: v for k, v in TINY.items() if k != "epochs"})
    checkpoint, _ = finetune_backbone(ds, config, "cpu", backbone)

    path = tmp_path / "ft.pt"
    torch.save(checkpoint, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["config"]["trainable_blocks"] == ["layer4"] and loaded["epoch"] == 1
    rebuilt = build_backbone(path)
    for k, v in rebuilt.state_dict().items():
        assert torch.equal(v, checkpoint["state_dict"][k])
    # only layer4 moved; the caller's backbone is untouched
    assert torch.equal(rebuilt.layer3[0].conv1.weight, before["layer3.0.conv1.weight"])
    assert not torch.equal(rebuilt.layer4[0].conv1.weight, before["layer4.0.conv1.weight"])
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())


def test_trainable_blocks_must_be_a_suffix():
    with pytest.raises(ValueError, match="suffix"):
        FinetuneConfig(trainable_blocks=("layer3",))
    assert FinetuneConfig(trainable_blocks=["layer3", "layer4"]).trainable_blocks == ("layer3", "layer4")


def test_same_seed_same_result(tmp_path, backbone):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(**{**TINY, "epochs": 1})
    first, h1 = finetune_backbone(ds, config, "cpu", backbone)
    second, h2 = finetune_backbone(ds, config, "cpu", backbone)
    assert h1["loss"] == h2["loss"]
    assert all(torch.equal(v, second["state_dict"][k]) for k, v in first["state_dict"].items())


def test_seeding_leaves_the_callers_gpu_generators_alone(tmp_path, backbone, monkeypatch):
    """The random init and fine-tuning seed the CPU's generator inside ``fork_rng(devices=[])``;
    ``torch.manual_seed`` would also reseed every GPU's generator, which fork_rng does not
    restore, so a CUDA run's global RNG state would change under the caller."""
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    build_backbone("none")
    finetune_backbone(make_image_dataset(tmp_path), FinetuneConfig(**{**TINY, "epochs": 1}), "cpu", backbone)
    assert calls == []


@pytest.mark.gpu
def test_finetuning_on_cuda_writes_a_checkpoint_that_loads_without_a_gpu(tmp_path, backbone):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(**{**TINY, "epochs": 1})
    for cache, holdout in ((True, 0.0), (False, 0.0), (True, 0.5), (False, 0.5)):
        checkpoint, history = finetune_backbone(
            ds, dataclasses.replace(config, cache_frozen_activations=cache, holdout_fraction=holdout,
                                    epochs=2 if holdout else 1), "cuda", backbone
        )
        assert np.isfinite(history["loss"]).all()
        if holdout:  # the best epoch's snapshot is restored onto the GPU model, then saved
            assert np.isfinite(history["holdout_loss"]).all() and checkpoint["best_epoch"] in (1, 2)
        assert tensor_devices(checkpoint) == {"cpu"}  # weights and Adam state alike
        torch.save(checkpoint, tmp_path / "ft.pt")
        assert saved_devices(tmp_path / "ft.pt") == {"cpu"}
        build_backbone(tmp_path / "ft.pt")


@pytest.mark.parametrize(("cache", "holdout", "schedule"),
                         [(True, 0.0, "constant"), (False, 0.0, "constant"), (True, 0.5, "constant"),
                          (False, 0.5, "constant"), (True, 0.0, "cosine")])  # fmt: skip
def test_killed_finetuning_resumes_after_its_last_epoch_checkpoint(
    tmp_path, backbone, monkeypatch, cache, holdout, schedule
):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(**{**TINY, "epochs": 3, "cache_frozen_activations": cache, "holdout_fraction": holdout,
                               "lr_schedule": schedule})  # fmt: skip
    reference, reference_history = finetune_backbone(ds, config, "cpu", backbone, progress=False)

    resume_file = EpochCheckpoint(tmp_path / "finetune.pt", "test+code")
    saved = crash_after_epoch_checkpoint(monkeypatch, epoch=2)
    with pytest.raises(Killed):
        finetune_backbone(ds, config, "cpu", backbone, progress=False, resume_file=resume_file)
    resumed, history = finetune_backbone(ds, config, "cpu", backbone, progress=False, resume_file=resume_file)
    assert saved == [1, 2]  # resumed after epoch 2; no checkpoint after the last epoch
    keys = ("loss", "train_accuracy", "epoch") + (("holdout_loss", "holdout_accuracy") if holdout else ())
    for key in keys:
        assert history[key] == reference_history[key]
    assert set(history) == set(keys) | {"seconds", "images_per_second"}
    assert (resumed["epoch"], resumed["best_epoch"], resumed["epochs_run"]) == (
        reference["epoch"], reference["best_epoch"], reference["epochs_run"])
    assert (resumed["best_epoch"] is None) == (holdout == 0.0)
    for part in ("state_dict", "head_state_dict"):
        for key, tensor in reference[part].items():
            torch.testing.assert_close(resumed[part][key], tensor, rtol=0, atol=0)
    assert_same_optimizer_state(resumed, reference)

    # nepoch (epochs) lowered to the checkpoint's 2 epochs: refused, naming the file (a cosine
    # schedule depends on the epochs, so there any other number is refused)
    message = r"finetune\.pt: it has 2 epochs completed.*nepoch=2" if schedule == "constant" else r"finetune\.pt.*epochs"
    with pytest.raises(ValueError, match=message):
        finetune_backbone(ds, dataclasses.replace(config, epochs=2), "cpu",
                          backbone, progress=False, resume_file=resume_file)


def test_cosine_schedule_decays_every_steps_learning_rate_to_near_zero(tmp_path, backbone):
    assert [finetune.lr_factor("constant", t, 8) for t in (0, 7)] == [1.0, 1.0]
    assert [finetune.lr_factor("cosine", t, 8) for t in (0, 4)] == [1.0, pytest.approx(0.5)]
    assert finetune.lr_factor("cosine", 7, 8) == pytest.approx(0.5 * (1 + np.cos(np.pi * 7 / 8)))
    ds = make_image_dataset(tmp_path)  # 6 trainval images, batches of 4 + 2: 2 steps per epoch
    config = FinetuneConfig(**{**TINY, "epochs": 2, "head_lr": 1e-2, "lr_schedule": "cosine"})
    checkpoint, _ = finetune_backbone(ds, config, "cpu", backbone, progress=False)
    last = finetune.lr_factor("cosine", 3, 4)  # the 4th and last step's
    lrs = [group["lr"] for group in checkpoint["optimizer_state_dict"]["param_groups"]]
    assert lrs == [pytest.approx(1e-3 * last), pytest.approx(1e-2 * last)]
    constant, _ = finetune_backbone(ds, dataclasses.replace(config, lr_schedule="constant"), "cpu", backbone,
                                    progress=False)  # fmt: skip
    assert [group["lr"] for group in constant["optimizer_state_dict"]["param_groups"]] == [1e-3, 1e-2]
    assert not torch.equal(constant["head_state_dict"]["weight"], checkpoint["head_state_dict"]["weight"])
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        FinetuneConfig(lr_schedule="step")


def test_the_stage_keeps_an_epoch_checkpoint_and_removes_it_when_done(tmp_path, monkeypatch):
    from zsl_pipeline.vision import stages

    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(**{**TINY, "epochs": 2})
    folder = tmp_path / "checkpoints"
    resume_file = stages.finetune_resume_file(folder, ds, config, weights="none", init_seed=0)
    lowered = stages.finetune_resume_file(folder, ds, FinetuneConfig(**{**TINY, "epochs": 1}), weights="none", init_seed=0)
    assert lowered.path == resume_file.path  # epochs may change on resume; the rest names the file
    assert stages.finetune_resume_file(folder, ds, FinetuneConfig(**{**TINY, "lr": 0.1}), weights="none",
                                       init_seed=0).path != resume_file.path  # fmt: skip
    cosine = [stages.finetune_resume_file(folder, ds, FinetuneConfig(**{**TINY, "epochs": n, "lr_schedule": "cosine"}),
                                          weights="none", init_seed=0).path for n in (1, 2)]  # fmt: skip
    assert cosine[0] != cosine[1]  # under a cosine schedule the epochs set every step's rate
    crash_after_epoch_checkpoint(monkeypatch)
    with pytest.raises(Killed):
        stages.finetune_backbone(ds, config, torch.device("cpu"), weights="none", init_seed=0, checkpoint_dir=folder)
    assert resume_file.path.is_file()
    monkeypatch.undo()
    resumed, _ = stages.finetune_backbone(ds, config, torch.device("cpu"), weights="none", init_seed=0,
                                          checkpoint_dir=folder)  # fmt: skip
    reference, _ = stages.finetune_backbone(ds, config, torch.device("cpu"), weights="none", init_seed=0)
    assert all(torch.equal(v, resumed["state_dict"][k]) for k, v in reference["state_dict"].items())
    assert not resume_file.path.exists()


# --- held-out early stopping ------------------------------------------------------------------

HOLDOUT = dict(TINY, holdout_fraction=0.5)  # 1 of each seen class's 2 trainval images


def assert_same_optimizer_state(got, expected):
    """The checkpoints' Adam states are equal, tensor for tensor."""
    a, b = got["optimizer_state_dict"], expected["optimizer_state_dict"]
    assert a["param_groups"] == b["param_groups"] and a["state"].keys() == b["state"].keys()
    for key, state in b["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(a["state"][key][name], value, rtol=0, atol=0)


def assert_same_weights(got, expected):
    for part in ("state_dict", "head_state_dict"):
        assert got[part].keys() == expected[part].keys()
        for key, tensor in expected[part].items():
            torch.testing.assert_close(got[part][key], tensor, rtol=0, atol=0)


def scripted_holdout(monkeypatch, script):
    """Replace the holdout evaluation by ``script``'s (accuracy, loss) pairs, one per call
    (shared by the runs that use the same iterator)."""
    calls = iter(script)

    def evaluate(*args, **kwargs):
        accuracy, loss = next(calls)
        return {"holdout_loss": loss, "holdout_accuracy": accuracy}

    monkeypatch.setattr(finetune, "_evaluate_holdout", evaluate)


def test_holdout_counts_round_half_up_keep_one_and_never_take_a_whole_class():
    np.testing.assert_array_equal(holdout_counts(np.array([1, 2, 5, 10, 40]), 0.25), [0, 1, 1, 3, 10])
    np.testing.assert_array_equal(holdout_counts(np.array([1, 2, 3, 10]), 0.9), [0, 1, 2, 9])
    np.testing.assert_array_equal(holdout_counts(np.array([2, 100]), 0.001), [1, 1])
    np.testing.assert_array_equal(holdout_counts(np.array([2, 100]), 0.0), [0, 0])


def test_holdout_is_stratified_disjoint_inside_the_seen_trainval_and_deterministic(tmp_path):
    ds = make_image_dataset(tmp_path, trainval_per_class=(2, 5, 10))
    config = FinetuneConfig(holdout_fraction=0.25, seed=3)
    rng_before = torch.random.get_rng_state()
    train, held = holdout_split(ds, config)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # not the training stream

    seen_trainval = seen_training_indices(ds)
    assert set(held) <= set(seen_trainval) and set(train) <= set(seen_trainval)
    assert not set(held) & set(train)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, held])), np.sort(seen_trainval))
    assert not set(held) & set(np.concatenate([ds.splits["test_seen"], ds.splits["test_unseen"]]))
    # per class: round(0.25 * n) half up, at least 1: 2 -> 1, 5 -> 1, 10 -> 3
    assert [int((ds.labels[held] == c).sum()) for c in SEEN] == [1, 1, 3]
    # trainval order kept
    assert (np.diff(train) > 0).all() and (np.diff(held) > 0).all()

    again_train, again_held = holdout_split(ds, config)
    np.testing.assert_array_equal(again_held, held)
    np.testing.assert_array_equal(again_train, train)
    # the draw depends on the seed only, not on the training settings
    np.testing.assert_array_equal(holdout_split(ds, dataclasses.replace(config, lr=0.5, epochs=9))[1], held)
    assert not np.array_equal(holdout_split(ds, dataclasses.replace(config, seed=4))[1], held)

    no_holdout_train, no_holdout = holdout_split(ds, dataclasses.replace(config, holdout_fraction=0.0))
    np.testing.assert_array_equal(no_holdout_train, seen_trainval)
    assert no_holdout.size == 0

    single = make_image_dataset(tmp_path, trainval_per_class=(1, 1, 1))
    with pytest.raises(ValueError, match="holdout_fraction=0.25 holds out no image"):
        holdout_split(single, config)


@pytest.mark.parametrize("cache", [True, False])
def test_holdout_images_are_read_for_evaluation_only(tmp_path, backbone, spy_reads, cache):
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(cache_frozen_activations=cache, cached_views=2, **{**HOLDOUT, "epochs": 2})
    checkpoint, history = finetune_backbone(ds, config, "cpu", backbone, progress=False)

    train, held = holdout_split(ds, config)
    assert checkpoint["holdout_indices"] == held.tolist() and held.size == 3
    allowed = {ds.image_paths[i] for i in ds.splits["trainval"]}
    assert set(spy_reads) <= allowed  # never an unseen-class nor a test image
    reads = {p: spy_reads.count(p) for p in set(spy_reads)}
    train_reads = 2  # cache: one per cached view; no cache: one per epoch
    holdout_reads = 1 if cache else 2  # cache: view 0 once; no cache: one evaluation per epoch
    assert reads == {**{ds.image_paths[i]: train_reads for i in train}, **{ds.image_paths[i]: holdout_reads for i in held}}

    assert history["epoch"] == [1, 2]
    for key in ("holdout_loss", "holdout_accuracy", "images_per_second"):
        assert len(history[key]) == 2 and np.isfinite(history[key]).all()
    assert all(a in (0.0, 1 / 3, 2 / 3, 1.0) for a in history["holdout_accuracy"])  # 3 held-out images
    assert all(v > 0 for v in history["images_per_second"])
    assert checkpoint["best_epoch"] == finetune.best_epoch(
        [{"epoch": e, "holdout_loss": lo, "holdout_accuracy": a}
         for e, lo, a in zip(history["epoch"], history["holdout_loss"], history["holdout_accuracy"])]
    )
    assert checkpoint["epoch"] == checkpoint["best_epoch"] and checkpoint["epochs_run"] == 2


@pytest.mark.parametrize("cache", [True, False])
def test_the_holdout_never_reaches_training(tmp_path, backbone, cache):
    """Other pixels in the held-out images change the holdout numbers, not the training."""
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(cache_frozen_activations=cache, **{**HOLDOUT, "epochs": 1})
    first, h1 = finetune_backbone(ds, config, "cpu", backbone, progress=False)
    rng = np.random.default_rng(1)
    for i in first["holdout_indices"]:
        Image.fromarray(rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)).save(ds.image_paths[i])
    second, h2 = finetune_backbone(ds, config, "cpu", backbone, progress=False)
    assert h1["loss"] == h2["loss"] and h1["train_accuracy"] == h2["train_accuracy"]
    assert h1["holdout_loss"] != h2["holdout_loss"]
    assert_same_weights(second, first)


@pytest.mark.parametrize("cache", [True, False])
def test_holdout_metrics_are_the_eval_mode_centre_crop_ones(tmp_path, backbone, cache):
    """After one epoch (the best and only one) the holdout numbers are those of the returned
    backbone in eval mode on the centre-cropped held-out images."""
    ds = make_image_dataset(tmp_path)
    config = FinetuneConfig(cache_frozen_activations=cache, **{**HOLDOUT, "epochs": 1})
    checkpoint, history = finetune_backbone(ds, config, "cpu", backbone, progress=False)

    model = build_backbone(checkpoint).eval()
    head = torch.nn.Linear(FEATURE_DIM, len(SEEN))
    head.load_state_dict(checkpoint["head_state_dict"])
    preprocess = build_preprocess(config.resize, config.crop)
    held = checkpoint["holdout_indices"]
    images = torch.stack([preprocess(extraction.load_image(ds.image_paths[i])) for i in held])
    targets = torch.as_tensor(np.searchsorted(SEEN, ds.labels[held]))
    with torch.no_grad():
        logits = head(model.pool(model.run_blocks(images)))
    expected_loss = torch.nn.functional.cross_entropy(logits, targets).item()
    expected_accuracy = (logits.argmax(1) == targets).double().mean().item()
    assert history["holdout_loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    assert history["holdout_accuracy"][0] == expected_accuracy


def test_early_stopping_stops_after_patience_and_returns_the_best_epoch(tmp_path, backbone, monkeypatch):
    ds = make_image_dataset(tmp_path)
    # (accuracy, loss): epoch 3 ties epoch 2's accuracy with a lower loss (better); epoch 4 is
    # worse, epoch 5 ties epoch 3's accuracy with a higher loss (not better): patience 2 ends it
    script = [(0.2, 1.0), (0.5, 0.9), (0.5, 0.8), (0.4, 0.7), (0.5, 0.85), (0.9, 0.1), (1.0, 0.0)]
    config = FinetuneConfig(**{**HOLDOUT, "epochs": 7, "patience": 2})
    scripted_holdout(monkeypatch, script)
    checkpoint, history = finetune_backbone(ds, config, "cpu", backbone, progress=False)

    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert history["holdout_accuracy"] == [a for a, _ in script[:5]]
    assert (checkpoint["best_epoch"], checkpoint["epoch"], checkpoint["epochs_run"]) == (3, 3, 5)

    # the returned weights and Adam state are those of a run of best_epoch = 3 epochs
    scripted_holdout(monkeypatch, script)
    shorter, shorter_history = finetune_backbone(ds, dataclasses.replace(config, epochs=3), "cpu", backbone,
                                                 progress=False)  # fmt: skip
    assert shorter_history["loss"] == history["loss"][:3] and shorter["best_epoch"] == 3
    assert_same_weights(checkpoint, shorter)
    assert_same_optimizer_state(checkpoint, shorter)
    # ... and not those of the last epoch run (a script that improves every epoch returns it)
    scripted_holdout(monkeypatch, [(0.1 * e, 1.0) for e in range(1, 6)])
    last, _ = finetune_backbone(ds, dataclasses.replace(config, epochs=5), "cpu", backbone, progress=False)
    assert last["best_epoch"] == 5
    assert not torch.equal(checkpoint["head_state_dict"]["weight"], last["head_state_dict"]["weight"])


def test_early_stopping_is_exact_across_a_resume(tmp_path, backbone, monkeypatch):
    """Best epoch 1 (its weights only in the resume file), killed after epoch 2 (one epoch
    without improvement): the resumed run stops after epoch 3 with epoch 1's weights."""
    ds = make_image_dataset(tmp_path)
    script = [(0.5, 1.0), (0.4, 0.9), (0.4, 0.8), (1.0, 0.0)]
    config = FinetuneConfig(**{**HOLDOUT, "epochs": 6, "patience": 2})
    scripted_holdout(monkeypatch, script)
    reference, reference_history = finetune_backbone(ds, config, "cpu", backbone, progress=False)
    assert reference_history["epoch"] == [1, 2, 3] and reference["best_epoch"] == 1

    resume_file = EpochCheckpoint(tmp_path / "finetune.pt", "test+code")
    scripted_holdout(monkeypatch, script)  # one script for the killed and the resumed run
    saved = crash_after_epoch_checkpoint(monkeypatch, epoch=2)
    with pytest.raises(Killed):
        finetune_backbone(ds, config, "cpu", backbone, progress=False, resume_file=resume_file)
    resumed, history = finetune_backbone(ds, config, "cpu", backbone, progress=False, resume_file=resume_file)
    assert saved == [1, 2]  # stopped after epoch 3: no checkpoint of it
    for key in ("epoch", "loss", "train_accuracy", "holdout_loss", "holdout_accuracy"):
        assert history[key] == reference_history[key]
    assert (resumed["best_epoch"], resumed["epochs_run"]) == (1, 3)
    assert_same_weights(resumed, reference)
    assert_same_optimizer_state(resumed, reference)


def test_holdout_and_patience_settings_are_checked():
    with pytest.raises(ValueError, match=r"holdout_fraction must be in \[0, 1\), got 1\.0"):
        FinetuneConfig(holdout_fraction=1.0)
    with pytest.raises(ValueError, match=r"holdout_fraction must be in \[0, 1\), got -0\.1"):
        FinetuneConfig(holdout_fraction=-0.1)
    with pytest.raises(ValueError, match="holdout_fraction must be in"):
        FinetuneConfig(holdout_fraction=float("nan"))
    with pytest.raises(ValueError, match="patience must be an integer >= 1 or null, got 0"):
        FinetuneConfig(holdout_fraction=0.1, patience=0)
    with pytest.raises(ValueError, match="patience=3 needs a holdout.*holdout_fraction=0.0"):
        FinetuneConfig(patience=3)
    assert FinetuneConfig(holdout_fraction=0.1, patience=3).patience == 3


def test_the_parameter_model_has_and_checks_the_holdout_settings():
    from zsl_pipeline.pipelines.params import FinetuneParams

    config = FinetuneParams(holdout_fraction=0.1, patience=3).config()
    assert (config.holdout_fraction, config.patience) == (0.1, 3)
    assert FinetuneParams(patience=None).config().patience is None
    with pytest.raises(ValueError, match="patience=2 needs a holdout"):
        FinetuneParams(patience=2)
    with pytest.raises(ValueError, match="holdout_fraction must be in"):
        FinetuneParams(holdout_fraction=1.5)
