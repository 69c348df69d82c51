"""Networks: the classifiers and their representation z, imported checkpoints, model files,
features to HDF5, linear heads."""
