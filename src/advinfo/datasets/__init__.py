"""Datasets as one uint8 image cache per dataset: building it (generated, embedded, torchvision,
image folders) and reading it."""
