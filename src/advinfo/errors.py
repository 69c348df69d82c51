"""Errors a researcher can act on, shared by the stages that raise them."""


class DivergenceError(RuntimeError):
    """An optimisation (training, a probe, the posterior, an inversion) produced a non-finite loss."""
