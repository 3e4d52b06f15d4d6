"""Pure-torch optical flow, warping, occlusion and temporal metrics.

Nothing in this package imports ComfyUI.
"""
