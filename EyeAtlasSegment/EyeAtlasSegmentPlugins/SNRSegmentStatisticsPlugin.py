"""SNR in Slicer's Segment Statistics module, for any segmentation and scalar volume.

Noise σ comes from the segmentation's own segments named "noise", "air" or "background" (their union, drawn by
the user in air), else from air found automatically around the head, away from ghost bands through segments
named "… globe"; σ = SD_air / 0.655 (Rayleigh). When the
background is zero-filled, clipped or too small, SNR is left empty and "SNR note" says why. The computation is
the MRML layer's (tested without Qt); this class only adapts it to the plugin interface.
"""

import slicer
from SegmentStatisticsPlugins import SegmentStatisticsPluginBase
from slicer.i18n import tr as _


class SNRSegmentStatisticsPlugin(SegmentStatisticsPluginBase):
    """SNR = mean / σ per segment, with the noise σ, its method and voxel count."""

    def __init__(self):
        super().__init__()
        self.name = "SNR"
        self.title = _("SNR")
        self.keys = ["snr", "noise_sigma", "noise_voxels", "noise_method", "snr_note"]
        self.defaultKeys = ["snr", "noise_sigma", "noise_voxels", "noise_method", "snr_note"]
        self._cache = {}

    def _noise(self, segmentationNode, volumeNode):
        """Noise estimate for this segmentation/volume pair, computed once per content change."""
        from EyeAtlasSegmentMRML.noise_segments import noise_for_segmentation

        key = (segmentationNode.GetID(), volumeNode.GetID(), segmentationNode.GetSegmentation().GetMTime(),
               volumeNode.GetImageData().GetMTime())
        if key not in self._cache:
            self._cache = {key: noise_for_segmentation(segmentationNode, volumeNode)}
        return self._cache[key]

    def computeStatistics(self, segmentID):
        requestedKeys = self.getRequestedKeys()
        parameters = self.getParameterNode()
        segmentationNode = slicer.mrmlScene.GetNodeByID(parameters.GetParameter("Segmentation"))
        volumeNode = slicer.mrmlScene.GetNodeByID(parameters.GetParameter("ScalarVolume"))
        if not requestedKeys or volumeNode is None or volumeNode.GetImageData() is None:
            return {}
        from EyeAtlasSegmentMRML.segment_statistics import segment_scalar_statistics

        noise, noiseSegmentIDs = self._noise(segmentationNode, volumeNode)
        if segmentID in noiseSegmentIDs:
            return {"snr_note": _("noise ROI")} if "snr_note" in requestedKeys else {}
        measured = segment_scalar_statistics(segmentationNode, segmentID, volumeNode, noise)
        note = noise.reason if noise.defined else (noise.reason or _("SNR undefined"))
        values = {"snr": measured.snr, "noise_sigma": noise.sigma, "noise_voxels": noise.voxels,
                  "noise_method": noise.method, "snr_note": note}
        return {key: values[key] for key in requestedKeys if values[key] is not None}

    def getMeasurementInfo(self, key):
        info = {
            "snr": (_("SNR"), _("Mean intensity of the segment divided by the noise sigma"), ""),
            "noise_sigma": (_("Noise sigma"), _("Gaussian noise SD per quadrature channel: SD of air / 0.655 "
                                                 "(Rayleigh), from noise/air-named segments or automatic air"), ""),
            "noise_voxels": (_("Noise voxels"), _("Number of air voxels used for the noise sigma"), _("voxels")),
            "noise_method": (_("Noise method"), _("roi: noise/air-named segments; air_background: air found "
                                                  "around the head (Rayleigh model, sigma = SD / 0.655)"), ""),
            "snr_note": (_("SNR note"), _("Why SNR is undefined (zero-filled or clipped background), or caveats"), ""),
        }
        if key not in info:
            return None
        name, description, units = info[key]
        return self.createMeasurementInfo(name=name, title=name, description=description, units=units)
