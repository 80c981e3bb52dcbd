"""Report writers: the last stage, turning SubmissionResults into files for students, LMSs and instructors.

Reports only read results (and the assessment, for column layout); they never grade.
"""

from grader.reports.feedback import render_html, render_markdown
from grader.reports.gradebook import write_gradebook_csv
from grader.reports.gradescope import gradescope_results, write_gradescope
from grader.reports.summary import render_summary_markdown

__all__ = [
    "gradescope_results",
    "render_html",
    "render_markdown",
    "render_summary_markdown",
    "write_gradebook_csv",
    "write_gradescope",
]
