"""The flow graph (pure): StepSpecs -> FlowGraph, complete at construction (flowgraph.py);
the validation rules that read it and return findings (rules.py); the graph as text
(show.py)."""
from .flowgraph import FlowGraph, Node
from .rules import RESERVED_STEP_NAMES, build, validate

__all__ = ["RESERVED_STEP_NAMES", "FlowGraph", "Node", "build", "validate"]
