"""The contract shared by every part: badge tokens, scan records, reason codes."""
