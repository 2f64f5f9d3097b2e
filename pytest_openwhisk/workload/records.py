"""How the workload analyzer classifies a sample that did not succeed (records are read by
:func:`pytest_openwhisk.samples.apply_record`)."""

from __future__ import annotations

from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, Sample

#: status of a scheduled request the sender did not send (in-flight bound, interrupt); reason in ``error``
DROPPED = "dropped"
#: status classes that did not come from an activation record
CLIENT_SIDE = (DROPPED, CLIENT_ERROR)


def error_class(sample: Sample) -> str | None:
    """The class an unsuccessful sample is counted under (None when it succeeded).

    An accepted (non-blocking) request whose activation record never appeared counts as
    ``"no activation record"``: its outcome is unknown.
    """
    if sample.ok:
        return None
    if sample.status == ACCEPTED_NO_RESULT:
        return "no activation record"
    if sample.status == CLIENT_ERROR and sample.http_status:
        return f"HTTP {sample.http_status}"
    return sample.status
