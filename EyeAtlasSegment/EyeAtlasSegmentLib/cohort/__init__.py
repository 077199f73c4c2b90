"""Cohorts: many images in (a folder, a list file or a BIDS dataset), one task per image on Dask, resumable, and one
cohort table and HTML report out.

Needs the ``cohort`` extra (dask[distributed], dask-jobqueue, pybids, tqdm, matplotlib; pyarrow optional). Nothing
here is imported by the single-image command line or the Slicer module; modules import their extras lazily.
"""
