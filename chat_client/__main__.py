"""`python -m chat_client` runs the client CLI."""

import sys

from chat_client.cli import main

sys.exit(main())
