"""Model import: detect a file's format from its content and load it as a Model."""

from wrt.importers.load import load
from wrt.importers.sniff import FileFormat, sniff

__all__ = ["FileFormat", "load", "sniff"]
