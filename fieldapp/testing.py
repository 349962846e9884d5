"""Boot the real app in the current process without `App.run()`, and drive it frame by frame.

Used by the UI tests and by `python -m fieldapp.screenshots`. The window is a real Kivy
window (SDL2, offscreen GL when there is no display); we add the app's root widget to it
and advance frames with `EventLoop.idle()`, as Kivy's own GraphicUnitTest does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def prepare_kivy(width: int = 1280, height: int = 800) -> None:
    """Settle Kivy's environment and window size; call before anything imports Kivy."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    # SDL2's clipboard works without a display (xclip needs an X server).
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("input", "mouse", "mouse,disable_multitouch")


def boot(data_dir: Path, size: tuple[int, int] = (1280, 800), **options: Any):
    """A FieldApp built and shown in the window, ready to drive."""
    prepare_kivy(*size)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    EventLoop.ensure_window()
    Window.size = size
    from fieldapp.app import FieldApp

    app = FieldApp(data_dir, **options)
    app.root = app.build()
    Window.add_widget(app.root)
    pump(3)
    return app


def shutdown(app) -> None:
    from kivy.core.window import Window

    Window.remove_widget(app.root)
    app.on_stop()
    app.store.close()
    pump(1)


def pump(frames: int = 2) -> None:
    """Advance the event loop: layout, scheduled callbacks, drawing."""
    from kivy.base import EventLoop

    for _ in range(frames):
        EventLoop.idle()


def wait(seconds: float) -> None:
    """Let real time pass (animations such as a popup closing) while drawing frames."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pump(1)
        time.sleep(0.02)


def resize(width: int, height: int) -> None:
    from kivy.core.window import Window

    Window.size = (width, height)
    pump(4)


def screenshot(path: Path) -> Path:
    """Save what the window shows now as a PNG at exactly `path`."""
    from kivy.core.window import Window

    pump(3)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = Window.screenshot(name=str(path.with_name(path.stem + "%(counter)04d.png")))
    Path(written).replace(path)
    return path


def visible_labels() -> list[dict[str, Any]]:
    """Every label (buttons included) whose text is fully on screen now, with its text box.

    A box is [left, top, right, bottom] in screenshot pixels (origin top left), the
    rectangle Kivy draws the label's texture into. Labels scrolled out of view, clipped
    by a scroll view or shortened with "…" are left out: a person can't read them whole,
    so neither should a test that compares what it reads with the label's text.
    Used by `python -m fieldapp.screenshots` (labels.json) and the OCR test.
    """
    from kivy.core.window import Window
    from kivy.uix.label import Label
    from kivy.uix.stencilview import StencilView

    height = Window.height
    found: list[dict[str, Any]] = []

    def walk(widget, clip: tuple[float, float, float, float]) -> None:
        if widget.opacity == 0:
            return
        if isinstance(widget, StencilView):
            left, bottom = widget.to_window(widget.x, widget.y)
            clip = (
                max(clip[0], left),
                max(clip[1], bottom),
                min(clip[2], left + widget.width),
                min(clip[3], bottom + widget.height),
            )
        if isinstance(widget, Label) and widget.text.strip() and not widget.markup:
            tex_w, tex_h = widget.texture_size
            left, bottom = widget.to_window(
                int(widget.center_x - tex_w / 2), int(widget.center_y - tex_h / 2)
            )
            right, top = left + tex_w, bottom + tex_h
            inside = clip[0] <= left and clip[1] <= bottom and right <= clip[2] and top <= clip[3]
            if inside and tex_w > 1 and tex_h > 1 and not widget.is_shortened:
                found.append(
                    {
                        "text": widget.text,
                        "kind": type(widget).__name__,
                        "box": [round(v) for v in (left, height - top, right, height - bottom)],
                    }
                )
        for child in widget.children:
            walk(child, clip)

    from kivy.uix.modalview import ModalView

    # A popup covers what is under it: read only the popup then.
    layers = [child for child in Window.children if isinstance(child, ModalView)][:1]
    for child in layers or Window.children:
        walk(child, (0, 0, Window.width, height))
    return found
