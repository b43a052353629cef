"""realunify-arena: a demo, arena and batch evaluator for the RealUnify benchmark."""

__version__ = "0.1.0"
