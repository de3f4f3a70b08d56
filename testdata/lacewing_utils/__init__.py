"""Utilities for Lacewing-style end-to-end tests (test-data stand-in).

Submodules are deliberately not imported here: `fake_device` needs the
compiled `fidl_codec` extension, and `fidl_ir` must stay importable without it.
"""
