"""``python -m bench``: see :mod:`bench.run` (``--help`` lists the options)."""

from bench.run import main

if __name__ == "__main__":
    main()
