"""The noise methods and noise models a user chooses from, each defined once: option value, menu label, what it
computes (as ``report.json`` states it) and its reference.

The command line's choices and help, the pipeline's method resolution and the report's definitions derive from these
tuples. The Slicer module's menus show the same labels as translatable literals (lupdate extracts only literals);
a test keeps them equal to these.

References:
- Henkelman RM. Measurement of signal intensities in the presence of noise in MR images. Med Phys 1985;12:232-233.
- Gudbjartsson H, Patz S. The Rician distribution of noisy MRI data. Magn Reson Med 1995;34:910-914.
- Constantinides CD, Atalar E, McVeigh ER. Signal-to-noise measurements in magnitude images from NMR phased arrays.
  Magn Reson Med 1997;38:852-857.
- NEMA MS 1-2008 (R2014). Determination of signal-to-noise ratio (SNR) in diagnostic magnetic resonance imaging.
- Dietrich O, Raya JG, Reeder SB, Reiser MF, Schoenberg SO. Measurement of signal-to-noise ratios in MR images:
  influence of multichannel coils, parallel imaging, and reconstruction filters. J Magn Reson Imaging
  2007;26:375-385.
- Kellman P, McVeigh ER. Image reconstruction in SNR units: a general method for SNR measurement. Magn Reson Med
  2005;54:1439-1447.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HENKELMAN_1985 = "Henkelman 1985; Gudbjartsson & Patz 1995"
CONSTANTINIDES_1997 = "Constantinides et al. 1997"
NEMA_MS1 = "NEMA MS 1-2008; Dietrich et al. 2007"
KELLMAN_2005 = "Kellman & McVeigh 2005"


@dataclass(frozen=True)
class NoiseMethodChoice:
    """Where the noise σ comes from.

    ``key`` is the option value (``PipelineOptions.noise_method``; ``--noise-method`` with "-" for "_"; the module's
    enum value); ``recorded_as`` the ``noise_method`` written in ``stats.csv`` and ``report.json``; ``input_field``
    the ``PipelineOptions`` field holding the image the method needs, and ``input_help`` how to give it.
    """

    key: str
    label: str
    recorded_as: str
    definition: str
    reference: str = ""
    input_field: str = ""
    input_help: str = ""


@dataclass(frozen=True)
class NoiseModelChoice:
    """How σ follows from the background noise samples: ``key`` as for noise methods; ``definition`` the formula."""

    key: str
    label: str
    definition: str
    reference: str = ""


#: "auto": the first of these methods whose input is given, else "air".
AUTO_PREFERENCE = ("difference", "noise_scan", "roi")

NOISE_METHOD_CHOICES: tuple[NoiseMethodChoice, ...] = (
    NoiseMethodChoice("auto", "Automatic: difference, noise scan, ROI or air, from what is given", "",
                      f"the first of {', '.join(AUTO_PREFERENCE)} whose input is given, else air"),
    NoiseMethodChoice("air", "Air background (automatic)", "air_background",
                      "air found automatically: > 10 mm outside the head, outside 20 mm bands through each eye "
                      "along every voxel axis (ghosts), zero-valued and clipped voxels excluded", HENKELMAN_1985),
    NoiseMethodChoice("roi", "Noise ROI segmentation", "roi", "user-given air ROI (zero-valued voxels excluded)",
                      HENKELMAN_1985, "noise_roi", "an air ROI (--noise-roi MASK)"),
    NoiseMethodChoice("noise_scan", "Noise-only scan", "noise_scan", "noise-only acquisition (every non-zero voxel)",
                      KELLMAN_2005, "noise_scan", "a noise-only scan (--noise-scan IMAGE)"),
    NoiseMethodChoice("difference", "Difference of two identical scans (NEMA)", "difference",
                      "per structure from a repeated identical acquisition: sigma = SD_ROI(I1 - I2) / sqrt(2)",
                      NEMA_MS1, "repeat", "a second identical acquisition on the same grid (--repeat IMAGE2)"),
    NoiseMethodChoice("naive", "Naive: SD outside the structures (comparison only)", "naive_outside_mask",
                      "naive recipe: SD of every voxel outside the structures, for comparison only"),
)

NOISE_MODEL_CHOICES: tuple[NoiseModelChoice, ...] = (
    NoiseModelChoice("rayleigh_sd", "Single channel, Rayleigh: SD / 0.655",
                     "single-channel magnitude, Rayleigh: sigma = SD_background / 0.655", HENKELMAN_1985),
    NoiseModelChoice("rayleigh_mean", "Single channel, Rayleigh: mean / 1.253",
                     "single-channel magnitude, Rayleigh: sigma = mean_background / 1.253", HENKELMAN_1985),
    NoiseModelChoice("sos", "n-channel sum of squares: sqrt(mean(M²) / 2n)",
                     "n-channel sum of squares, central chi: sigma^2 = mean(M^2) / (2n)", CONSTANTINIDES_1997),
    NoiseModelChoice("none", "None: raw SD (biased)", "no model: sigma = raw SD (biased for magnitude images)"),
)

#: The noise model of every σ unless the user chooses another (single-channel magnitude images are the common case).
DEFAULT_NOISE_MODEL = "rayleigh_sd"


def choice_keys(choices: Sequence[NoiseMethodChoice | NoiseModelChoice]) -> tuple[str, ...]:
    """The option values, in menu order."""
    return tuple(c.key for c in choices)


def choice_label(choices: Sequence[NoiseMethodChoice | NoiseModelChoice], key: str) -> str:
    """The menu label of the choice ``key``."""
    return next(c.label for c in choices if c.key == key)
