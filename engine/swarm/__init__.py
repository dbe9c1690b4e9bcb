"""Swarm mode's library: docker's task model (:mod:`.model`), the restart, placement and update rules
(:mod:`.policy`), a TaskSpec as a container (:mod:`.taskspec`) and the reconciler (:mod:`.reconciler`).

No engine service is imported here; :mod:`engine.services.swarm` hands the reconciler its host.
"""
