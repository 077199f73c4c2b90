"""Eye biometry from the label map: lengths in mm and areas in mm² in physical space, one set per eye.

Structures are read as MR-Eye labels them (``structures.py``): 1 the lens; 2 the "globe", which is the chamber
*behind* the lens (the vitreous), not the whole eyeball; 3 the optic nerve; 6-9 the lateral, medial, inferior and
superior rectus. The left eye's labels are these plus 10.

The label map is read as a *box model*: each voxel is a filled box of its own size and orientation, the model under
which ``stats.csv`` counts a volume as voxels × voxel volume. It is resampled (nearest neighbour) on a fine grid of
``SAMPLE_MM`` aligned with each measure's own axis, so a length or area does not depend on how the patient grid is
stored: anisotropic, rotated and oblique grids describe the same geometry. The accuracy on analytic eyes is in the
README (``benchmarks/bench_biometry.py``).

Everything here is a pure function of SimpleITK images; nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .geometry import direction_matrix, lps_to_ras
from .structures import EYE_LABEL_OFFSET, STRUCTURE_BY_LABEL

#: Spacing (mm) of the grids the labels are resampled on for measuring (a 1 mm voxel becomes 4³ samples).
SAMPLE_MM = 0.25
#: Radius (mm) of the disc around the eye axis whose filled fraction locates an edge (averages the voxel staircase).
RAY_RADIUS_MM = 1.0
#: A-eye's median lens-to-cornea distance (mm), used when no corneal edge is found in the image.
FALLBACK_ANTERIOR_OFFSET_MM = 2.72
#: The corneal edge is searched up to this far (mm) in front of the anterior lens edge.
CORNEA_SEARCH_MM = 6.0
#: A corneal edge rises by at least this fraction of the lens-fluid contrast (noise alone does not, lid tissue does).
MIN_CORNEAL_RISE = 0.1
#: Cross-sections this close (mm) to either end of the optic nerve label are left out of its mean diameter.
TUBE_END_MARGIN_MM = 3.0
#: Half-length (mm) of the stretch of centreline whose direction tilts a cross-section.
TANGENT_HALF_WINDOW_MM = 2.0
#: Length (mm) over which the intensity profile in front of the lens is averaged (against noise).
PROFILE_SMOOTHING_MM = 0.75

LENS, GLOBE, OPTIC_NERVE = 1, 2, 3
RECTI = (6, 7, 8, 9)
#: Patient right and superior, LPS.
_RIGHT_LPS = np.array([-1.0, 0.0, 0.0])
_SUPERIOR_LPS = np.array([0.0, 0.0, 1.0])

#: Measure → (unit, definition). The functions below give the method and the literature.
MEASURES: dict[str, tuple[str, str]] = {
    "axial_length": ("mm", "A-eye axial length: along the ray through the lens and globe centroids, from the anterior "
                           "lens edge to the posterior edge of the globe label (the chamber behind the lens)"),
    "anterior_offset": ("mm", "from the anterior lens edge to the anterior corneal surface along the same ray: the "
                              "steepest rise of intensity in front of the aqueous, or A-eye's median 2.72 mm"),
    "axial_length_with_cornea": ("mm", "axial length + anterior offset (corneal apex to posterior globe edge)"),
    "lens_thickness": ("mm", "lens extent along the axial-length ray (anterior to posterior lens edge)"),
    "lens_diameter": ("mm", "equatorial diameter of the lens: equal-area circle of its largest cross-section "
                            "perpendicular to the eye axis"),
    "globe_horizontal_diameter": ("mm", "globe label at its equator (largest cross-section perpendicular to the eye "
                                        "axis), width along the patient's left-right axis; the label is the chamber "
                                        "behind the lens, so retina to retina"),
    "globe_vertical_diameter": ("mm", "as the horizontal diameter, along the vertical perpendicular to the eye axis"),
    "optic_nerve_mean_diameter": ("mm", "mean equal-area diameter of the nerve's cross-sections perpendicular to its "
                                        "centreline, 3 mm from either end excluded"),
    **{f"{STRUCTURE_BY_LABEL[label].key}_max_area": (
        "mm2", f"maximum cross-sectional area of the {STRUCTURE_BY_LABEL[label].name}, perpendicular to its "
               f"centreline") for label in RECTI},
}


@dataclass
class EyeBiometry:
    """The measures of one eye. A value is None when it cannot be measured; ``notes`` says why (or how it was got)."""

    eye: str
    values: dict[str, float | None]
    notes: dict[str, str] = field(default_factory=dict)
    axis_ras: tuple[float, float, float] | None = None  # eye axis, unit vector pointing anterior
    landmarks_ras_mm: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    anterior_offset_source: str = ""  # "intensity_gradient" or "fallback"

    def as_dict(self) -> dict:
        """The report.json form: values, notes, axis, landmarks and where the anterior offset came from."""
        return {"values": self.values, "notes": self.notes, "axis_ras": self.axis_ras,
                "landmarks_ras_mm": self.landmarks_ras_mm, "anterior_offset_source": self.anterior_offset_source}


@dataclass(frozen=True)
class _Frame:
    """A grid of ``SAMPLE_MM`` spacing whose axes (columns a, b, t of ``axes_lps``) follow a measure's own axis.

    Sample (i, j, k) lies at ``centre_lps + axes_lps @ (lo_mm + SAMPLE_MM * (i, j, k))``; local (0, 0, t) is on the
    axis through ``centre_lps``.
    """

    centre_lps: np.ndarray
    axes_lps: np.ndarray
    lo_mm: np.ndarray
    size: tuple[int, int, int]

    def local_mm(self, axis: int) -> np.ndarray:
        """Local coordinate (mm) of each sample along axis 0 (a), 1 (b) or 2 (t)."""
        return self.lo_mm[axis] + SAMPLE_MM * np.arange(self.size[axis])

    def resample(self, image: sitk.Image, interpolator: int, pixel_type: int) -> np.ndarray:
        """``image`` on this grid, as an array indexed [t, b, a]; outside the image is 0."""
        reference = sitk.Image([int(n) for n in self.size], pixel_type)
        reference.SetSpacing((SAMPLE_MM,) * 3)
        reference.SetDirection(tuple(float(v) for v in self.axes_lps.ravel()))
        reference.SetOrigin(tuple(float(v) for v in self.centre_lps + self.axes_lps @ self.lo_mm))
        return sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), interpolator, 0, pixel_type))

    def to_lps(self, local_mm: Sequence[float]) -> np.ndarray:
        return self.centre_lps + self.axes_lps @ np.asarray(local_mm, dtype=float)


def _frame_box(centre_lps: np.ndarray, axes_lps: np.ndarray, lo_mm: np.ndarray, hi_mm: np.ndarray) -> _Frame:
    """The frame spanning local ``lo_mm``..``hi_mm`` (rounded out to samples, so that 0 is a sample on every axis)."""
    lo = np.floor(np.asarray(lo_mm) / SAMPLE_MM) * SAMPLE_MM
    hi = np.ceil(np.asarray(hi_mm) / SAMPLE_MM) * SAMPLE_MM
    size = tuple(int(round(n)) + 1 for n in (hi - lo) / SAMPLE_MM)
    return _Frame(np.asarray(centre_lps, dtype=float), axes_lps, lo, size)


def _frame_around(points_lps: np.ndarray, centre_lps: np.ndarray, axes_lps: np.ndarray, margin_mm: float) -> _Frame:
    """The frame covering ``points_lps`` plus ``margin_mm``."""
    local = (points_lps - centre_lps) @ axes_lps
    return _frame_box(centre_lps, axes_lps, local.min(axis=0) - margin_mm, local.max(axis=0) + margin_mm)


def _voxel_centres_lps(image: sitk.Image, mask_kji: np.ndarray) -> np.ndarray:
    """LPS mm of the centres of the voxels in ``mask_kji`` (array order of ``image``)."""
    ijk = np.argwhere(mask_kji)[:, ::-1].astype(float)
    return ijk @ (direction_matrix(image) @ np.diag(image.GetSpacing())).T + np.asarray(image.GetOrigin())


def _box_margin_mm(image: sitk.Image) -> float:
    """How far a voxel box reaches beyond its centre, plus one sample."""
    return 0.5 * float(np.linalg.norm(image.GetSpacing())) + SAMPLE_MM


def _principal_axes(points_lps: np.ndarray) -> np.ndarray:
    """Columns: the points' principal directions, largest spread last (the frame's t axis)."""
    _, vectors = np.linalg.eigh(np.cov(points_lps.T))
    return vectors  # eigh sorts ascending: the last column is the long axis


def _first_exit_mm(t_mm: np.ndarray, fraction: np.ndarray, start_mm: float, direction: int) -> float | None:
    """Where the filled fraction first falls below ½ going from ``start_mm`` in ``direction`` (+1 or −1).

    The crossing is interpolated linearly between samples. None when the structure is never reached.
    """
    start = int(np.argmin(np.abs(t_mm - start_mm)))
    order = np.arange(start, len(t_mm)) if direction > 0 else np.arange(start, -1, -1)
    inside = fraction[order] >= 0.5
    if not inside.any():
        return None
    first_in = int(np.argmax(inside))
    outside = np.flatnonzero(~inside[first_in:])
    if outside.size == 0:
        return None
    k = first_in + int(outside[0])
    f0, f1 = fraction[order[k - 1]], fraction[order[k]]
    t0, t1 = t_mm[order[k - 1]], t_mm[order[k]]
    return float(t0 + (f0 - 0.5) / (f0 - f1) * (t1 - t0))


def _disc(frame: _Frame, radius_mm: float) -> np.ndarray:
    """Boolean [b, a] mask of the samples within ``radius_mm`` of the frame's axis."""
    a, b = frame.local_mm(0), frame.local_mm(1)
    return (a[None, :] ** 2 + b[:, None] ** 2) <= radius_mm ** 2


def _peak_of_profile(t_mm: np.ndarray, area_mm2: np.ndarray) -> tuple[float, float]:
    """(t, value) of the largest cross-section: vertex of the parabola fitted to the profile above 80 % of its peak.

    A plane section of an ellipsoid is exactly quadratic in t, so the vertex removes the sampling of the peak.
    """
    top = area_mm2 >= 0.8 * area_mm2.max()
    if top.sum() < 3:
        i = int(np.argmax(area_mm2))
        return float(t_mm[i]), float(area_mm2[i])
    c2, c1, c0 = np.polyfit(t_mm[top], area_mm2[top], 2)
    if c2 >= 0:
        i = int(np.argmax(area_mm2))
        return float(t_mm[i]), float(area_mm2[i])
    t_peak = -c1 / (2 * c2)
    return float(t_peak), float(c0 - c1 ** 2 / (4 * c2))


def _equal_area_diameter(area_mm2: float) -> float:
    return float(2.0 * np.sqrt(area_mm2 / np.pi))


def eye_axis_frame(labels: sitk.Image, eye: str) -> tuple[_Frame, np.ndarray, np.ndarray] | None:
    """The frame of one eye's axis and the lens and globe centroids (LPS mm); None without a lens or a globe.

    Axis (t): from the globe centroid through the lens centroid, pointing anterior; a: the patient's right made
    perpendicular to it (horizontal); b: perpendicular to both, pointing superior (vertical). The frame covers the
    lens and globe labels.
    """
    array = sitk.GetArrayViewFromImage(labels)
    offset = EYE_LABEL_OFFSET[eye]
    lens = _voxel_centres_lps(labels, array == offset + LENS)
    globe = _voxel_centres_lps(labels, array == offset + GLOBE)
    if len(lens) == 0 or len(globe) == 0:
        return None
    lens_centre, globe_centre = lens.mean(axis=0), globe.mean(axis=0)
    axis = lens_centre - globe_centre
    if np.linalg.norm(axis) < 1e-6:
        return None
    axis /= np.linalg.norm(axis)
    horizontal = _RIGHT_LPS - (_RIGHT_LPS @ axis) * axis
    if np.linalg.norm(horizontal) < 1e-3:  # an eye looking sideways: keep a vertical reference instead
        horizontal = np.cross(_SUPERIOR_LPS, axis)
    horizontal /= np.linalg.norm(horizontal)
    vertical = np.cross(axis, horizontal)
    vertical *= np.sign(vertical @ _SUPERIOR_LPS) or 1.0
    axes = np.column_stack([horizontal, vertical, axis])
    frame = _frame_around(np.vstack([lens, globe]), globe_centre, axes, _box_margin_mm(labels))
    return frame, lens_centre, globe_centre


def axial_measures(labels: sitk.Image, eye: str) -> tuple[dict[str, float | None], dict[str, str],
                                                           tuple[np.ndarray, dict[str, np.ndarray]] | None]:
    """Axial length, lens thickness and diameter, and the globe's equatorial diameters of one eye.

    - **Axial length** as A-eye defines it (Barranco et al., Proc. ISMRM 2023, abstract 3762; the A-eye web
      platform, jaimebarran/a-eye, ``compute_axial_length_data``): along the ray through the lens (label 1) and globe
      (label 2) centroids, from the anterior lens edge to the posterior globe edge. Because the globe label is the
      chamber behind the lens, this is the lens-to-retina length, not the corneal axial length (MR-Eye population
      19.6 ± 1.2 mm; A-eye measures in voxel index space scaled by the voxel size, here it is physical space).
      Each edge is where the filled fraction of a disc of ``RAY_RADIUS_MM`` around the ray first falls below ½ going
      out from the structure's centroid (A-eye takes the last labelled voxel on the ray, which jumps by a voxel).
    - **Lens thickness**: the lens's extent along the same ray (axial thickness, as Strenk et al., IOVS 1999;40:
      1162-1169, and Streckenbach et al., IOVS 2020;61(14) measure it on MRI).
    - **Lens diameter**: equatorial diameter, here the equal-area circle of the largest lens cross-section
      perpendicular to the axis (the vertex of a parabola fitted to the cross-section profile).
    - **Globe horizontal and vertical diameters**: width and height of the globe label at its equator, the largest
      cross-section perpendicular to the axis, as 4·√(second moment) along the horizontal and vertical frame axes
      (for an ellipse, exactly its caliper width). Retina to retina, like Atchison et al.'s MRI width and height
      (IOVS 2004;45:3380-3386), since the label is the chamber behind the lens.

    Returns the values, notes, and the frame axes (columns horizontal, vertical, axis; LPS) with the landmarks
    (LPS mm: lens_front, lens_back, globe_back), or None without a lens or a globe.
    """
    keys = ("axial_length", "lens_thickness", "lens_diameter", "globe_horizontal_diameter", "globe_vertical_diameter")
    found = eye_axis_frame(labels, eye)
    if found is None:
        return dict.fromkeys(keys), dict.fromkeys(keys, "no lens or no globe label"), None
    frame, lens_centre, globe_centre = found
    offset = EYE_LABEL_OFFSET[eye]
    sampled = frame.resample(labels, sitk.sitkNearestNeighbor, sitk.sitkUInt8)
    lens, globe = sampled == offset + LENS, sampled == offset + GLOBE
    t_mm = frame.local_mm(2)
    disc = _disc(frame, RAY_RADIUS_MM)
    lens_fraction = lens[:, disc].mean(axis=1)
    globe_fraction = globe[:, disc].mean(axis=1)
    lens_t = float((lens_centre - globe_centre) @ frame.axes_lps[:, 2])
    lens_front = _first_exit_mm(t_mm, lens_fraction, lens_t, +1)
    lens_back = _first_exit_mm(t_mm, lens_fraction, lens_t, -1)
    globe_back = _first_exit_mm(t_mm, globe_fraction, 0.0, -1)
    values: dict[str, float | None] = dict.fromkeys(keys)
    notes: dict[str, str] = {}
    if lens_front is not None and globe_back is not None:
        values["axial_length"] = lens_front - globe_back
    else:
        notes["axial_length"] = "the ray through the centroids misses the lens or the globe"
    if lens_front is not None and lens_back is not None:
        values["lens_thickness"] = lens_front - lens_back
    else:
        notes["lens_thickness"] = "the ray through the centroids misses the lens"
    pixel_mm2 = SAMPLE_MM ** 2
    _, lens_area = _peak_of_profile(t_mm, lens.sum(axis=(1, 2)) * pixel_mm2)
    values["lens_diameter"] = _equal_area_diameter(lens_area)
    values["globe_horizontal_diameter"], values["globe_vertical_diameter"] = _equatorial_diameters(frame, globe)
    landmarks = {name: frame.to_lps([0.0, 0.0, t])
                 for name, t in (("lens_front", lens_front), ("lens_back", lens_back), ("globe_back", globe_back))
                 if t is not None}
    return values, notes, (frame.axes_lps, landmarks)


def _equatorial_diameters(frame: _Frame, mask_tba: np.ndarray) -> tuple[float, float]:
    """Horizontal (a) and vertical (b) diameters, 4·√variance, of the sections within ½ mm of the largest one."""
    t_mm = frame.local_mm(2)
    areas = mask_tba.sum(axis=(1, 2)) * SAMPLE_MM ** 2
    t_peak, _ = _peak_of_profile(t_mm, areas)
    a_mm, b_mm = frame.local_mm(0), frame.local_mm(1)
    diameters = []
    for k in np.flatnonzero(np.abs(t_mm - t_peak) <= 0.5):
        rows, cols = np.nonzero(mask_tba[k])
        if len(rows) > 1:
            diameters.append((4.0 * np.std(a_mm[cols]), 4.0 * np.std(b_mm[rows])))
    horizontal, vertical = np.mean(diameters, axis=0)
    return float(horizontal), float(vertical)


def tube_sections(labels: sitk.Image, value: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions (mm along the structure's long axis) and areas (mm²) of its cross-sections perpendicular to its
    centreline; None for an empty structure.

    The structure is resampled on a grid along its principal axis; each plane's section is tilted back to the
    centreline: area × cos θ, with θ the angle between the plane's normal and the line fitted to the section
    centroids within ``TANGENT_HALF_WINDOW_MM``.
    """
    array = sitk.GetArrayViewFromImage(labels)
    points = _voxel_centres_lps(labels, array == value)
    if len(points) < 4:
        return None
    frame = _frame_around(points, points.mean(axis=0), _principal_axes(points), _box_margin_mm(labels))
    mask = frame.resample(sitk.Cast(labels == value, sitk.sitkUInt8), sitk.sitkNearestNeighbor, sitk.sitkUInt8) > 0
    t_mm, a_mm, b_mm = frame.local_mm(2), frame.local_mm(0), frame.local_mm(1)
    counts = mask.sum(axis=(1, 2))
    filled = np.flatnonzero(counts)
    centroid_a = (mask.sum(axis=1) @ a_mm)[filled] / counts[filled]
    centroid_b = (mask.sum(axis=2) @ b_mm)[filled] / counts[filled]
    areas = counts[filled] * SAMPLE_MM ** 2
    cosines = np.ones(len(filled))
    for n, k in enumerate(filled):
        near = np.abs(t_mm[filled] - t_mm[k]) <= TANGENT_HALF_WINDOW_MM
        if near.sum() >= 3:
            slope_a = np.polyfit(t_mm[filled][near], centroid_a[near], 1)[0]
            slope_b = np.polyfit(t_mm[filled][near], centroid_b[near], 1)[0]
            cosines[n] = 1.0 / np.sqrt(1.0 + slope_a ** 2 + slope_b ** 2)
    return t_mm[filled], areas * cosines


def optic_nerve_mean_diameter(labels: sitk.Image, eye: str) -> tuple[float | None, str]:
    """Mean diameter (mm) of one eye's optic nerve (label 3), with a note.

    The mean, over the nerve's cross-sections perpendicular to its centreline (``tube_sections``), of the diameter
    of the equal-area circle, 2·√(A/π); sections within ``TUBE_END_MARGIN_MM`` of either end of the label are left
    out (the nerve meets the globe obliquely and is cut at the orbital apex). MRI norms of the diameter and area of
    the optic nerve(-sheath complex) behind the globe: 3 T, 80 adults, PMID 19643971.
    """
    sections = tube_sections(labels, EYE_LABEL_OFFSET[eye] + OPTIC_NERVE)
    if sections is None:
        return None, "no optic nerve label"
    t_mm, areas = sections
    interior = (t_mm >= t_mm.min() + TUBE_END_MARGIN_MM) & (t_mm <= t_mm.max() - TUBE_END_MARGIN_MM)
    if not interior.any():
        return None, f"the optic nerve label is shorter than {2 * TUBE_END_MARGIN_MM:g} mm"
    return float(np.mean(2.0 * np.sqrt(areas[interior] / np.pi))), ""


def rectus_max_area(labels: sitk.Image, eye: str, atlas_label: int) -> tuple[float | None, str]:
    """Maximum cross-sectional area (mm²) of one rectus muscle (labels 6-9), with a note.

    The largest of its cross-sections perpendicular to its centreline (``tube_sections``): the vertex of a parabola
    fitted to the section profile where it exceeds 80 % of its peak (the maximum of single sections would pick the
    voxel staircase's noise). Muscle enlargement in thyroid eye disease is graded by this maximum (e.g. Lee et al.,
    PLoS One 2016, doi:10.1371/journal.pone.0148167, on CT); MRI norms of rectus cross-sections: PMID 19643971;
    quasi-coronal cross-sections: Clark & Demer, IOVS 2016;57:1106-1111. A coronal slice cuts a rectus obliquely and
    reads larger by 1/cos of the muscle's angle to the slice normal.
    """
    sections = tube_sections(labels, EYE_LABEL_OFFSET[eye] + atlas_label)
    if sections is None:
        return None, f"no {STRUCTURE_BY_LABEL[atlas_label].name} label"
    return _peak_of_profile(*sections)[1], ""


def anterior_offset(image: sitk.Image, lens_front_lps: np.ndarray, axes_lps: np.ndarray, fluid: float,
                    lens: float) -> tuple[float, str, str]:
    """Distance (mm) from the anterior lens edge to the anterior corneal surface along the eye axis.

    A-eye finds the cornea from the intensity gradient along the axial-length ray and falls back to its median,
    2.72 mm, when none is found (A-eye web platform, ``EXTRA_ANT_MEDIAN``). Here the profile is ``image`` averaged
    over a disc of ``RAY_RADIUS_MM`` around the ray (axis t of ``axes_lps``) and over ``PROFILE_SMOOTHING_MM`` along it,
    linearly interpolated. ``fluid`` and ``lens`` are the median intensities of the globe label (the same fluid as
    the aqueous) and of the lens. In front of the lens the profile crosses from the lens to the aqueous; once that
    edge has ended (the slope turns), the anterior corneal surface is the steepest *rise* of intensity up to
    ``CORNEA_SEARCH_MM``: from the dark cornea to the lid, in T1 and T2 alike (the 0.5 mm cornea itself is below
    MRI resolution). A rise (from the lowest point in the millimetre before the edge to the highest in the millimetre
    after it) below ``MIN_CORNEAL_RISE`` of the lens-fluid contrast is no edge (open eyes: air in front of the
    cornea) and the fallback is used.

    Returns (offset mm, "intensity_gradient" or "fallback", note).
    """
    contrast = abs(lens - fluid)
    fallback = f"no corneal edge found, A-eye's median {FALLBACK_ANTERIOR_OFFSET_MM} mm used"
    if contrast <= 0:
        return FALLBACK_ANTERIOR_OFFSET_MM, "fallback", fallback + " (lens and globe alike in intensity)"
    frame = _frame_box(lens_front_lps, axes_lps, np.array([-RAY_RADIUS_MM, -RAY_RADIUS_MM, -1.0]),
                       np.array([RAY_RADIUS_MM, RAY_RADIUS_MM, CORNEA_SEARCH_MM + 1.0]))
    sampled = frame.resample(sitk.Cast(image, sitk.sitkFloat32), sitk.sitkLinear, sitk.sitkFloat32)
    width = int(round(PROFILE_SMOOTHING_MM / SAMPLE_MM)) | 1
    profile = np.convolve(sampled[:, _disc(frame, RAY_RADIUS_MM)].mean(axis=1), np.ones(width) / width, mode="same")
    t_mm = frame.local_mm(2)
    slope = np.gradient(profile, t_mm)
    in_fluid = np.flatnonzero((t_mm >= 0) & (np.abs(profile - fluid) <= contrast / 2))
    if in_fluid.size == 0:
        return FALLBACK_ANTERIOR_OFFSET_MM, "fallback", fallback + " (no aqueous in front of the lens)"
    lens_edge_sign = np.sign(fluid - lens)
    after_edge = np.flatnonzero((t_mm >= t_mm[in_fluid[0]]) & (np.sign(slope) != lens_edge_sign))
    window = after_edge[t_mm[after_edge] <= CORNEA_SEARCH_MM] if after_edge.size else after_edge
    if window.size < 3:
        return FALLBACK_ANTERIOR_OFFSET_MM, "fallback", fallback + " (the aqueous reaches the search limit)"
    window = np.arange(window[0], window[-1] + 1)
    k = window[int(np.argmax(slope[window]))]
    one_mm = int(round(1.0 / SAMPLE_MM))
    rise = profile[k:k + one_mm + 1].max() - profile[max(k - one_mm, 0):k + 1].min()
    if k in (window[0], window[-1]) or rise < MIN_CORNEAL_RISE * contrast:
        return FALLBACK_ANTERIOR_OFFSET_MM, "fallback", fallback + " (no rise of intensity in front of the aqueous)"
    s0, s1, s2 = slope[k - 1:k + 2]
    curvature = s0 - 2 * s1 + s2
    shift = 0.5 * (s0 - s2) / curvature if curvature < 0 else 0.0
    return float(t_mm[k] + shift * SAMPLE_MM), "intensity_gradient", ""


def measure_eye(image: sitk.Image, labels: sitk.Image, eye: str) -> EyeBiometry:
    """Every measure of ``MEASURES`` for one eye of ``labels`` (right 1-9, left 11-19) on ``image``'s grid."""
    crop = _eye_crop(labels, eye)
    values, notes, geometry = axial_measures(crop, eye)
    biometry = EyeBiometry(eye, dict.fromkeys(MEASURES), {k: v for k, v in notes.items() if v})
    biometry.values.update(values)
    if geometry is not None:
        axes, landmarks = geometry
        biometry.axis_ras = tuple(float(v) for v in lps_to_ras(axes[:, 2]))
        if "lens_front" in landmarks:
            label_values = sitk.GetArrayViewFromImage(labels)
            intensities = sitk.GetArrayViewFromImage(image)
            fluid, lens = (float(np.median(intensities[label_values == EYE_LABEL_OFFSET[eye] + label]))
                           for label in (GLOBE, LENS))
            offset_mm, biometry.anterior_offset_source, note = anterior_offset(image, landmarks["lens_front"], axes,
                                                                               fluid, lens)
            biometry.values["anterior_offset"] = offset_mm
            landmarks["cornea"] = landmarks["lens_front"] + offset_mm * axes[:, 2]
            if note:
                biometry.notes["anterior_offset"] = note
            if biometry.values["axial_length"] is not None:
                biometry.values["axial_length_with_cornea"] = biometry.values["axial_length"] + offset_mm
        biometry.landmarks_ras_mm = {name: tuple(float(v) for v in lps_to_ras(point))
                                     for name, point in landmarks.items()}
    for key in ("anterior_offset", "axial_length_with_cornea"):
        if biometry.values[key] is None:
            biometry.notes.setdefault(key, "no anterior lens edge on the eye axis")
    measured = {"optic_nerve_mean_diameter": optic_nerve_mean_diameter(crop, eye)}
    measured.update({f"{STRUCTURE_BY_LABEL[label].key}_max_area": rectus_max_area(crop, eye, label) for label in RECTI})
    for key, (value, note) in measured.items():
        biometry.values[key] = value
        if note:
            biometry.notes[key] = note
    return biometry


def _eye_crop(labels: sitk.Image, eye: str) -> sitk.Image:
    """The part of ``labels`` holding this eye's labels (same voxels and geometry), for speed."""
    offset = EYE_LABEL_OFFSET[eye]
    array = sitk.GetArrayViewFromImage(labels)
    inside = np.argwhere((array > offset) & (array <= offset + 9))
    if len(inside) == 0:
        return labels
    lo_kji, hi_kji = inside.min(axis=0), inside.max(axis=0) + 1
    return sitk.RegionOfInterest(labels, [int(v) for v in (hi_kji - lo_kji)[::-1]], [int(v) for v in lo_kji[::-1]])


def measure_biometry(image: sitk.Image, labels: sitk.Image, eyes: Sequence[str]) -> dict[str, EyeBiometry]:
    """``measure_eye`` for each of ``eyes``."""
    return {eye: measure_eye(image, labels, eye) for eye in eyes}
