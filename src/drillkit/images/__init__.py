"""Node images: a Debian base obtained without a registry, and drillkit's Dockerfiles on top."""

from drillkit.images.base import BASE_TAG, BaseSource, ensure_base_image
from drillkit.images.build import NodeImages, ensure_image, ensure_images
from drillkit.images.catalog import DEFAULT_IMAGES, ImageSpec, image_for

__all__ = [
    "BASE_TAG",
    "DEFAULT_IMAGES",
    "BaseSource",
    "ImageSpec",
    "NodeImages",
    "ensure_base_image",
    "ensure_image",
    "ensure_images",
    "image_for",
]
