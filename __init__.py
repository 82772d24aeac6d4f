"""graphrun: a GStreamer-style plugin graph for video computer vision in Python and PyTorch."""
__version__ = "0.1.0"
