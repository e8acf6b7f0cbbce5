"""The data fingerprint every saved model and tensor carries, and its checks."""

from __future__ import annotations

import logging

import pytest

from toy_data import make_toy_dataset
from zsl_pipeline.data.fingerprint import (
    SOURCE_KEY,
    check_same_source,
    check_source,
    dataset_fingerprint,
    source_data,
    stamped,
    unstamped,
)


def test_the_fingerprint_follows_the_data_not_the_object():
    a, again = make_toy_dataset(seed=0, name="CUB"), make_toy_dataset(seed=0, name="CUB")
    assert dataset_fingerprint(a) == dataset_fingerprint(again) and len(dataset_fingerprint(a)) == 16
    assert dataset_fingerprint(make_toy_dataset(seed=1)) != dataset_fingerprint(a)
    assert source_data(a) == {"dataset": "CUB", "fingerprint": dataset_fingerprint(a)}


def test_check_source_names_both_datasets_and_the_entry():
    cub, demo = make_toy_dataset(seed=0, name="CUB"), make_toy_dataset(seed=1, name="demo")
    saved = stamped({"models": {}}, source_data(cub))
    assert unstamped(saved) == {"models": {}} and SOURCE_KEY in saved
    check_source(saved, source_data(cub), "tfvaegan_model")  # the same data: fine
    with pytest.raises(ValueError) as error:
        check_source(saved, source_data(demo), "the generator checkpoint (tfvaegan_model)")
    message = str(error.value)
    assert "(tfvaegan_model)" in message
    assert f"dataset 'CUB' (fingerprint {dataset_fingerprint(cub)})" in message
    assert f"dataset 'demo' (fingerprint {dataset_fingerprint(demo)})" in message


def test_an_object_saved_before_fingerprints_passes_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        check_source({"models": {}}, source_data(make_toy_dataset()), "tfvaegan_model")
    assert "cannot be checked" in caplog.text


def test_a_comparison_of_runs_on_different_data_is_refused():
    cub, demo = source_data(make_toy_dataset(seed=0, name="CUB")), source_data(make_toy_dataset(seed=1, name="demo"))
    check_same_source([{"method": "clswgan", SOURCE_KEY: cub}, {"method": "eszsl", SOURCE_KEY: cub}, {"method": "old"}])
    with pytest.raises(ValueError, match=r"clswgan_runs from dataset 'CUB'.*cada_vae_runs from dataset 'demo'"):
        check_same_source([{"method": "clswgan", SOURCE_KEY: cub}, {"method": "cada_vae", SOURCE_KEY: demo}])
