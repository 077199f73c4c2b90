"""Every tunable of the globe finder in one frozen dataclass, recorded in ``report.json``.

Lengths are millimetres; intensities marked "normalised" are on the scale air = 0, typical tissue = 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GlobeFinderSettings:
    """The globe finder's parameters, grouped by step (see the package docstring for what each step does)."""

    # --- volume preparation
    coarse_spacing_mm: float = 2.0
    max_coarse_voxels: int = 3_000_000
    #: An image with at most this many distinct intensities (in a sample of ``label_check_voxels``) is a mask.
    max_label_values: int = 32
    label_check_voxels: int = 1_000_000
    #: A sample darker than this (normalised) counts as air.
    max_air_normalised: float = 0.15
    #: Share of the field-of-view border that must be at the bright end for the image to be searched as inverted
    #: first (air brighter than tissue); between the two values both readings are searched.
    inverted_border_share: tuple[float, float] = (0.35, 0.65)

    # --- sphere detector (coarse grid)
    shell_radii_mm: tuple[float, ...] = (9.0, 11.0, 13.0)
    shell_sigma_mm: float = 1.5
    interior_radius_fraction: float = 0.6
    outer_shell_mm: tuple[float, float] = (1.0, 4.0)  # surrounding band, beyond the shell radius
    smoothing_sigma_mm: float = 2.0
    min_interior_above_air: float = 0.08  # a dark-ball interior below this (normalised) is air-like ...
    air_like_interior_factor: float = 0.6  # ... and scores this fraction (vitreous is air-dark only in FLAIR)
    full_contrast: float = 0.25  # normalised contrast across the shell that earns a full score
    max_surround_air_fraction: float = 0.3  # a globe is embedded in tissue; the score is 0 at this air fraction

    # --- coarse search
    max_anterior_depth_mm: tuple[float, float] = (35.0, 55.0)  # full prior up to the first value, 0 beyond the second
    candidates_per_polarity: int = 12
    min_candidate_separation_mm: float = 12.0
    min_score: float = 0.15  # candidates below this are never reported

    # --- pairing
    pair_distance_mm: tuple[float, float] = (40.0, 90.0)
    max_pair_tilt_deg: float = 35.0
    typical_interocular_mm: float = 62.0
    face_profile_offset_mm: float = 25.0
    min_face_profile_step_mm: float = 10.0
    min_pair_score: float = 0.3  # geometric mean of the two candidates' scores
    min_single_score: float = 0.35
    single_globe_penalty: float = 0.6  # a lone globe must beat the best pair's score by this factor

    # --- confidence
    #: A globe scoring at least this is accepted on its own ("high").
    high_confidence: float = 0.5
    #: A lower-scoring globe is accepted only if its pair is consistent ("confirmed"): centres this far apart ...
    consistent_distance_mm: tuple[float, float] = (50.0, 75.0)
    #: ... radii this close ...
    max_radius_difference_mm: float = 2.0
    #: ... and the pair's midpoint this close to the head's mid-sagittal plane.
    max_midplane_offset_mm: float = 10.0

    # --- refinement (about 1 mm, native image)
    refine_spacing_mm: float = 1.0
    refine_half_width_mm: float = 26.0
    refine_rays: int = 256
    refine_radius_range_mm: tuple[float, float] = (5.0, 19.0)
    refine_iterations: int = 4
    max_refine_shift_mm: float = 10.0
    globe_radius_range_mm: tuple[float, float] = (7.0, 16.0)
    sphere_tolerance_mm: float = 2.0  # boundary points closer than this to the fitted sphere support it
    wall_outside_mm: float = 3.0  # where "just outside" a boundary point is sampled
    wall_radius_sigma_mm: float = 3.0  # edges are weighted by a Gaussian of this width around the current radius
    blur_check_sigma_mm: float = 1.5
    max_blur_smoothness_ratio: float = 0.3  # detail in front of the globe relative to behind it

    @property
    def detector_reach_mm(self) -> float:
        """How far from a voxel the detector looks (largest shell plus its blur or surrounding band)."""
        return max(self.shell_radii_mm) + max(3.0 * self.shell_sigma_mm, self.outer_shell_mm[1])

    def as_report(self) -> dict:
        """The settings as a JSON-ready dict (tuples as lists)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


DEFAULT_SETTINGS = GlobeFinderSettings()
