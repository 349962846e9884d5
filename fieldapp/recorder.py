"""Recording audio for an audio question, where the platform has a recorder.

plyer's `audio` facade records on Android (MediaRecorder, 3GP/AMR); on this desktop (and
any platform plyer has no implementation for) there is none, and `start_recording` raises
`NoRecorder`: the question then offers only "Choose a file". No Kivy here.
"""

from __future__ import annotations

from pathlib import Path


class NoRecorder(Exception):
    """This platform has no audio recorder the app can drive."""


class Recording:
    """A recording in progress into `path`; `stop()` returns the file."""

    def __init__(self, audio, path: Path):
        self._audio = audio
        self.path = path

    def stop(self) -> Path:
        self._audio.stop()
        return self.path


def start_recording(path: Path) -> Recording:
    """Start recording into `path`, or raise NoRecorder."""
    try:
        from plyer import audio

        audio.file_path = str(path)
        audio.start()
    except (ImportError, NotImplementedError, ModuleNotFoundError, AttributeError) as error:
        raise NoRecorder(str(error) or type(error).__name__) from None
    return Recording(audio, path)
