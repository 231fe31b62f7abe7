"""``python -m helpers.data DATA_DIR``: summarise a dataset folder without decoding any image."""

import sys

from helpers.data.summary import main

sys.exit(main())
