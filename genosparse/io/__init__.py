"""Output formats and files: atomic outputs and standard streams (:mod:`~genosparse.io.files`), the
registry of writers and result tables, and result streams as pandas DataFrames
(:mod:`~genosparse.io.registry`). Imports nothing else of genosparse but its errors."""

from genosparse.io.files import (STDIO, atomic_folder, atomic_output, atomic_path, display_name, is_stream,
                                 remove_leftovers, spool_input)
from genosparse.io.registry import (Table, Writer, formats, register_table, register_writer, rows, to_dataframe,
                                    write_table, writer_for)

__all__ = ["STDIO", "Table", "Writer", "atomic_folder", "atomic_output", "atomic_path", "display_name", "formats",
           "is_stream", "register_table", "register_writer", "remove_leftovers", "rows", "spool_input", "to_dataframe",
           "write_table", "writer_for"]
