# Portside: `make run` opens the dashboard, `make test` runs every test. Both install what is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEBS := busybox-static runc tini libseccomp2 iproute2

.PHONY: run test deps debs bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

deps: $(PY)
	$(PY) -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	$(PY) -m compileall -q engine tui themes >/dev/null

debs:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

run: deps debs
	$(VENV)/bin/portside

test: deps debs
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: deps debs
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) *.egg-info
