"""genlib.audio: filled in by its track (see ../shared/CURRICULUM.md)."""
