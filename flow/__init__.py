"""Pure-torch optical flow: estimation, warping, occlusion checks, and the provider that gives
every node a clip's flow (``provider.py``).

Nothing in this package imports ComfyUI.
"""
