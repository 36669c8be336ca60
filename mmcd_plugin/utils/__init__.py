"""Helpers shared by the tools and the inference API."""
from .inference_optimization import optimize_for_inference

__all__ = ['optimize_for_inference']
