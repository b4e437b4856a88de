"""Captioned shapes for text-to-image (notebooks 16-18): 32 x 32 colour pictures of one or two shapes, each with a
caption from a small grammar, made in code from a seed (unlimited, no download), and a judge that reads the
drawn attributes back from any image, a generated one included.

    one shape:  "a small red circle on the left"            (on the left/right, at the top/bottom)
    two shapes: "a large blue square left of a small yellow triangle"   (left of, above)

Some colour-shape pairs never appear in the training split (HELD_OUT: no green triangle, no blue circle); the
"heldout" split has at least one of them in every caption, so a model that draws them composes what it learned.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

SIZE = 32
KINDS = ("circle", "square", "triangle")
COLOURS = {"red": (0.95, 0.15, 0.1), "green": (0.1, 0.8, 0.2), "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1)}
RADII = {"small": 4, "large": 7}  # half the width of the shape, in pixels
POSITIONS = ("on the left", "on the right", "at the top", "at the bottom")
RELATIONS = ("left of", "above")
HELD_OUT = frozenset({("green", "triangle"), ("blue", "circle")})
SPLITS = ("train", "heldout")
WORDS = ("<pad>", "a", *RADII, *COLOURS, *KINDS, "on", "the", "left", "right", "at", "top", "bottom", "of", "above")
MAX_WORDS = 10


@dataclass(frozen=True)
class Shape:
    """One drawn shape: what it is and where its centre lies (x to the right, y down, in pixels)."""
    kind: str
    colour: str
    size: str
    x: float
    y: float


@dataclass(frozen=True)
class Scene:
    """The shapes of one picture and how the caption relates them (a position for one, a relation for two)."""
    shapes: tuple[Shape, ...]
    where: str

    @property
    def caption(self) -> str:
        names = [f"a {s.size} {s.colour} {s.kind}" for s in self.shapes]
        return f"{names[0]} {self.where}" if len(names) == 1 else f"{names[0]} {self.where} {names[1]}"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _span(rng: random.Random, r: float, lo: float, hi: float) -> int:
    """A whole-pixel centre coordinate that keeps a shape of half-width r inside [lo, hi] (whole pixels: each
    shape of a kind and size then covers the same pixels wherever it is, as a judge that reads pixels needs)."""
    return rng.randint(math.ceil(lo + r), math.floor(hi - r))


def _attributes(rng: random.Random, n: int, split: str) -> list[tuple[str, str, str]]:
    """(kind, colour, size) for n shapes: no held-out pair in "train", at least one in "heldout"."""
    while True:
        picks = [(rng.choice(KINDS), rng.choice(list(COLOURS)), rng.choice(list(RADII))) for _ in range(n)]
        held = [(c, k) in HELD_OUT for k, c, _ in picks]
        if (split == "train" and not any(held)) or (split == "heldout" and any(held)):
            return picks


def random_scene(rng: random.Random, split: str = "train") -> Scene:
    """One random scene of the split: one shape at a named position, or two in a named relation (half each)."""
    _check_split(split)
    n = rng.choice((1, 2))
    attrs = _attributes(rng, n, split)
    if n == 1:
        (kind, colour, size), where = attrs[0], rng.choice(POSITIONS)
        r, half = RADII[size], SIZE / 2
        x, y = _span(rng, r, 0, SIZE), _span(rng, r, 0, SIZE)
        if where in ("on the left", "on the right"):
            x = _span(rng, r, 0, half - 2) if where == "on the left" else _span(rng, r, half + 2, SIZE)
        else:
            y = _span(rng, r, 0, half - 2) if where == "at the top" else _span(rng, r, half + 2, SIZE)
        return Scene((Shape(kind, colour, size, x, y),), where)
    where = rng.choice(RELATIONS)
    shapes = []
    for i, (kind, colour, size) in enumerate(attrs):  # the first shape in the left (top) half, the second in the other
        r = RADII[size]
        along = _span(rng, r, 0, SIZE / 2 - 1) if i == 0 else _span(rng, r, SIZE / 2 + 1, SIZE)  # 2 pixels apart
        across = _span(rng, r, 0, SIZE)
        x, y = (along, across) if where == "left of" else (across, along)
        shapes.append(Shape(kind, colour, size, x, y))
    return Scene(tuple(shapes), where)


def _mask(shape: Shape, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    r, dx, dy = RADII[shape.size], xs - shape.x, ys - shape.y
    if shape.kind == "circle":
        return dx ** 2 + dy ** 2 <= r ** 2
    if shape.kind == "square":
        return (dx.abs() <= r) & (dy.abs() <= r)
    return (dy <= r) & (dx.abs() <= (dy + r) / 2)  # a triangle pointing up, its base at the bottom


def render(scene: Scene, supersample: int = 4) -> torch.Tensor:
    """The scene as an image [3, 32, 32] in [0, 1] on black, edges anti-aliased by supersampling."""
    k = supersample
    coords = (torch.arange(SIZE * k, dtype=torch.float32) + 0.5) / k
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    img = torch.zeros(3, SIZE * k, SIZE * k)
    for shape in scene.shapes:
        m = _mask(shape, ys, xs)
        img[:, m] = torch.tensor(COLOURS[shape.colour])[:, None]
    return torch.nn.functional.avg_pool2d(img[None], k)[0]


def make_shapes(n: int, split: str = "train", seed: int = 0) -> tuple[torch.Tensor, list[str], list[Scene]]:
    """n images [n, 3, 32, 32] in [0, 1], their captions and scenes; the same for the same (n, split, seed)."""
    _check_split(split)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = random.Random(f"{split}-{seed}")
    scenes = [random_scene(rng, split) for _ in range(n)]
    return torch.stack([render(s) for s in scenes]), [s.caption for s in scenes], scenes


def encode_captions(captions: list[str]) -> torch.Tensor:
    """Word ids [n, MAX_WORDS] (0-padded) of captions, with an error naming any word outside the grammar."""
    index = {w: i for i, w in enumerate(WORDS)}
    rows = []
    for text in captions:
        words = text.lower().split()
        unknown = [w for w in words if w not in index or w == "<pad>"]
        if unknown:
            raise ValueError(f"{unknown[0]!r} in {text!r} is not a word of the shapes grammar; use only: "
                             f"{', '.join(WORDS[1:])} (e.g. 'a small red circle on the left')")
        if len(words) > MAX_WORDS:
            raise ValueError(f"{text!r} has {len(words)} words; captions have at most {MAX_WORDS}")
        rows.append([index[w] for w in words] + [0] * (MAX_WORDS - len(words)))
    return torch.tensor(rows, dtype=torch.long)


def parse_caption(text: str) -> tuple[list[tuple[str, str, str]], str]:
    """What a caption asks for: [(kind, colour, size), ...] and its position or relation; a clear error otherwise."""
    encode_captions([text])  # unknown words and length
    words = text.lower().split()

    def thing(ws: list[str]) -> tuple[str, str, str] | None:
        ok = len(ws) == 4 and ws[0] == "a" and ws[1] in RADII and ws[2] in COLOURS and ws[3] in KINDS
        return (ws[3], ws[2], ws[1]) if ok else None

    first = thing(words[:4])
    rest = " ".join(words[4:])
    if first and rest in POSITIONS:
        return [first], rest
    for rel in RELATIONS:
        second = thing(words[4 + len(rel.split()):])
        if first and " ".join(words[4:4 + len(rel.split())]) == rel and second:
            return [first, second], rel
    raise ValueError(f"{text!r} does not follow the shapes grammar: 'a <size> <colour> <shape> <position>' or "
                     f"'a <size> <colour> <shape> left of|above a <size> <colour> <shape>', e.g. "
                     f"'a small red circle on the left'")


def _components(mask: torch.Tensor) -> list[list[tuple[int, int]]]:
    """The 4-connected groups of True pixels in a [H, W] mask, by flood fill."""
    groups = []
    h, w = mask.shape
    m = mask.tolist()
    s = [[False] * w for _ in range(h)]
    for i in range(h):
        for j in range(w):
            if m[i][j] and not s[i][j]:
                stack, group = [(i, j)], []
                s[i][j] = True
                while stack:
                    a, b = stack.pop()
                    group.append((a, b))
                    for c, d in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
                        if 0 <= c < h and 0 <= d < w and m[c][d] and not s[c][d]:
                            s[c][d] = True
                            stack.append((c, d))
                groups.append(group)
    return groups


def _kind(widths: list[int]) -> str:
    """A blob's shape from its row widths, top to bottom: a triangle widens downwards, a square keeps its width,
    a circle is narrow at both ends."""
    q = max(1, len(widths) // 4)
    top, bottom, middle = sum(widths[:q]) / q, sum(widths[-q:]) / q, max(widths)
    if bottom > 1.4 * top:
        return "triangle"
    return "square" if min(top, bottom) >= 0.85 * middle else "circle"


def read_back(image: torch.Tensor, min_pixels: int = 6) -> list[Shape]:
    """The shapes a picture shows, read from its pixels: each blob of one palette colour, its kind from the widths
    of its rows (_kind), its size from its extent."""
    if image.shape != (3, SIZE, SIZE):
        raise ValueError(f"read_back takes one image [3, {SIZE}, {SIZE}] in [0, 1], got shape {tuple(image.shape)}")
    palette = torch.tensor(list(COLOURS.values()))  # [4, 3]
    palette = palette / palette.max(1, keepdim=True).values
    bright = image.max(0).values
    lit = bright > 0.45
    hue = (image / bright.clamp(min=1e-3)).permute(1, 2, 0)  # colour without brightness: edges keep their colour
    nearest = ((hue[:, :, None, :] - palette) ** 2).sum(-1).argmin(-1)  # [H, W]
    found = []
    for ci, colour in enumerate(COLOURS):
        for group in _components(lit & (nearest == ci)):
            if len(group) < min_pixels:
                continue
            ys, xs = [p[0] for p in group], [p[1] for p in group]
            top, hgt, wid = min(ys), max(ys) - min(ys) + 1, max(xs) - min(xs) + 1
            kind = _kind([sum(1 for y in ys if y == top + i) for i in range(hgt)])
            size = "large" if max(hgt, wid) >= 11 else "small"
            found.append(Shape(kind, colour, size, (min(xs) + max(xs) + 1) / 2, (min(ys) + max(ys) + 1) / 2))
    return found


def placed(where: str, shapes: list[Shape]) -> bool:
    """True if read-back shapes stand where a caption says: one shape at a position, or two in a relation (in the
    caption's order)."""
    half = SIZE / 2
    if where in POSITIONS:
        s = shapes[0]
        return {"on the left": s.x < half, "on the right": s.x > half, "at the top": s.y < half,
                "at the bottom": s.y > half}[where]
    a, b = shapes
    return a.x < b.x if where == "left of" else a.y < b.y


def shows(image: torch.Tensor, caption: str) -> bool:
    """True if the image shows exactly what the caption asks: as many shapes, each kind, colour and size, and the
    position or relation."""
    asked, where = parse_caption(caption)
    found = read_back(image)
    if len(found) != len(asked):
        return False
    orders = [found] if len(found) == 1 else [found, found[::-1]]
    return any(all((s.kind, s.colour, s.size) == a for s, a in zip(order, asked)) and placed(where, order)
               for order in orders)


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """The outlines of the shapes in images [N, 3, 32, 32]: [N, 1, 32, 32], 1 where a lit pixel touches a dark one
    (or the border), the control image of notebook 18's ControlNet."""
    if images.dim() != 4 or images.shape[1:] != (3, SIZE, SIZE):
        raise ValueError(f"edge_map takes images [N, 3, {SIZE}, {SIZE}] in [0, 1], got shape {tuple(images.shape)}")
    lit = (images.max(1, keepdim=True).values > 0.45).float()
    inner = -torch.nn.functional.max_pool2d(-lit, 3, stride=1, padding=1)  # erosion: lit with all 8 neighbours lit
    return lit - inner


def edge_iou(a: torch.Tensor, b: torch.Tensor, tolerance: int = 1) -> torch.Tensor:
    """Per image, the intersection over union of two edge maps [N, 1, H, W], where an edge pixel of one counts as
    shared if the other has an edge pixel within `tolerance` pixels (0: plain IoU; 1: an outline one pixel off
    still matches). 1 = the same outlines, 0 = none shared; two empty maps score 1."""
    if a.shape != b.shape:
        raise ValueError(f"edge maps must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.bool(), b.bool()
    k = 2 * tolerance + 1
    wa, wb = (torch.nn.functional.max_pool2d(m.float(), k, stride=1, padding=tolerance) > 0 for m in (a, b))
    shared = ((a & wb).flatten(1).sum(1) + (b & wa).flatten(1).sum(1)) / 2
    union = a.flatten(1).sum(1) + b.flatten(1).sum(1) - shared
    return torch.where(union > 0, shared / union.clamp(min=1), torch.ones_like(shared))
