"""Visibility: Temporal's list filter language over a namespace's runs (parsed, compiled to
parameterised SQL, run within bounds), and batch operations on the runs a filter matches."""
