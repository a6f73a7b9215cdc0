"""The embedded datasets: coloured shapes drawn with Pillow, no download and no data files.

Each image is a pure function of its index. 'shapes': a background (flat, gradient or stripes) and one
to three filled shapes (circle, square, triangle, ring, diamond) in saturated colours. 'shapes-simple':
one large circle, square, triangle or ring on a flat background, what a small network learns to draw
in the two minutes of the quickstart. Images are drawn at
160 x 128 pixels, larger and not square like photographs, then go through the same `ImageTransform` as
real data (shorter side resized, centre crop), so the resize path is exercised by every run.
"""
import numpy as np
from PIL import Image, ImageDraw
from mxnet.gluon.data import Dataset

WIDTH, HEIGHT = 160, 128
SIZE = 10000
SHAPES = ("circle", "square", "triangle", "ring", "diamond")
BACKGROUNDS = ("flat", "gradient", "stripes")
_SEED = 20170126  # fixed: the dataset is the same in every run and on every machine


def _colour(rng, light):
    """A random colour: pale for backgrounds (`light`), saturated for shapes."""
    hue = rng.random()
    sat, val = (rng.uniform(0.1, 0.35), rng.uniform(0.8, 1.0)) if light else (rng.uniform(0.7, 1.0),
                                                                             rng.uniform(0.6, 1.0))
    i, f = int(hue * 6) % 6, hue * 6 - int(hue * 6)
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    rgb = [(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)][i]
    return tuple(int(round(255 * c)) for c in rgb)


def _background(rng):
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    a, b = np.array(_colour(rng, True), np.float64), np.array(_colour(rng, True), np.float64)
    if kind == "flat":
        return Image.new("RGB", (WIDTH, HEIGHT), tuple(int(c) for c in a))
    if kind == "gradient":
        vertical = rng.random() < 0.5
        ramp = np.linspace(0.0, 1.0, HEIGHT if vertical else WIDTH)[:, None]
        line = np.rint(a + (b - a) * ramp).astype(np.uint8)  # one row or column, then repeated
        pixels = np.broadcast_to(line[:, None] if vertical else line[None, :], (HEIGHT, WIDTH, 3))
    else:
        half_period = int(rng.integers(4, 12))
        slope = int(rng.choice([0, 1, -1]))  # horizontal or diagonal stripes
        coord = np.arange(HEIGHT, dtype=np.int32)[:, None] + slope * np.arange(WIDTH, dtype=np.int32)[None, :]
        stripes = Image.fromarray(((coord // half_period) % 2).astype(np.uint8), "P")
        stripes.putpalette([int(c) for c in a] + [int(c) for c in b])
        return stripes.convert("RGB")
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def _draw_shape(draw, rng, kinds=SHAPES, radii=(14, 40)):
    kind = kinds[rng.integers(len(kinds))]
    radius = rng.uniform(*radii)
    margin = (WIDTH - HEIGHT) / 2  # keep shapes inside the centre square that the crop keeps
    cx, cy = rng.uniform(margin + radius, WIDTH - margin - radius), rng.uniform(radius, HEIGHT - radius)
    colour = _colour(rng, False)
    box = [cx - radius, cy - radius, cx + radius, cy + radius]
    if kind == "circle":
        draw.ellipse(box, fill=colour)
    elif kind == "ring":
        draw.ellipse(box, outline=colour, width=max(3, int(radius / 3)))
    elif kind == "square":
        draw.rectangle(box, fill=colour)
    else:
        turn = rng.uniform(0, 2 * np.pi)
        corners = 3 if kind == "triangle" else 4
        angles = turn + 2 * np.pi * np.arange(corners) / corners
        draw.polygon([(cx + radius * np.cos(t), cy + radius * np.sin(t)) for t in angles], fill=colour)


def draw(index):
    """The `index`-th shapes image: a PIL RGB image of WIDTH x HEIGHT pixels, the same on every call."""
    rng = np.random.default_rng([_SEED, int(index)])
    image = _background(rng)
    pen = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        _draw_shape(pen, rng)
    return image


def draw_simple(index):
    """The `index`-th 'shapes-simple' image: one large shape of four kinds on a flat background."""
    rng = np.random.default_rng([_SEED, 1, int(index)])
    image = Image.new("RGB", (WIDTH, HEIGHT), _colour(rng, True))
    _draw_shape(ImageDraw.Draw(image), rng, kinds=("circle", "square", "triangle", "ring"), radii=(30, 50))
    return image


class Shapes(Dataset):
    """Procedurally drawn coloured shapes on varied backgrounds, resized by `transform`.

    Parameters
    ----------
    transform : callable
        PIL RGB image -> array; normally an `ImageTransform`.
    size : int, default 10000
        Number of distinct images.
    simple : bool, default False
        One large shape on a flat background ('shapes-simple') instead.
    """

    size_default = SIZE

    def __init__(self, transform, size=SIZE, simple=False):
        self.transform, self.size = transform, int(size)
        self._draw = draw_simple if simple else draw

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} shapes")
        return self.transform(self._draw(index))

    def describe(self, index):
        """A name for record `index` in reports."""
        return f"shapes[{index}]"
