"""SNR in Slicer's Segment Statistics module, for any segmentation and scalar volume (Slicer 5.8 and 5.10).

Noise σ comes from the segmentation's noise segments (their union, drawn by the user in air): a segment whose name
has the whole word "noise" or "air", or whose terminology type is Gas. Without one, σ comes from air found
automatically around the head, away from ghost bands through segments named "… globe"; σ under the default noise
model (``choices.DEFAULT_NOISE_MODEL``).

The plugin never raises (an exception would stop Segment Statistics for every plugin): each requested measurement
gets, for every segment, a value of the column type its measurement info declares. When SNR is undefined
(zero-filled background, empty noise segment, colour volume, …) it is NaN and "SNR note" says why. The measurements
are off in the Segment Statistics module until the user ticks them; ``segmentStatisticsWithSNR`` (the module's own
call) turns them on. The computation is the MRML layer's (tested without Qt); this file adapts it to the plugin API.
"""

import logging

import slicer
from SegmentStatisticsPlugins import SegmentStatisticsPluginBase
from slicer.i18n import tr as _

from EyeAtlasSegmentLib.choices import DEFAULT_NOISE_MODEL
from EyeAtlasSegmentLib.noise_methods import MODEL_DEFINITIONS
from EyeAtlasSegmentMRML.segment_statistics import SNR_MEASUREMENTS, undefined_snr_values

#: The noise model of every σ here, in the words of the engine's registry (its formula).
DEFAULT_MODEL_TEXT = MODEL_DEFINITIONS[DEFAULT_NOISE_MODEL]


class SNRSegmentStatisticsPlugin(SegmentStatisticsPluginBase):
    """SNR = mean / σ per segment, with the noise σ, its voxel count, method and a note."""

    def __init__(self):
        super().__init__()
        self.name = "SNR"
        self.title = _("SNR")
        self.keys = [measurement.key for measurement in SNR_MEASUREMENTS]
        self.defaultKeys = []  # off unless asked for: segmentStatisticsWithSNR, or the user's tick
        self._noiseCache = None

    def computeStatistics(self, segmentID):
        requestedKeys = self.getRequestedKeys()
        if not requestedKeys:
            return {}
        try:
            from EyeAtlasSegmentMRML.noise_segments import SegmentationNoiseCache
            from EyeAtlasSegmentMRML.segment_statistics import snr_values

            parameters = self.getParameterNode()
            segmentationNode = slicer.mrmlScene.GetNodeByID(parameters.GetParameter("Segmentation"))
            volumeNode = slicer.mrmlScene.GetNodeByID(parameters.GetParameter("ScalarVolume"))
            self._noiseCache = self._noiseCache or SegmentationNoiseCache()
            values = snr_values(segmentationNode, segmentID, volumeNode, self._noiseCache)
        except Exception:  # never stop Segment Statistics: the row says SNR is missing, the log says why
            logging.exception("EyeAtlasSegment: SNR not computed")
            values = undefined_snr_values(_("SNR not computed: unexpected error (details in the Python log)"))
        return {key: values[key] for key in requestedKeys}

    def getMeasurementInfo(self, key):
        measurement = next((m for m in SNR_MEASUREMENTS if m.key == key), None)
        if measurement is None:
            return None
        title, description = {
            "snr": (_("SNR"), _("Mean intensity of the segment divided by the noise sigma")),
            "noise_sigma": (_("Noise sigma"), _("Gaussian noise SD per quadrature channel ({model}), from the noise "
                                                 "segments (name with the word noise or air, or terminology Gas) or "
                                                 "from air found around the head").format(model=DEFAULT_MODEL_TEXT)),
            "noise_voxels": (_("Noise voxels"), _("Number of air voxels used for the noise sigma")),
            "noise_method": (_("Noise method"), _("roi: the noise segments; air_background: air found around the "
                                                  "head; undefined: see the SNR note")),
            "snr_note": (_("SNR note"), _("Why SNR is undefined (zero-filled or clipped background, empty noise "
                                          "segment, colour volume), or caveats")),
        }[key]
        units, unitsCode = "", None
        if measurement.units_code is not None:
            code = measurement.units_code
            unitsCode = self.createCodedEntry(code.value, code.scheme, code.meaning, True)
        elif key == "noise_sigma":  # σ is in the volume's voxel value units, as Slicer's intensity measures are
            volumeNode = slicer.mrmlScene.GetNodeByID(self.getParameterNode().GetParameter("ScalarVolume"))
            voxelUnits = volumeNode.GetVoxelValueUnits() if volumeNode is not None else None
            if voxelUnits is not None:
                units, unitsCode = voxelUnits.GetCodeMeaning(), voxelUnits.GetAsString()
        info = self.createMeasurementInfo(name=measurement.name, title=title, description=description, units=units,
                                          unitsDicomCode=unitsCode)
        # exportToTable passes every other entry on as a column property: "type" sets the column's type.
        info["type"] = measurement.value_type
        return info


def registerSNRPlugin() -> None:
    """Register the plugin with Segment Statistics, once: again is a no-op; after a module reload the reloaded
    class replaces the old one."""
    from SegmentStatistics import SegmentStatisticsLogic

    registered = SegmentStatisticsLogic.registeredPlugins
    if SNRSegmentStatisticsPlugin in registered:
        return
    registered[:] = [plugin for plugin in registered if plugin.__name__ != SNRSegmentStatisticsPlugin.__name__]
    SegmentStatisticsLogic.registerPlugin(SNRSegmentStatisticsPlugin())


def segmentStatisticsWithSNR(segmentationNode, volumeNode, tableNode) -> dict:
    """Segment Statistics of every segment on the volume (every registered plugin, SNR measurements on) into
    ``tableNode``; returns the statistics dictionary (``statistics[segmentID, "<Plugin>.<key>"]``).

    It runs on a parameter node of its own, so the Segment Statistics module keeps the user's settings.
    """
    from SegmentStatistics import SegmentStatisticsLogic

    registerSNRPlugin()
    logic = SegmentStatisticsLogic()
    parameters = slicer.vtkMRMLScriptedModuleNode()  # not in the scene: the module never sees it
    logic.setParameterNode(parameters)
    parameters.SetParameter("Segmentation", segmentationNode.GetID())
    parameters.SetParameter("ScalarVolume", volumeNode.GetID())
    parameters.SetParameter("visibleSegmentsOnly", "False")
    for measurement in SNR_MEASUREMENTS:
        parameters.SetParameter(f"{SNRSegmentStatisticsPlugin.__name__}.{measurement.key}.enabled", "True")
    logic.computeStatistics()
    logic.exportToTable(tableNode)
    return logic.getStatistics()
