"""`python -m chat_server` runs the server CLI."""

import sys

from chat_server.cli import main

sys.exit(main())
