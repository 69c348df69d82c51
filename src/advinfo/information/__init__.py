"""What a network's representation and weights keep: Fisher of z about x, the weight posterior,
mutual information, inversion, t-SNE."""
