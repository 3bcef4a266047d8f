"""Everything user-facing: answering questions from the store, the command line and the Discord bot."""
