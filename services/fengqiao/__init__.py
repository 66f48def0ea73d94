"""fengqiao: rules-driven triage and escalation of residents' disputes (矛盾纠纷分级化解)."""

__version__ = "0.1.0"
