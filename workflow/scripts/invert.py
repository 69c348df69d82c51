"""Inversion, noise-once inversion and effective images of fixed source and out-of-distribution
test images under one model, feature visualisation, and their quality."""

import logging

import numpy as np
import torch

from advinfo.checkpoint import load_model, load_source_dataset
from advinfo.data import ImageDataset, load_dataset, model_inputs, to_unit
from advinfo.device import job_device
from advinfo.fileio import write_json
from advinfo.grid import model_record
from advinfo.inversion import (
    InversionConfig,
    describe,
    invert_variants,
    manipulate_features,
    top_coordinates,
    visualise_features,
)
from advinfo.inversion_file import save_inversion
from advinfo.logs import configure_logging
from advinfo.posterior import load_posterior

log = logging.getLogger(__name__)


def _fixed_images(
    ds: ImageDataset, n: int, size: int, device: torch.device, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` test images of ``ds``, as many classes as there are images, in class order."""
    x, y = model_inputs(ds, "test", size, device, limit=n, seed=seed, balanced=True)
    order = torch.argsort(y, stable=True)
    return to_unit(x[order]), y[order]


def _manipulate(
    model: torch.nn.Module, images: torch.Tensor, coordinates: list[int], opts: dict
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


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    logvar = load_posterior(smk.input.posterior)
    opts, size, seed = smk.params.options, meta["image_size"], smk.params.sample_seed
    source = load_source_dataset(smk.input.source, meta, smk.input.model)
    parts = [_fixed_images(source, opts["n_images"], size, device, seed)]
    if smk.params.ood:
        parts.append(_fixed_images(load_dataset(smk.input.ood), opts["n_ood"], size, device, seed))
    images, labels = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    in_dist = np.arange(len(images)) < len(parts[0][0])
    cfg = InversionConfig(
        opts["sigma"], opts["step_size"], opts["max_iters"], opts["window"], opts["tol"], seed=int(smk.wildcards.seed)
    )
    try:
        results, feature_change = invert_variants(model, logvar, images, cfg)
    except ValueError as err:  # a posterior that does not fit the model
        raise ValueError(f"{smk.input.posterior}: {err}") from err
    vis_opts = opts["feature_vis"]
    with torch.no_grad():
        coordinates = top_coordinates(model.eval().features(images[: len(parts[0][0])]), vis_opts["coordinates"])
    vis, activation = visualise_features(model, coordinates, (size, size), vis_opts["iterations"], cfg, device)
    manipulation = _manipulate(model, images[: len(parts[0][0])], coordinates, opts["manipulation"])
    records = describe(results, model, images, in_dist, opts["loss_threshold"], feature_change)
    attrs = {
        **model_record(smk.wildcards),
        "ood_dataset": smk.params.ood or "",
        "weights_sha256": meta["weights_sha256"],
    }
    arrays = {
        "originals": images.cpu().numpy(),
        "labels": labels.cpu().numpy(),
        "in_distribution": in_dist,
        "images": {v: r.images.cpu().numpy() for v, r in results.items()},
        "loss": {v: r.losses for v, r in results.items()},
        "feature_vis": {"images": vis.cpu().numpy(), "coordinates": np.asarray(coordinates), "activation": activation},
        "manipulation": manipulation,
    }
    save_inversion(smk.output.h5, arrays, attrs)
    write_json(
        {**attrs, "ood_dataset": smk.params.ood, "loss_threshold": opts["loss_threshold"], "records": records},
        smk.output.json,
    )
    log.info(
        "weight noise moves the features by %.3f (mean ||f_{w+n}(x) - f_w(x)|| / ||f_w(x)||)",
        float(feature_change.mean()),
    )
    log.info(
        "manipulation raised z_k from %.3f to %.3f (means) within L2 %g",
        float(manipulation["before"].mean()),
        float(manipulation["after"].mean()),
        opts["manipulation"]["eps"],
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


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
