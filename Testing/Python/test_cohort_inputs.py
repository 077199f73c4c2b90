"""Cohort inputs and settings, without running a pipeline: folder, list-file and BIDS discovery (pybids itself), BIDS
derivative names, what makes settings differ, local-cluster sizing and the batch-queue job script."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from EyeAtlasSegmentLib.cli import main
from EyeAtlasSegmentLib.cohort.bids_derivatives import derivative_path
from EyeAtlasSegmentLib.cohort.inputs import atlas_sex_from_text, discover
from EyeAtlasSegmentLib.cohort.resume import settings_fingerprint
from EyeAtlasSegmentLib.cohort.scheduler import DaskSettings, local_sizing, make_jobqueue_cluster
from EyeAtlasSegmentLib.errors import EyeAtlasError
from EyeAtlasSegmentLib.pipeline import PipelineOptions
from EyeAtlasSegmentLib.statistics import RoiOptions


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not read by discovery")
    return path


def test_a_folder_cohort_has_every_image_and_dicom_series_of_its_tree(tmp_path):
    _touch(tmp_path / "a.nii.gz")
    _touch(tmp_path / "site2" / "b.nrrd")
    _touch(tmp_path / "site2" / "dicom_c" / "1.dcm")
    _touch(tmp_path / "notes.txt")
    _touch(tmp_path / ".hidden" / "d.nii.gz")
    cohort = discover(tmp_path, default_sex="female")
    assert cohort.kind == "folder"
    assert [i.key for i in cohort.images] == ["a", "site2/b", "site2/dicom_c"]
    assert {i.sex for i in cohort.images} == {"female"} and {i.sex_source for i in cohort.images} == {"--sex"}


def test_a_list_file_gives_each_image_its_sex_and_subject(tmp_path):
    for name in ("s1/T1.nii.gz", "s2/T1.nii.gz", "s3/T1.nii.gz"):
        _touch(tmp_path / name)
    (tmp_path / "cohort.txt").write_text("path\tsex\tsubject\n# a comment\ns1/T1.nii.gz\tF\tP001\n\n"
                                         f"{tmp_path}/s2/T1.nii.gz\tmale\tP002\ns3/T1.nii.gz\n", encoding="utf-8")
    cohort = discover(tmp_path / "cohort.txt")
    assert cohort.kind == "list"
    assert [(i.key, i.sex, i.sex_source, i.subject) for i in cohort.images] == [
        ("P001", "female", "list file", "P001"), ("P002", "male", "list file", "P002"), ("T1", "combined", "--sex", "")]
    assert cohort.images[0].path == tmp_path / "s1" / "T1.nii.gz"


def test_images_that_would_share_their_outputs_are_refused_with_both_paths(tmp_path):
    for name in ("s1/T1.nii.gz", "s2/T1.nii.gz"):
        _touch(tmp_path / name)
    (tmp_path / "cohort.txt").write_text("s1/T1.nii.gz\ns2/T1.nii.gz\n", encoding="utf-8")
    with pytest.raises(EyeAtlasError, match="share the outputs 'T1'.*s1.*s2.*subject id"):
        discover(tmp_path / "cohort.txt")
    (tmp_path / "bad.txt").write_text("s1/T1.nii.gz\tX\n", encoding="utf-8")
    with pytest.raises(EyeAtlasError, match="line 1: sex 'X'"):
        discover(tmp_path / "bad.txt")


def test_sex_values_of_participants_tables_map_to_the_atlas():
    assert [atlas_sex_from_text(v) for v in ("M", "f", "male", "Female", "O", "n/a", "", None)] == [
        "male", "female", "male", "female", None, None, None, None]


def _bids(root: Path) -> Path:
    (root / "dataset_description.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.10.0"}), encoding="utf-8")
    (root / "participants.tsv").write_text("participant_id\tsex\nsub-01\tF\nsub-02\tn/a\nsub-03\tM\n", encoding="utf-8")
    _touch(root / "sub-01" / "ses-a" / "anat" / "sub-01_ses-a_T1w.nii.gz")
    _touch(root / "sub-01" / "ses-b" / "anat" / "sub-01_ses-b_acq-fast_run-2_T1w.nii.gz")
    _touch(root / "sub-01" / "ses-b" / "anat" / "sub-01_ses-b_T2w.nii.gz")
    _touch(root / "sub-02" / "anat" / "sub-02_T1w.nii")
    _touch(root / "sub-03" / "anat" / "sub-03_T2w.nii.gz")
    _touch(root / "sub-03" / "func" / "sub-03_task-rest_bold.nii.gz")
    _touch(root / "derivatives" / "eyes" / "sub-01" / "anat" / "sub-01_seg-eyes_desc-T1w_dseg.nii.gz")
    return root


def test_a_bids_dataset_gives_anat_t1w_per_subject_and_session_with_the_sex_of_participants_tsv(tmp_path):
    cohort = discover(_bids(tmp_path / "bids"))
    assert cohort.kind == "bids"
    assert [i.key for i in cohort.images] == ["sub-01_ses-a_T1w", "sub-01_ses-b_acq-fast_run-2_T1w", "sub-02_T1w"]
    first, second, third = cohort.images
    assert (first.subject, first.session, first.sex, first.sex_source) == ("01", "a", "female",
                                                                            "participants.tsv sex=F")
    assert second.entities["acquisition"] == "fast" and second.entities["run"] == "2"
    assert (third.sex, third.sex_source) == ("combined", "participants.tsv sex=n/a not M/F: --sex")
    assert "sub-01: female atlas (participants.tsv sex=F)" in cohort.notes


def test_t2w_images_are_taken_when_asked(tmp_path):
    cohort = discover(_bids(tmp_path / "bids"), default_sex="combined", bids_suffixes=("T2w",))
    assert [(i.key, i.sex) for i in cohort.images] == [("sub-01_ses-b_T2w", "female"), ("sub-03_T2w", "male")]


def test_derivative_names_carry_the_source_entities_seg_and_desc(tmp_path):
    images = discover(_bids(tmp_path / "bids"), bids_suffixes=("T1w", "T2w")).images
    by_key = {i.key: i for i in images}
    out = tmp_path / "out"
    assert derivative_path(out, by_key["sub-01_ses-b_acq-fast_run-2_T1w"], "dseg", ".nii.gz") == (
        out / "sub-01/ses-b/anat/sub-01_ses-b_acq-fast_run-2_seg-eyes_desc-T1w_dseg.nii.gz")
    assert derivative_path(out, by_key["sub-01_ses-b_T2w"], "stats", ".tsv") == (
        out / "sub-01/ses-b/anat/sub-01_ses-b_seg-eyes_desc-T2w_stats.tsv")
    assert (derivative_path(out, by_key["sub-02_T1w"], "qc", ".png")
            == out / "sub-02/anat/sub-02_seg-eyes_desc-T1w_qc.png")


def test_the_settings_fingerprint_changes_with_what_shapes_the_outputs_only():
    base = PipelineOptions()
    fingerprint = settings_fingerprint(base, "atlas-a", "folders")
    assert fingerprint == settings_fingerprint(PipelineOptions(), "atlas-a", "folders")
    for changed in (settings_fingerprint(dataclasses.replace(base, sex="female"), "atlas-a", "folders"),
                    settings_fingerprint(dataclasses.replace(base, roi=RoiOptions(erosion_mm=1.0)), "atlas-a",
                                         "folders"),
                    settings_fingerprint(dataclasses.replace(base, eyes=("right",)), "atlas-a", "folders"),
                    settings_fingerprint(base, "atlas-b", "folders"), settings_fingerprint(base, "atlas-a", "bids")):
        assert changed != fingerprint


def test_a_local_cluster_has_one_single_threaded_worker_per_core_and_shares_the_cores_among_itk_threads():
    gib = 1024 ** 3
    assert local_sizing(None, cores=2, memory_bytes=24 * gib) == (2, 1)
    assert local_sizing(1, cores=2, memory_bytes=24 * gib) == (1, 2)
    assert local_sizing(None, cores=16, memory_bytes=8 * gib) == (4, 4)  # 2 GB per worker
    with pytest.raises(EyeAtlasError, match="--workers"):
        local_sizing(0, cores=2, memory_bytes=24 * gib)


def test_a_slurm_job_runs_single_threaded_workers_with_itk_and_openmp_at_one_thread():
    settings = DaskSettings(cluster="slurm", job_cores=4, job_memory="16GB", queue="short", account="eyes",
                            walltime="02:00:00", job_extra=["--gres=tmp:10G"], dashboard_address=":0")
    cluster = make_jobqueue_cluster(settings)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for expected in ("#SBATCH -p short", "#SBATCH -A eyes", "#SBATCH -t 02:00:00", "#SBATCH --cpus-per-task=4",
                     "#SBATCH --gres=tmp:10G", "export ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1",
                     "export OMP_NUM_THREADS=1", "--nthreads 1", "--nworkers 4"):
        assert expected in script, expected


def test_the_cohort_command_refuses_options_that_name_one_images_files(tmp_path, capsys):
    _touch(tmp_path / "in" / "a.nii.gz")
    status = main(["cohort", str(tmp_path / "in"), "--atlas", str(tmp_path), "--out", str(tmp_path / "out"),
                   "--right-centre", "30", "60", "-30"])
    assert status == 1
    assert capsys.readouterr().err.strip() == ("error: --right-centre name one image's own files or points: not "
                                               "available for a cohort")
