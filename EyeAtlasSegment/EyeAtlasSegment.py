"""EyeAtlasSegment: the MR-Eye atlas registered to a head or orbit MRI, nine structures per eye, with SNR.

A thin Slicer module (Slicer 5.8 or later): the parameter node, a widget bound to it, and a logic that delegates
to the engine (``EyeAtlasSegmentLib``, no Slicer) and the MRML layer (``EyeAtlasSegmentMRML``, no Qt).
"""

import enum
import importlib.util
import logging
import shutil
import tempfile
import time
import unittest
from pathlib import Path
from typing import Annotated, Callable, Optional

import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

ATLAS_FOLDER_SETTING = "EyeAtlasSegment/AtlasFolder"
HOMEPAGE = "https://github.com/eyeatlassegment/SlicerEyeAtlasSegment"


class EyeAtlasSegment(ScriptedLoadableModule):
    """Module metadata; once Slicer has started, registers the SNR Segment Statistics plugin and the atlas's
    Sample Data entry."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Eye Atlas Segment")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["EyeAtlasSegment contributors (EyeAtlasSegment project)"]
        self.parent.helpText = _(
            "Registers the MR-Eye atlas (right-eye template, mirrored for the left eye) to a head or orbit MRI and "
            "brings its nine structures — lens, globe, optic nerve, intra- and extraconal fat, four recti — onto "
            "the image's own voxel grid as a segmentation, with volumes and SNR per structure. The eyes are "
            "found automatically, or from a point list (one point per eye). "
            "See the <a href=\"{homepage}\">documentation</a>.").format(homepage=HOMEPAGE)
        self.parent.acknowledgementText = _(
            "MR-Eye atlas: J. Barranco et al., “Eye-opening advances: automated 3D segmentation, key biomarkers "
            "extraction, and the first large-scale MRI eye atlas”; atlas distributed on Zenodo under CC BY 4.0 "
            "(doi:10.5281/zenodo.13325369). Cite it when you publish results obtained with it.")
        slicer.app.connect("startupCompleted()", registerSampleData)
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

    inputVolume - the MRI to segment (never resampled). atlasFolder - the MR-Eye release folder (the wrapper's
    Path default, and an empty path edit, read as "."; "." means "not chosen"). sex, eye, engine - choices.
    eyeCentres - optional point list, one point per eye. outputSegmentation - filled with the segments (created
    at the first Apply when none is selected).
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
    outputSegmentation: vtkMRMLSegmentationNode
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
        self._sexVolumeID = None  # the input volume whose DICOM Patient's Sex was last looked up
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
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self._showBiometry(None)
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
        if str(self._parameterNode.atlasFolder) == ".":
            remembered = qt.QSettings().value(ATLAS_FOLDER_SETTING, "")
            if remembered:
                self._parameterNode.atlasFolder = Path(remembered)

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            # As in the module template: the GUI connection first, then this observer of the stored values.
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onInputVolumeStored(applySex=False)  # a sex saved with the scene is kept
            self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        """React to the stored inputVolume, not to the selector's signal: that fired before the parameter node was
        written, and setting ``sex`` there made the GUI put the previous volume back into the selector."""
        p = self._parameterNode
        if p and _nodeID(p.inputVolume) != self._sexVolumeID:
            self._onInputVolumeStored(applySex=True)
        self._updateGui()

    def _onInputVolumeStored(self, applySex: bool) -> None:
        """Show whether the input volume's DICOM Patient's Sex is known; with ``applySex``, choose that template."""
        p = self._parameterNode
        self._sexVolumeID = _nodeID(p.inputVolume)  # before writing sex, which re-enters the observer
        sex = dicomAtlasSex(p.inputVolume)
        self.ui.sexSourceLabel.text = (_("from DICOM Patient's Sex") if sex
                                       else _("not known from the image: please choose"))
        if sex and applySex:
            p.sex = AtlasSex(sex)

    def _updateGui(self) -> None:
        p = self._parameterNode
        self.ui.noiseSegmentationSelector.enabled = bool(p and p.noiseMethod == NoiseMethod.ROI)
        self.ui.repeatVolumeSelector.enabled = bool(p and p.noiseMethod == NoiseMethod.DIFFERENCE)
        self.ui.noiseScanVolumeSelector.enabled = bool(p and p.noiseMethod == NoiseMethod.NOISE_SCAN)
        self.ui.channelsSpinBox.enabled = bool(p and p.noiseModel == NoiseModel.SOS)
        if self._running:
            return
        problem = self.logic.inputProblem(p) if p else _("No parameter node")
        self.ui.applyButton.enabled = problem is None
        self.ui.applyButton.toolTip = problem or _("Segment the eyes")

    def onApplyButton(self) -> None:
        if self._running:
            self._cancelRequested = True
            self.ui.statusLabel.text = _("Cancelling…")
            return
        from EyeAtlasSegmentLib.errors import Cancelled

        p = self._parameterNode
        self._running, self._cancelRequested = True, False
        self.ui.applyButton.text = _("Cancel")
        self.ui.progressBar.value = 0
        status = _("Failed.")
        try:
            with slicer.util.tryWithErrorDisplay(_("Eye segmentation failed."), waitCursor=True):
                qt.QSettings().setValue(ATLAS_FOLDER_SETTING, str(p.atlasFolder))
                try:
                    result = self.logic.process(p, progress=self._onProgress,
                                                isCancelled=lambda: self._cancelRequested)
                except Cancelled:  # the user's choice, not a failure: no error dialog
                    status = _("Cancelled.")
                else:
                    self.logic.showResults(p.inputVolume, result)
                    self._showBiometry(result.biometry_table)
                    status = _("Done: {count} structures. {warnings}").format(
                        count=result.segmentation.GetSegmentation().GetNumberOfSegments(),
                        warnings="; ".join(result.pipeline.warnings))
        finally:
            self._running = False
            self.ui.applyButton.text = _("Apply")
            self.ui.statusLabel.text = status
            self._updateGui()

    def _showBiometry(self, tableNode) -> None:
        """Show a run's biometry table node in the module panel (None, or a run without biometry, clears it)."""
        self.ui.biometryTableView.setMRMLTableNode(tableNode)
        self.ui.biometryCollapsibleButton.collapsed = tableNode is None

    def _onProgress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = int(round(100 * fraction))
        if not self._cancelRequested:  # keep "Cancelling…" until the run has stopped
            self.ui.statusLabel.text = message
        slicer.app.processEvents()  # keeps the Cancel button responsive


def _nodeID(node) -> Optional[str]:
    return node.GetID() if node is not None else None


def dicomAtlasSex(volumeNode) -> Optional[str]:
    """Atlas sex ("male"/"female") from the DICOM Patient's Sex of a volume loaded from DICOM, else None."""
    from EyeAtlasSegmentLib.atlas import atlas_sex_from_dicom

    uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split() if volumeNode else []
    if not uids or getattr(slicer, "dicomDatabase", None) is None:
        return None
    return atlas_sex_from_dicom(slicer.dicomDatabase.instanceValue(uids[0], "0010,0040"))


def registerSampleData() -> None:
    """Add the MR-Eye atlas to the Sample Data module, once the pinned release has its SHA-256."""
    from EyeAtlasSegmentLib.atlas_fetch import RELEASE_FILE
    from EyeAtlasSegmentMRML.atlas_sample_data import atlas_sample_data_source

    source = atlas_sample_data_source()
    if source is None:
        logging.info(f"EyeAtlasSegment: MR-Eye atlas not in Sample Data yet: no SHA-256 in {RELEASE_FILE}")
        return
    import SampleData

    SampleData.SampleDataLogic.registerCustomSampleDataSource(**source)


class EyeAtlasSegmentLogic(ScriptedLoadableModuleLogic):
    """Two entry points: ``process(parameterNode)`` for the GUI, and from the Python console
    ``segment(volumeNode, atlasFolder, PipelineOptions(...))`` (the engine's own options)."""

    def getParameterNode(self):
        return EyeAtlasSegmentParameterNode(super().getParameterNode())

    def inputProblem(self, parameterNode) -> Optional[str]:
        """Why Apply cannot run with these parameters (shown as the button's tooltip), or None."""
        if not parameterNode.inputVolume:
            return _("Select an input volume")
        from EyeAtlasSegmentMRML.scene_pipeline import atlas_folder_problem

        problem = atlas_folder_problem(parameterNode.atlasFolder, parameterNode.sex.value)
        return _("MR-Eye atlas folder: {problem}").format(problem=problem) if problem else None

    def pipelineOptions(self, parameterNode):
        """The engine's ``PipelineOptions`` for the parameter node (MRML nodes where the engine takes images or
        points; only the chosen noise method's input is passed on, the others may still be selected)."""
        from EyeAtlasSegmentLib.pipeline import PipelineOptions
        from EyeAtlasSegmentLib.statistics import RoiOptions
        from EyeAtlasSegmentLib.structures import EYES

        p = parameterNode
        method = p.noiseMethod
        return PipelineOptions(
            sex=p.sex.value, eyes=EYES if p.eye == EyeSide.BOTH else (p.eye.value,), engine=p.engine.value,
            centres_ras_mm=p.eyeCentres if p.eyeCentres is not None else {}, noise_method=method.value,
            noise_model=p.noiseModel.value,
            channels=p.channels,
            noise_roi=p.noiseSegmentation if method == NoiseMethod.ROI else None,
            repeat=p.repeatVolume if method == NoiseMethod.DIFFERENCE else None,
            noise_scan=p.noiseScanVolume if method == NoiseMethod.NOISE_SCAN else None,
            roi=RoiOptions(p.erosionMm, p.minRoiVoxels, "power" if p.powerSignal else "none"))

    def process(self, parameterNode, progress: Optional[Callable[[float, str], None]] = None,
                isCancelled: Optional[Callable[[], bool]] = None):
        """Segment with the parameter node's choices; its output segmentation is filled (created if none).
        Returns the ``SceneResult`` (segmentation, tables, charts, transforms, the engine's full result)."""
        result = self.segment(parameterNode.inputVolume, parameterNode.atlasFolder,
                              self.pipelineOptions(parameterNode), parameterNode.outputSegmentation, progress,
                              isCancelled)
        parameterNode.outputSegmentation = result.segmentation
        return result

    def segment(self, volumeNode, atlasFolder, options=None, outputSegmentation=None,
                progress: Optional[Callable[[float, str], None]] = None,
                isCancelled: Optional[Callable[[], bool]] = None):
        """Segment the eyes of ``volumeNode`` with the atlas in ``atlasFolder``; returns the ``SceneResult``.

        ``options``: the engine's ``EyeAtlasSegmentLib.pipeline.PipelineOptions`` (default: both eyes, combined
        template, SimpleITK); where it takes an image or points it also takes a node (``noise_roi`` segmentation,
        ``repeat``/``noise_scan`` volume, ``centres_ras_mm`` point list), and ``engine`` may be "brainsfit" or
        "elastix". The segments go into ``outputSegmentation`` when given. Missing Python packages
        (Resources/requirements*.txt) are installed first, after asking. ``isCancelled()`` returning True stops
        the run at its next step with ``Cancelled``.
        """
        if volumeNode is None:
            raise ValueError(_("Select an input volume."))
        from EyeAtlasSegmentMRML.python_requirements import ensure_requirements, requirement_files

        engine = "simpleitk" if options is None else options.engine
        ensure_requirements(requirement_files(engine if isinstance(engine, str) else engine.name), prompt=True)
        from EyeAtlasSegmentLib.pipeline import PipelineOptions
        from EyeAtlasSegmentMRML.scene_pipeline import run_in_scene

        return run_in_scene(volumeNode, atlasFolder, options or PipelineOptions(), outputSegmentation, progress,
                            isCancelled or (lambda: False))

    def segmentStatisticsTable(self, segmentationNode, volumeNode, tableNode=None):
        """Slicer's Segment Statistics (standard measures + the SNR plugin) of the segmentation on the volume.

        Returns the table node and the statistics dictionary (``statistics[segmentID, "<Plugin>.<key>"]``). The
        Segment Statistics module's own settings are left as they are.
        """
        from EyeAtlasSegmentPlugins.SNRSegmentStatisticsPlugin import segmentStatisticsWithSNR

        tableNode = tableNode or slicer.mrmlScene.AddNewNodeByClass(
            "vtkMRMLTableNode", slicer.mrmlScene.GenerateUniqueName(f"{segmentationNode.GetName()} Segment Statistics"))
        return tableNode, segmentStatisticsWithSNR(segmentationNode, volumeNode, tableNode)

    def showResults(self, volumeNode, result) -> None:
        """Show the segmentation over the volume, the statistics table, and the SNR chart of a ``SceneResult``."""
        slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
        result.segmentation.CreateClosedSurfaceRepresentation()
        layoutManager = slicer.app.layoutManager()
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView)
        slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(result.table.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()
        slicer.modules.plots.logic().ShowChartInLayout(result.plot_chart)


class EyeAtlasSegmentTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: synthetic atlas and subject with known labels; every engine; cancel; widget; plugin.

    Each ``test_`` method runs on its own under ctest (``slicer.testing.runUnitTest``); "Reload and Test" runs
    them all through ``runTest``. Tests that need something absent (nibabel, SlicerElastix) are skipped, and
    nothing is installed.
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        for test in (self.test_logic_default_engine_matches_truth_and_segment_statistics, self.test_brainsfit_engine,
                     self.test_cancel_during_brainsfit_stops_it_and_leaves_no_node, self.test_elastix_engine,
                     self.test_cli_failure_is_an_error, self.test_widget_apply_fills_the_output_segmentation):
            self.setUp()
            try:
                test()
            except unittest.SkipTest as skipped:
                self.delayDisplay(f"{test.__name__} skipped: {skipped}")
            finally:
                self.doCleanups()  # temporary folders

    def _synthetic(self):
        if importlib.util.find_spec("nibabel") is None:
            self.skipTest("nibabel is not installed (the module's Apply installs it after asking)")
        import SimpleITK as sitk

        from EyeAtlasSegmentLib.synthetic.atlas_generator import make_synthetic_atlas
        from EyeAtlasSegmentLib.synthetic.subject_generator import SubjectSpec, make_subject

        folder = Path(tempfile.mkdtemp(prefix="EyeAtlasSegmentTest-"))
        self.addCleanup(shutil.rmtree, folder, True)
        atlas = make_synthetic_atlas(folder, sexes=("combined",))
        subject = make_subject(SubjectSpec(seed=5, spacing_mm=(1.2, 1.2, 1.2)))
        sitk.WriteImage(subject.image, str(folder / "subject.nrrd"))
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
        result = logic.segment(volume, atlas)
        segmentation, table = result.segmentation, result.table
        self.assertEqual(segmentation.GetSegmentation().GetNumberOfSegments(), 18)
        self.assertEqual(table.GetNumberOfRows(), 18)
        self.assertGreater(self._globeDice(segmentation, volume, truth, "right"), 0.9)
        self.assertGreater(self._globeDice(segmentation, volume, truth, "left"), 0.9)
        self.assertEqual(set(result.transforms), {"right", "left"})
        _, statistics = logic.segmentStatisticsTable(segmentation, volume)
        engineRows = {(table.GetCellText(r, 0), table.GetCellText(r, 3)): r for r in range(table.GetNumberOfRows())}
        sigma = result.pipeline.noise.sigma
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
        from EyeAtlasSegmentLib.pipeline import PipelineOptions

        atlas, volume, truth = self._synthetic()
        result = EyeAtlasSegmentLogic().segment(volume, atlas, PipelineOptions(eyes=("right",), engine="brainsfit"))
        self.assertGreater(self._globeDice(result.segmentation, volume, truth), 0.85)

    def test_cancel_during_brainsfit_stops_it_and_leaves_no_node(self):
        """Cancel while a BRAINSFit stage runs: the CLI is cancelled within seconds and no node is left."""
        from EyeAtlasSegmentLib.errors import Cancelled
        from EyeAtlasSegmentLib.pipeline import PipelineOptions

        atlas, volume, _truth = self._synthetic()
        cancelledAt = []

        def progress(fraction, message):
            if "brainsfit" in message and not cancelledAt:
                cancelledAt.append(time.perf_counter())

        nodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        with self.assertRaises(Cancelled):
            EyeAtlasSegmentLogic().segment(volume, atlas, PipelineOptions(eyes=("right",), engine="brainsfit"),
                                           progress=progress, isCancelled=lambda: bool(cancelledAt))
        self.assertLess(time.perf_counter() - cancelledAt[0], 10.0)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), nodesBefore)

    def test_elastix_engine(self):
        if importlib.util.find_spec("Elastix") is None:
            self.skipTest("SlicerElastix is not installed")
        from EyeAtlasSegmentLib.pipeline import PipelineOptions

        atlas, volume, truth = self._synthetic()
        result = EyeAtlasSegmentLogic().segment(volume, atlas, PipelineOptions(eyes=("right",), engine="elastix"))
        self.assertGreater(self._globeDice(result.segmentation, volume, truth), 0.85)

    def test_cli_failure_is_an_error(self):
        """A BRAINSFit stage that fails comes back as an error (the CLI node itself does not raise)."""
        import SimpleITK as sitk

        from EyeAtlasSegmentLib.errors import RegistrationError
        from EyeAtlasSegmentLib.registration import RegistrationMasks
        from EyeAtlasSegmentMRML.slicer_cli_engines import BRAINSFitEngine

        empty = sitk.Image([8, 8, 8], sitk.sitkFloat32)
        mask = sitk.Image([8, 8, 8], sitk.sitkUInt8)
        with self.assertRaises(RegistrationError):
            BRAINSFitEngine().register(empty, RegistrationMasks(mask, mask), empty,
                                       sitk.TranslationTransform(3), (0.0, 0.0, 0.0), None)

    def test_widget_apply_fills_the_output_segmentation(self):
        self.delayDisplay("Widget: Apply with progress, twice into the same output segmentation")
        atlas, volume, _truth = self._synthetic()
        slicer.util.selectModule("EyeAtlasSegment")
        widget = slicer.modules.EyeAtlasSegmentWidget
        parameters = widget.logic.getParameterNode()
        parameters.inputVolume = volume
        parameters.atlasFolder = Path(".")
        self.assertFalse(widget.ui.applyButton.enabled)  # "." is no atlas folder
        parameters.atlasFolder = Path(atlas)
        parameters.eye = EyeSide.RIGHT
        self.assertTrue(widget.ui.applyButton.enabled)
        widget.ui.applyButton.click()
        self.assertEqual(widget.ui.progressBar.value, 100)
        self.assertEqual(widget.ui.applyButton.text, "Apply")
        output = parameters.outputSegmentation
        self.assertEqual(output.GetSegmentation().GetNumberOfSegments(), 9)
        widget.ui.applyButton.click()
        self.assertIs(parameters.outputSegmentation, output)
        self.assertEqual(len(slicer.util.getNodesByClass("vtkMRMLSegmentationNode")), 1)
        biometry = widget.ui.biometryTableView.mrmlTableNode()
        self.assertIsNotNone(biometry)  # the panel shows the run's biometry table
        self.assertFalse(widget.ui.biometryCollapsibleButton.collapsed)
        self.assertGreater(biometry.GetNumberOfRows(), 0)
        self.delayDisplay("Widget: passed")
