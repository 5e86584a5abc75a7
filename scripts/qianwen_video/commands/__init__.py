"""One module per user command; each takes the Options and returns an Outcome."""
