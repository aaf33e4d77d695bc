"""``python -m debugbundle --namespace NS [...]`` (``make debug-bundle``): see :mod:`debugbundle.bundle`."""

import sys

from .bundle import main

sys.exit(main())
