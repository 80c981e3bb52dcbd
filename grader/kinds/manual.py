"""Kind `manual`: marked by a person (essays, proofs, drawings). Never checked automatically; the
scorer lists it with its criteria and leaves its score empty until someone marks it."""

from __future__ import annotations

from grader.kinds import register
from grader.kinds.base import Comparator


@register
class Manual(Comparator):
    kind = "manual"
    manual = True
