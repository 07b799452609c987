"""The capture engine: camera and file sources, preparation, quality gate, face anonymisation.

Qt-free, like the rest of the core (``tests/core/test_architecture.py`` guards it); the Qt
capture screen is built on this API. Everything stays in memory: no photo is written to
disk by the engine.

The path of a photo:

1. **Source** — :mod:`capture.sources`: a live :class:`~capture.sources.CameraSource` (or a
   :class:`~capture.sources.VideoFileSource` standing in for it) read by a
   :class:`~capture.grabber.FrameGrabber` on a background thread, which the preview polls
   for the latest frame; files from :func:`capture.loading.load_image`, possibly found by a
   :class:`~capture.folder.WatchedFolder`; DICOM files from
   :func:`capture.dicom_import.load_dicom`.
2. **Quality gate** — :func:`capture.quality.assess`: sharpness and exposure flags.
3. **Faces** — :func:`capture.faces.propose_regions` proposes the areas to blur as
   :class:`capture.regions.Regions` (:func:`capture.faces_decoding.load_and_propose` does so for a
   file while it is being decoded); the doctor edits them (rectangles, brush strokes) and
   confirms.
4. **Preparation** — :func:`capture.prepare.prepare`: upright, capped, sRGB, regions blurred
   irreversibly, baseline JPEG without metadata (:mod:`capture.encode`), neutral name, and
   a report of what was done.
5. **Kept photo** — :class:`capture.photo.KeptPhoto` in a :class:`capture.photo.Strip`, with
   body site, note, measures (``capture.measure``) and vector annotations.
6. **DICOM export** — :func:`capture.dicom.to_dicom` wraps the prepared JPEG (checked by
   :mod:`capture.jpeg`) as a VL Photographic Image.

Errors are :class:`capture.errors.CaptureError` and :class:`capture.errors.DicomError`, with
stable codes.
"""
