"""Transfer to other datasets: the transfer job (features, probe, fine-tuning), dataset distances
(EMD, Task2Vec) and the transfer gap against them."""
