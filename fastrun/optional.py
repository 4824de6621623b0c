"""Importing optional packages with an error that says which fastrun extra installs them."""
import importlib


def require(module_name, extra):
    """Import and return ``module_name``; if that fails, raise an ImportError naming
    ``pip install fastrun[<extra>]``.

    A module blocked with ``sys.modules[name] = None`` counts as missing, as Python's import does.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        raise ImportError(f'{module_name} is not installed or cannot be imported ({e}); '
                          f'install it with `pip install fastrun[{extra}]`') from e
