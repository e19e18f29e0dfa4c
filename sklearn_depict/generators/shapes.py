"""A fast, deterministic procedural renderer for coloured shapes."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw
from sklearn.base import BaseEstimator

from ._base import check_captions_and_seeds

__all__ = ["ShapesGenerator", "DEFAULT_COLORS", "DEFAULT_SHAPES", "SHAPE_KINDS"]

DEFAULT_COLORS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
}
DEFAULT_SHAPES: tuple[str, ...] = ("circle", "square")
SHAPE_KINDS: tuple[str, ...] = ("circle", "square", "triangle", "diamond")

# Bumped whenever a change to the drawing code changes pixels, so that caches
# keyed on the fingerprint never serve images from an older renderer.
_RENDERER_VERSION = 1


class ShapesGenerator(BaseEstimator):
    """Render captions such as ``"red circle, blue square"`` into images.

    The embedded default generator: a procedural stand-in for a text-to-image
    diffusion model on the paper's synthetic domain. It is exact (every named
    shape is drawn, nothing else) and deterministic: the same (caption, seed)
    pair always gives the same image, whatever else is in the call.

    Every vocabulary item (colour × shape) owns a cell of a grid, chosen by the
    seed, so removing or adding one shape leaves the others where they were.
    The seed also jitters each shape's size and position inside its cell.

    Parameters
    ----------
    image_size : int, default=32
        Height and width of the square images, in pixels.
    colors : dict, default=None
        Colour names mapped to RGB triples in [0, 1]. Default: red, green, blue.
    shapes : sequence of str, default=None
        Shape names, each one of ``"circle"``, ``"square"``, ``"triangle"``,
        ``"diamond"``. Default: circle and square.
    max_count : int, default=1
        The largest number of copies of one item a caption may ask for, as in
        ``"2 red circle"``. The grid gets enough cells for every copy.
    background : float, default=0.0
        Grey level of the background, in [0, 1].
    strict : bool, default=True
        If True, a caption holding anything other than vocabulary phrases
        (with optional counts, joined by commas) raises a ValueError that lists
        the vocabulary; :func:`~sklearn_depict.depict_importance` checks every
        caption of a run before drawing any. If False, other words are ignored,
        as a diffusion model would ignore words it never learned; a concept
        column named ``"red_circle"`` then draws nothing.

    Attributes
    ----------
    vocabulary : list of str
        The concept phrases this generator draws, such as ``"red circle"``.
    fingerprint : str
        Identifies the renderer version and every parameter that changes
        pixels; caches key on it.
    image_shape : tuple of int
        ``(image_size, image_size, 3)``, the shape of every image it draws;
        the estimator is tried on an image of this shape before a run
        generates anything.

    Examples
    --------
    >>> from sklearn_depict import ShapesGenerator
    >>> g = ShapesGenerator()
    >>> images = g.generate(["red circle, blue square", ""], [0, 1])
    >>> images.shape, images.dtype
    ((2, 32, 32, 3), dtype('float32'))
    >>> bool(images[1].max() == 0.0)  # the empty caption draws nothing
    True
    """

    def __init__(
        self,
        image_size: int = 32,
        *,
        colors: Mapping[str, Sequence[float]] | None = None,
        shapes: Sequence[str] | None = None,
        max_count: int = 1,
        background: float = 0.0,
        strict: bool = True,
    ) -> None:
        self.image_size = image_size
        self.colors = colors
        self.shapes = shapes
        self.max_count = max_count
        self.background = background
        self.strict = strict

    @property
    def vocabulary(self) -> list[str]:
        """The concept phrases drawn, such as ``"red circle"``."""
        colors, shapes = self._palette()
        return [f"{c} {s}" for c in colors for s in shapes]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of every image, known without drawing one."""
        self._palette()  # validates image_size
        return (self.image_size, self.image_size, 3)

    @property
    def fingerprint(self) -> str:
        """A string that changes whenever any parameter changes the pixels."""
        colors, shapes = self._palette()
        description = repr(
            (
                _RENDERER_VERSION,
                int(self.image_size),
                sorted((k, tuple(map(float, v))) for k, v in colors.items()),
                list(shapes),
                int(self.max_count),
                float(self.background),
            )
        )
        digest = hashlib.sha256(description.encode()).hexdigest()[:16]
        return f"ShapesGenerator-v{_RENDERER_VERSION}-{digest}"

    def _palette(self) -> tuple[dict[str, tuple[float, ...]], tuple[str, ...]]:
        colors = dict(DEFAULT_COLORS if self.colors is None else self.colors)
        shapes = tuple(DEFAULT_SHAPES if self.shapes is None else self.shapes)
        unknown = [s for s in shapes if s not in SHAPE_KINDS]
        if unknown:
            raise ValueError(
                f"ShapesGenerator cannot draw shape(s) {unknown}; it draws "
                f"{list(SHAPE_KINDS)}."
            )
        if not colors or not shapes:
            raise ValueError("ShapesGenerator needs at least one colour and one shape.")
        for name, rgb in colors.items():
            if len(rgb) != 3 or not all(0.0 <= float(v) <= 1.0 for v in rgb):
                raise ValueError(
                    f"Colour {name!r} must be an RGB triple in [0, 1], got {rgb!r}."
                )
        if not (isinstance(self.image_size, int) and self.image_size >= 8):
            raise ValueError(
                f"image_size must be an int >= 8, got {self.image_size!r}."
            )
        if not (isinstance(self.max_count, int) and self.max_count >= 1):
            raise ValueError(f"max_count must be an int >= 1, got {self.max_count!r}.")
        return {k.lower(): tuple(map(float, v)) for k, v in colors.items()}, shapes

    def parse(self, caption: str) -> dict[str, int]:
        """Count the vocabulary items a caption asks for.

        Parameters
        ----------
        caption : str
            A caption such as ``"2 red circle, blue square"``.

        Returns
        -------
        counts : dict
            Vocabulary phrase to number of copies, for the phrases present.

        Examples
        --------
        >>> from sklearn_depict import ShapesGenerator
        >>> generator = ShapesGenerator(max_count=3, strict=False)
        >>> generator.parse("a photo of 2 red circles, blue square")
        {'red circle': 2, 'blue square': 1}
        """
        colors, shapes = self._palette()
        pattern = _phrase_pattern(tuple(colors), shapes)
        counts: dict[str, int] = {}
        for match in pattern.finditer(caption.lower()):
            number = int(match.group("count") or 1)
            phrase = f"{match.group('color')} {match.group('shape')}"
            counts[phrase] = counts.get(phrase, 0) + number
        if self.strict:
            unknown = _unknown_words(pattern, caption)
            if unknown:
                raise ValueError(
                    f"Caption {caption!r} holds words outside the vocabulary: "
                    f"{unknown}. {self._vocabulary_hint()}"
                )
        too_many = {k: v for k, v in counts.items() if v > self.max_count}
        if too_many:
            raise ValueError(
                f"Caption {caption!r} asks for {too_many} copies but max_count is "
                f"{self.max_count}; raise ShapesGenerator(max_count=...)."
            )
        return counts

    def _vocabulary_hint(self) -> str:
        return (
            f"ShapesGenerator draws the phrases {self.vocabulary}, optionally with a count "
            "('2 red circle'); name concept columns with them (for example 'red circle', "
            "not 'red_circle'), or pass ShapesGenerator(strict=False) to ignore other "
            "words."
        )

    def check_captions(self, captions: Sequence[str]) -> None:
        """Raise, before drawing anything, if a caption cannot be drawn.

        Called by :func:`~sklearn_depict.depict_importance` on every caption
        of a run before the first image is generated. With ``strict=False``
        only counts above ``max_count`` are errors.

        Parameters
        ----------
        captions : sequence of str

        Raises
        ------
        ValueError
            Naming every unknown word (with a caption that holds it) and the
            vocabulary.

        Examples
        --------
        >>> from sklearn_depict import ShapesGenerator
        >>> ShapesGenerator().check_captions(["red circle, 1 blue square", ""])
        >>> ShapesGenerator().check_captions(["red_circle"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: 1 of 1 captions hold words outside the vocabulary: ['red_circle'] ...
        """
        colors, shapes = self._palette()
        pattern = _phrase_pattern(tuple(colors), shapes)
        unknown: dict[str, str] = {}
        n_bad = 0
        for caption in captions:
            words = _unknown_words(pattern, caption) if self.strict else []
            n_bad += bool(words)
            for word in words:
                unknown.setdefault(word, caption)
            if not words:
                self.parse(caption)  # counts above max_count
        if unknown:
            shown = list(unknown)[:10]
            example = unknown[shown[0]]
            raise ValueError(
                f"{n_bad} of {len(captions)} captions hold words outside the vocabulary: "
                f"{shown}{' ...' if len(unknown) > 10 else ''} (for example {example!r}). "
                f"{self._vocabulary_hint()}"
            )

    def generate(self, captions: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """Render one image per (caption, seed) pair.

        Parameters
        ----------
        captions : list of str
            Captions naming vocabulary items, optionally with counts.
        seeds : list of int
            One non-negative seed per caption.

        Returns
        -------
        images : ndarray of shape (n, image_size, image_size, 3), float32
            Values in [0, 1].
        """
        captions, seeds = check_captions_and_seeds(captions, seeds)
        colors, shapes = self._palette()
        size = self.image_size
        out = np.empty((len(captions), size, size, 3), dtype=np.float32)
        for i, (caption, seed) in enumerate(zip(captions, seeds)):
            out[i] = self._render(self.parse(caption), int(seed), colors, shapes)
        return out

    def masks(self, captions: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """Where each vocabulary item is drawn, for explanation baselines.

        The renderer knows exactly which pixels belong to which concept, so
        pixel attributions (GradCAM, LIME) can be scored against the truth.

        Parameters
        ----------
        captions : list of str
        seeds : list of int

        Returns
        -------
        masks : ndarray of shape (n, n_items, image_size, image_size), bool
            ``masks[i, j]`` marks the pixels of item ``vocabulary[j]`` in image
            ``i``; empty where the item is absent.

        Examples
        --------
        >>> from sklearn_depict import ShapesGenerator
        >>> g = ShapesGenerator()
        >>> m = g.masks(["blue square"], [0])
        >>> m.shape, [bool(m[0, j].any()) for j in range(6)]
        ((1, 6, 32, 32), [False, False, False, False, False, True])
        """
        captions, seeds = check_captions_and_seeds(captions, seeds)
        colors, shapes = self._palette()
        size = self.image_size
        n_items = len(colors) * len(shapes)
        out = np.zeros((len(captions), n_items, size, size), dtype=bool)
        for i, (caption, seed) in enumerate(zip(captions, seeds)):
            layers = [Image.new("L", (size, size), 0) for _ in range(n_items)]
            for item, shape, _, box in self._placements(
                self.parse(caption), int(seed), colors, shapes
            ):
                _draw_shape(ImageDraw.Draw(layers[item]), shape, *box, 255)
            out[i] = np.stack([np.asarray(layer) > 0 for layer in layers])
        return out

    def _placements(
        self,
        counts: dict[str, int],
        seed: int,
        colors: dict[str, tuple[float, ...]],
        shapes: tuple[str, ...],
    ):
        """Yield (item index, shape, fill, (x0, y0, extent)) for each drawn copy."""
        n_slots = len(colors) * len(shapes) * self.max_count
        grid = math.ceil(math.sqrt(n_slots))
        cell = self.image_size / grid
        rng = np.random.default_rng(seed)
        # Draw every slot's cell and jitter up front, whether used or not, so a
        # slot's placement never depends on which other items are present.
        cells = rng.permutation(grid * grid)[:n_slots]
        scale = rng.uniform(0.7, 0.9, size=n_slots)
        offset = rng.uniform(0.0, 1.0, size=(n_slots, 2))
        item = 0
        for color_name, rgb in colors.items():
            fill = tuple(int(round(255 * v)) for v in rgb)
            for shape in shapes:
                n = counts.get(f"{color_name} {shape}", 0)
                for copy in range(min(n, self.max_count)):
                    slot = item * self.max_count + copy
                    extent = scale[slot] * cell
                    row, col = divmod(int(cells[slot]), grid)
                    x0 = col * cell + offset[slot, 0] * (cell - extent)
                    y0 = row * cell + offset[slot, 1] * (cell - extent)
                    yield item, shape, fill, (x0, y0, extent)
                item += 1

    def _render(
        self,
        counts: dict[str, int],
        seed: int,
        colors: dict[str, tuple[float, ...]],
        shapes: tuple[str, ...],
    ) -> np.ndarray:
        grey = int(round(255 * self.background))
        canvas = Image.new("RGB", (self.image_size, self.image_size), (grey, grey, grey))
        draw = ImageDraw.Draw(canvas)
        for _, shape, fill, box in self._placements(counts, seed, colors, shapes):
            _draw_shape(draw, shape, *box, fill)
        return np.asarray(canvas, dtype=np.float32) / 255.0


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    x0: float,
    y0: float,
    extent: float,
    fill: tuple[int, ...] | int,
) -> None:
    x1, y1 = x0 + extent - 1, y0 + extent - 1
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    elif shape == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    else:
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        draw.polygon([(xm, y0), (x1, ym), (xm, y1), (x0, ym)], fill=fill)


def _unknown_words(pattern: re.Pattern[str], caption: str) -> list[str]:
    """Words of a caption that no vocabulary phrase accounts for."""
    return pattern.sub(" ", caption.lower()).replace(",", " ").split()


_PATTERNS: dict[tuple[tuple[str, ...], tuple[str, ...]], re.Pattern[str]] = {}


def _phrase_pattern(colors: tuple[str, ...], shapes: tuple[str, ...]) -> re.Pattern[str]:
    key = (colors, shapes)
    if key not in _PATTERNS:
        color_alt = "|".join(
            re.escape(c) for c in sorted(colors, key=len, reverse=True)
        )
        shape_alt = "|".join(re.escape(s) for s in shapes)
        _PATTERNS[key] = re.compile(
            rf"(?:\b(?P<count>\d+)\s+)?\b(?P<color>{color_alt})\s+"
            rf"(?P<shape>{shape_alt})(?:e?s)?\b"
        )
    return _PATTERNS[key]

