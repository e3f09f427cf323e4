"""The grading checks of course notebooks 01-05, one module per notebook, each defining ``ASSIGNMENT``."""
