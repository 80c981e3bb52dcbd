"""grader: automated grading of machine-learning course assessments.

Data flows one way: rubric -> answer key -> submission -> checks -> scores -> reports.
Each stage is a module of its own: `rubric`, `key`, `submission`, `kinds`, `scoring`, `reports`.
"""

__version__ = "0.1.0"
