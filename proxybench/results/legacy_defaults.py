"""The built-ins' defaults and declared kinds as they stood when records did not yet keep their own.

Records written before the ``non_default`` key (results.variants) say which parameters a run
used, not which of them were its plugins' defaults, and a table must not ask the plugins
installed when it is rebuilt. They are read against these instead: the defaults of the last
code that wrote no such key (commit 9010a80, proxybench 0.2.0), the ones every committed
leaderboard's tables were built with. Frozen: never edit them to follow a plugin (a new
record keeps its own).
"""

from __future__ import annotations

from typing import Any

#: plugin kind -> built-in name -> its parameters' defaults.
DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "sampler": {
        "cluster-filter": {
            "R": 100, "dim": 64, "reduction": "none", "sigma": 5.0, "unit_bound": 1.0, "target_epsilon": None,
            "adjacency": "add_remove", "tau": 0.0, "dtype": "float16", "spherical": False, "kmeans_iters": 20,
            "kmeans_max_points": 0,
        },
        "dp-mean": {
            "rho": 2.0, "diversity": False, "clip": 0.0, "sigma": 7.0710678118654755, "target_epsilon": None,
            "adjacency": "add_remove",
        },
        "dp-mean-rounds": {
            "rho": 2.0, "diversity": False, "clip": 0.0, "sigma": 7.0710678118654755, "target_epsilon": None,
            "adjacency": "add_remove", "rounds": 2, "first_share": 0.5,
        },
        "dsir": {
            "R": 100, "dim": 64, "reduction": "none", "sigma": 5.0, "unit_bound": 1.0, "target_epsilon": None,
            "adjacency": "add_remove", "tau": 0.0, "dtype": "float16", "spherical": False, "kmeans_iters": 20,
            "kmeans_max_points": 0,
        },
        "ecos": {
            "R": 100, "dim": 64, "reduction": "none", "sigma": 5.0, "unit_bound": 1.0, "target_epsilon": None,
            "adjacency": "add_remove", "tau": 0.0, "dtype": "float16", "spherical": False, "kmeans_iters": 20,
            "kmeans_max_points": 0, "rho": 2.0, "candidates": "uniform", "diversity": True,
        },
        "ecos-rounds": {
            "R": 100, "dim": 64, "reduction": "none", "sigma": 5.0, "unit_bound": 1.0, "target_epsilon": None,
            "adjacency": "add_remove", "tau": 0.0, "dtype": "float16", "spherical": False, "kmeans_iters": 20,
            "kmeans_max_points": 0, "rho": 2.0, "candidates": "uniform", "diversity": True, "rounds": 2, "sub_R": 5,
            "first_share": 0.5, "stop_tv": 0.0,
        },
        "herding": {},
        "kcenter": {},
        "kmeans-nearest": {"spherical": False, "kmeans_iters": 20},
        "mean-nearest": {"rho": 2.0, "diversity": False},
        "oracle-domain": {},
        "random": {},
        "random-balanced": {"outside": "exclude"},
        "upload-features": {"dtype": "float32"},
        "upload-raw": {},
    },
    "task": {
        "autolabel": {
            "model": "pb_cnn", "epochs": 30, "batch_size": 64, "lr": 0.003, "k": 300, "sigma": 40.0,
            "sample_rate": 1.0, "query_dtype": "float16",
        },
        "compress": {
            "model": "pb_cnn_small", "epochs": 30, "batch_size": 64, "lr": 0.003, "teacher": "pb_cnn",
            "teacher_epochs": 6, "temperature": 4.0, "hard_label_weight": 0.0,
        },
        "outsource": {
            "model": "pb_cnn", "epochs": 30, "batch_size": 64, "lr": 0.003, "semi_supervised": False,
            "threshold": 0.95, "unlabeled_ratio": 3, "unlabeled_weight": 1.0, "unlabeled_pool_size": 5000,
        },
    },
    "dataset": {
        "digits": {
            "seed": 0, "train_per_domain": 6000, "test_per_domain": 500, "distractors": 2000,
            "distractor_style": "distinct",
        },
        "digits-five": {
            "root": "", "image_size": 32, "on_corrupt": "skip", "workers": 0,
            "domains": "mnist,mnistm,svhn,syn,usps", "train_per_domain": 25000, "test_per_domain": 9000, "seed": 0,
        },
        "domainnet": {
            "root": "", "image_size": 64, "on_corrupt": "skip", "workers": 0,
            "classes": "bird,feather,headphones,ice_cream,teapot,tiger,whale,windmill,wine_glass,zebra",
            "domains": "clipart,infograph,painting,quickdraw,real,sketch",
        },
        "imagefolder": {
            "root": "", "image_size": 64, "on_corrupt": "skip", "workers": 0, "domains": "",
            "distractor_domains": "", "test_fraction": 0.2, "seed": 0,
        },
        "office-home": {
            "root": "", "image_size": 64, "on_corrupt": "skip", "workers": 0, "domains": "",
            "distractor_domains": "", "test_fraction": 0.2, "seed": 0,
        },
    },
}

#: built-in sampler -> the kind it declared, for records older than ``sampler_kind`` (what the run did).
KINDS: dict[str, str] = {
    "cluster-filter": "private", "dp-mean": "private", "dp-mean-rounds": "private", "dsir": "private",
    "ecos": "private", "ecos-rounds": "private", "herding": "client-free", "kcenter": "client-free",
    "kmeans-nearest": "client-free", "mean-nearest": "privacy-free", "oracle-domain": "oracle",
    "random": "client-free", "random-balanced": "client-free", "upload-features": "privacy-free",
    "upload-raw": "privacy-free",
}
