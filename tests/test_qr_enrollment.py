"""Reading the enrollment QR code that `sync-server enroll` writes, from pictures of it.

The images are the server's own: the enroll command runs on a real server database and
writes its PNG; the "photos" are that PNG as a tablet camera would see it: small in the
frame, rotated, blurred, faint, on a noisy background.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageOps

from fieldapp.qr import NoQRCodeFound, NotAnEnrollmentCode, decode_enrollment, decode_frame

pytestmark = pytest.mark.integration
SERVER = "http://127.0.0.1:8765"


def server_enrollment_qr(data_dir: Path) -> tuple[str, Path]:
    """(code, QR image) from the server's `enroll` command, on a real server database."""
    from sync_server import cli
    from sync_server.db import Database

    Database(data_dir).close()  # what `serve --init` creates
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(
            [
                "enroll",
                "--data-dir",
                str(data_dir),
                "--enumerator",
                "Maria Cossa",
                "--district",
                "MZ1120",
                "--server-url",
                SERVER,
            ]
        )
    assert status == 0
    code = re.search(r"Enrollment code: (\S+)", out.getvalue()).group(1)
    path = Path(re.search(r"QR image: +(\S+)", out.getvalue()).group(1))
    return code, path


@pytest.fixture(scope="module")
def enrollment(tmp_path_factory) -> tuple[str, Path]:
    return server_enrollment_qr(tmp_path_factory.mktemp("server") / "data")


def photo(qr: Image.Image, *, angle: float, blur: float, low: int, high: int) -> Image.Image:
    """The QR code as a camera frame: 640x480, the code a third of it, turned by `angle`,
    blurred by `blur` px, its black and white squeezed to grey levels low..high, noise."""
    frame = Image.new("L", (640, 480), 200)
    code = ImageOps.grayscale(qr).resize((220, 220), Image.Resampling.BILINEAR)
    code = code.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    frame.paste(code, (200, 120))
    frame = frame.filter(ImageFilter.GaussianBlur(blur))
    frame = frame.point(lambda v: low + (high - low) * v // 255)
    noise = Image.effect_noise((640, 480), 12)
    return Image.blend(frame, noise, 0.08).convert("RGB")


def test_the_servers_qr_image_gives_the_code_and_the_server(enrollment):
    code, path = enrollment
    assert decode_enrollment(path) == (decode_enrollment(Image.open(path)))
    found = decode_enrollment(path)
    assert (found.code, found.server) == (code, SERVER)


@pytest.mark.parametrize(
    ("angle", "blur", "low", "high"),
    [
        (0, 0.5, 0, 255),  # a sharp photo, straight
        (90, 0.5, 0, 255),  # the tablet held sideways
        (23, 1.0, 0, 255),  # turned
        (-140, 1.2, 30, 230),  # upside down-ish
        (8, 1.8, 0, 255),  # out of focus
        (15, 1.0, 105, 165),  # faint: a worn print in the shade
    ],
    ids=["straight", "sideways", "turned", "upside-down", "blurred", "low-contrast"],
)
def test_photos_of_it_give_the_same_code(enrollment, tmp_path, angle, blur, low, high):
    code, path = enrollment
    picture = photo(Image.open(path), angle=angle, blur=blur, low=low, high=high)
    picture.save(tmp_path / "photo.png")  # what was decoded, to look at when it fails
    assert decode_enrollment(picture).code == code


def test_a_camera_frame_as_kivy_gives_it_decodes_too(enrollment):
    """Kivy textures hold RGBA rows from the bottom up."""
    code, path = enrollment
    picture = photo(Image.open(path), angle=12, blur=0.8, low=0, high=255).convert("RGBA")
    raw = picture.transpose(Image.Transpose.FLIP_TOP_BOTTOM).tobytes()
    assert decode_frame(raw, picture.size).code == code


def test_a_picture_without_a_qr_code_says_so():
    blank = Image.effect_noise((640, 480), 40)
    with pytest.raises(NoQRCodeFound, match="no QR code could be read"):
        decode_enrollment(blank)


def test_a_qr_code_that_is_not_an_enrollment_says_so():
    import qrcode

    other = qrcode.make("https://example.org/not-an-enrollment").get_image()
    with pytest.raises(NotAnEnrollmentCode, match="not an enrollment code"):
        decode_enrollment(other)


def test_a_code_too_blurred_to_read_is_not_guessed(enrollment):
    _code, path = enrollment
    mush = photo(Image.open(path), angle=0, blur=9, low=0, high=255)
    with pytest.raises(NoQRCodeFound, match="no QR code"):
        decode_enrollment(mush)
