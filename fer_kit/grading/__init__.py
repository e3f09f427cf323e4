"""Grading the course notebooks headless: checks per assignment, sandboxed papermill runs, the gradebook.

- :mod:`.checks`: the :class:`Check` model and helpers to compare recorded answers with references;
- :mod:`.hidden`: hidden tests, the student's functions called on inputs drawn from the instructor's
  secret and compared with references the grader computes; :mod:`.probe`: their side in the student's kernel;
- :mod:`.assignment`: an :class:`Assignment` (notebook, grading parameters, checks) and the registry;
- :mod:`.assignments`: the checks of course notebooks 01-05;
- :mod:`.submissions`: finding and vetting what students handed in;
- :mod:`.runner`: running each submission in its own sandbox with a time limit, then checking it;
- :mod:`.record`: the statuses and the :class:`GradeRecord` of one submission;
- :mod:`.gradebook`: the gradebook CSV and the feedback Markdown.
"""

from __future__ import annotations

from .assignment import Assignment, get_assignment, known_assignments
from .checks import Check, CheckContext, CheckFailed, CheckResult

__all__ = ["Assignment", "Check", "CheckContext", "CheckFailed", "CheckResult", "get_assignment",
           "known_assignments"]
