"""The PDF stack (reportlab): the page template and styles (:mod:`.pdf_doc`), the study report
(:mod:`.pdf_report`) and its sections, chart, key images and spine overview.

Other PDFs of the program (the evaluation report) use :mod:`.pdf_doc` too, so that every
PDF the program writes has one look. Nothing is imported here: reportlab loads only when a
PDF is made.
"""
