"""The flow graph (pure): StepSpecs -> FlowGraph, the validation rules that read it and return
findings, and the graph as text (`show`)."""
