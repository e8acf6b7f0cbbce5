"""Feature-to-image inversion: a generator 2048-d feature -> 64x64 RGB, and its discriminator.

After Dosovitskiy & Brox, "Generating Images with Perceptual Similarity Metrics based on Deep
Networks" (NeurIPS 2016), as used by TF-VAEGAN (ECCV 2020) in its qualitative study to show
synthesised unseen-class features as images: a fully connected layer to a small spatial map,
then upsampling conv blocks; a conditional discriminator judges (image, feature) pairs.

Generator output range: **[0, 1]** (final sigmoid), the range of the real images it is
trained against and the input range of the perceptual network's ImageNet normalisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zsl_pipeline.vision.backbone import FEATURE_DIM

#: Spatial size of the generator's first map: 2x2 doubled 5 times gives 64x64.
GENERATOR_START_SIZE = 2
#: Default generator widths: the FC's map (first entry) and the output of each upsampling block.
GENERATOR_CHANNELS = (512, 512, 256, 128, 64, 32)
#: Default discriminator widths, one per stride-2 block (64 -> 32 -> 16 -> 8 -> 4).
DISCRIMINATOR_CHANNELS = (32, 64, 128, 256)
#: Width of the discriminator's feature embedding, replicated over the 4x4 image map.
FEATURE_EMBED_DIM = 256
#: DCGAN's slope for the discriminator's LeakyReLU (Radford et al., 2016).
LEAKY_SLOPE = 0.2
IMAGE_CHANNELS = 3


class InversionGenerator(nn.Module):
    """(N, 2048) features -> (N, 3, S, S) images in [0, 1], S = start_size * 2**(len(channels)-1)."""

    def __init__(
        self,
        feature_dim: int = FEATURE_DIM,
        channels: tuple[int, ...] = GENERATOR_CHANNELS,
        start_size: int = GENERATOR_START_SIZE,
    ):
        super().__init__()
        if len(channels) < 2:
            raise ValueError("channels needs the FC width and at least one block width")
        self.channels, self.start_size = tuple(channels), start_size
        self.fc = nn.Sequential(
            nn.Linear(feature_dim, channels[0] * start_size * start_size),
            nn.ReLU(inplace=True),
        )
        blocks = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.to_rgb = nn.Conv2d(channels[-1], IMAGE_CHANNELS, kernel_size=3, padding=1)

    @property
    def image_size(self) -> int:
        return self.start_size * 2 ** (len(self.channels) - 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = self.fc(features)  # (N, C0 * s * s)
        h = h.view(-1, self.channels[0], self.start_size, self.start_size)  # (N, C0, s, s)
        return torch.sigmoid(self.to_rgb(self.blocks(h)))  # (N, 3, S, S) in [0, 1]


class InversionDiscriminator(nn.Module):
    """Conditional discriminator: P(real) of an (image, feature) pair, in (0, 1).

    Four stride-2 conv blocks take the S x S image to (S/16) x (S/16); the feature goes through
    a Linear layer, is replicated over that map and concatenated with it; a final conv covering
    the whole map gives one logit, and a sigmoid the probability.
    """

    def __init__(
        self,
        feature_dim: int = FEATURE_DIM,
        channels: tuple[int, ...] = DISCRIMINATOR_CHANNELS,
        feature_embed_dim: int = FEATURE_EMBED_DIM,
        image_size: int = 64,
    ):
        super().__init__()
        downsample = 2 ** len(channels)
        if image_size % downsample:
            raise ValueError(f"image_size {image_size} is not divisible by {downsample}")
        self.map_size = image_size // downsample
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip((IMAGE_CHANNELS, *channels[:-1]), channels)):
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=i == 0))
            if i > 0:  # DCGAN: no BatchNorm on the discriminator's input layer
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(LEAKY_SLOPE, inplace=True))
        self.image_net = nn.Sequential(*layers)
        self.feature_net = nn.Sequential(nn.Linear(feature_dim, feature_embed_dim), nn.LeakyReLU(LEAKY_SLOPE))
        self.judge = nn.Conv2d(channels[-1] + feature_embed_dim, 1, kernel_size=self.map_size)

    def logits(self, images: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S), (N, 2048) -> (N,) logits (use with BCE-with-logits for stability)."""
        h = self.image_net(images)  # (N, C, m, m)
        e = self.feature_net(features)  # (N, E)
        e = e[:, :, None, None].expand(-1, -1, self.map_size, self.map_size)  # (N, E, m, m)
        return self.judge(torch.cat([h, e], dim=1)).flatten()  # (N, 1, 1, 1) -> (N,)

    def forward(self, images: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(N,) probability that each (image, feature) pair is real, in (0, 1)."""
        return torch.sigmoid(self.logits(images, features))


def generator_channels_for(image_size: int, widths: tuple[int, ...] = GENERATOR_CHANNELS) -> tuple[int, ...]:
    """Generator widths giving ``image_size`` from the 2x2 start (power-of-two sizes only)."""
    doublings = math.log2(image_size / GENERATOR_START_SIZE)
    if not doublings.is_integer() or doublings < 1:
        raise ValueError(f"image_size {image_size} must be {GENERATOR_START_SIZE} * 2**k, k >= 1")
    n = int(doublings) + 1
    return tuple(widths[: n]) if len(widths) >= n else tuple(widths) + (widths[-1],) * (n - len(widths))
