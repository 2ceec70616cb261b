"""Operator and developer tools: command lines that run beside the services, never inside them
(``shared/`` and ``services/`` import nothing from here)."""
