"""The built-in demo dataset: procedurally rendered shapes with binary class attributes.

Each class is one combination of attribute values (shape, colour, fill pattern, size), named
like ``large_red_striped_circle``. Its class embedding is the one-hot-per-group attribute
vector (binary, like the unnormalised xlsa17 ``att``; :func:`~zsl_pipeline.data.images.
read_image_dataset` L2-normalises it). Unseen classes are held-out combinations whose every
attribute value occurs among the seen classes, so zero-shot transfer is possible; validation
classes are held out of the train classes in the same way (xlsa17's train/val protocol).

Images vary within a class (position, scale, rotation, background colour and texture, colour
jitter, pixel noise). Every image is drawn from its own generator seeded with
``(seed, class index, image index)``, so the same config gives byte-identical images.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

#: Object colours (RGB, 0..255): saturated, so they stand out from the greyish backgrounds.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 175, 60),
    "blue": (50, 80, 225),
    "yellow": (235, 215, 40),
    "magenta": (205, 50, 205),
}
#: Shape radius as a fraction of the image side, before scale jitter.
SIZES: dict[str, float] = {"small": 0.2, "large": 0.34}
SHAPES = ("circle", "square", "triangle", "star", "cross", "hexagon")
PATTERNS = ("solid", "striped", "dotted", "hollow")
#: Attribute groups in class-name order (``<size>_<colour>_<pattern>_<shape>``).
GROUPS = ("size", "colour", "pattern", "shape")

#: Vertices of the polygon that approximates a circle (smooth at 64 px).
_CIRCLE_VERTICES = 48
#: Star inner radius relative to the outer one.
_STAR_INNER = 0.45
#: Half-width of a cross arm relative to the arm length.
_CROSS_HALF_WIDTH = 0.3
#: Half-side of a square relative to the radius, so its area is close to the circle's.
_SQUARE_HALF_SIDE = 0.8
#: Margin (pixels) between a shape's bounding circle and the image border.
_BORDER_MARGIN = 1.0


@dataclass(frozen=True)
class DemoConfig:
    """Sizes, seed and rendering variation of the demo dataset.

    Attributes:
        num_classes: classes picked from the product of the attribute values.
        num_unseen: of which held out as unseen (all their images are ``test_unseen``).
        images_per_class: images rendered per class.
        image_size: side of the square RGB images in pixels.
        seed: seeds class selection, the seen/unseen/val choice and every image.
        trainval_fraction: share of each seen class's images in ``trainval`` (rest ``test_seen``).
        val_class_fraction: share of seen classes that are validation classes (0 for none).
        shapes, colours, patterns, sizes: attribute values (names from the module constants).
        scale_jitter: relative shape-size jitter (uniform +-).
        max_rotation_deg: shape rotation (uniform +-, degrees).
        colour_jitter: std of the per-image object colour shift (0..255 units, per channel).
        background_contrast: amplitude of the background gradient and texture (0..255 units).
        noise_std: std of the additive per-pixel Gaussian noise (0..255 units).
        supersample: shapes are drawn at this multiple of the size and box-filtered down.
    """

    num_classes: int = 60
    num_unseen: int = 15
    images_per_class: int = 40
    image_size: int = 64
    seed: int = 0
    trainval_fraction: float = 0.8
    val_class_fraction: float = 0.2
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(COLOURS)
    patterns: tuple[str, ...] = PATTERNS
    sizes: tuple[str, ...] = tuple(SIZES)
    scale_jitter: float = 0.15
    max_rotation_deg: float = 45.0
    colour_jitter: float = 25.0
    background_contrast: float = 35.0
    noise_std: float = 10.0
    supersample: int = 2

    def __post_init__(self) -> None:
        for group, values, known in (
            ("shapes", self.shapes, SHAPES),
            ("colours", self.colours, tuple(COLOURS)),
            ("patterns", self.patterns, PATTERNS),
            ("sizes", self.sizes, tuple(SIZES)),
        ):
            unknown = sorted(set(values) - set(known))
            if unknown or not values or len(set(values)) != len(values):
                raise ValueError(f"DemoConfig.{group}: need distinct values from {known}, got {values}")
        combos = len(self.shapes) * len(self.colours) * len(self.patterns) * len(self.sizes)
        if not 2 <= self.num_classes <= combos:
            raise ValueError(f"DemoConfig.num_classes must lie in 2..{combos} (attribute combinations)")
        if not 1 <= self.num_unseen < self.num_classes:
            raise ValueError("DemoConfig.num_unseen must lie in 1..num_classes-1")
        n_trainval = self.trainval_images_per_class
        if not 1 <= n_trainval < self.images_per_class:
            raise ValueError(
                f"DemoConfig: trainval_fraction {self.trainval_fraction} of {self.images_per_class} images "
                "must leave at least one trainval and one test_seen image per seen class"
            )
        if not 0.0 <= self.val_class_fraction < 1.0:
            raise ValueError("DemoConfig.val_class_fraction must lie in [0, 1)")
        if self.image_size < 16 or self.supersample < 1:
            raise ValueError("DemoConfig: image_size must be >= 16 and supersample >= 1")

    @property
    def trainval_images_per_class(self) -> int:
        return int(round(self.trainval_fraction * self.images_per_class))

    @property
    def num_val_classes(self) -> int:
        return int(round(self.val_class_fraction * (self.num_classes - self.num_unseen)))


@dataclass(frozen=True, eq=False)
class DemoRendering:
    """Rendered images, the manifest and the attribute table (see :func:`render_demo_dataset`)."""

    images: dict[str, Image.Image]
    manifest: pd.DataFrame
    attributes: pd.DataFrame


@dataclass(frozen=True)
class _DemoClass:
    name: str
    values: tuple[str, str, str, str]  # in GROUPS order
    role: str  # "train", "val" or "unseen"


def _values_of(config: DemoConfig) -> tuple[tuple[str, ...], ...]:
    return (config.sizes, config.colours, config.patterns, config.shapes)


def _hold_out(combos: list[tuple[str, ...]], candidates: list[int], count: int, what: str) -> list[int]:
    """Greedily pick ``count`` of ``candidates`` so the rest still cover every attribute value."""
    needed = {(g, v) for combo in combos for g, v in enumerate(combo)}
    held: list[int] = []
    for i in candidates:
        if len(held) == count:
            break
        rest = [combos[j] for j in range(len(combos)) if j not in held and j != i]
        if {(g, v) for combo in rest for g, v in enumerate(combo)} == needed:
            held.append(i)
    if len(held) < count:
        raise ValueError(f"cannot hold out {count} {what} of {len(combos)} classes and keep every attribute value")
    return held


def _check_coverage(covering: list[tuple[str, ...]], held: list[tuple[str, ...]], what: str) -> None:
    have = {(g, v) for combo in covering for g, v in enumerate(combo)}
    missing = {(GROUPS[g], v) for combo in held for g, v in enumerate(combo)} - {(GROUPS[g], v) for g, v in have}
    if missing:
        raise AssertionError(f"{what} classes use attribute values absent from the others: {sorted(missing)}")


def _plan_classes(config: DemoConfig) -> list[_DemoClass]:
    """Pick classes from the attribute product and assign train / val / unseen roles."""
    rng = np.random.default_rng(config.seed)
    product = list(itertools.product(*_values_of(config)))
    picked = sorted(rng.permutation(len(product))[: config.num_classes].tolist())
    combos = [product[i] for i in picked]
    unseen = set(_hold_out(combos, rng.permutation(len(combos)).tolist(), config.num_unseen, "unseen"))
    seen = [i for i in range(len(combos)) if i not in unseen]
    seen_combos = [combos[i] for i in seen]
    val_local = _hold_out(seen_combos, rng.permutation(len(seen)).tolist(), config.num_val_classes, "val")
    val = {seen[i] for i in val_local}
    train = [i for i in seen if i not in val]
    _check_coverage([combos[i] for i in seen], [combos[i] for i in unseen], "unseen")
    _check_coverage([combos[i] for i in train], [combos[i] for i in val], "val")
    roles = ["unseen" if i in unseen else "val" if i in val else "train" for i in range(len(combos))]
    return [_DemoClass("_".join(c), c, r) for c, r in zip(combos, roles)]  # type: ignore[arg-type]


def _unit_polygon(shape: str) -> np.ndarray:
    """(V, 2) vertices of ``shape`` with bounding radius about 1, centred at 0."""
    if shape == "circle" or shape == "hexagon":
        n = _CIRCLE_VERTICES if shape == "circle" else 6
        t = 2 * np.pi * np.arange(n) / n
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    if shape == "square":
        s = _SQUARE_HALF_SIDE
        return np.array([[-s, -s], [s, -s], [s, s], [-s, s]])
    if shape == "triangle":
        t = np.deg2rad([-90.0, 30.0, 150.0])
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    if shape == "star":
        t = np.deg2rad(-90.0 + 36.0 * np.arange(10))
        r = np.where(np.arange(10) % 2 == 0, 1.0, _STAR_INNER)
        return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    if shape == "cross":
        w = _CROSS_HALF_WIDTH
        return np.array(
            [[-w, -1], [w, -1], [w, -w], [1, -w], [1, w], [w, w], [w, 1], [-w, 1], [-w, w], [-1, w], [-1, -w], [-w, -w]]
        )
    raise ValueError(f"unknown shape {shape!r}")


_UNIT_POLYGONS = {shape: _unit_polygon(shape) for shape in SHAPES}


def _mask(points: list[tuple[float, float]], size: int, fill: bool, line_width: int) -> Image.Image:
    """A (size x size) 8-bit mask of a polygon, filled or outlined."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    if fill:
        draw.polygon(points, fill=255)
    else:
        draw.line(points + points[:1], fill=255, width=line_width, joint="curve")
    return canvas


def _render_image(config: DemoConfig, cls: _DemoClass, rng: np.random.Generator, grid: np.ndarray) -> Image.Image:
    size_name, colour_name, pattern, shape = cls.values
    s, ss = config.image_size, config.supersample
    # Shape geometry: radius (px), rotation, centre kept inside the image.
    radius = SIZES[size_name] * s * rng.uniform(1 - config.scale_jitter, 1 + config.scale_jitter)
    theta = np.deg2rad(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg))
    lo, hi = radius + _BORDER_MARGIN, s - radius - _BORDER_MARGIN
    centre = rng.uniform(lo, hi, size=2)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    verts = (_UNIT_POLYGONS[shape] @ rot.T) * radius + centre  # (V, 2) in pixels
    pts = [(float(x), float(y)) for x, y in verts * ss]

    # Object coverage (alpha, s x s): fill x pattern, plus an outline.
    big = ss * s
    outline_px = max(1, s // 20) * (2 if pattern == "hollow" else 1)
    outline = _mask(pts, big, fill=False, line_width=outline_px * ss).reduce(ss)
    alpha = np.asarray(outline, dtype=np.float32) / 255.0
    if pattern != "hollow":
        fill = np.asarray(_mask(pts, big, fill=True, line_width=0).reduce(ss), dtype=np.float32) / 255.0
        # Pattern in the object's own (rotated) frame, so stripes and dots turn with it.
        local = (grid - centre) @ rot  # (s, s, 2)
        period = max(4.0, s / 9)
        if pattern == "striped":
            fill = fill * ((local[..., 1] / period) % 1.0 < 0.5)
        elif pattern == "dotted":
            d = (local / period) % 1.0 - 0.5
            fill = fill * (np.hypot(d[..., 0], d[..., 1]) < 0.3)
        alpha = np.maximum(alpha, fill)

    # Background: a greyish tint, a linear gradient and a low-frequency wave texture.
    base = rng.uniform(60, 190) + rng.normal(0, 15, size=3)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-9
    ramp = ((grid - s / 2) @ direction) / s  # (s, s) in about -0.7..0.7
    wave_dir = rng.normal(size=2)
    wave = np.sin((grid @ wave_dir) * rng.uniform(0.1, 0.3) + rng.uniform(0, 2 * np.pi))
    shade = config.background_contrast * (ramp + 0.5 * rng.uniform(0, 1) * wave)
    background = base[None, None, :] + shade[..., None] * rng.uniform(0.5, 1.0, size=3)

    colour = np.asarray(COLOURS[colour_name], dtype=np.float64) + rng.normal(0, config.colour_jitter, size=3)
    a = alpha[..., None].astype(np.float64)
    image = background * (1 - a) + colour * a + rng.normal(0, config.noise_std, size=(s, s, 3))
    return Image.fromarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))


def render_demo_dataset(config: DemoConfig) -> DemoRendering:
    """Render the demo dataset: images keyed ``<class>/<class>_NNNN``, manifest and attributes.

    The manifest has ``image_path`` (``<key>.png``), ``class_name``, ``split`` (trainval /
    test_seen / test_unseen) and ``train_val`` (train / val for trainval rows, else ``""``);
    the attribute table has ``class_name`` then one 0/1 column per attribute value.
    """
    start = time.perf_counter()
    classes = _plan_classes(config)
    s = config.image_size
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float64) + 0.5
    grid = np.stack([xs, ys], axis=-1)  # (s, s, 2) pixel centres as (x, y)
    n_trainval = config.trainval_images_per_class
    has_val = config.num_val_classes > 0

    images: dict[str, Image.Image] = {}
    rows: list[tuple[str, str, str, str]] = []
    for class_index, cls in enumerate(classes):
        for i in range(config.images_per_class):
            key = f"{cls.name}/{cls.name}_{i:04d}"
            rng = np.random.default_rng([config.seed, class_index, i])
            images[key] = _render_image(config, cls, rng, grid)
            if cls.role == "unseen":
                split, train_val = "test_unseen", ""
            elif i < n_trainval:
                split, train_val = "trainval", (cls.role if has_val else "")
            else:
                split, train_val = "test_seen", ""
            rows.append((f"{key}.png", cls.name, split, train_val))
    manifest = pd.DataFrame(rows, columns=["image_path", "class_name", "split", "train_val"])

    columns = [f"{group}_{value}" for group, values in zip(GROUPS, _values_of(config)) for value in values]
    att = np.zeros((len(classes), len(columns)), dtype=np.int64)
    for row, cls in enumerate(classes):
        for group, value in zip(GROUPS, cls.values):
            att[row, columns.index(f"{group}_{value}")] = 1
    attributes = pd.DataFrame(att, columns=columns)
    attributes.insert(0, "class_name", [cls.name for cls in classes])

    roles = [cls.role for cls in classes]
    logger.info(
        "Rendered demo dataset: %d classes (%d train, %d val, %d unseen), %d images of %dx%d in %.2f s",
        len(classes),
        roles.count("train"),
        roles.count("val"),
        roles.count("unseen"),
        len(images),
        s,
        s,
        time.perf_counter() - start,
    )
    return DemoRendering(images=images, manifest=manifest, attributes=attributes)
