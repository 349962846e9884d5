"""Read an enrollment QR code from a picture: pure, no Kivy (the Settings screen feeds it
camera frames; the tests feed it photos of the QR that `sync-server enroll` writes).

The decoder is zxing-cpp (the C++ port of ZXing, with Python wheels): chosen over pyzbar
and OpenCV because it is the one of the three that is both well kept and light. pyzbar's
last release is from 2022 and it needs the system's libzbar; OpenCV's QR detector is well
kept but the headless wheel is around 50 MB for one function. zxing-cpp is released several
times a year, its wheel is about 1 MB with nothing else to install, and it finds codes that
are rotated, tilted, blurred or faint, which is what a phone-held photo of a printed code
looks like.

    decode_enrollment(picture) -> Enrollment(code, server)

    UnreadableEnrollment       the picture gives no enrollment code
    ├── NoQRCodeFound          no readable QR code in it (keep the camera pointed at it)
    └── NotAnEnrollmentCode    a QR code, but not one `sync-server enroll` wrote
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from sync_core.protocol import ENROLL_URI_PREFIX, parse_enrollment_uri


class UnreadableEnrollment(ValueError):
    """The picture gives no enrollment code."""


class NoQRCodeFound(UnreadableEnrollment):
    """No readable QR code in the picture: too far, blurred, or not in the frame yet."""


class NotAnEnrollmentCode(UnreadableEnrollment):
    """The picture holds a QR code, but not an enrollment code."""


@dataclass(frozen=True)
class Enrollment:
    code: str
    server: str | None  # the server address, when the supervisor put it in the code


def decode_enrollment(picture: Image.Image | Path | str) -> Enrollment:
    """The enrollment code (and server address) in a picture of the QR code.

    Tries the picture as it is, then with its contrast stretched (a faint print or a
    photo in the shade). Raises NoQRCodeFound or NotAnEnrollmentCode.
    """
    image = picture if isinstance(picture, Image.Image) else Image.open(picture)
    grey = ImageOps.grayscale(image)
    texts = _read_qr_texts(grey) or _read_qr_texts(ImageOps.autocontrast(grey, cutoff=1))
    if not texts:
        raise NoQRCodeFound("no QR code could be read in the picture")
    for text in texts:
        if text.startswith(ENROLL_URI_PREFIX):
            code, server = parse_enrollment_uri(text)
            if code:
                return Enrollment(code, server)
    raise NotAnEnrollmentCode(
        f"the QR code is not an enrollment code (it should start with {ENROLL_URI_PREFIX})"
    )


def decode_frame(pixels: bytes, size: tuple[int, int], colour: str = "RGBA") -> Enrollment:
    """The same from one camera frame: raw pixels as a Kivy texture holds them (rows from
    the bottom up; the decoder doesn't mind, a mirrored QR code does not happen here)."""
    width, height = size
    image = Image.frombytes(colour, (width, height), pixels).transpose(
        Image.Transpose.FLIP_TOP_BOTTOM
    )
    return decode_enrollment(image)


def _read_qr_texts(image: Image.Image) -> list[str]:
    import zxingcpp

    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [result.text for result in results if result.valid and result.text]
