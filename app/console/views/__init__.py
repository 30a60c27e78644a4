"""Console pages, one module per resource (list / detail / action, as Django's admin does)."""
