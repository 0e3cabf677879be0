"""wirechat's client: a Textual TUI and a plain line mode, over one connection layer."""
