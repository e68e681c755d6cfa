"""mlgate."""
