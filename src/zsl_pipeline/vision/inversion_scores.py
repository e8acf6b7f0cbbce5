"""How close inverted features are to the real images of their class, in image space."""

from __future__ import annotations

import numpy as np
import torch

from zsl_pipeline.vision.backbone import ResNetBackbone
from zsl_pipeline.vision.inversion import INFERENCE_BATCH, PerceptualNet, as_image_tensor, to_unit_range


def _activations(
    percept: PerceptualNet, images: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    outs = [percept(to_unit_range(chunk).to(device)) for chunk in images.split(INFERENCE_BATCH)]
    return (torch.cat([o[0] for o in outs]).double().cpu(), torch.cat([o[1] for o in outs]).double().cpu())


def _mean_sq_dist_to_set(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """mean_j ||a_i - b_j||^2 / D for each row a_i (closed form: |a|^2 - 2 a.mean(b) + mean|b|^2)."""
    d = a.shape[1]
    out = (a * a).sum(1) - 2 * a @ b.mean(0) + (b * b).sum(1).mean()
    return out.clamp_min(0) / d


def image_space_scores(
    inverted: torch.Tensor,
    labels: np.ndarray,
    reference_images: np.ndarray | torch.Tensor,
    reference_labels: np.ndarray,
    *,
    perceptual_net: ResNetBackbone,
    device: torch.device | str,
    image_size: int = 64,
) -> dict[str, np.ndarray]:
    """How close each inversion is to the real images of its class, in image space.

    For inversion i of class ``labels[i]``: ``l1`` = mean over the class's real images of the
    mean absolute pixel difference; ``perceptual`` = per layer (layer4 map, pooled) the mean over
    the class's real images of the squared activation error over the real images' mean square
    activation, summed (the relative error of the training loss). Lower is closer. Every labelled
    class needs at least one reference image.

    Args:
        inverted: (N, 3, S, S) in [0, 1] (output of :func:`invert`).
        labels: (N,) class id of each inversion.
        reference_images: (M, S, S, 3) uint8 or (M, 3, S, S) real images; reference_labels (M,).
    Returns:
        ``{"l1": (N,), "perceptual": (N,)}`` float64 arrays.
    """
    device = torch.device(device)
    inv = as_image_tensor(inverted, image_size)
    ref = as_image_tensor(reference_images, image_size)
    labels, reference_labels = np.asarray(labels), np.asarray(reference_labels)
    missing = np.setdiff1d(labels, reference_labels)
    if missing.size:
        raise ValueError(f"no reference images for classes {missing[:10].tolist()}")
    percept = PerceptualNet(perceptual_net).to(device)
    with torch.inference_mode():
        inv_map, inv_pool = _activations(percept, inv, device)
        ref_map, ref_pool = _activations(percept, ref, device)
    inv_px = to_unit_range(inv).flatten(1)  # (N, 3*S*S)
    ref_px = to_unit_range(ref).flatten(1)
    l1 = np.empty(labels.size)
    perceptual = np.empty(labels.size)
    for c in np.unique(labels):
        rows = torch.as_tensor(np.flatnonzero(labels == c))
        refs = torch.as_tensor(np.flatnonzero(reference_labels == c))
        # (n_c, m_c) pairwise L1 distances / pixels -> mean over the class's references
        l1[rows.numpy()] = (torch.cdist(inv_px[rows], ref_px[refs], p=1) / inv_px.shape[1]).mean(1).numpy()
        perceptual[rows.numpy()] = (
            _mean_sq_dist_to_set(inv_map[rows], ref_map[refs]) / ref_map[refs].pow(2).mean()
            + _mean_sq_dist_to_set(inv_pool[rows], ref_pool[refs]) / ref_pool[refs].pow(2).mean()
        ).numpy()
    return {"l1": l1, "perceptual": perceptual}


def between_class_l1(images: np.ndarray | torch.Tensor, image_size: int = 64) -> float:
    """Mean per-pixel L1 between the images of two different classes, over every pair of the
    (N >= 2) images, one image per class: how much a row of the inversion grid changes from
    class to class (0 when every class gets the same image)."""
    px = to_unit_range(as_image_tensor(images, image_size)).flatten(1).double()
    n = px.shape[0]
    if n < 2:
        raise ValueError(f"between_class_l1 needs images of at least 2 classes, got {n}")
    return float((torch.cdist(px, px, p=1) / px.shape[1]).sum() / (n * (n - 1)))
