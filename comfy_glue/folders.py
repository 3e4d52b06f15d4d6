"""The model folders users already have, through ComfyUI's ``folder_paths``.

``folder_paths`` is imported lazily: outside ComfyUI the lists are empty and loading says why.
"""

import os

PACK_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


def extend_model_folder(folder_name: str, *extra_paths: str) -> bool:
    """Register ``models/<folder_name>`` (plus ``extra_paths``) with ComfyUI's ``folder_paths``.

    Extends an existing registration (another pack's, a user's extra_model_paths.yaml), never
    replaces it; calling it again adds nothing. Returns False outside ComfyUI.
    """
    try:
        import folder_paths
    except ImportError:  # tier-1 tests and tools run without ComfyUI
        return False
    folder_paths.add_model_folder_path(folder_name, os.path.join(folder_paths.models_dir, folder_name))
    for path in extra_paths:
        folder_paths.add_model_folder_path(folder_name, path)
    folder_paths.folder_names_and_paths[folder_name][1].update(folder_paths.supported_pt_extensions)
    return True


def model_file_names(folder_name: str, *extra_paths: str) -> list:
    """Files of a model folder for a combo widget (empty outside ComfyUI)."""
    if not extend_model_folder(folder_name, *extra_paths):
        return []
    import folder_paths

    return folder_paths.get_filename_list(folder_name)


def model_file_path(folder_name: str, name: str, what: str, *extra_paths: str) -> str:
    """Full path of ``name`` in a model folder, or a ValueError naming the folders searched."""
    if not extend_model_folder(folder_name, *extra_paths):
        raise RuntimeError(f"loading a {what} needs ComfyUI's folder_paths (run it inside ComfyUI)")
    import folder_paths

    path = folder_paths.get_full_path(folder_name, name)
    if path is None:
        raise ValueError(f"{what} {name!r} was not found in the {folder_name} model folders "
                         f"({', '.join(folder_paths.get_folder_paths(folder_name))})")
    return path
