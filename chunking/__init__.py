"""Long videos as a chain of chunks: which frames each run of the workflow handles (pure, no ComfyUI)."""
from .plan import Chunk, ChunkPlan

__all__ = ["Chunk", "ChunkPlan"]
