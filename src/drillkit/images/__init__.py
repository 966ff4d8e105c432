"""Node images: a Debian base obtained without a registry, and drillkit's Dockerfiles on top."""

from drillkit.images.base import BASE_TAG, BaseSource, ensure_base_image
from drillkit.images.build import NodeImages, ensure_images

__all__ = ["BASE_TAG", "BaseSource", "NodeImages", "ensure_base_image", "ensure_images"]
