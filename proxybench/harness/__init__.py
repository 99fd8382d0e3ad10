"""The harness: the trusted process of a run, and the cloud and device processes it starts and relays between.

``options`` says how a run's harness runs (transport, isolation, settings); ``children`` starts
and connects the two processes, ``cloud`` and ``device_process`` are their entry points,
``messages`` what crosses to them, ``relay`` counts every device request on its way. The
run's session in the harness (data, phi, provisioning) is ``proxybench.run.session``. Nothing
is imported here, so the command line reads the options without loading torch.
"""
