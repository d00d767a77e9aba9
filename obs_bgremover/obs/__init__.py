"""The OBS front end: the only package that knows OBS.

``obs_bgremover_filter.py`` is the file users add in Tools > Scripts; it registers the
"Background Remover" filter (``filter.py``) through the ctypes binding in ``libobs.py``, and the
filter composites on the GPU with ``effects/bgremover.effect``. Importing this package does not
need OBS; calling into libobs does.
"""
