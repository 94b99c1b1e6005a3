"""``python -m jaxloss``: the same as the ``jaxloss`` console script."""

from .cli import main

raise SystemExit(main())
