"""The Docker Engine API over Portside's engine: routes (:mod:`.routes`), HTTP (:mod:`.server`),
and ``portside daemon`` (:mod:`.daemon`)."""
