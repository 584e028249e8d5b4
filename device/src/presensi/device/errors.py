"""The station's error root."""


class StationError(Exception):
    """Something the station cannot work around; the message says what to do."""


class ConfigError(StationError, ValueError):
    """The station's config file is missing or wrong: the message names file, field and fix."""


class JournalError(StationError, OSError):
    """The journal cannot store a record (disk full, I/O error, corrupt file)."""


class JournalCorrupt(JournalError):
    """The journal file failed its integrity check."""


class JournalUnavailable(JournalError):
    """The journal cannot be opened for writing (read-only or missing folder, permissions): not
    corruption, so the file is never moved; the station shows the fault and tries again."""
