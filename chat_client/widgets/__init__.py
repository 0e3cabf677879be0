"""The chat screen's widgets: log, room list, member list, status and topic bars, input line."""
