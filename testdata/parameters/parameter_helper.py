"""A module of `sources`, next to the main one."""


def importable(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False
