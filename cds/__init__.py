"""CDS Hooks 2.0 patient-view service: therapy options for metastatic breast cancer.

Decision support, not a decision: every card names its source and the facts that triggered it.
"""

__version__ = "0.1.0"
