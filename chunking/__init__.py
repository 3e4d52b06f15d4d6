"""Long videos as a chain of chunks: which frames each run of the workflow handles, and the state
nodes carry from one chunk to the next (pure, no ComfyUI)."""
from .plan import Chunk, ChunkPlan
from .state import load_state, save_state

__all__ = ["Chunk", "ChunkPlan", "load_state", "save_state"]
