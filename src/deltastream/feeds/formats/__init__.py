"""One module per file format, each a ``read(data, name, source)`` returning a
:class:`~deltastream.feeds.records.ParseResult` or raising
:class:`~deltastream.feeds.records.FileFormatError`."""
