"""Inversion generator and discriminator: shapes and value ranges."""

from __future__ import annotations

import pytest
import torch

from zsl_pipeline.vision.inversion_models import (
    InversionDiscriminator,
    InversionGenerator,
    generator_channels_for,
)


def test_generator_gives_64px_images_in_unit_range():
    torch.manual_seed(0)
    gen = InversionGenerator()
    images = gen(torch.rand(3, 2048) * 5)
    assert gen.image_size == 64
    assert images.shape == (3, 3, 64, 64)
    assert images.min() >= 0 and images.max() <= 1


def test_discriminator_outputs_probabilities():
    torch.manual_seed(0)
    disc = InversionDiscriminator(channels=(8, 16, 16, 32), feature_embed_dim=16)
    images, feats = torch.rand(4, 3, 64, 64), torch.rand(4, 2048)
    prob = disc(images, feats)
    assert prob.shape == (4,)
    assert ((prob > 0) & (prob < 1)).all()
    assert torch.allclose(prob, torch.sigmoid(disc.logits(images, feats)))


def test_widths_and_sizes_are_checked():
    assert generator_channels_for(64) == (512, 512, 256, 128, 64, 32)
    assert generator_channels_for(32) == (512, 512, 256, 128, 64)
    assert InversionGenerator(feature_dim=8, channels=(8, 8, 4)).image_size == 8
    with pytest.raises(ValueError):
        generator_channels_for(48)
    with pytest.raises(ValueError):
        InversionDiscriminator(image_size=72)
