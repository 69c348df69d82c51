"""advinfo: adversarial training, information and transferability (Terzi et al., AAAI 2021)."""

__version__ = "0.1.0"
