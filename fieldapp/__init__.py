"""The tablet app: Kivy screens over a local store that keeps every answer safe."""
