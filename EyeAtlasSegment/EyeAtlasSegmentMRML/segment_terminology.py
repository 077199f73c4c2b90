"""Segment terminology (standard codes) written and read the same way on Slicer 5.8 and 5.10.

A segment's terminology is one string in its tag ``vtkSegment.GetTerminologyEntryTagName()`` ("TerminologyEntry"):
``context~category~type~type modifier~anatomic context~region~region modifier``, each code ``scheme^value^meaning``.
Slicer 5.10 added ``vtkSegment.SetTerminology``/``GetTerminology`` (and terminology on colour nodes), which write and
read that same tag; 5.8 has only the tag. Its parser (``DeserializeTerminologyEntry``) also needs a non-empty
context name, so entries here name Slicer's DICOM master lists, which both versions load.
"""

from __future__ import annotations

import slicer
import vtk

from EyeAtlasSegmentLib.structures import Code

#: Context names of the DICOM master lists Slicer loads by default (type codes, anatomic region codes).
CATEGORY_TYPE_CONTEXT = "Segmentation category and type - DICOM master list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"
_TYPE_FIELD = 2  # index of the type code among the entry's "~"-separated fields


def _code_field(code: Code | None) -> str:
    return "^".join((code.scheme, code.value, code.meaning)) if code else "^^"


def terminology_entry(category: Code, type_: Code, type_modifier: Code | None = None,
                      region: Code | None = None, region_modifier: Code | None = None) -> str:
    """The terminology string Slicer 5.8 and 5.10 both parse, for these codes."""
    return "~".join((CATEGORY_TYPE_CONTEXT, _code_field(category), _code_field(type_), _code_field(type_modifier),
                     ANATOMIC_CONTEXT, _code_field(region), _code_field(region_modifier)))


def set_segment_terminology(segment: slicer.vtkSegment, entry: str) -> None:
    """Give the segment this terminology: ``SetTerminology`` where Slicer has it (5.10+), else its tag (5.8)."""
    if hasattr(segment, "SetTerminology"):
        segment.SetTerminology(entry)
    else:
        set_segment_terminology_tag(segment, entry)


def set_segment_terminology_tag(segment: slicer.vtkSegment, entry: str) -> None:
    """The Slicer 5.8 way (what 5.10's ``SetTerminology`` does): the terminology tag."""
    segment.SetTag(slicer.vtkSegment.GetTerminologyEntryTagName(), entry)


def segment_terminology(segment: slicer.vtkSegment) -> str:
    """The segment's terminology string ("" when it has none), read from its tag (every Slicer version)."""
    entry = vtk.reference("")
    return str(entry) if segment.GetTag(slicer.vtkSegment.GetTerminologyEntryTagName(), entry) else ""


def terminology_type(entry: str) -> tuple[str, str] | None:
    """(coding scheme, code value) of the entry's type, or None when the entry has none."""
    fields = entry.split("~")
    parts = fields[_TYPE_FIELD].split("^") if len(fields) > _TYPE_FIELD else []
    return (parts[0], parts[1]) if len(parts) >= 2 and parts[0] and parts[1] else None
