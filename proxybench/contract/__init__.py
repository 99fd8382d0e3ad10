"""The plugin contract: hooks, typed parameters, the plugin manager, the bases of samplers, tasks, datasets, weight sources."""
