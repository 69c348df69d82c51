"""Transfer of one pretrained model to one target: its features to HDF5, the linear probe on
them (scored clean and under the evaluation attack through the whole network), then partial
fine-tuning of every depth from that probe. One job, because each part takes seconds and a job
of its own would pay the start-up (torch, the model, the dataset) again."""

from advinfo.datasets.images import load_dataset, train_subset
from advinfo.device import job_device
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import load_model
from advinfo.plan.names import model_spec
from advinfo.transfer.transfer_job import TransferJob, TransferOptions, TransferPaths, transfer_model


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    target = train_subset(load_dataset(smk.input.dataset), smk.params.n_train, smk.params.sample_seed)
    options = TransferOptions(**{k: getattr(smk.params, k) for k in TransferOptions.__dataclass_fields__})
    out = smk.output
    paths = TransferPaths(out.features, out.linear, out.head, list(out.finetune), smk.params.resume_dir)
    transfer_model(TransferJob(model, meta, target, model_spec(smk.wildcards), options, paths, device))


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
