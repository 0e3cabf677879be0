"""Tests of the stores (SQLite schema and store, driven directly) and their in-process harness."""
