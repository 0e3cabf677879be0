"""What an operator reaches besides the chat: metrics and health over HTTP."""
