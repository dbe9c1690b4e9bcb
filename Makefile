# Portside: `make run` opens the dashboard, `make test` runs every test. Both install what is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEBS := busybox-static runc tini libseccomp2 iproute2 nftables
# the tests also load our saved images into a real dockerd, and docker's into ours
TEST_DEBS := docker.io
# the registry tests start Debian's docker-registry (htpasswd for its basic auth) and copy with skopeo
TEST_DEBS += docker-registry skopeo apache2-utils
# the daemon's tests: certificates for its TLS port (openssl), its systemd units checked (systemd-analyze)
TEST_DEBS += openssl systemd
# real clients against `portside daemon`: docker-compose, and lazydocker (from PyPI) driven in tmux
TEST_DEBS += docker-compose tmux

.PHONY: run test deps test-deps debs bench clean

# the Python packages are installed once, and again only when pyproject.toml (or this file) changes:
# a second `make run` starts the dashboard without pip and prints nothing. `make run` installs what
# Portside needs; `make test` adds the test extra (pytest, mypy, the real clients the tests drive)
STAMP := $(VENV)/.portside-installed
TEST_STAMP := $(VENV)/.portside-test-installed

$(PY):
	@# Debian's python3 makes a venv only with python3-venv (ensurepip): installed first when missing
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || $(MAKE) -s debs EXTRA_DEBS=python3-venv
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "cannot make $(VENV): install python3-venv"; exit 1; }
	$(PY) -m pip install -q --upgrade pip

# $(1): what to install ('.' or '.[test]'), $(2): the stamp it leaves
define install
	@echo "installing Portside's Python packages$(if $(findstring test,$(1)), and the tests',) into $(VENV) (pip's log: $(VENV)/pip.log)"
	@$(PY) -m pip install -q -e '$(1)' --config-settings editable_mode=compat >$(VENV)/pip.log 2>&1 \
	  || { cat $(VENV)/pip.log; exit 1; }
	@# the venv's own setuptools is never used (pip builds in an isolated environment); its .pth file
	@# would load a distutils shim at every interpreter start (~1.3 ms of each `portside` command)
	@$(PY) -m pip uninstall -q -y setuptools >>$(VENV)/pip.log 2>&1 || true
	@$(PY) -m compileall -q engine tui themes >/dev/null
	@touch $(2)
endef

$(STAMP): pyproject.toml Makefile | $(PY)
	$(call install,.,$@)

$(TEST_STAMP): pyproject.toml Makefile | $(PY)
	$(call install,.[test],$@)
	@touch $(STAMP)

deps: $(STAMP)
	@:

test-deps: $(TEST_STAMP)
	@:

debs:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(DEBS) $(EXTRA_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    rcd=""; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
	      chmod +x /usr/sbin/policy-rc.d; rcd=1; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	    st=$$?; [ -n "$$rcd" ] && rm -f /usr/sbin/policy-rc.d; [ $$st = 0 ] || exit $$st; \
	  fi; \
	fi

run: deps debs
	@$(VENV)/bin/portside

test: test-deps
	$(PY) -m mypy
	$(MAKE) debs EXTRA_DEBS="$(TEST_DEBS)"
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: deps debs
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) *.egg-info
