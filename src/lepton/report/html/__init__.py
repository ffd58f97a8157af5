"""The optimize report as one self-contained HTML file: the verdict, the Pareto chart, the table of candidates.

``page`` assembles it, ``summary`` is the verdict box with the gains, ``chart`` the Pareto chart, ``table`` the
sortable candidates. All of them read the typed ``OptimizeResult``; the figures are the terminal's.
"""

from lepton.report.html.page import render_html, write_html

__all__ = ["render_html", "write_html"]
