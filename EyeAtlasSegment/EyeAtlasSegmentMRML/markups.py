"""User-placed eye centres (a markups point list) → globe centres per eye, RAS mm."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from EyeAtlasSegmentLib.errors import EyeAtlasError

if TYPE_CHECKING:  # annotations only: the node classes
    import slicer


def eye_centres_from_markups(markups_node: slicer.vtkMRMLMarkupsFiducialNode,
                             volume_node: slicer.vtkMRMLScalarVolumeNode) -> dict[str, tuple[float, float, float]]:
    """Globe centres (RAS mm, world coordinates) from a point list: at most one point per eye.

    A point labelled with "right"/"R…" or "left"/"L…" is that eye; an unlabelled point is the eye on its side
    of the volume's centre (RAS x > centre: the subject's right). Two points for one eye is an error.
    """
    centres: dict[str, tuple[float, float, float]] = {}
    if markups_node is None:
        return centres
    bounds = [0.0] * 6
    volume_node.GetRASBounds(bounds)
    centre_x = 0.5 * (bounds[0] + bounds[1])
    for index in range(markups_node.GetNumberOfControlPoints()):
        position = [0.0, 0.0, 0.0]
        markups_node.GetNthControlPointPositionWorld(index, position)
        label = (markups_node.GetNthControlPointLabel(index) or "").strip().lower()
        if label.startswith(("right", "r-", "r ")) or label == "r":
            eye = "right"
        elif label.startswith(("left", "l-", "l ")) or label == "l":
            eye = "left"
        else:
            eye = "right" if position[0] > centre_x else "left"
        if eye in centres:
            raise EyeAtlasError(f"the eye-centre list {markups_node.GetName()!r} has two points for the {eye} eye; "
                                f"keep one point per eye (label them 'right'/'left')")
        centres[eye] = tuple(float(v) for v in np.asarray(position))
    return centres
