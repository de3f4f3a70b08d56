"""A python_library with library_name and source_root set."""
