"""The append-only, tamper-evident audit log. `audit.record(...)` is the only way in."""


def record(action, **kwargs):
    # Imported on call: this package is imported before Django's app registry is ready.
    from audit.services import record as _record

    return _record(action, **kwargs)
