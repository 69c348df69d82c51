"""Tables, figures, the paper's claims tested with intervals, and the report's landing page."""
