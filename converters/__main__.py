"""``python -m converters paddle2torch SRC DST`` (also ``torch2paddle``)."""
import sys

from .cli import main

sys.exit(main())
