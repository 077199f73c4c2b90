"""globe_finder: both globes found in any contrast/orientation; distractors rejected; missing eyes explained."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import REQUIRED_REAL_HEADS, read_globe_centres

from EyeAtlasSegmentLib.errors import InputImageError
from EyeAtlasSegmentLib.geometry import ras_to_lps
from EyeAtlasSegmentLib.globe_finder import CONFIDENCE_LEVELS, DEFAULT_SETTINGS, GlobeSearchResult, find_globes
from EyeAtlasSegmentLib.synthetic.eye_model import GLOBE_SEMI_AXES_MM, SCLERA_THICKNESS_MM
from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

REAL_TOLERANCE_MM = 3.0
#: The localiser's tolerance on a 2 mm grid is two voxels: MNI152_T1_2mm is an average with a blurred globe wall
#: (measured 3.1 and 3.6 mm; the registration that follows is judged at 3 mm in test_real_heads).
REAL_TOLERANCE_BY_FILE_MM = {"MNI152_T1_2mm.nii.gz": 4.0}
#: PD: vitreous almost as bright as fat, the globe stands out only by its thin dark sclera (measured 0.5-2.1 mm).
PD_TOLERANCE_MM = 2.5
SYNTHETIC_TOLERANCE_MM = 1.5
#: The detector's radius lies between the vitreous and the sclera's outer surface of the synthetic eye, whose axes
#: are scaled by up to ±5 % (``SubjectSpec.eye_scale_range``), within 1 mm.
SYNTHETIC_RADIUS_RANGE_MM = ((GLOBE_SEMI_AXES_MM.min() - SCLERA_THICKNESS_MM) * 0.95 - 1.0,
                             GLOBE_SEMI_AXES_MM.max() * 1.05 + 1.0)
#: The synthetic contrasts searched for a dark globe (T1: vitreous darker than fat) and for a bright one (T2).
POLARITY_OF_CONTRAST = {"T1": "dark", "T2": "bright"}


def _subject(seed: int, contrast: str = "T1", **grid) -> tuple[sitk.Image, dict[str, np.ndarray]]:
    """A synthetic head of the ``synthetic`` package (sinus and ventricle distractors, random head and eye poses)
    at 1.5 mm unless ``grid`` says otherwise, and its true globe centres (LPS mm)."""
    subject = make_subject(SubjectSpec(seed=seed, contrast=contrast, **({"spacing_mm": (1.5, 1.5, 1.5)} | grid)))
    return subject.image, {eye: ras_to_lps(centre) for eye, centre in subject.globe_centres_ras_mm.items()}


def _errors_mm(result: GlobeSearchResult, truth_lps_mm: dict[str, np.ndarray]) -> dict[str, float]:
    return {eye: float(np.linalg.norm(np.asarray(d.centre_lps_mm) - truth_lps_mm[eye]))
            for eye, d in result.detections.items()}


@pytest.mark.parametrize("contrast", sorted(POLARITY_OF_CONTRAST))
def test_synthetic_both_globes_oblique_anisotropic(contrast: str) -> None:
    """Permuted (i → A-P, j → S-I, k → R-L), oblique and anisotropic voxel axes, the head rotated up to 10°."""
    image, truth = _subject(0, contrast, orientation="ASL", spacing_mm=(1.1, 2.4, 1.3),
                            grid_rotation_deg=(8.0, -12.0, 15.0), head_rotation_deg=10.0)

    result = find_globes(image)

    assert set(result.detections) == {"right", "left"}, result.missing
    errors = _errors_mm(result, truth)
    assert max(errors.values()) <= SYNTHETIC_TOLERANCE_MM, errors
    for eye, detection in result.detections.items():
        assert detection.eye == eye
        assert detection.polarity == POLARITY_OF_CONTRAST[contrast]
        assert SYNTHETIC_RADIUS_RANGE_MM[0] <= detection.radius_mm <= SYNTHETIC_RADIUS_RANGE_MM[1]
        assert DEFAULT_SETTINGS.high_confidence <= detection.score <= 1.0
        assert detection.confidence == "high"
    assert not result.missing and not result.warnings


def test_synthetic_left_eye_outside_field_of_view_is_missing() -> None:
    image, truth = _subject(0, spacing_mm=(1.2, 1.2, 1.2))
    cut_x_lps_mm = 0.5 * (truth["right"][0] + truth["left"][0]) + 4.0  # 4 mm past the midline, on the left

    result = find_globes(_crop_along_lps_x(image, cut_x_lps_mm, keep_below=True))

    assert set(result.detections) == {"right"}
    assert _errors_mm(result, truth)["right"] <= SYNTHETIC_TOLERANCE_MM
    assert set(result.missing) == {"left"}
    assert "field of view" in result.missing["left"]


def test_requested_eyes_only() -> None:
    image, truth = _subject(1, "T2")

    result = find_globes(image, eyes=("left",))

    assert set(result.detections) == {"left"} and not result.missing
    assert _errors_mm(result, truth)["left"] <= SYNTHETIC_TOLERANCE_MM


def test_no_globe_reports_both_missing() -> None:
    array = np.zeros((60, 80, 70), np.float32)
    array[10:50, 10:70, 10:60] = 500.0 + np.random.default_rng(2).normal(0, 20, (40, 60, 50))
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 2.0))

    result = find_globes(image)

    assert not result.detections
    assert set(result.missing) == {"right", "left"}


def test_invalid_requests_raise() -> None:
    with pytest.raises(InputImageError):
        find_globes(sitk.Image(10, 10, sitk.sitkFloat32))
    with pytest.raises(ValueError, match="unknown eye"):
        find_globes(sitk.Image(10, 10, 10, sitk.sitkFloat32), eyes=("middle",))


def _inverted(image: sitk.Image) -> sitk.Image:
    """The same image with its intensities reversed (air brightest), as a wrongly exported image looks."""
    return sitk.Cast(float(sitk.GetArrayViewFromImage(image).max()) - sitk.Cast(image, sitk.sitkFloat32),
                     sitk.sitkFloat32)


@pytest.mark.parametrize("contrast", sorted(POLARITY_OF_CONTRAST))
def test_an_inverted_contrast_image_is_recognised_searched_inverted_and_said_so(contrast: str) -> None:
    image, truth = _subject(3, contrast)

    result = find_globes(_inverted(image))

    assert set(result.detections) == {"right", "left"}, result.missing
    assert max(_errors_mm(result, truth).values()) <= SYNTHETIC_TOLERANCE_MM
    assert result.search["inverted_contrast"] is True
    assert "inverted" in result.warnings[0] and "SNR" in result.warnings[0]


@pytest.mark.parametrize("contrast, tolerance_mm", [("PD", PD_TOLERANCE_MM), ("FLAIR", SYNTHETIC_TOLERANCE_MM)])
def test_proton_density_and_flair_heads_have_both_globes_found(contrast: str, tolerance_mm: float) -> None:
    subject = make_subject(SubjectSpec(seed=1, contrast=contrast, orientation="PIR"))

    result = find_globes(subject.image)

    truth = {eye: ras_to_lps(centre) for eye, centre in subject.globe_centres_ras_mm.items()}
    assert set(result.detections) == {"right", "left"}, result.missing
    assert max(_errors_mm(result, truth).values()) <= tolerance_mm
    assert result.search["inverted_contrast"] is False


def test_a_weak_pair_is_confirmed_by_its_geometry_or_refused_with_the_reason() -> None:
    image, truth = _subject(4)
    demanding = dataclasses.replace(DEFAULT_SETTINGS, high_confidence=0.999)

    confirmed = find_globes(image, settings=demanding)

    assert {d.confidence for d in confirmed.detections.values()} == {"confirmed"}
    assert max(_errors_mm(confirmed, truth).values()) <= SYNTHETIC_TOLERANCE_MM
    for eye in ("right", "left"):
        assert any(w.startswith(f"{eye} globe: low detection score") and "check its position" in w
                   for w in confirmed.warnings), confirmed.warnings
    assert confirmed.as_report()["settings"]["high_confidence"] == 0.999

    refused = find_globes(image, settings=dataclasses.replace(demanding, consistent_distance_mm=(10.0, 20.0)))

    assert not refused.detections
    for eye in ("right", "left"):
        assert refused.missing[eye].startswith(f"the best {eye} globe candidate, at RAS (")
        assert "< 1.00 and" in refused.missing[eye]


# ------------------------------------------------------------------------------------------- real heads

DEFACED_HEAD = "vsseg001_t1c_defaced.nii.gz"


def _tsv_centres_lps_mm(shared: Path, file_name: str) -> dict[str, np.ndarray]:
    """Reference globe centres of one file (``globe_centres.tsv`` stores RAS mm), in LPS mm."""
    return {eye: ras_to_lps(centre) for (name, eye), centre in read_globe_centres(shared).items() if name == file_name}


@pytest.mark.parametrize("file_name", REQUIRED_REAL_HEADS)
def test_real_head_globes_within_tolerance(shared_data: Path, file_name: str) -> None:
    truth = _tsv_centres_lps_mm(shared_data, file_name)

    result = find_globes(sitk.ReadImage(str(shared_data / file_name)))

    assert set(result.detections) == {"right", "left"}, result.missing
    errors = _errors_mm(result, truth)
    assert max(errors.values()) <= REAL_TOLERANCE_BY_FILE_MM.get(file_name, REAL_TOLERANCE_MM), errors
    assert {d.confidence for d in result.detections.values()} <= set(CONFIDENCE_LEVELS)


@pytest.mark.parametrize("file_name", ["chris_t1.nii.gz", "niivue_register_T2w.nii.gz"])
@pytest.mark.parametrize("kept_eye", ["right", "left"])
def test_real_half_head_names_the_lone_globe(shared_data: Path, file_name: str, kept_eye: str) -> None:
    """Keep the subject's half containing ``kept_eye`` (cut 3 mm past the midline): that globe is found and
    correctly named, the other is reported outside the field of view."""
    truth = _tsv_centres_lps_mm(shared_data, file_name)
    image = sitk.ReadImage(str(shared_data / file_name))
    midline_x_lps_mm = 0.5 * (truth["right"][0] + truth["left"][0])
    cut_x_lps_mm = midline_x_lps_mm + (3.0 if kept_eye == "right" else -3.0)  # right = smaller LPS x
    half = _crop_along_lps_x(image, cut_x_lps_mm, keep_below=kept_eye == "right")

    result = find_globes(half)

    other = "left" if kept_eye == "right" else "right"
    assert set(result.detections) == {kept_eye} and set(result.missing) == {other}
    assert _errors_mm(result, truth)[kept_eye] <= 10.0  # identity and side; accuracy is tested above
    assert "field of view" in result.missing[other]


def _crop_along_lps_x(image: sitk.Image, cut_x_lps_mm: float, keep_below: bool) -> sitk.Image:
    """Voxels on one side of the plane LPS x = cut (for images whose first voxel axis is ±x)."""
    axis_sign = float(np.sign(np.asarray(image.GetDirection()).reshape(3, 3)[0, 0]))
    cut_i = int(round(image.TransformPhysicalPointToContinuousIndex((cut_x_lps_mm, 0.0, 0.0))[0]))
    keep_low_i = keep_below == (axis_sign > 0)
    return image[:cut_i] if keep_low_i else image[cut_i:]


def test_defaced_head_is_right_or_flagged(shared_data: Path) -> None:
    truth = _tsv_centres_lps_mm(shared_data, DEFACED_HEAD)

    result = find_globes(sitk.ReadImage(str(shared_data / DEFACED_HEAD)))

    for eye, error_mm in _errors_mm(result, truth).items():
        flagged = any(w.startswith(eye) for w in result.warnings)
        assert error_mm <= REAL_TOLERANCE_MM or flagged, (eye, error_mm)
    assert any("defaced" in w for w in result.warnings)
