"""proxybench: benchmark proxy-data selection (ECOS and baselines) on four axes at once.

Everything a plugin author or a study script needs is importable from here; these names are
the API (docs/architecture.md). The built-in plugins and ``tools/`` import nothing else from proxybench.

The names are imported on first use (``_PUBLIC`` below, PEP 562): ``import proxybench`` and the
command line's parser load no torch, timm, faiss or dp-accounting, so ``proxybench --help`` and a
typo answer in a moment. To add a name, add one line to ``_PUBLIC``.
"""

from importlib import import_module as _import_module
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version
from typing import Any as _Any

try:  # the installed metadata, so the version in records is the one pyproject.toml states
    __version__ = _version("proxybench")
except _PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

#: public name -> "module:attribute" it is (a relative module is inside proxybench).
_PUBLIC: dict[str, str] = {
    "ComposedDpEvent": "dp_accounting:ComposedDpEvent",
    "DpEvent": "dp_accounting:DpEvent",
    "Dataset": ".contract.dataset:Dataset",
    "DomainSize": ".contract.dataset:DomainSize",
    "StoredFeatures": ".contract.dataset:StoredFeatures",
    "ImageWriter": ".contract.dataset:ImageWriter",
    "memmapped_image_data": ".contract.dataset:memmapped_image_data",
    "hookimpl": ".contract.hookspecs:hookimpl",
    "OUTSIDE_LABEL_SPACE": ".contract.images:OUTSIDE_LABEL_SPACE",
    "ImageData": ".contract.images:ImageData",
    "ImageRows": ".contract.images:ImageRows",
    "Plugin": ".contract.params:Plugin",
    "create_dataset": ".contract.registry:create_dataset",
    "create_sampler": ".contract.registry:create_sampler",
    "create_task": ".contract.registry:create_task",
    "create_weights": ".contract.registry:create_weights",
    "list_datasets": ".contract.registry:list_datasets",
    "list_samplers": ".contract.registry:list_samplers",
    "list_tasks": ".contract.registry:list_tasks",
    "list_weights": ".contract.registry:list_weights",
    "CloudView": ".contract.sampler:CloudView",
    "Sampler": ".contract.sampler:Sampler",
    "Selection": ".contract.sampler:Selection",
    "PickedData": ".contract.task:PickedData",
    "PoolView": ".contract.task:PoolView",
    "SupervisedTask": ".contract.task:SupervisedTask",
    "Task": ".contract.task:Task",
    "TaskContext": ".contract.task:TaskContext",
    "TaskResult": ".contract.task:TaskResult",
    "PoolData": ".contract.weights:PoolData",
    "WeightSource": ".contract.weights:WeightSource",
    "device_cache_key": ".ml.accelerator:device_cache_key",
    "on_device": ".ml.accelerator:on_device",
    "torch_device": ".ml.accelerator:torch_device",
    "create_backbone": ".ml.backbone:create_backbone",
    "load_state_dict_bytes": ".ml.backbone:load_state_dict_bytes",
    "state_dict_bytes": ".ml.backbone:state_dict_bytes",
    "pool_on_cluster": ".ml.cluster_pool:pool_on_cluster",
    "Extractor": ".ml.extractor:Extractor",
    "forward_flops": ".ml.flops:forward_flops",
    "greedy_kcenter": ".ml.geometry:greedy_kcenter",
    "kmeans": ".ml.geometry:kmeans",
    "largest_remainder": ".ml.geometry:largest_remainder",
    "nearest_centroid": ".ml.geometry:nearest_centroid",
    "check_model_name": ".ml.models:check_model_name",
    "create_task_model": ".ml.models:create_task_model",
    "IMAGE_MEAN": ".ml.training:MEAN",
    "IMAGE_STD": ".ml.training:STD",
    "ImageTensors": ".ml.training:ImageTensors",
    "TrainConfig": ".ml.training:TrainConfig",
    "UnlabeledTerm": ".ml.training:UnlabeledTerm",
    "accuracy": ".ml.training:accuracy",
    "predict_logits": ".ml.training:predict_logits",
    "random_crop": ".ml.training:random_crop",
    "to_tensor": ".ml.training:to_tensor",
    "train": ".ml.training:train",
    "DEFAULT_DELTA": ".privacy.accounting:DEFAULT_DELTA",
    "count_sensitivity": ".privacy.accounting:count_sensitivity",
    "gaussian_event": ".privacy.accounting:gaussian_event",
    "gaussian_noise": ".privacy.accounting:gaussian_noise",
    "no_client_information": ".privacy.accounting:no_client_information",
    "non_private": ".privacy.accounting:non_private",
    "poisson_sampled": ".privacy.accounting:poisson_sampled",
    "self_composed": ".privacy.accounting:self_composed",
    "composed": ".privacy.accounting:compose",
    "sigma_for_epsilon": ".privacy.accounting:sigma_for_epsilon",
    "split_sigmas": ".privacy.accounting:split_sigmas",
    "AuditMechanism": ".privacy.mechanism:AuditMechanism",
    "GaussianHistogram": ".privacy.release:GaussianHistogram",
    "GaussianSum": ".privacy.release:GaussianSum",
    "KnnVote": ".privacy.release:KnnVote",
    "Release": ".privacy.release:Release",
    "load_records": ".results.frame:load_records",
    "to_markdown": ".results.render:to_markdown",
    "read_records": ".results.store:read_records",
    "variant_label": ".results.variants:variant_label",
    "local_device": ".harness.local:local_device",
    "IMAGE_EXTENSIONS": ".ml.image_files:IMAGE_EXTENSIONS",
    "list_image_files": ".ml.image_files:list_image_files",
    "is_pool_store": ".ml.pool_store:is_pool_store",
    "open_pool_store": ".ml.pool_store:open_pool_store",
    "resize_rgb": ".ml.image_files:resize_rgb",
    "mixture_error": ".run.client_mix:mixture_error",
    "parse_client_domain": ".run.client_mix:parse_client_domain",
    "select_only": ".run.select_only:select_only",
    "RunSpec": ".run.spec:RunSpec",
    "Cache": ".util.cache:Cache",
    "ProxybenchError": ".util.errors:ProxybenchError",
    "ProxybenchWarning": ".util.errors:ProxybenchWarning",
    "bar": ".util.progress:bar",
    "track": ".util.progress:track",
    "Device": ".wire.device:Device",
    "Message": ".wire.link:Message",
    "Meter": ".wire.meter:Meter",
    "MODEL": ".wire.phases:MODEL",
    "SELECT": ".wire.phases:SELECT",
    "TASK": ".wire.phases:TASK",
    "Phase": ".wire.phases:Phase",
    "CallMeter": ".wire.context:CallMeter",
    "DeviceContext": ".wire.context:DeviceContext",
    "evaluate_on_device": ".wire.scoring:evaluate_on_device",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> _Any:
    """Import a public name on first use and keep it here (later lookups are plain attribute reads)."""
    try:
        module, _, attribute = _PUBLIC[name].partition(":")
    except KeyError:
        raise AttributeError(f"module 'proxybench' has no attribute {name!r}") from None
    value = getattr(_import_module(module, __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
