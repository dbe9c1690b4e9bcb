"""Compose files for stacks: a library with no engine behind it (the client converts, as docker's does).

    project = load(["docker-compose.yml"])          # read, interpolate, merge
    for line in validate(project): print(line)      # schema and values; docker's warnings back
    plan = convert(project, "getstartedlab")        # networks, secrets, configs, service specs

Modules: :mod:`.yamlfile` (bounded safe YAML), :mod:`.interpolate` (variables), :mod:`.envfile`
(env_file and .env), :mod:`.project` (the files, their merged model), :mod:`.schema` (the schema) and
:mod:`.checks` (validate), :mod:`.specs` (convert: docker's Engine API shapes).
"""

from __future__ import annotations

from .checks import validate
from .project import ComposeFile, Project, load
from .specs import LABEL_IMAGE, LABEL_NAMESPACE, StackPlan, convert

__all__ = ["LABEL_IMAGE", "LABEL_NAMESPACE", "ComposeFile", "Project", "StackPlan", "convert", "load", "validate"]
