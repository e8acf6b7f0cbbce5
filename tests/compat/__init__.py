"""Python and torch version range of the library: see torch_api.py and tests/test_compat.py."""
