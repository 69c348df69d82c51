"""One model's inversion job: fixed source and out-of-distribution test images inverted three
ways (plain, through the weights perturbed once by the posterior noise, effective images),
feature visualisation and manipulation, and per image the records the tables read."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from advinfo.datasets.images import ImageDataset, model_inputs, to_unit
from advinfo.information.inversion import (
    InversionConfig,
    Inverted,
    describe,
    invert_variants,
    manipulate_features,
    top_coordinates,
    visualise_features,
)
from advinfo.information.posterior import load_posterior

log = logging.getLogger(__name__)


def class_ordered_images(
    ds: ImageDataset, n: int, size: int, device: torch.device, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` test images of ``ds`` in [0, 1], as many classes as there are images, in class order."""
    x, y = model_inputs(ds, "test", size, device, limit=n, seed=seed, balanced=True)
    order = torch.argsort(y, stable=True)
    return to_unit(x[order]), y[order]


def inversion_images(
    source: ImageDataset,
    ood: ImageDataset | None,
    options: dict[str, Any],
    size: int,
    device: torch.device,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The images a job inverts: ``inversion.n_images`` of the source, then ``n_ood`` of the
    out-of-distribution dataset when there is one; their labels; which are in distribution."""
    parts = [class_ordered_images(source, options["n_images"], size, device, seed)]
    if ood is not None:
        parts.append(class_ordered_images(ood, options["n_ood"], size, device, seed))
    images, labels = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return images, labels, np.arange(len(images)) < len(parts[0][0])


def manipulation_grid(
    model: nn.Module, images: torch.Tensor, coordinates: list[int], opts: dict
) -> dict[str, np.ndarray]:
    """Each of the first source images with each of the first visualised coordinates raised:
    images (coordinates, images, 3, H, W), the coordinates, and z_k before and after."""
    chosen, base = coordinates[: opts["coordinates"]], images[: opts["images"]]
    pairs = [(k, x) for k in chosen for x in base]
    raised, before, after = manipulate_features(
        model, torch.stack([x for _, x in pairs]), [k for k, _ in pairs], opts["eps"], opts["steps"]
    )
    shape = (len(chosen), len(base))
    return {
        "images": raised.cpu().numpy().reshape(*shape, *base.shape[1:]),
        "coordinates": np.asarray(chosen),
        "before": before.reshape(shape),
        "after": after.reshape(shape),
    }


def invert_model(
    model: nn.Module,
    posterior_path: str | Path,
    images: torch.Tensor,
    labels: torch.Tensor,
    in_dist: np.ndarray,
    options: dict[str, Any],
    seed: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Everything one inversion job computes (``options``: the ``inversion`` section): the arrays
    its HDF5 file holds and the per-image records of its JSON."""
    cfg = InversionConfig(
        options["sigma"], options["step_size"], options["max_iters"], options["window"], options["tol"], seed=seed
    )
    try:
        results, feature_change = invert_variants(model, load_posterior(posterior_path), images, cfg)
    except ValueError as err:  # a posterior that does not fit the model
        raise ValueError(f"{posterior_path}: {err}") from err
    source = images[: int(in_dist.sum())]
    vis_opts, size = options["feature_vis"], images.shape[-1]
    with torch.no_grad():
        coordinates = top_coordinates(model.eval().features(source), vis_opts["coordinates"])
    vis, activation = visualise_features(model, coordinates, (size, size), vis_opts["iterations"], cfg, images.device)
    manipulation = manipulation_grid(model, source, coordinates, options["manipulation"])
    records = describe(results, model, images, in_dist, options["loss_threshold"], feature_change)
    arrays = {
        "originals": images.cpu().numpy(),
        "labels": labels.cpu().numpy(),
        "in_distribution": in_dist,
        "images": {v: r.images.cpu().numpy() for v, r in results.items()},
        "loss": {v: r.losses for v, r in results.items()},
        "feature_vis": {"images": vis.cpu().numpy(), "coordinates": np.asarray(coordinates), "activation": activation},
        "manipulation": manipulation,
    }
    _log_summary(results, records, feature_change, manipulation, options["manipulation"]["eps"])
    return arrays, records


def _log_summary(
    results: dict[str, Inverted],
    records: list[dict[str, Any]],
    feature_change: np.ndarray,
    manipulation: dict[str, np.ndarray],
    manipulation_eps: float,
) -> None:
    log.info(
        "weight noise moves the features by %.3f (mean ||f_{w+n}(x) - f_w(x)|| / ||f_w(x)||)",
        float(feature_change.mean()),
    )
    log.info(
        "manipulation raised z_k from %.3f to %.3f (means) within L2 %g",
        float(manipulation["before"].mean()),
        float(manipulation["after"].mean()),
        manipulation_eps,
    )
    for variant, (_, losses, fit) in results.items():
        mine = [r for r in records if r["variant"] == variant]
        log.info(
            "%s: %s after %d iterations (mean loss fell %.2f%% over the deciding window), final loss %.3f, "
            "PSNR %.2f dB, SSIM %.3f (means over %d images)",
            variant,
            "converged" if fit.converged else "NOT converged",
            fit.iterations,
            100 * fit.change,
            losses[-1].mean(),
            np.mean([r["psnr"] for r in mine]),
            np.mean([r["ssim"] for r in mine]),
            len(mine),
        )
