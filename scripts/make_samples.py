"""Generate the synthetic sample photos shipped in resources/samples/.

They stand in for dermatology and wound photos in the demo and the tests: skin-toned
texture with a lesion, and a printed scale marker. No real person is depicted.
Run once: ``python scripts/make_samples.py``; the JPEGs are committed.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "resources" / "samples"


def skin(size: tuple[int, int], rng: random.Random) -> Image.Image:
    base = Image.new("RGB", size, (224, 180, 150))
    px = base.load()
    assert px is not None
    for y in range(size[1]):
        for x in range(size[0]):
            n = rng.randint(-9, 9)
            r, g, b = px[x, y]
            px[x, y] = (r + n, g + n, b + n)
    return base.filter(ImageFilter.GaussianBlur(1.2))


def lesion(img: Image.Image, rng: random.Random, colour: tuple[int, int, int], r: int) -> None:
    draw = ImageDraw.Draw(img)
    cx, cy = img.width // 2, img.height // 2
    for i in range(40):
        dx, dy = rng.randint(-r // 2, r // 2), rng.randint(-r // 2, r // 2)
        rr = rng.randint(r // 3, r)
        shade = tuple(max(0, c - rng.randint(0, 40)) for c in colour)
        draw.ellipse((cx + dx - rr, cy + dy - rr, cx + dx + rr, cy + dy + rr), fill=shade)
        if i == 20:
            img.paste(img.filter(ImageFilter.GaussianBlur(3)))


def marker(img: Image.Image) -> None:
    draw = ImageDraw.Draw(img)
    x0, y0 = img.width - 170, img.height - 70
    draw.rectangle((x0, y0, x0 + 150, y0 + 50), fill=(250, 250, 250), outline=(20, 20, 20))
    for i in range(11):
        h = 20 if i % 5 == 0 else 10
        draw.line((x0 + 10 + i * 13, y0 + 5, x0 + 10 + i * 13, y0 + 5 + h), fill=(0, 0, 0), width=2)
    draw.text((x0 + 12, y0 + 32), "10 mm", fill=(0, 0, 0))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    specs = [
        ("plaie-jambe-1.jpg", (160, 40, 40), 90, 1),
        ("plaie-jambe-2.jpg", (150, 60, 50), 70, 2),
        ("lesion-dos.jpg", (90, 50, 40), 40, 3),
        ("eruption-bras.jpg", (200, 90, 90), 120, 4),
    ]
    for name, colour, radius, seed in specs:
        rng = random.Random(seed)
        img = skin((800, 600), rng)
        lesion(img, rng, colour, radius)
        marker(img)
        img.save(OUT / name, "JPEG", quality=88)
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
