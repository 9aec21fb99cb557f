"""Model manifests, pre/post-processing shared with training, backends, the study pipeline.

No torch at import time: the torch backend is imported lazily, only when chosen.
"""
