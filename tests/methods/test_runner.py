"""The shared runner on TF-VAEGAN (tiny): seeds, few-shot, protocols, retrieval, records."""

import pytest
import torch

from crashes import Killed
from toy_data import make_toy_dataset
from zsl_pipeline.evaluation.protocols import fit_protocols
from zsl_pipeline.methods import get_method, runner
from zsl_pipeline.methods.runner import RunSettings, evaluate_runs, train_runs
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.pipelines.params import RunParams

TINY = {"nepoch": 2, "syn_num": 20, "encoder_hidden": 32, "ngh": 32, "ndh": 32, "classifier_epochs": 3}
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def dataset():
    return make_toy_dataset(num_seen=4, num_unseen=3, per_class=12, feature_dim=24)


@pytest.fixture(scope="module")
def trained(dataset):
    return train_runs(get_method("tfvaegan"), dataset, TFVAEGANConfig(**TINY), RunSettings(seeds=(0, 1)), CPU,
                      show_progress=False)


def test_one_run_per_seed_with_its_seed(trained):
    assert trained["method"] == "tfvaegan" and list(trained["runs"]) == ["0", "1"]
    seeds = [run["checkpoint"]["config"]["seed"] for run in trained["runs"].values()]
    assert seeds == [0, 1]
    a, b = (run["checkpoint"]["models"]["generator"] for run in trained["runs"].values())
    assert any(not torch.equal(a[k], b[k]) for k in a)  # different seeds, different generators
    assert all(run["train_time_s"] > 0 and run["peak_memory_mb"] > 0 for run in trained["runs"].values())


def test_records_hold_both_protocols_and_retrieval(dataset, trained):
    records = evaluate_runs(get_method("tfvaegan"), dataset, trained, RunSettings(seeds=(0, 1)), CPU)
    assert [r["seed"] for r in records] == [0, 1]
    for record in records:
        for protocol in ("final", "best_on_test"):
            assert set(record[protocol]) == {"zsl_t1", "gzsl_u", "gzsl_s", "gzsl_h"}
            assert all(0.0 <= v <= 1.0 for v in record[protocol].values())
        assert record["best_on_test"]["zsl_t1"] >= record["final"]["zsl_t1"]  # best of epochs incl. the last
        assert record["retrieval"]["zsr"]["k"] == 5 and 0.0 <= record["retrieval"]["gzsr"]["map"] <= 1.0
        # The GZSR database adds seen-class images, so unseen queries cannot rank better there.
        assert record["retrieval"]["gzsr"]["map"] <= record["retrieval"]["zsr"]["map"] + 1e-12
    # Deterministic: evaluating again gives the same numbers.
    again = evaluate_runs(get_method("tfvaegan"), dataset, trained, RunSettings(seeds=(0, 1)), CPU)
    assert [r["final"] for r in again] == [r["final"] for r in records]


def test_adapter_matches_the_tfvaegan_classifier_stage(dataset, trained):
    """The comparison's TF-VAEGAN sets are the pipeline's: same synthesis, same transform."""
    from zsl_pipeline.methods.tfvaegan.evaluate import classify, synthesize_unseen
    from zsl_pipeline.methods.tfvaegan.stages import load_models
    from zsl_pipeline.training.features import prepare_features

    method = get_method("tfvaegan")
    checkpoint = trained["runs"]["0"]["checkpoint"]
    data = prepare_features(dataset, CPU)
    sets = method.classifier_sets(checkpoint, data, CPU, torch.Generator().manual_seed(7))
    gzsl, zsl = method.classifier_configs(method.config_from_params(checkpoint["config"]))
    ours = fit_protocols(sets, data, gzsl, zsl, torch.Generator().manual_seed(8))
    models, config = load_models(checkpoint, CPU)
    syn_x, syn_y = synthesize_unseen(models, data, config, torch.Generator().manual_seed(7))
    theirs = classify(models, data, config, syn_x, syn_y, generator=torch.Generator().manual_seed(8))
    assert ours.final == theirs.final and ours.best_on_test == theirs.best_on_test


def test_few_shot_runs_record_their_shots(dataset):
    settings = RunSettings(seeds=(3,), n_shots=2)
    trained = train_runs(get_method("tfvaegan"), dataset, TFVAEGANConfig(**{**TINY, "nepoch": 1}), settings, CPU,
                         show_progress=False)
    assert trained["n_shots"] == 2
    records = evaluate_runs(get_method("tfvaegan"), dataset, trained, RunSettings(), CPU)
    assert records[0]["n_shots"] == 2  # from the trained runs, not the (zero-shot) settings


@pytest.mark.parametrize(
    "params, message",
    [({"seeds": 3}, "seeds"), ({"seeds": []}, "non-empty list"), ({"n_shot": 1}, "n_shot"), ({"n_shots": -1}, "n_shots")],
)
def test_run_settings_reject_bad_values(params, message):
    with pytest.raises(ValueError, match=message):
        RunParams.model_validate(params)


def _kill_at_seed(monkeypatch, killed_seed):
    """Make train_runs die when it starts ``killed_seed`` (once); returns the seeds it started."""
    real = runner.prepared_data
    started = []

    def prepared(method, ds, n_shots, seed, device):
        started.append(seed)
        if seed == killed_seed and started.count(seed) == 1:
            raise Killed("simulated crash")
        return real(method, ds, n_shots, seed, device)

    monkeypatch.setattr(runner, "prepared_data", prepared)
    return started


def _without_times(records):
    return [{k: v for k, v in r.items() if k not in ("wall_time_s", "peak_memory_mb")} for r in records]


def test_a_killed_run_resumes_after_its_finished_seeds(dataset, trained, tmp_path, monkeypatch, caplog):
    method, config, settings = get_method("tfvaegan"), TFVAEGANConfig(**TINY), RunSettings(seeds=(0, 1))
    started = _kill_at_seed(monkeypatch, 1)
    with pytest.raises(Killed):
        train_runs(method, dataset, config, settings, CPU, show_progress=False, checkpoint_dir=tmp_path)
    path = runner.runs_resume_path(tmp_path, method, dataset, config, settings=settings, device=CPU)
    assert list(torch.load(path, weights_only=True)["runs"]) == ["0"]  # seed 0 survived the crash

    with caplog.at_level("INFO", logger="zsl_pipeline.methods.runner"):
        resumed = train_runs(method, dataset, config, settings, CPU, show_progress=False, checkpoint_dir=tmp_path)
    assert started == [0, 1, 1]  # seed 0 was not trained again
    assert "seed 0: finished by an earlier run" in caplog.text
    assert not path.exists()  # removed once every seed is done
    assert list(resumed["runs"]) == ["0", "1"] and resumed["source_data"] == trained["source_data"]
    for seed in ("0", "1"):
        ours, theirs = resumed["runs"][seed]["checkpoint"], trained["runs"][seed]["checkpoint"]
        for name, state in theirs["models"].items():
            for key, tensor in state.items():
                torch.testing.assert_close(ours["models"][name][key], tensor, rtol=0, atol=0)
    # The records equal an uninterrupted run's, bit for bit (times aside).
    expected = evaluate_runs(method, dataset, trained, settings, CPU)
    assert _without_times(evaluate_runs(method, dataset, resumed, settings, CPU)) == _without_times(expected)


def test_finished_seeds_of_other_code_or_settings_are_not_reused(dataset, tmp_path, monkeypatch, caplog):
    method, settings = get_method("tfvaegan"), RunSettings(seeds=(0, 1))
    config = TFVAEGANConfig(**{**TINY, "nepoch": 1})
    started = _kill_at_seed(monkeypatch, 1)
    with pytest.raises(Killed):
        train_runs(method, dataset, config, settings, CPU, show_progress=False, checkpoint_dir=tmp_path)
    path = runner.runs_resume_path(tmp_path, method, dataset, config, settings=settings, device=CPU)
    assert path != runner.runs_resume_path(
        tmp_path, method, dataset, TFVAEGANConfig(**{**TINY, "nepoch": 2}), settings=settings, device=CPU
    )
    assert path != runner.runs_resume_path(
        tmp_path, method, dataset, config, settings=RunSettings(seeds=(0, 1), n_shots=1), device=CPU
    )
    assert path == runner.runs_resume_path(  # the seed list is not part of the key
        tmp_path, method, dataset, config, settings=RunSettings(seeds=(0, 1, 2)), device=CPU
    )
    monkeypatch.setattr(runner, "method_code_version", lambda package: "0.0.9+oldoldoldold")
    with caplog.at_level("WARNING"):
        train_runs(method, dataset, config, settings, CPU, show_progress=False, checkpoint_dir=tmp_path)
    assert started == [0, 1, 0, 1]  # every seed trained again
    assert "not resuming" in caplog.text and "0.0.9+oldoldoldold" in caplog.text
    assert not path.exists()
