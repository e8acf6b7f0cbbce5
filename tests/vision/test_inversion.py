"""Inversion training, inversion and image-space scores on tiny data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crashes import Killed, crash_after_epoch_checkpoint
from device_checks import saved_devices, tensor_devices
from zsl_pipeline.losses import discriminator_loss, generator_adversarial_loss, l1_image_loss, perceptual_loss
from zsl_pipeline.vision.backbone import build_backbone
from zsl_pipeline.vision.inversion import (
    InversionConfig,
    build_networks,
    invert,
    load_generator,
    train_inversion,
)
from zsl_pipeline.vision.inversion_scores import between_class_l1, image_space_scores

TINY = dict(epochs=1, batch_size=2, generator_channels=(32, 32, 16, 16, 8, 8),
            discriminator_channels=(8, 8, 16, 16), feature_embed_dim=8)


@pytest.fixture(scope="module")
def perceptual_net():
    return build_backbone("none")


@pytest.fixture
def pairs():
    rng = np.random.default_rng(0)
    feats = np.abs(rng.normal(size=(4, 2048))).astype(np.float32)
    images = rng.integers(0, 256, size=(4, 64, 64, 3), dtype=np.uint8)
    return feats, images


def test_losses_on_hand_computed_values():
    a, b = torch.zeros(2, 3), torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    assert l1_image_loss(a, b).item() == pytest.approx(1.0)  # 6 / 6
    ones = torch.ones(2, 3)
    # layer: MSE 8/6 over the real mean square 14/6; pooled: MSE 1/2 over 1/2
    assert perceptual_loss((ones, ones[:, :1]), (b, b[:, :1])).item() == pytest.approx(8 / 14 + 1)
    scaled = perceptual_loss((1000 * ones, 1000 * ones[:, :1]), (1000 * b, 1000 * b[:, :1]))
    assert scaled.item() == pytest.approx(8 / 14 + 1)  # scale-free
    zero = torch.zeros(4)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_adversarial_loss(zero).item() == pytest.approx(math.log(2))


def test_one_epoch_trains_and_round_trips(tmp_path, pairs, perceptual_net):
    feats, images = pairs
    config = InversionConfig(**TINY)
    checkpoint, history = train_inversion(feats, images, config, "cpu", perceptual_net=perceptual_net)
    for key in ("generator_loss", "l1", "perceptual", "adversarial", "discriminator_loss"):
        assert len(history[key]) == 1 and math.isfinite(history[key][0]), key
    assert 0 < history["d_real"][0] < 1 and 0 < history["d_fake"][0] < 1

    torch.save(checkpoint, tmp_path / "inv.pt")
    generator = load_generator(torch.load(tmp_path / "inv.pt", weights_only=True))
    out = invert(generator, feats, "cpu")
    assert out.shape == (4, 3, 64, 64) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    # a tensor (here one that requires grad, which numpy cannot take) gives the same images
    as_tensor = torch.as_tensor(feats, dtype=torch.float32).requires_grad_(True)
    assert torch.equal(invert(generator, as_tensor, "cpu"), out)
    if torch.cuda.is_available():  # synthetic features live on the GPU in a CUDA run
        torch.testing.assert_close(invert(generator, as_tensor.detach().cuda(), "cuda"), out, atol=1e-4, rtol=0)


def test_without_adversarial_term_and_bad_sizes(pairs, perceptual_net):
    feats, images = pairs
    config = InversionConfig(**{**TINY, "adversarial_weight": 0.0})
    _, history = train_inversion(feats, images, config, "cpu", perceptual_net=perceptual_net)
    assert history["adversarial"] == [0.0] and math.isfinite(history["generator_loss"][0])
    with pytest.raises(ValueError, match="64 x 64"):
        train_inversion(feats, images[:, :32, :32], config, "cpu", perceptual_net=perceptual_net)
    with pytest.raises(ValueError, match="not image_size 32"):
        InversionConfig(image_size=32, generator_channels=(512, 512, 256, 128, 64, 32))  # 64 px widths
    with pytest.raises(ValueError, match="image_size 48 must be"):
        InversionConfig(image_size=48)


def test_widths_follow_the_image_size_unless_given():
    assert InversionConfig().generator_channels == (512, 512, 256, 128, 64, 32)
    assert InversionConfig(image_size=128).generator_channels == (512, 512, 256, 128, 64, 32, 32)
    generator, discriminator = build_networks(InversionConfig(image_size=128, generator_channels=(16,) * 7,
                                                              discriminator_channels=(8, 8, 8, 8)), feature_dim=5)
    assert generator(torch.rand(2, 5)).shape == (2, 3, 128, 128)
    assert discriminator(torch.rand(2, 3, 128, 128), torch.rand(2, 5)).shape == (2,)


def test_between_class_l1_is_the_mean_over_pairs_of_classes():
    images = torch.zeros(3, 3, 2, 2)
    images[1] = 1.0  # class 1 differs from 0 and 2 by 1 per pixel; 0 and 2 are the same image
    assert between_class_l1(images, 2) == pytest.approx((1 + 1 + 0) / 3)
    as_uint8 = (images.permute(0, 2, 3, 1) * 255).to(torch.uint8).numpy()  # (N, S, S, 3) 0..255
    assert between_class_l1(as_uint8, 2) == pytest.approx(2 / 3)
    assert between_class_l1(torch.rand(1, 3, 2, 2).expand(4, -1, -1, -1), 2) == 0.0
    with pytest.raises(ValueError, match="at least 2 classes"):
        between_class_l1(images[:1], 2)


def test_image_space_scores_match_a_brute_force_loop(perceptual_net):
    rng = np.random.default_rng(1)
    inverted = torch.rand(3, 3, 64, 64)
    labels = np.array([0, 1, 0])
    refs = rng.integers(0, 256, size=(4, 64, 64, 3), dtype=np.uint8)
    ref_labels = np.array([0, 0, 1, 1])
    scores = image_space_scores(inverted, labels, refs, ref_labels, perceptual_net=perceptual_net, device="cpu")

    ref_t = torch.as_tensor(refs).permute(0, 3, 1, 2).float() / 255
    from zsl_pipeline.vision.inversion import PerceptualNet

    net = PerceptualNet(perceptual_net)
    with torch.no_grad():
        for i, c in enumerate(labels):
            own = ref_t[ref_labels == c]
            l1 = np.mean([l1_image_loss(inverted[i], r).item() for r in own])
            acts_i = net(inverted[i:i + 1])
            refs_acts = [net(r[None]) for r in own]
            perc = sum(  # per layer: mean squared error to each real image / their mean square
                np.mean([((acts_i[k] - r[k]) ** 2).mean().item() for r in refs_acts])
                / np.mean([(r[k] ** 2).mean().item() for r in refs_acts])
                for k in range(2)
            )
            assert scores["l1"][i] == pytest.approx(l1, rel=1e-5)
            assert scores["perceptual"][i] == pytest.approx(perc, rel=1e-3, abs=1e-6)
    with pytest.raises(ValueError, match="no reference images"):
        image_space_scores(inverted, np.array([0, 5, 0]), refs, ref_labels, perceptual_net=perceptual_net, device="cpu")


def test_a_checkpoint_from_before_the_precision_setting_still_loads(pairs, perceptual_net):
    feats, images = pairs
    checkpoint, _ = train_inversion(feats, images, InversionConfig(**TINY), "cpu", perceptual_net=perceptual_net)
    old = {**checkpoint, "config": {**{k: v for k, v in checkpoint["config"].items() if k != "precision"}, "amp": True}}
    assert torch.equal(invert(load_generator(old), feats, "cpu"), invert(load_generator(checkpoint), feats, "cpu"))


def test_seeding_leaves_the_callers_gpu_generators_alone(pairs, perceptual_net, monkeypatch):
    """Inversion training seeds the CPU's generator only (see the fine-tuning test of the same name)."""
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    train_inversion(*pairs, InversionConfig(**TINY), "cpu", perceptual_net=perceptual_net)
    assert calls == []


@pytest.mark.gpu
def test_training_on_cuda_writes_a_checkpoint_that_loads_without_a_gpu(tmp_path, pairs, perceptual_net):
    feats, images = pairs
    checkpoint, history = train_inversion(feats, images, InversionConfig(**TINY), "cuda", perceptual_net=perceptual_net)
    assert math.isfinite(history["generator_loss"][0])
    assert tensor_devices(checkpoint) == {"cpu"}  # networks and both Adam states
    torch.save(checkpoint, tmp_path / "inv.pt")
    assert saved_devices(tmp_path / "inv.pt") == {"cpu"}
    generator = load_generator(torch.load(tmp_path / "inv.pt", weights_only=True))
    images_cpu = invert(generator, feats, "cpu")
    torch.testing.assert_close(invert(generator, feats, "cuda"), images_cpu, atol=1e-4, rtol=0)
    scores = image_space_scores(
        images_cpu, np.array([0, 1, 0, 1]), images, np.array([0, 0, 1, 1]), perceptual_net=perceptual_net,
        device="cuda",
    )
    assert np.isfinite(scores["l1"]).all() and np.isfinite(scores["perceptual"]).all()


def test_each_epoch_and_its_batches_are_announced_as_they_end(pairs, perceptual_net):
    from zsl_pipeline.training.events import epoch_listener, iteration_listener

    epochs, ticks = [], []
    with epoch_listener(lambda *event: epochs.append(event)), iteration_listener(lambda *t: ticks.append(t)):
        _, history = train_inversion(
            *pairs, InversionConfig(**{**TINY, "epochs": 2}), "cpu", perceptual_net=perceptual_net, progress=False
        )
    assert [(stage, epoch) for stage, epoch, _ in epochs] == [("inversion", 1), ("inversion", 2)]
    assert [values["generator_loss"] for _, _, values in epochs] == history["generator_loss"]
    assert ticks == [(1, 2), (2, 2)] * 2  # 4 pairs in batches of 2


def test_killed_inversion_resumes_after_its_last_epoch_checkpoint(tmp_path, perceptual_net, pairs, monkeypatch):
    from zsl_pipeline.training.epoch_resume import EpochCheckpoint

    feats, images = pairs
    config = InversionConfig(**{**TINY, "epochs": 3})
    reference, reference_history = train_inversion(feats, images, config, "cpu", perceptual_net=perceptual_net,
                                                   progress=False)  # fmt: skip
    resume_file = EpochCheckpoint(tmp_path / "inversion.pt", "test+code")
    saved = crash_after_epoch_checkpoint(monkeypatch, epoch=2)
    with pytest.raises(Killed):
        train_inversion(feats, images, config, "cpu", perceptual_net=perceptual_net, progress=False,
                        resume_file=resume_file)  # fmt: skip
    resumed, history = train_inversion(feats, images, config, "cpu", perceptual_net=perceptual_net, progress=False,
                                       resume_file=resume_file)  # fmt: skip
    assert saved == [1, 2]  # resumed after epoch 2; no checkpoint after the last epoch
    assert {k: v for k, v in history.items() if k != "seconds"} == {
        k: v for k, v in reference_history.items() if k != "seconds"
    }
    for part in ("generator_state_dict", "discriminator_state_dict"):
        for key, tensor in reference[part].items():
            torch.testing.assert_close(resumed[part][key], tensor, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"inversion\.pt: it has 2 epochs completed.*nepoch=2"):
        train_inversion(feats, images, InversionConfig(**{**TINY, "epochs": 2}), "cpu", perceptual_net=perceptual_net,
                        progress=False, resume_file=resume_file)  # fmt: skip
