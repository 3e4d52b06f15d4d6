"""(placeholder: nodes of this area are added by their issue)"""

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
