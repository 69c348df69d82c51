"""Fig. 1 (inversion grid), Fig. 2 (inversion loss), the feature visualisation and manipulation."""

from advinfo.information.inversion_store import load_inversion
from advinfo.logs import configure_logging
from advinfo.plan.names import model_label
from advinfo.report.figures.inversion import (
    plot_feature_manipulation,
    plot_feature_visualisation,
    plot_inversion_grid,
    plot_inversion_loss,
)
from advinfo.report.figures.shared import save_figure


def main(smk) -> None:
    models = []
    for path in smk.input.inversions:
        data, attrs = load_inversion(path)
        label = f"{attrs['source']}/{attrs['arch']}\n{model_label(attrs['method'], attrs['eps'])}, seed {attrs['seed']}"
        models.append((label, data))
    save_figure(plot_inversion_grid(models), smk.output.fig1_pdf, smk.output.fig1_png)
    save_figure(plot_inversion_loss(models), smk.output.fig2_pdf, smk.output.fig2_png)
    save_figure(plot_feature_visualisation(models), smk.output.vis_pdf, smk.output.vis_png)
    save_figure(plot_feature_manipulation(models), smk.output.manip_pdf, smk.output.manip_png)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
