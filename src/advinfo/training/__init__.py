"""Training a network: the trainer, pretraining, augmentation, schedule, resumption, and the
training methods (one file each in methods/)."""
