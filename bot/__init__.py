"""Everything user-facing: answering from the store, the command line, the Discord bot."""
