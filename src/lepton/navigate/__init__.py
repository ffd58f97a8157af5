"""The navigator: candidates (pass chains x runtime settings) -> measured trials -> frontier -> recommendation."""

from lepton.navigate.targets import Targets
from lepton.slo import parse_slo

__all__ = ["Targets", "parse_slo"]
