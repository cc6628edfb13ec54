"""The I/O layer: files, sockets, ptys and network namespaces around the sans-I/O cores."""
