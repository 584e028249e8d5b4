"""The protocol's error root."""


class ProtocolError(ValueError):
    """Something on the wire or in a file does not follow the contract."""
