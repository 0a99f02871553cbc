"""One module per dashboard page, each with its state beside it."""
