"""The columns of ``stats.csv``, ``cnr.csv`` and ``biometry.csv``, each defined once: name, kind, unit and meaning.

The CSV headers, the Slicer table nodes (column types, unit labels, descriptions) and the cohort table's types all
derive from these tuples. Intensities are in the image's own arbitrary units (a.u.).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One output column: its machine name, value kind ("text", "integer" or "real"), unit label and meaning."""

    key: str
    kind: str
    unit: str
    description: str


def column_keys(columns: Sequence[Column]) -> tuple[str, ...]:
    """The column names, in file order."""
    return tuple(c.key for c in columns)


STATS_TABLE: tuple[Column, ...] = (
    Column("eye", "text", "", "Eye side"),
    Column("label", "integer", "", "Value in the label map (right 1-9, left 11-19)"),
    Column("atlas_label", "integer", "", "MR-Eye atlas label (1-9)"),
    Column("structure", "text", "", "Structure"),
    Column("voxels", "integer", "voxels", "Number of patient voxels in the structure"),
    Column("volume_mm3", "real", "mm3", "Volume (voxel count × voxel volume)"),
    Column("mean", "real", "a.u.", "Mean intensity"),
    Column("sd", "real", "a.u.", "Sample standard deviation of intensity (N-1)"),
    Column("median", "real", "a.u.", "Median intensity"),
    Column("snr", "real", "", "Signal-to-noise ratio: ROI mean / noise sigma"),
    Column("snr_ci_low", "real", "", "Lower end of the 95% confidence interval of SNR"),
    Column("snr_ci_high", "real", "", "Upper end of the 95% confidence interval of SNR"),
    Column("snr_signal", "real", "a.u.", "SNR numerator: ROI mean, or its noise-floor-corrected value"),
    Column("signal_correction", "text", "",
           "Signal estimate: none (ROI mean) or power (sqrt(mean(M^2) - 2n sigma^2))"),
    Column("noise_sd", "real", "a.u.", "Noise sigma (Gaussian SD per quadrature channel)"),
    Column("noise_method", "text", "",
           "Where noise sigma comes from (air_background, roi, noise_scan, difference, naive)"),
    Column("noise_model", "text", "",
           "How sigma follows from the noise samples (rayleigh_sd, rayleigh_mean, sos, none)"),
    Column("noise_voxels", "integer", "voxels", "Voxels used to estimate noise sigma"),
    Column("roi_voxels", "integer", "voxels", "Voxels of the SNR region (structure after erosion)"),
    Column("roi_erosion_mm", "real", "mm", "Erosion of the structure for the SNR region"),
    Column("roi_mean", "real", "a.u.", "Mean intensity in the SNR region"),
    Column("roi_sd", "real", "a.u.", "Sample SD of intensity in the SNR region"),
    Column("snr_note", "text", "", "Why SNR is undefined, low voxel counts, or caveats"),
    Column("qc_status", "text", "",
           "Quality control of the eye: pass, doubtful (accepted with a caveat) or not_segmented"),
    Column("qc_note", "text", "", "The caveat, or why the eye was not segmented"),
)

CNR_TABLE: tuple[Column, ...] = (
    Column("eye", "text", "", "Eye side"),
    Column("structure_a", "text", "", "First structure"),
    Column("structure_b", "text", "", "Second structure (outside_mask: the naive recipe's background)"),
    Column("mean_a", "real", "a.u.", "ROI mean of the first structure"),
    Column("mean_b", "real", "a.u.", "ROI mean of the second structure"),
    Column("voxels_a", "integer", "voxels", "ROI voxels of the first structure"),
    Column("voxels_b", "integer", "voxels", "ROI voxels of the second structure"),
    Column("cnr", "real", "", "|mean_a - mean_b| / noise sigma"),
    Column("cnr_ci_low", "real", "", "Lower end of the 95% confidence interval of cnr"),
    Column("cnr_ci_high", "real", "", "Upper end of the 95% confidence interval of cnr"),
    Column("cnr_noise_sd", "real", "a.u.", "Noise sigma used for cnr"),
    Column("noise_method", "text", "", "Where noise sigma comes from"),
    Column("cnr_pooled", "real", "", "|mean_a - mean_b| / sqrt(sd_a^2 + sd_b^2), ROI SDs"),
    Column("cnr_pooled_ci_low", "real", "", "Lower end of the 95% confidence interval of cnr_pooled"),
    Column("cnr_pooled_ci_high", "real", "", "Upper end of the 95% confidence interval of cnr_pooled"),
    Column("formula", "text", "", "Formulas used"),
    Column("note", "text", "", "Caveats"),
)

#: A biometry row's unit is in its "unit" column (mm, mm2, mm3).
BIOMETRY_TABLE: tuple[Column, ...] = (
    Column("eye", "text", "", "Eye side"),
    Column("measure", "text", "", "Volume or biometric measure (definitions in report.json and the README)"),
    Column("value", "real", "", "Value, in the row's unit"),
    Column("unit", "text", "", "Unit of the value and of the population columns"),
    Column("population", "text", "",
           "MR-Eye population compared with: F, M or all (both sexes); empty without a norm"),
    Column("population_n", "real", "eyes", "Eyes in the population"),
    Column("population_mean", "real", "", "Population mean"),
    Column("population_sd", "real", "", "Population standard deviation"),
    Column("population_p2_5", "real", "", "Population 2.5th percentile"),
    Column("population_p50", "real", "", "Population median"),
    Column("population_p97_5", "real", "", "Population 97.5th percentile"),
    Column("z_score", "real", "", "(value - population mean) / population SD"),
    Column("percentile", "real", "%",
           "Percentile in the population (two-piece normal through its 2.5th, 50th, 97.5th percentiles)"),
    Column("flag", "text", "", "low or high: outside the population's 2.5-97.5 % range"),
    Column("note", "text", "", "How the value was found, why it is missing, or that the population has no norm for it"),
)
