"""What lasts on disk: the task journal, output naming, locks."""
