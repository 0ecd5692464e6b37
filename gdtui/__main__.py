"""``python -m gdtui`` is the ``gdtui`` command."""

from gdtui.cli import entry

if __name__ == "__main__":
    entry()
