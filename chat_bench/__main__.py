"""Run `python -m chat_bench` as `chat-bench`."""

import sys

from chat_bench.cli import main

sys.exit(main())
