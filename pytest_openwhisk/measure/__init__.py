"""Closed-loop measurements and what becomes of them.

- :mod:`.runners`: warm / cold / concurrent runners -> :class:`Measurement` (partial on Ctrl-C);
- :mod:`.bench`: the ``ow_bench`` fixture (runs measurements, applies ``ow_slo``, records them);
- :mod:`.samplelog`: every sample streamed to JSONL as it is measured;
- :mod:`.entries`: one pytest-benchmark entry per measurement (stats, ``extra_info``);
- :mod:`.machine`: ``machine_info`` = the cluster fingerprint, and the secrets to mask;
- :mod:`.compare`: the fingerprint check of ``--benchmark-compare``;
- :mod:`.scrub`: masking auth keys in anything saved;
- :mod:`.report`: the terminal summary table.

The runners' names are re-exported here (``from pytest_openwhisk.measure import run_warm``).
"""

from pytest_openwhisk.measure.runners import (
    STOP_TIMEOUT_S,
    ActionLike,
    ColdForcer,
    Measurement,
    MeasurementInterrupted,
    OnSample,
    Params,
    action_names,
    invoke_sample,
    is_sequence_record,
    measurement_from_samples,
    run_cold,
    run_concurrent,
    run_warm,
    sequence_init_ms,
)

__all__ = [
    "STOP_TIMEOUT_S",
    "ActionLike",
    "ColdForcer",
    "Measurement",
    "MeasurementInterrupted",
    "OnSample",
    "Params",
    "action_names",
    "invoke_sample",
    "is_sequence_record",
    "measurement_from_samples",
    "run_cold",
    "run_concurrent",
    "run_warm",
    "sequence_init_ms",
]
