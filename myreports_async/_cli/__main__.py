"""``python -m myreports_async._cli``: the same as the ``myreports`` console script."""

from __future__ import annotations

from myreports_async._cli import main

if __name__ == "__main__":
    main()
