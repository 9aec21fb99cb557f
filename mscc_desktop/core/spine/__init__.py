"""The spine as a whole: reformats along z, the canal centreline and vertebral levels.

Qt-free (numpy only). See :mod:`.reformat` for the sagittal/coronal images and the mappings
to and from the axial slices, :mod:`.centreline` for the canal track, and :mod:`.levels`
for the automatic vertebral numbering the reader confirms or shifts.
"""
