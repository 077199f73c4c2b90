"""EyeAtlasSegment: the MR-Eye atlas registered to a head or orbit MRI, nine structures per eye, with SNR.

A thin Slicer module: the parameter node, a widget bound to it, and a logic that delegates to the engine
(``EyeAtlasSegmentLib``, no Slicer) and the MRML layer (``EyeAtlasSegmentMRML``, no Qt).
"""

import enum
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Callable, Optional

import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

#: Python packages Slicer does not bundle, per engine (import name → pip requirement). The default engine needs
#: only numpy and SimpleITK, which Slicer has; nibabel is needed for NIfTI files (batch script, self-test).
ENGINE_PACKAGES = {"ants": {"ants": "antspyx>=0.5"}}
NIFTI_PACKAGES = {"nibabel": "nibabel>=5.0"}
ATLAS_FOLDER_SETTING = "EyeAtlasSegment/AtlasFolder"

ATLAS_CITATION = (
    "MR-Eye atlas: J. Barranco et al., “Eye-opening advances: automated 3D segmentation, key biomarkers "
    "extraction, and the first large-scale MRI eye atlas”; atlas distributed on Zenodo under CC BY 4.0. "
    "Cite it when you publish results obtained with it.")


class EyeAtlasSegment(ScriptedLoadableModule):
    """Module metadata; registers the SNR Segment Statistics plugin once Slicer has started."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Eye Atlas Segment")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["EyeAtlasSegment developers"]
        self.parent.helpText = _(
            "Registers the MR-Eye atlas (right-eye template, mirrored for the left eye) to a head or orbit MRI and "
            "brings its nine structures — lens, globe, optic nerve, intra- and extraconal fat, four recti — onto "
            "the image's own voxel grid as a segmentation, with volumes and SNR per structure. The eyes are "
            "found automatically, or from a point list (one point per eye). "
            "See the <a href=\"https://github.com/EyeAtlasSegment/SlicerEyeAtlasSegment\">documentation</a>.")
        self.parent.acknowledgementText = _(ATLAS_CITATION)
        slicer.app.connect("startupCompleted()", registerSegmentStatisticsPlugin)


def registerSegmentStatisticsPlugin() -> None:
    """Make SNR available in the Segment Statistics module for any segmentation and volume (once; its measurements
    are off there until the user ticks them)."""
    try:
        from EyeAtlasSegmentPlugins.SNRSegmentStatisticsPlugin import registerSNRPlugin
    except ImportError as exc:  # Segment Statistics is a core module; this only happens in custom builds
        logging.warning(f"EyeAtlasSegment: SNR plugin not registered: {exc}")
        return
    registerSNRPlugin()


class AtlasSex(enum.Enum):
    COMBINED = "combined"
    FEMALE = "female"
    MALE = "male"

    def label(self):
        return {"combined": _("Combined (both sexes)"), "female": _("Female"), "male": _("Male")}[self.value]


class EyeSide(enum.Enum):
    BOTH = "both"
    RIGHT = "right"
    LEFT = "left"

    def label(self):
        return {"both": _("Both eyes"), "right": _("Right eye"), "left": _("Left eye")}[self.value]


class Engine(enum.Enum):
    SIMPLEITK = "simpleitk"
    BRAINSFIT = "brainsfit"
    ELASTIX = "elastix"
    ANTS = "ants"

    def label(self):
        return {"simpleitk": _("Default (SimpleITK)"), "brainsfit": _("BRAINSFit"),
                "elastix": _("Elastix (SlicerElastix extension)"), "ants": _("ANTs SyN (installs antspyx)")}[self.value]


class NoiseMethod(enum.Enum):
    AIR = "air"
    ROI = "roi"
    NOISE_SCAN = "noise_scan"
    DIFFERENCE = "difference"
    NAIVE = "naive"

    def label(self):
        return {"air": _("Air background (automatic)"), "roi": _("Noise ROI segmentation"),
                "noise_scan": _("Noise-only scan"), "difference": _("Difference of two identical scans (NEMA)"),
                "naive": _("Naive: SD outside the structures (comparison only)")}[self.value]


class NoiseModel(enum.Enum):
    RAYLEIGH_SD = "rayleigh_sd"
    RAYLEIGH_MEAN = "rayleigh_mean"
    SOS = "sos"
    NONE = "none"

    def label(self):
        return {"rayleigh_sd": _("Single channel, Rayleigh: SD / 0.655"),
                "rayleigh_mean": _("Single channel, Rayleigh: mean / 1.253"),
                "sos": _("n-channel sum of squares: sqrt(mean(M²) / 2n)"),
                "none": _("None: raw SD (biased)")}[self.value]


@parameterNodeWrapper
class EyeAtlasSegmentParameterNode:
    """User choices, saved with the scene.

    inputVolume - the MRI to segment (never resampled). atlasFolder - the MR-Eye release folder.
    sex, eye, engine - choices. eyeCentres - optional point list, one point per eye.
    noiseMethod, noiseModel, channels - how σ is estimated; noiseSegmentation (air ROI, all its segments),
    repeatVolume (difference method) and noiseScanVolume are the inputs of those methods.
    erosionMm, minRoiVoxels, powerSignal - how each structure's SNR region and signal are measured.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    atlasFolder: Path
    sex: AtlasSex = AtlasSex.COMBINED
    eye: EyeSide = EyeSide.BOTH
    engine: Engine = Engine.SIMPLEITK
    eyeCentres: vtkMRMLMarkupsFiducialNode
    noiseMethod: NoiseMethod = NoiseMethod.AIR
    noiseModel: NoiseModel = NoiseModel.RAYLEIGH_SD
    channels: Annotated[int, WithinRange(1, 128)] = 1
    noiseSegmentation: vtkMRMLSegmentationNode
    repeatVolume: vtkMRMLScalarVolumeNode
    noiseScanVolume: vtkMRMLScalarVolumeNode
    erosionMm: Annotated[float, WithinRange(0.0, 5.0)] = 0.0
    minRoiVoxels: Annotated[int, WithinRange(2, 100000)] = 20
    powerSignal: bool = False


class EyeAtlasSegmentWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The GUI: binds the .ui to the parameter node; Apply runs the logic with progress and becomes Cancel."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = False
        self._cancelRequested = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/EyeAtlasSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = EyeAtlasSegmentLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputVolumeChanged)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolume:
                self._parameterNode.inputVolume = firstVolume
        if not str(self._parameterNode.atlasFolder or "").strip(". "):
            remembered = qt.QSettings().value(ATLAS_FOLDER_SETTING, "")
            if remembered:
                self._parameterNode.atlasFolder = Path(remembered)

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
            self._updateGui()

    def onInputVolumeChanged(self, volumeNode) -> None:
        """Pick the atlas sex from the DICOM Patient's Sex when the volume came from DICOM."""
        sex = dicomAtlasSex(volumeNode)
        if sex and self._parameterNode:
            self._parameterNode.sex = AtlasSex(sex)
        self.ui.sexSourceLabel.text = (_("from DICOM Patient's Sex") if sex
                                       else _("not known from the image: please choose"))

    def _updateGui(self, caller=None, event=None) -> None:
        p = self._parameterNode
        self.ui.noiseSegmentationSelector.enabled = bool(p and p.noiseMethod == NoiseMethod.ROI)
        self.ui.repeatVolumeSelector.enabled = bool(p and p.noiseMethod == NoiseMethod.DIFFERENCE)
        self.ui.noiseScanVolumeSelector.enabled = bool(p and p.noiseMethod == NoiseMethod.NOISE_SCAN)
        self.ui.channelsSpinBox.enabled = bool(p and p.noiseModel == NoiseModel.SOS)
        if self._running:
            return
        ready = bool(p and p.inputVolume and p.atlasFolder and Path(p.atlasFolder).is_dir())
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = (_("Segment the eyes") if ready
                                       else _("Select an input volume and the MR-Eye atlas folder"))

    def onApplyButton(self) -> None:
        if self._running:
            self._cancelRequested = True
            self.ui.statusLabel.text = _("Cancelling after the current step…")
            return
        p = self._parameterNode
        self._running, self._cancelRequested = True, False
        self.ui.applyButton.text = _("Cancel")
        self.ui.progressBar.value = 0
        try:
            with slicer.util.tryWithErrorDisplay(_("Eye segmentation failed."), waitCursor=True):
                qt.QSettings().setValue(ATLAS_FOLDER_SETTING, str(p.atlasFolder))
                segmentation, table = self.logic.run(
                    p.inputVolume, p.atlasFolder, sex=p.sex.value, eye=p.eye.value, engine=p.engine.value,
                    eyeCentres=p.eyeCentres, noiseMethod=p.noiseMethod.value, noiseModel=p.noiseModel.value,
                    channels=p.channels, noiseSegmentation=p.noiseSegmentation, repeatVolume=p.repeatVolume,
                    noiseScanVolume=p.noiseScanVolume, erosionMm=p.erosionMm, minRoiVoxels=p.minRoiVoxels,
                    powerSignal=p.powerSignal, progress=self._onProgress,
                    isCancelled=lambda: self._cancelRequested, askConsent=True)
                self.logic.showResults(p.inputVolume, segmentation, table)
                self.ui.statusLabel.text = _("Done: {count} structures. {warnings}").format(
                    count=segmentation.GetSegmentation().GetNumberOfSegments(),
                    warnings="; ".join(self.logic.lastResult.pipeline.warnings))
        finally:
            self._running = False
            self.ui.applyButton.text = _("Apply")
            self._updateGui()

    def _onProgress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.statusLabel.text = message
        slicer.app.processEvents()  # keeps the Cancel button responsive


def dicomAtlasSex(volumeNode) -> Optional[str]:
    """Atlas sex ("male"/"female") from the DICOM Patient's Sex of a volume loaded from DICOM, else None."""
    from EyeAtlasSegmentLib.atlas import atlas_sex_from_dicom

    uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split() if volumeNode else []
    if not uids or getattr(slicer, "dicomDatabase", None) is None:
        return None
    return atlas_sex_from_dicom(slicer.dicomDatabase.instanceValue(uids[0], "0010,0040"))


def ensurePythonPackages(needed: dict, askConsent: bool) -> None:
    """Install missing Python packages (import name → requirement), with the user's consent (never asked in testing
    mode or when ``askConsent`` is False)."""
    import importlib.util

    missing = [requirement for module, requirement in needed.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return
    if askConsent and not slicer.app.testingEnabled():
        if not slicer.util.confirmOkCancelDisplay(
                _("EyeAtlasSegment needs these Python packages: {packages}. Install them now?").format(
                    packages=", ".join(missing)), windowTitle=_("Install Python packages")):
            raise RuntimeError(_("Cancelled: the required Python packages are not installed."))
    slicer.util.pip_install(" ".join(missing))


class EyeAtlasSegmentLogic(ScriptedLoadableModuleLogic):
    """Usable from the Python console: ``EyeAtlasSegmentLogic().run(volumeNode, atlasDir, sex=..., eye=...)``."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.lastResult = None

    def getParameterNode(self):
        return EyeAtlasSegmentParameterNode(super().getParameterNode())

    def run(self, volumeNode, atlasDir, sex: str = "combined", eye: str = "both", engine: str = "simpleitk",
            eyeCentres=None, noiseMethod: str = "air", noiseModel: str = "rayleigh_sd", channels: int = 1,
            noiseSegmentation=None, repeatVolume=None, noiseScanVolume=None, erosionMm: float = 0.0,
            minRoiVoxels: int = 20, powerSignal: bool = False, cnrPairs: Optional[list] = None,
            progress: Optional[Callable[[float, str], None]] = None,
            isCancelled: Optional[Callable[[], bool]] = None, askConsent: bool = False):
        """Segment the eyes of ``volumeNode``; returns (segmentation node, statistics table node).

        ``noiseMethod``: "air", "roi" (``noiseSegmentation``), "noise_scan" (``noiseScanVolume``), "difference"
        (``repeatVolume``, a second identical scan on the same grid) or "naive" (comparison only); ``noiseModel``:
        "rayleigh_sd", "rayleigh_mean", "sos" (with ``channels``) or "none". ``cnrPairs``: extra CNR pairs of structure
        keys, e.g. [("lens", "optic_nerve")], measured besides the default ones. The full result (engine report,
        noise estimate, CNR table, transform nodes, SNR plot) is ``self.lastResult``.
        """
        if volumeNode is None:
            raise ValueError(_("Select an input volume."))
        ensurePythonPackages(ENGINE_PACKAGES.get(engine, {}), askConsent)
        from EyeAtlasSegmentLib.cnr import DEFAULT_CNR_PAIRS, parse_pairs
        from EyeAtlasSegmentLib.pipeline import PipelineOptions
        from EyeAtlasSegmentLib.statistics import RoiOptions
        from EyeAtlasSegmentLib.structures import EYES
        from EyeAtlasSegmentMRML.markups import eye_centres_from_markups
        from EyeAtlasSegmentMRML.scene_pipeline import run_in_scene
        from EyeAtlasSegmentMRML.slicer_cli_engines import get_slicer_engine

        options = PipelineOptions(
            sex=sex, eyes=EYES if eye == "both" else (eye,), engine=get_slicer_engine(engine),
            centres_ras_mm=eye_centres_from_markups(eyeCentres, volumeNode), noise_method=noiseMethod,
            noise_model=noiseModel, channels=channels,
            roi=RoiOptions(erosionMm, minRoiVoxels, "power" if powerSignal else "none"),
            cnr_pairs=list(DEFAULT_CNR_PAIRS) + parse_pairs([f"{a}:{b}" for a, b in cnrPairs or []]))
        # Only the chosen method's input is passed on: the others may still be selected in the GUI.
        self.lastResult = run_in_scene(
            volumeNode, atlasDir, options, noise_segmentation=noiseSegmentation if noiseMethod == "roi" else None,
            repeat_volume=repeatVolume if noiseMethod == "difference" else None,
            noise_scan_volume=noiseScanVolume if noiseMethod == "noise_scan" else None,
            progress=progress, is_cancelled=isCancelled or (lambda: False))
        return self.lastResult.segmentation, self.lastResult.table

    def segmentStatisticsTable(self, segmentationNode, volumeNode, tableNode=None):
        """Slicer's Segment Statistics (standard measures + the SNR plugin) of the segmentation on the volume.

        Returns the table node and the statistics dictionary (``statistics[segmentID, "<Plugin>.<key>"]``). The
        Segment Statistics module's own settings are left as they are.
        """
        from EyeAtlasSegmentPlugins.SNRSegmentStatisticsPlugin import segmentStatisticsWithSNR

        tableNode = tableNode or slicer.mrmlScene.AddNewNodeByClass(
            "vtkMRMLTableNode", slicer.mrmlScene.GenerateUniqueName(f"{segmentationNode.GetName()} Segment Statistics"))
        return tableNode, segmentStatisticsWithSNR(segmentationNode, volumeNode, tableNode)

    def showResults(self, volumeNode, segmentationNode, tableNode) -> None:
        """Show the segmentation over the volume, the table, and the SNR chart."""
        slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
        segmentationNode.CreateClosedSurfaceRepresentation()
        layoutManager = slicer.app.layoutManager()
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
        slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(tableNode.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()
        if self.lastResult is not None:
            slicer.modules.plots.logic().ShowChartInLayout(self.lastResult.plot_chart)


class EyeAtlasSegmentTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: synthetic atlas and subject with known labels; every engine; widget; plugin."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_logic_default_engine_matches_truth_and_segment_statistics()
        self.setUp()
        self.test_brainsfit_engine()
        self.setUp()
        self.test_elastix_engine()
        self.setUp()
        self.test_cli_failure_is_an_error()
        self.setUp()
        self.test_widget_apply()

    def _synthetic(self):
        ensurePythonPackages(NIFTI_PACKAGES, askConsent=False)
        import SimpleITK as sitk

        from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas
        from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

        folder = Path(tempfile.mkdtemp(prefix="EyeAtlasSegmentTest-"))
        atlas = make_synthetic_atlas(folder, sexes=("combined",))
        subject = make_subject(SubjectSpec(seed=5, spacing_mm=(1.2, 1.2, 1.2)))
        sitk.WriteImage(subject.image, str(folder / "subject.nrrd"))
        sitk.WriteImage(subject.truth_labels, str(folder / "truth.nrrd"))
        volume = slicer.util.loadVolume(str(folder / "subject.nrrd"))
        return atlas, volume, sitk.GetArrayFromImage(subject.truth_labels)

    def _globeDice(self, segmentation, volume, truth, eye="right"):
        import numpy as np

        from EyeAtlasSegmentLib.structures import output_label
        from EyeAtlasSegmentMRML.segmentation_nodes import labels_from_segmentation

        labels = labels_from_segmentation(segmentation, volume)
        value = output_label(eye, 2)
        a, b = labels == value, truth == value
        return 2.0 * np.sum(a & b) / (np.sum(a) + np.sum(b))

    def test_logic_default_engine_matches_truth_and_segment_statistics(self):
        self.delayDisplay("Default engine on a synthetic head")
        atlas, volume, truth = self._synthetic()
        logic = EyeAtlasSegmentLogic()
        segmentation, table = logic.run(volume, atlas)
        self.assertEqual(segmentation.GetSegmentation().GetNumberOfSegments(), 18)
        self.assertEqual(table.GetNumberOfRows(), 18)
        self.assertGreater(self._globeDice(segmentation, volume, truth, "right"), 0.9)
        self.assertGreater(self._globeDice(segmentation, volume, truth, "left"), 0.9)
        self.assertEqual(set(logic.lastResult.transforms), {"right", "left"})
        _, statistics = logic.segmentStatisticsTable(segmentation, volume)
        engineRows = {(table.GetCellText(r, 0), table.GetCellText(r, 3)): r for r in range(table.GetNumberOfRows())}
        sigma = logic.lastResult.pipeline.noise.sigma
        for segmentID in statistics["SegmentIDs"]:
            name = segmentation.GetSegmentation().GetSegment(segmentID).GetName()
            eye, structure = name.split(" ", 1)
            row = engineRows[(eye.lower(), structure.replace(" ", "_"))]
            self.assertEqual(statistics[segmentID, "ScalarVolumeSegmentStatisticsPlugin.voxel_count"],
                             int(table.GetCellText(row, 4)))
            mean = statistics[segmentID, "ScalarVolumeSegmentStatisticsPlugin.mean"]
            self.assertAlmostEqual(mean, float(table.GetCellText(row, 6)), delta=1e-3 * abs(mean))
            self.assertAlmostEqual(statistics[segmentID, "SNRSegmentStatisticsPlugin.snr"], mean / sigma,
                                   delta=0.05 * mean / sigma)  # σ: engine's air mask vs the plugin's own
        self.delayDisplay("Default engine: passed")

    def test_brainsfit_engine(self):
        self.delayDisplay("BRAINSFit engine")
        atlas, volume, truth = self._synthetic()
        segmentation, _ = EyeAtlasSegmentLogic().run(volume, atlas, eye="right", engine="brainsfit")
        self.assertGreater(self._globeDice(segmentation, volume, truth), 0.85)

    def test_elastix_engine(self):
        try:
            import Elastix  # noqa: F401
        except ImportError:
            self.delayDisplay("SlicerElastix is not installed: Elastix engine not tested")
            return
        atlas, volume, truth = self._synthetic()
        segmentation, _ = EyeAtlasSegmentLogic().run(volume, atlas, eye="right", engine="elastix")
        self.assertGreater(self._globeDice(segmentation, volume, truth), 0.85)

    def test_cli_failure_is_an_error(self):
        """BRAINSFit failures come back as errors (slicer.cli.runSync does not raise by itself)."""
        import SimpleITK as sitk

        from EyeAtlasSegmentLib.errors import RegistrationError
        from EyeAtlasSegmentLib.registration import RegistrationMasks
        from EyeAtlasSegmentMRML.slicer_cli_engines import BRAINSFitEngine

        empty = sitk.Image([8, 8, 8], sitk.sitkFloat32)
        mask = sitk.Image([8, 8, 8], sitk.sitkUInt8)
        with self.assertRaises(RegistrationError):
            BRAINSFitEngine().register(empty, RegistrationMasks(mask, mask), empty,
                                       sitk.TranslationTransform(3), (0.0, 0.0, 0.0), None)

    def test_widget_apply(self):
        self.delayDisplay("Widget: Apply with progress")
        atlas, volume, truth = self._synthetic()
        slicer.util.selectModule("EyeAtlasSegment")
        widget = slicer.modules.EyeAtlasSegmentWidget
        parameters = widget.logic.getParameterNode()
        parameters.inputVolume = volume
        parameters.atlasFolder = Path(atlas)
        parameters.eye = EyeSide.RIGHT
        self.assertTrue(widget.ui.applyButton.enabled)
        widget.ui.applyButton.click()
        self.assertEqual(widget.ui.progressBar.value, 100)
        self.assertEqual(widget.ui.applyButton.text, "Apply")
        self.assertEqual(widget.logic.lastResult.segmentation.GetSegmentation().GetNumberOfSegments(), 9)
        self.delayDisplay("Widget: passed")
