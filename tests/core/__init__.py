"""Unit tests of the chat core, driven without sockets."""
