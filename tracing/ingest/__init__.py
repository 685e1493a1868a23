"""Reading logs: find files (`files`), group lines into records (`records`), parse them (`parse`).

The oslo.log format's regexes are built in `oslo_format`; access lines are `access`, journald
copies `journald`, URL paths to route templates `routes`.
"""
