"""The client's screens: the connect form and the chat screen."""
