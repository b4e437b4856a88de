"""genlib: the small, tested helper library that the genai-from-scratch notebooks build and import."""
from genlib.device import get_device, pick, scale, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "pick", "scale", "seed_everything", "__version__"]
