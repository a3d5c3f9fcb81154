"""rfdmft: random-feature regression with power-law kernel spectra, simulated exactly and
explained by dynamical mean-field theory.

Modules: ``model`` (parameters, spectrum, results), ``simulation`` (exact finite-size
simulator), ``paths`` (sample paths of the stochastic dynamics), ``cli`` (command line).
"""

from .model import ErrorCurve, Params, spectrum, validate_times
from .paths import SamplePath, sample_path, simulate_paths
from .simulation import design_error, sample_design, simulate

__version__ = "0.1.0"

__all__ = ["Params", "ErrorCurve", "spectrum", "validate_times", "simulate", "design_error",
           "sample_design", "SamplePath", "sample_path", "simulate_paths"]
