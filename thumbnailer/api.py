"""The ThumbnailJob API: group, version, names, phases and condition types.

Every component imports these names instead of spelling them; the CRD in
``crds/thumbnailjob.yaml`` is the source of truth and a unit test checks that
the two agree.
"""

GROUP = "thumbnailer.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ThumbnailJob"
PLURAL = "thumbnailjobs"
CRD_NAME = f"{PLURAL}.{GROUP}"

#: status.phase values (a summary; the conditions are the API).
PHASE_PENDING = "Pending"
PHASE_RUNNING = "Running"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASES = (PHASE_PENDING, PHASE_RUNNING, PHASE_SUCCEEDED, PHASE_FAILED)

#: Condition types: ``kubectl wait --for=condition=Complete`` (or ``Failed``).
CONDITION_COMPLETE = "Complete"
CONDITION_FAILED = "Failed"
