"""Cost: what an hour of a machine costs, and what an inference costs at a load (the machine: lepton.hardware)."""

from lepton.cost.catalog import PriceCatalog, PricePoint
from lepton.cost.model import CostEstimate, estimate_cost

__all__ = ["CostEstimate", "PriceCatalog", "PricePoint", "estimate_cost"]
