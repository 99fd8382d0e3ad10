"""proxybench: benchmark proxy-data selection (ECOS and baselines) on four axes at once.

Everything a plugin author needs is importable from here; these names are the API
(docs/architecture.md). The built-in plugins import nothing else from proxybench.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

try:  # the installed metadata, so the version in records is the one pyproject.toml states
    __version__ = _version("proxybench")
except _PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

from dp_accounting import ComposedDpEvent, DpEvent

from .contract.dataset import Dataset, ImageWriter, memmapped_image_data
from .contract.hookspecs import hookimpl
from .contract.images import OUTSIDE_LABEL_SPACE, ImageData, ImageRows
from .contract.params import Plugin
from .contract.registry import (
    create_dataset,
    create_sampler,
    create_task,
    create_weights,
    list_datasets,
    list_samplers,
    list_tasks,
    list_weights,
)
from .contract.sampler import CloudView, Sampler, Selection
from .contract.task import PickedData, PoolView, SupervisedTask, Task, TaskContext, TaskResult
from .contract.weights import PoolData, WeightSource
from .ml.accelerator import device_cache_key, on_device, torch_device
from .ml.backbone import create_backbone, load_state_dict_bytes, state_dict_bytes
from .ml.cluster_pool import pool_on_cluster
from .ml.extractor import Extractor
from .ml.flops import forward_flops
from .ml.geometry import greedy_kcenter, kmeans, largest_remainder, nearest_centroid
from .ml.models import check_model_name, create_task_model
from .ml.training import MEAN as IMAGE_MEAN
from .ml.training import STD as IMAGE_STD
from .ml.training import ImageTensors, TrainConfig, UnlabeledTerm, accuracy, predict_logits, random_crop, to_tensor, train
from .privacy.accounting import (
    DEFAULT_DELTA,
    count_sensitivity,
    gaussian_event,
    gaussian_noise,
    no_client_information,
    non_private,
    poisson_sampled,
    self_composed,
    sigma_for_epsilon,
    split_sigmas,
)
from .privacy.mechanism import AuditMechanism
from .results.records import load_records
from .run.spec import RunSpec
from .util.cache import Cache
from .util.errors import ProxybenchError
from .util.progress import bar, track
from .wire.device import Device
from .wire.link import Message
from .wire.meter import Meter
from .wire.phases import MODEL, SELECT, TASK, Phase
from .wire.runtime import CallMeter, DeviceContext
from .wire.scoring import evaluate_on_device

__all__ = [
    "AuditMechanism", "Cache", "CallMeter", "CloudView", "ComposedDpEvent", "DEFAULT_DELTA", "Dataset", "Device", "DeviceContext",
    "DpEvent", "Extractor", "IMAGE_MEAN", "IMAGE_STD", "ImageData", "ImageRows", "ImageTensors", "ImageWriter",
    "MODEL", "Message", "Meter", "OUTSIDE_LABEL_SPACE", "Phase", "PickedData", "Plugin", "PoolData", "PoolView",
    "ProxybenchError", "RunSpec", "SELECT", "Sampler", "Selection", "SupervisedTask", "TASK", "Task", "TaskContext",
    "TaskResult", "TrainConfig", "UnlabeledTerm", "WeightSource", "accuracy", "bar", "check_model_name",
    "count_sensitivity", "create_backbone", "create_dataset", "create_sampler", "create_task", "create_task_model",
    "create_weights", "device_cache_key", "evaluate_on_device", "forward_flops", "gaussian_event", "gaussian_noise",
    "greedy_kcenter", "hookimpl", "kmeans", "largest_remainder", "list_datasets", "list_samplers", "list_tasks", "list_weights",
    "load_records", "load_state_dict_bytes", "memmapped_image_data", "nearest_centroid", "no_client_information",
    "non_private", "on_device", "poisson_sampled", "pool_on_cluster", "predict_logits", "random_crop", "self_composed",
    "sigma_for_epsilon", "split_sigmas", "state_dict_bytes", "to_tensor", "torch_device", "track", "train",
]
