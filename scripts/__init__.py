"""Set-up scripts run by make (importable so that tests can drive them)."""
