"""Command-line entry points; each ``main()`` only parses arguments and calls the library."""
