"""proxybench: benchmark proxy-data selection (ECOS and baselines) on four axes at once.

Everything a plugin author needs is importable from here; these names are the API.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

try:  # the installed metadata, so the version in records is the one pyproject.toml states
    __version__ = _version("proxybench")
except _PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

from .audit import AuditMechanism
from .cache import Cache
from .dataset import OUTSIDE_LABEL_SPACE, Dataset, ImageData, ImageRows, ImageWriter, memmapped_image_data
from .device import CallMeter, Device, DeviceContext, Meter, forward_flops
from .errors import ProxybenchError
from .features import (
    Extractor,
    PoolData,
    WeightSource,
    create_backbone,
    load_state_dict_bytes,
    state_dict_bytes,
)
from .geometry import greedy_kcenter, kmeans, largest_remainder, nearest_centroid
from .hookspecs import hookimpl
from .link import Message
from .models import check_model_name, create_task_model
from .params import Plugin
from .privacy import (
    DEFAULT_DELTA,
    count_sensitivity,
    gaussian_event,
    gaussian_noise,
    no_client_information,
    non_private,
    sigma_for_epsilon,
)
from .progress import bar, track
from .registry import (
    create_dataset,
    create_sampler,
    create_task,
    list_datasets,
    list_samplers,
    list_tasks,
    list_weights,
)
from .results import load_records
from .sampler import CloudView, Sampler, Selection
from .spec import RunSpec
from .task import SupervisedTask, Task, TaskContext, TaskResult, evaluate_on_device
from .training import ImageTensors, TrainConfig, UnlabeledTerm, accuracy, predict_logits, to_tensor, train

__all__ = [
    "AuditMechanism", "Cache", "CallMeter", "CloudView", "DEFAULT_DELTA", "Dataset", "Device", "DeviceContext",
    "Extractor", "ImageData",
    "ImageRows", "ImageTensors", "ImageWriter", "memmapped_image_data",
    "Message", "Meter", "OUTSIDE_LABEL_SPACE", "Plugin", "PoolData", "ProxybenchError", "RunSpec", "Sampler",
    "Selection", "SupervisedTask", "Task", "TaskContext", "TaskResult", "TrainConfig", "UnlabeledTerm",
    "WeightSource", "accuracy", "bar",
    "check_model_name", "count_sensitivity", "create_backbone", "create_dataset", "create_sampler", "create_task",
    "create_task_model", "evaluate_on_device", "forward_flops", "gaussian_event", "gaussian_noise", "greedy_kcenter", "hookimpl",
    "kmeans", "largest_remainder", "list_datasets", "list_samplers", "list_tasks", "list_weights", "load_records",
    "load_state_dict_bytes", "nearest_centroid", "no_client_information", "non_private", "predict_logits",
    "sigma_for_epsilon", "state_dict_bytes", "to_tensor", "track", "train",
]
