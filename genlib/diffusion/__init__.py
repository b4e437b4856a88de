"""genlib.diffusion: filled in by its track (see ../shared/CURRICULUM.md)."""
