"""A synthetic AWS account in real delivery formats, with injected incidents and ground truth."""

from egress_platform.simulate.run import SimulationSummary, simulate

__all__ = ["SimulationSummary", "simulate"]
