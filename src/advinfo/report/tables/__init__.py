"""The results tables by stage, in tidy CSV and paper-style Markdown and HTML pivots."""
