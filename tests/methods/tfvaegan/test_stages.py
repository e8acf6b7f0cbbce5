"""The stage functions the pipeline calls: a killed run resumes from its checkpoint file."""

from __future__ import annotations

import pytest
import torch

import zsl_pipeline.methods.tfvaegan.run as run
import zsl_pipeline.methods.tfvaegan.stages as stages
from crashes import Killed
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.loop import train_tfvaegan
from zsl_pipeline.methods.tfvaegan.run import checkpoint_path, train_stage
from zsl_pipeline.methods.tfvaegan.stages import classify_synthetic, synthesize_unseen_features

CONFIG = dict(nepoch=3, encoder_hidden=16, ngh=16, ndh=16, syn_num=10, classifier_epochs=2, seed=7, eval_every=1)


def test_killed_run_resumes_from_checkpoint_and_matches_uninterrupted(tiny_dataset, tmp_path, monkeypatch, cpu):
    config = TFVAEGANConfig(**CONFIG, checkpoint_every=1)
    reference, reference_history = train_stage(tiny_dataset, config, cpu, checkpoint_dir=None, show_progress=False)

    # Kill the run after the checkpoint of epoch 2 has been written.
    real_save = run.save_checkpoint

    def save_then_die(state, path):
        real_save(state, path)
        if state["epochs_completed"] == 2:
            raise Killed("simulated crash")

    monkeypatch.setattr(run, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        train_stage(tiny_dataset, config, cpu, checkpoint_dir=tmp_path, show_progress=False)
    saved = checkpoint_path(tmp_path, tiny_dataset, config)
    assert saved.is_file()
    monkeypatch.setattr(run, "save_checkpoint", real_save)

    # Started again: resumes after epoch 2 (only epoch 3 is trained) and ends where the uninterrupted run did.
    resumed_after = []

    def spy(*args, **kwargs):
        resumed_after.append(int(kwargs["resume_from"]["epochs_completed"]))
        return train_tfvaegan(*args, **kwargs)

    monkeypatch.setattr(run, "train_tfvaegan", spy)
    resumed, history = train_stage(tiny_dataset, config, cpu, checkpoint_dir=tmp_path, show_progress=False)
    assert resumed_after == [2]  # only epoch 3 was trained again
    for name, state in reference["models"].items():
        for key, tensor in state.items():
            torch.testing.assert_close(resumed["models"][name][key], tensor, rtol=0, atol=0)
    assert history == reference_history
    assert not saved.exists()  # removed once training completed


def test_checkpoint_name_changes_with_settings_and_data(tiny_dataset, tmp_path):
    a = checkpoint_path(tmp_path, tiny_dataset, TFVAEGANConfig(**CONFIG))
    assert a == checkpoint_path(tmp_path, tiny_dataset, TFVAEGANConfig(**{**CONFIG, "nepoch": 9}))
    assert a != checkpoint_path(tmp_path, tiny_dataset, TFVAEGANConfig(**{**CONFIG, "lr": 3e-4}))



def _die_after_epoch(monkeypatch, epochs: int) -> None:
    """Make train_stage crash right after it saved the checkpoint of ``epochs`` epochs."""
    real_save = run.save_checkpoint

    def save_then_die(state, path):
        real_save(state, path)
        if state["epochs_completed"] == epochs:
            raise Killed("simulated crash")

    monkeypatch.setattr(run, "save_checkpoint", save_then_die)


def test_a_checkpoint_of_other_code_is_not_resumed_but_restarted_with_a_warning(
    tiny_dataset, tmp_path, monkeypatch, cpu, caplog
):
    config = TFVAEGANConfig(**CONFIG, checkpoint_every=1)
    reference, reference_history = train_stage(tiny_dataset, config, cpu, checkpoint_dir=None, show_progress=False)
    monkeypatch.setattr(run, "tfvaegan_code_version", lambda: "0.0.9+oldoldoldold")
    _die_after_epoch(monkeypatch, 2)
    with pytest.raises(Killed):
        train_stage(tiny_dataset, config, cpu, checkpoint_dir=tmp_path, show_progress=False)
    saved = checkpoint_path(tmp_path, tiny_dataset, config)
    assert torch.load(saved, weights_only=True)["code_version"] == "0.0.9+oldoldoldold"

    # The code changed: the checkpoint is not resumed, training starts at epoch 0 and the file is overwritten.
    monkeypatch.undo()
    starts, overwritten = [], []

    def spy(*args, **kwargs):
        starts.append(kwargs["resume_from"])
        return train_tfvaegan(*args, **kwargs)

    real_save = run.save_checkpoint

    def spy_save(state, path):
        overwritten.append(state["code_version"])
        real_save(state, path)

    monkeypatch.setattr(run, "train_tfvaegan", spy)
    monkeypatch.setattr(run, "save_checkpoint", spy_save)
    with caplog.at_level("WARNING"):
        fresh, history = train_stage(tiny_dataset, config, cpu, checkpoint_dir=tmp_path, show_progress=False)
    assert starts == [None]
    assert overwritten == [run.tfvaegan_code_version()] * 3
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "not resuming" in warning and str(saved) in warning
    assert "0.0.9+oldoldoldold" in warning and run.tfvaegan_code_version() in warning
    assert history == reference_history  # a fresh run, not a continuation of the old one
    for name, state in reference["models"].items():
        for key, tensor in state.items():
            torch.testing.assert_close(fresh["models"][name][key], tensor, rtol=0, atol=0)
    assert not saved.exists()


@pytest.mark.parametrize("nepoch", [2, 1], ids=["at_nepoch", "past_nepoch"])
def test_a_checkpoint_at_or_past_nepoch_is_refused(tiny_dataset, tmp_path, monkeypatch, cpu, nepoch):
    config = TFVAEGANConfig(**CONFIG, checkpoint_every=1)  # nepoch=3
    _die_after_epoch(monkeypatch, 2)
    with pytest.raises(Killed):
        train_stage(tiny_dataset, config, cpu, checkpoint_dir=tmp_path, show_progress=False)
    monkeypatch.undo()
    saved = checkpoint_path(tmp_path, tiny_dataset, config)
    lowered = TFVAEGANConfig(**{**CONFIG, "nepoch": nepoch}, checkpoint_every=1)  # nepoch is resume-free
    assert checkpoint_path(tmp_path, tiny_dataset, lowered) == saved
    with pytest.raises(ValueError, match=rf"checkpoint {saved}.* 2 epochs completed.*nepoch={nepoch}"):
        train_stage(tiny_dataset, lowered, cpu, checkpoint_dir=tmp_path, show_progress=False)
    assert saved.is_file()  # refused, not deleted

def test_same_seed_gives_identical_metrics(tiny_dataset, cpu):
    config = TFVAEGANConfig(**CONFIG)
    runs = []
    for _ in range(2):
        ckpt, history = train_stage(tiny_dataset, config, cpu, show_progress=False)
        syn = synthesize_unseen_features(ckpt, tiny_dataset, cpu)
        runs.append((history, vars(classify_synthetic(ckpt, tiny_dataset, syn, cpu).final)))
    assert runs[0] == runs[1]
    # and the classifier stage equals the training stage's evaluation of the last epoch
    history, final = runs[0]
    assert final["zsl_accuracy"] == history["final_zsl_accuracy"][-1]
    assert final["harmonic_mean"] == history["final_harmonic_mean"][-1]


def test_the_classifier_stage_reuses_the_last_epochs_evaluation_only_when_it_would_repeat_it(
    tiny_dataset, cpu, monkeypatch
):
    ckpt, history = train_stage(tiny_dataset, TFVAEGANConfig(**CONFIG), cpu, show_progress=False)
    assert ckpt["last_evaluation"]["epoch"] == CONFIG["nepoch"]
    syn = synthesize_unseen_features(ckpt, tiny_dataset, cpu)
    recomputed = stages.classifier_outputs(classify_synthetic(ckpt, tiny_dataset, syn, cpu))

    trained = []
    real_classify = stages.classify
    monkeypatch.setattr(stages, "classify", lambda *a, **k: trained.append(1) or real_classify(*a, **k))
    classifiers, results, clf_history = stages.train_classifiers(ckpt, tiny_dataset, syn, cpu)
    assert trained == []  # reused, not trained again ...
    for mode in ("zsl", "gzsl"):  # ... and the same classifiers as training them again gives
        for key, tensor in recomputed[0][mode].items():
            torch.testing.assert_close(classifiers[mode][key], tensor, rtol=0, atol=0)
    assert {k: results[k] for k in recomputed[1]} == recomputed[1]
    assert clf_history == recomputed[2]
    assert results["final"]["zsl_accuracy"] == history["final_zsl_accuracy"][-1]

    # anything that would change the outcome trains them again
    stages.train_classifiers(ckpt, tiny_dataset, syn, cpu, overrides={"classifier_epochs": 3})
    assert trained == [1]
    fewer = synthesize_unseen_features(ckpt, tiny_dataset, cpu, overrides={"syn_num": 4})
    stages.train_classifiers(ckpt, tiny_dataset, fewer, cpu, overrides={"syn_num": 4})
    assert trained == [1, 1]
    tampered = {**syn, "features": syn["features"] * 0.5}
    stages.train_classifiers(ckpt, tiny_dataset, tampered, cpu)
    assert trained == [1, 1, 1]
    stages.train_classifiers({k: v for k, v in ckpt.items() if k != "last_evaluation"}, tiny_dataset, syn, cpu)
    assert trained == [1, 1, 1, 1]  # a checkpoint written before the record existed


def test_later_stages_take_synthesis_and_classifier_settings_from_overrides(tiny_dataset, cpu):
    ckpt, _ = train_stage(tiny_dataset, TFVAEGANConfig(**CONFIG), cpu, show_progress=False)
    syn = synthesize_unseen_features(ckpt, tiny_dataset, cpu, overrides={"syn_num": 4, "lr": 123.0})
    assert syn["features"].shape[0] == 4 * tiny_dataset.unseen_classes.size
    result = classify_synthetic(ckpt, tiny_dataset, syn, cpu, overrides={"classifier_epochs": 5, "nepoch": 99})
    assert len(result.history) == 5
    _, config = stages.load_models(ckpt, cpu, overrides={"lr": 123.0, "a2": 0.5})
    assert config.lr == CONFIG.get("lr", TFVAEGANConfig().lr) and config.a2 == 0.5  # training settings stay


def test_the_classifier_stage_refuses_a_random_stream_of_another_device(tiny_dataset, cpu):
    ckpt, _ = train_stage(tiny_dataset, TFVAEGANConfig(**CONFIG), cpu, show_progress=False)
    syn = synthesize_unseen_features(ckpt, tiny_dataset, cpu)
    assert syn["rng_device"] == "cpu"
    with pytest.raises(ValueError, match="made on cuda.*device=cuda"):
        classify_synthetic(ckpt, tiny_dataset, {**syn, "rng_device": "cuda"}, cpu)


@pytest.mark.gpu
def test_stages_run_on_cuda(tiny_dataset):
    cuda = torch.device("cuda")
    ckpt, history = train_stage(tiny_dataset, TFVAEGANConfig(**CONFIG), cuda, show_progress=False)
    syn = synthesize_unseen_features(ckpt, tiny_dataset, cuda)
    assert syn["rng_device"] == "cuda" and syn["features"].device.type == "cpu"
    final = classify_synthetic(ckpt, tiny_dataset, syn, cuda).final
    assert final.zsl_accuracy == history["final_zsl_accuracy"][-1]  # the same stream as training's evaluation
