"""Core: numpy + pydicom only. DICOM, geometry, windows, grades, errors, tasks."""
