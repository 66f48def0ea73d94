"""The `fengqiao` command (entry point `fengqiao.cli.main:main`, also `python -m fengqiao`).

`main` parses the arguments and runs the services; the sub-commands live one per module:
`rules` and `policy` (policy staff: check, test, explain, publish, roll back), `replay` (a
draft over the stored history), `ops` (operators: notifications, bus, retention, report),
`readmodel`, `vocab`, `demo`; `report` puts the figures in words.
"""
