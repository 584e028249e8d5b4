# The two commands a new user needs: `make demo` and `make test`.
.PHONY: demo test lint bench clean

demo:
	@scripts/bootstrap
	.venv/bin/presensi demo

test: lint
	.venv/bin/python -m pytest -n 2 --dist loadgroup

lint:
	@scripts/bootstrap
	.venv/bin/ruff check presensi tests
	.venv/bin/ruff format --check presensi tests
	.venv/bin/mypy

bench:
	@scripts/bootstrap
	.venv/bin/presensi station bench

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
