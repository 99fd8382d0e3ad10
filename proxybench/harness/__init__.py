"""The harness: the trusted process of a run, and the cloud and device processes it starts and relays between.

``children`` starts and connects the two processes, ``cloud`` and ``device_process`` are
their entry points, ``relay`` counts every device request on its way. The run's session
in the harness (data, phi, provisioning) is ``proxybench.run.session``.
"""

from .children import Children
from .local import local_device
from .relay import Call, Relay

__all__ = ["Call", "Children", "Relay", "local_device"]
