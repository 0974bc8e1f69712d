"""napari dock widgets: the only modules that import Qt, magicgui or napari (with `_sample_data`, `_writer`)."""
