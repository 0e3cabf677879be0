"""chat-bench: load generator and comparison of wirechat's IO backends against baselines."""
