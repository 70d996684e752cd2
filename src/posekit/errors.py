"""Errors that name the file, the record and the problem."""

from __future__ import annotations

from os import PathLike

__all__ = ["PosekitError", "DataError"]


class PosekitError(Exception):
    """Base class for errors the CLI reports as one readable line."""


class DataError(PosekitError):
    """Bad input data: ``DataError(path, problem, index=None)`` reads ``path[index]: problem``."""

    def __init__(self, path: str | PathLike | None, problem: str, index: int | str | None = None) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.index = index
        where = self.path if self.path is not None else "<input>"
        if index is not None:
            where = f"{where}[{index}]"
        super().__init__(f"{where}: {problem}")
