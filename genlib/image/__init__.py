"""Image models: MLP/CNN blocks, U-Net, VAE, VQ-VAE, GAN (built up notebook by notebook)."""
from genlib.image.blocks import MLP
from genlib.image.unet import UNet, UNetConfig

__all__ = ["MLP", "UNet", "UNetConfig"]
