"""Front-ends of the engine, like GStreamer's tools beside its core: the Python builder (``api``),
the ``graphrun`` command (``cli``), gst-launch-style pipelines (``launch``), ``inspect``/``dot``
views (``describe``), parameter search (``tune``), weight files (``weights``) and one graph over
many inputs (``batch``). They import the engine (``graphrun.runtime``); the engine never imports them.
"""
