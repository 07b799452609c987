"""The capture station (camera, marker-based scale, face redaction): not built yet.

Reserved for the capture-station issue. Like the rest of the core it must never import Qt;
``tests/core/test_architecture.py`` already guards it. Today photos enter through
``cases.photos.import_photo`` (files chosen or dropped by the doctor).
"""
