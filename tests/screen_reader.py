"""Read a screenshot as a person does: OCR with tesseract, and look for solid blocks.

`problems(image, labels, expect, language)` compares an image with the labels the widget
tree says are fully on screen there (`fieldapp.testing.visible_labels`):

- every text in `expect` belongs to one of those labels (it is on screen at all);
- no label's text box is a solid block: a texture that was never drawn shows as pure
  black (0, 0, 0) pixels, which no properly drawn text in our theme contains;
- the words tesseract reads *inside each label's box* are that label's words. Reading
  inside the box matters: a blank "Sim" row must not pass because another "Sim" is
  readable elsewhere on the same screen.

Tesseract is not perfect, so a label passes when most of its words are read back
(fuzzy match per word, accents and case folded); garbage or blank boxes read nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

from PIL import Image, ImageOps

TESSERACT_LANGUAGE = {"pt": "por", "en": "eng"}
MAX_BLACK_FRACTION = 0.01  # share of pure-black pixels tolerated in a text box
MIN_WORDS_READ = 0.6  # share of a label's words that must be read back
SCALE = 2  # OCR at twice the size: 15 sp hints read reliably
PAD = 6  # px around a label's box where its words may be read


@dataclass(frozen=True)
class Word:
    text: str
    left: int
    top: int
    right: int
    bottom: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2


def fold(text: str) -> str:
    """Lower case without accents, so 'Não' and a misread 'Nao' compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Letters tesseract confuses in a sans-serif font ("Ile" read as "lle"): compared as one.
LOOKALIKE = str.maketrans("i10", "llo")


def tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^0-9a-z]+", fold(text)) if len(t) >= 2]


def dark_on_light(image: Image.Image, boxes: list[list[int]]) -> Image.Image:
    """The text boxes of `image` on white, each as dark text on a light ground.

    Tesseract reads dark text on light paper; our buttons have white text on colour. So
    each box is turned grey, inverted when its text is lighter than its background (the
    background being the box's commonest shade) and stretched to full contrast, and
    pasted at its place on a white page twice the size (small hints read better).
    What a box shows is kept: a blank box stays blank, a black bar stays black.
    """
    grey = image.convert("L")
    page = Image.new("L", grey.size, 255)
    for box in boxes:
        crop = grey.crop(tuple(box))
        if not crop.width or not crop.height:
            continue
        histogram = crop.histogram()
        background = max(range(256), key=histogram.__getitem__)
        mean = sum(i * n for i, n in enumerate(histogram)) / (crop.width * crop.height)
        if mean > background:
            crop = ImageOps.invert(crop)
        page.paste(ImageOps.autocontrast(crop), (box[0], box[1]))
    return page.resize((page.width * SCALE, page.height * SCALE), Image.LANCZOS)


def tesseract_tsv(image: Path, language: str, *options: str) -> str:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # tests run OCR in parallel themselves
    return subprocess.run(
        ["tesseract", str(image), "-", "-l", TESSERACT_LANGUAGE[language], *options, "tsv"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout


def read_words(image: Path, language: str, boxes: list[list[int]], *options: str) -> list[Word]:
    """Every word tesseract reads in the image's text boxes, with its box in pixels."""
    with Image.open(image) as picture:
        page = dark_on_light(picture, boxes)
    prepared = image.with_name(f"{image.stem}.ocr-{len(boxes)}.png")
    page.save(prepared)
    try:
        stdout = tesseract_tsv(prepared, language, *options)
    finally:
        prepared.unlink()
    words = []
    for line in stdout.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 12 or not fields[11].strip():
            continue
        left, top, width, height = (int(v) // SCALE for v in fields[6:10])
        words.append(Word(fields[11], left, top, left + width, top + height))
    return words


def black_fraction(image: Image.Image, box: list[int]) -> float:
    """Share of pure-black pixels in `box` ([left, top, right, bottom])."""
    crop = image.convert("RGB").crop(tuple(box))
    pixels = crop.width * crop.height
    if not pixels:
        return 0.0
    black = sum(count for count, colour in crop.getcolors(pixels) if colour == (0, 0, 0))
    return black / pixels


def words_read(label_text: str, box: list[int], words: list[Word]) -> tuple[float, str]:
    """Share of the label's words read inside its box, and what was read there."""
    left, top, right, bottom = box
    inside = [
        w
        for w in words
        if left - PAD <= w.centre[0] <= right + PAD and top - PAD <= w.centre[1] <= bottom + PAD
    ]
    read = [t for w in inside for t in tokens(w.text)]
    wanted = tokens(label_text)
    if not wanted:
        return 1.0, " ".join(w.text for w in inside)
    read = [t.translate(LOOKALIKE) for t in read]
    found = sum(
        1
        for token in (t.translate(LOOKALIKE) for t in wanted)
        if any(t == token or SequenceMatcher(None, t, token).ratio() >= 0.75 for t in read)
    )
    return found / len(wanted), " ".join(w.text for w in inside)


def problems(image: Path, labels: list[dict], expect: list[str], language: str) -> list[str]:
    """What a person could not read in `image`; empty when everything is readable."""
    found: list[str] = []
    shown = [fold(label["text"]) for label in labels]
    for text in expect:
        if not any(fold(text) in label for label in shown):
            found.append(f"{image.name}: {text!r} is not on screen")
    picture = Image.open(image)
    words = read_words(image, language, [label["box"] for label in labels])
    for label in labels:
        text, box = label["text"], label["box"]
        black = black_fraction(picture, box)
        if black > MAX_BLACK_FRACTION:
            found.append(f"{image.name}: {text[:60]!r} is a solid block ({black:.0%} black)")
            continue
        share, read = words_read(text, box, words)
        if share < MIN_WORDS_READ:
            # Tesseract's page layout can miss a lone short word ("EN", "Sim"); read the
            # box alone as one line before calling it unreadable.
            alone = read_words(image, language, [box], "--psm", "11")
            share, read = words_read(text, box, alone)
        if share < MIN_WORDS_READ:
            found.append(
                f"{image.name}: {text[:60]!r} unreadable at {box}: read {read[:60]!r}"
                f" ({share:.0%} of its words)"
            )
    return found
