"""Errors of the admin tools. Every message names what is wrong and how to fix it.

`ProvisioningError` is the root: the command line prints it and exits with status 2. Members
also inherit the matching builtin where there is one (`BrokerProvisioningError` is a ValueError).
"""

from __future__ import annotations

from collections.abc import Sequence


class ProvisioningError(Exception):
    """A user error in provisioning: a missing org folder, a bad input file, a refused change."""


class CsvImportError(ProvisioningError):
    """An input CSV with one or more bad lines; `problems` holds one message per problem,
    each naming the file and line number. Nothing was written."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{source}: {count} problem{'s' if count != 1 else ''}, nothing imported"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))
