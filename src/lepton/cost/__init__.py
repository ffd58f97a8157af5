"""Cost: what this machine is, what an hour of it costs, and what an inference costs at a load."""

from lepton.cost.catalog import PriceCatalog, PricePoint
from lepton.cost.hardware import Hardware, detect_hardware
from lepton.cost.model import CostEstimate, estimate_cost

__all__ = ["CostEstimate", "Hardware", "PriceCatalog", "PricePoint", "detect_hardware", "estimate_cost"]
