"""The DICOM outputs (highdicom): Secondary Capture key images (:mod:`.dicom_images`), the
Key Object Selection and the Comprehensive SR TID 1500 (:mod:`.dicom_sr`), the PDF summary
as Encapsulated PDF (:mod:`.dicom_pdf`), the attributes they share (:mod:`.dicom_common`) and
the export of them all into a folder (:mod:`.dicom_export`).

Nothing is imported here: highdicom loads only when a DICOM output is made.
"""
