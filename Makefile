# The two commands a new user needs: `make demo` and `make test`.
.PHONY: demo test lint bench clean

# the parts (each a distribution of its own), then every folder with Python in it
PARTS = protocol hardware device hub provisioning demo
CODE = $(PARTS) tests scripts

demo:
	@scripts/bootstrap
	.venv/bin/presensi demo

test: lint
	.venv/bin/python -m pytest -n 2 --dist loadgroup

lint:
	@scripts/bootstrap
	.venv/bin/ruff check $(CODE)
	.venv/bin/ruff format --check $(CODE)
	.venv/bin/mypy
	.venv/bin/mypy hardware/diagrams/wiring.py
	.venv/bin/ruff check firmware && .venv/bin/ruff format --check firmware
	.venv/bin/mypy --config-file firmware/mypy.ini firmware/halte
	.venv/bin/python -m presensi.provisioning.halte firmware/halte .venv/halte-mpy
	.venv/bin/lint-imports --no-cache
	@for part in $(PARTS); do .venv/bin/deptry --no-ansi $$part/src --config $$part/pyproject.toml || exit 1; done

bench:
	@scripts/bootstrap
	.venv/bin/presensi station bench

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
