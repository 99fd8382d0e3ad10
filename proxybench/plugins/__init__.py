"""The built-in plugins: samplers, tasks, datasets and weight sources.

They are registered on the same plugin manager as third-party plugins and through the same
hooks; only how they are found differs. A third-party distribution declares entry points in
the ``proxybench`` group; the built-ins are this tuple of (plugin name, module), read by the
registry without importing any of them (as pytest's ``default_plugins`` and datasette's
``DEFAULT_PLUGINS``). A built-in sampler or task is named as its plugin class.
"""

DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("random", "proxybench.plugins.samplers.random_sampler"),
    ("oracle-domain", "proxybench.plugins.samplers.oracle_domain"),
    ("ecos", "proxybench.plugins.samplers.ecos"),
    ("ecos-rounds", "proxybench.plugins.samplers.ecos_rounds"),
    ("upload-features", "proxybench.plugins.samplers.upload_features"),
    ("random-balanced", "proxybench.plugins.samplers.random_balanced"),
    ("kcenter", "proxybench.plugins.samplers.kcenter"),
    ("herding", "proxybench.plugins.samplers.herding"),
    ("kmeans-nearest", "proxybench.plugins.samplers.kmeans_nearest"),
    ("dsir", "proxybench.plugins.samplers.dsir"),
    ("dp-mean", "proxybench.plugins.samplers.dp_mean"),
    ("dp-mean-rounds", "proxybench.plugins.samplers.dp_mean_rounds"),
    ("mean-nearest", "proxybench.plugins.samplers.mean_nearest"),
    ("cluster-filter", "proxybench.plugins.samplers.cluster_filter"),
    ("upload-raw", "proxybench.plugins.samplers.upload_raw"),
    ("autolabel", "proxybench.plugins.tasks.autolabel"),
    ("outsource", "proxybench.plugins.tasks.outsource"),
    ("compress", "proxybench.plugins.tasks.compress"),
    ("digits", "proxybench.plugins.datasets.digits"),
    ("folders", "proxybench.plugins.datasets.folders"),
    ("weights", "proxybench.plugins.weights.builtin_weights"),
)
