"""Procedurally generated image datasets, deterministic from a seed.

``shapes``: ten coloured geometric shapes on textured colour backgrounds (natural-image
like: colour and texture carry no label, shape does). ``letters``: the 26 capital letters
rendered in grey from the fonts matplotlib ships (stroke images, like MNIST). ``numerals``:
the ten digits from the same fonts, coloured on the shapes' backgrounds (shapes' style,
MNIST's task). ``textures``: ten kinds of two-colour pattern filling the image (the shapes'
backgrounds made the label). They differ in character so the default grid has targets from
near to far from its source, which the gap-against-distance test needs.
Each generator returns uint8 images (N, C, H, W) and int64 labels.
"""

from __future__ import annotations

import os
import string

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SHAPE_CLASSES = (
    "circle",
    "ring",
    "square",
    "triangle",
    "diamond",
    "bar",
    "ell",
    "star",
    "cross",
    "crescent",
)
LETTER_CLASSES = tuple(string.ascii_uppercase)
NUMERAL_CLASSES = tuple(string.digits)
TEXTURE_CLASSES = (
    "horizontal",
    "vertical",
    "diagonal",
    "antidiagonal",
    "checks",
    "dots",
    "rings",
    "zigzag",
    "blobs",
    "speckle",
)
# Fonts shipped with matplotlib that map A-Z to Latin glyphs.
LETTER_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
)
_SUPERSAMPLE = 4
# Shapes drawn as unions of polygons in a unit box (scaled by the radius, then rotated).
OUTLINES = {
    "diamond": [[(-1, 0), (0, -0.55), (1, 0), (0, 0.55)]],
    "bar": [[(-1, -0.22), (1, -0.22), (1, 0.22), (-1, 0.22)]],
    "ell": [[(-0.8, -1), (-0.3, -1), (-0.3, 0.5), (0.8, 0.5), (0.8, 1), (-0.8, 1)]],
    "cross": [[(-1, -0.3), (1, -0.3), (1, 0.3), (-1, 0.3)], [(-0.3, -1), (0.3, -1), (0.3, 1), (-0.3, 1)]],
}


def _polygon(n: int, radius: float, angle: float, star: bool = False) -> np.ndarray:
    """Vertices of a regular n-gon (or n-pointed star) of unit-box radius, centred at 0."""
    k = 2 * n if star else n
    theta = angle + 2 * np.pi * np.arange(k) / k
    r = np.full(k, radius)
    if star:
        r[1::2] *= 0.45
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)


def _shape_mask(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Anti-aliased mask in [0, 1] of shape class ``label`` at a random pose."""
    big = size * _SUPERSAMPLE
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    radius = rng.uniform(0.3, 0.45) * big
    centre = big / 2 + rng.uniform(-0.12, 0.12, size=2) * big
    angle = rng.uniform(0, 2 * np.pi)
    name = SHAPE_CLASSES[label]

    def poly(points: np.ndarray, fill: int = 255) -> None:
        draw.polygon([tuple(p) for p in points + centre], fill=fill)

    def disc(r: float, offset: np.ndarray | None = None, fill: int = 255) -> None:
        c = centre if offset is None else centre + offset
        draw.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=fill)

    if name == "circle":
        disc(radius)
    elif name == "ring":
        disc(radius)
        disc(radius * 0.55, fill=0)
    elif name == "crescent":
        disc(radius)
        disc(radius * 0.85, offset=radius * 0.55 * np.array([np.cos(angle), np.sin(angle)]), fill=0)
    elif name in OUTLINES:
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        for part in OUTLINES[name]:
            poly(np.asarray(part) * radius @ rot.T)
    else:
        sides = {"square": 4, "triangle": 3, "star": 5}
        poly(_polygon(sides[name], radius, angle, star=name == "star"))
    img = img.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float32) / 255.0


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random two-colour texture (stripes, checkers, blobs or gradient), (size, size, 3)."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    kind = rng.integers(4)
    if kind == 0:  # stripes
        theta, freq = rng.uniform(0, np.pi), rng.uniform(2, 6)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)))
    elif kind == 1:  # checkers
        cells = rng.integers(2, 6)
        t = ((np.floor(xx * cells) + np.floor(yy * cells)) % 2).astype(np.float64)
    elif kind == 2:  # smooth blobs: bilinear upsampling of a coarse random grid
        coarse = Image.fromarray((rng.random((4, 4)) * 255).astype(np.uint8))
        t = np.asarray(coarse.resize((size, size), Image.Resampling.BILINEAR)) / 255.0
    else:  # gradient
        theta = rng.uniform(0, 2 * np.pi)
        t = xx * np.cos(theta) + yy * np.sin(theta)
        t = (t - t.min()) / (np.ptp(t) + 1e-8)
    c1 = rng.random(3)
    c2 = np.clip(c1 + rng.uniform(-0.35, 0.35, 3), 0, 1)
    return t[..., None] * c1 + (1 - t[..., None]) * c2


def _contrasting_colour(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour whose luminance differs from the background's mean by at least 0.35."""
    lum = np.array([0.299, 0.587, 0.114])
    bg = float(background.reshape(-1, 3).mean(0) @ lum)
    while True:
        colour = rng.random(3)
        if abs(float(colour @ lum) - bg) >= 0.35:
            return colour


def make_shapes(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` balanced shape images, (n, 3, size, size) uint8, and their labels."""
    rng = np.random.default_rng(seed)
    labels = _balanced_labels(n, len(SHAPE_CLASSES), rng)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        background = _texture(size, rng)
        images[i] = _paint(_shape_mask(int(label), size, rng), background, rng)
    return images, labels.astype(np.int64)


def _balanced_labels(n: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    return labels


def _paint(mask: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``mask`` (in [0, 1]) painted over ``background`` in a contrasting colour, with pixel noise,
    as uint8 (3, H, W)."""
    mask = mask[..., None]
    img = mask * _contrasting_colour(background, rng) + (1 - mask) * background
    img += rng.normal(0, 0.02, img.shape)
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8).transpose(2, 0, 1)


def _font_paths() -> list[str]:
    root = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    paths = [os.path.join(root, f) for f in LETTER_FONTS]
    return [p for p in paths if os.path.exists(p)]


FontCache = dict[tuple[str, int], ImageFont.FreeTypeFont]


def _glyph(char: str, size: int, rng: np.random.Generator, fonts: list[str], cache: FontCache) -> np.ndarray:
    """``char`` in a random font, size, shift and tilt: grey levels in [0, 255], (size, size)."""
    big = size * _SUPERSAMPLE
    path = fonts[rng.integers(len(fonts))]
    points = int(big * rng.uniform(0.75, 1.05))
    font = cache.setdefault((path, points), ImageFont.truetype(path, points))
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    shift = rng.uniform(-0.08, 0.08, size=2) * big
    draw.text((big / 2 + shift[0], big / 2 + shift[1]), char, fill=255, font=font, anchor="mm")
    canvas = canvas.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR)
    return np.asarray(canvas.resize((size, size), Image.Resampling.LANCZOS), np.float32)


def _fonts() -> list[str]:
    fonts = _font_paths()
    if not fonts:
        raise RuntimeError("no matplotlib fonts found to render the letters and numerals datasets")
    return fonts


def make_letters(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` balanced grey letter images, (n, 1, size, size) uint8, and their labels."""
    rng = np.random.default_rng(seed)
    fonts = _fonts()
    labels = _balanced_labels(n, len(LETTER_CLASSES), rng)
    images = np.empty((n, 1, size, size), dtype=np.uint8)
    cache: FontCache = {}
    for i, label in enumerate(labels):
        img = _glyph(LETTER_CLASSES[label], size, rng, fonts, cache)
        img = img * rng.uniform(0.7, 1.0) + rng.normal(0, 4, img.shape)
        images[i, 0] = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def make_numerals(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` balanced coloured digit images on textured backgrounds, (n, 3, size, size) uint8,
    and their labels."""
    rng = np.random.default_rng(seed)
    fonts = _fonts()
    labels = _balanced_labels(n, len(NUMERAL_CLASSES), rng)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    cache: FontCache = {}
    for i, label in enumerate(labels):
        background = _texture(size, rng)
        images[i] = _paint(_glyph(NUMERAL_CLASSES[label], size, rng, fonts, cache) / 255.0, background, rng)
    return images, labels.astype(np.int64)


def _pattern(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Texture class ``label`` at a random scale, phase and (within its class) angle, in [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    name = TEXTURE_CLASSES[label]
    freq, phase = rng.uniform(2.5, 5), rng.uniform(0, 2 * np.pi)
    if name in ("horizontal", "vertical", "diagonal", "antidiagonal"):
        angle = {"horizontal": 90, "vertical": 0, "diagonal": 45, "antidiagonal": 135}[name] + rng.uniform(-10, 10)
        theta = np.deg2rad(angle)
        return 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    if name == "checks":
        cells, (ox, oy) = rng.integers(3, 7), rng.uniform(0, 1, size=2)
        return ((np.floor(xx * cells + ox) + np.floor(yy * cells + oy)) % 2).astype(np.float64)
    if name == "dots":
        cells, (ox, oy) = rng.integers(3, 6), rng.uniform(0, 1, size=2)
        fx, fy = (xx * cells + ox) % 1 - 0.5, (yy * cells + oy) % 1 - 0.5
        return (np.hypot(fx, fy) < rng.uniform(0.22, 0.32)).astype(np.float64)
    if name == "rings":
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        return 0.5 + 0.5 * np.sin(2 * np.pi * freq * np.hypot(xx - cx, yy - cy) + phase)
    if name == "zigzag":
        tri = np.abs((xx * freq * 2) % 2 - 1)  # a triangle wave across the image
        return 0.5 + 0.5 * np.sin(2 * np.pi * freq * (yy + 0.15 * tri) + phase)
    coarse = {"blobs": 4, "speckle": size // 2}[name]  # smooth or fine noise
    grid = Image.fromarray((rng.random((coarse, coarse)) * 255).astype(np.uint8))
    return np.asarray(grid.resize((size, size), Image.Resampling.BILINEAR)) / 255.0


def make_textures(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` balanced two-colour pattern images, (n, 3, size, size) uint8, and their labels."""
    rng = np.random.default_rng(seed)
    labels = _balanced_labels(n, len(TEXTURE_CLASSES), rng)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        t = _pattern(int(label), size, rng)[..., None]
        c1 = rng.random(3)
        c2 = np.clip(c1 + rng.choice([-1, 1], 3) * rng.uniform(0.3, 0.6, 3), 0, 1)
        img = t * c1 + (1 - t) * c2 + rng.normal(0, 0.02, (size, size, 3))
        images[i] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8).transpose(2, 0, 1)
    return images, labels.astype(np.int64)
