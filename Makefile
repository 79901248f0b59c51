# Two entry points for a fresh machine (see README.md): `make demo` and `make test`.
# Both install the system libraries the package links against when they are missing.

SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libfftw3-dev pkg-config python3-matplotlib fonts-dejavu-core
## Only `make report-check` needs a browser: Debian's chromium (about 2 minutes to install).
REPORT_APT_PACKAGES := chromium python3-pil fonts-dejavu-core
USERDP := .build/release/userdp

.PHONY: deps build demo test test-slurm bench clean paper paper-pin paper-plan analysis analysis-check report-check

## Installs the Debian packages named in $(1) that are missing, with apt-get (sudo unless root).
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

## Install the C libraries (OpenBLAS, FFTW), pkg-config and matplotlib with apt-get when missing.
deps:
	$(call apt_install,$(APT_PACKAGES))

build: deps
	$(SWIFT) build -c release --product userdp

## The main job on the embedded default data: the quick sweep (resumes if interrupted), then its table.
## The label is read once, so that editing the tree during the run does not change it.
demo: build
	@label=$$($(USERDP) sweep label) && \
	$(USERDP) sweep run sweeps/quick.json --label $$label && \
	$(USERDP) sweep table sweeps/quick.json --label $$label --rows mechanism,selection,batch_size --cols epsilon

## The study as the study ran it (sweeps/paper/, docs/RESULTS.md): every paper sweep under one
## pinned label, resuming from the committed results/. Each label's pin.json names the commits
## whose results it accepts (docs/SWEEPS.md, "Pinned labels"); scripts/pinned-userdp picks this
## checkout's build when it is pinned, else builds the label's last pinned commit in a worktree
## of its own. `make paper-pin` lets this build join once it reproduced stored runs bit for bit.
## A code change that changes results needs a new PAPER_LABEL.
PAPER_LABEL ?= paper-v1
PAPER_SWEEPS := sweeps/paper/mechanisms.json sweeps/paper/selection.json sweeps/paper/random-chunk.json sweeps/paper/k-epsilon.json sweeps/paper/asi-liu.json sweeps/paper/scale.json

paper: build
	@userdp=$$(scripts/pinned-userdp results/paper-mechanisms/$(PAPER_LABEL)) && \
	for sweep in $(PAPER_SWEEPS); do $$userdp sweep run $$sweep --label $(PAPER_LABEL) || exit 1; done

## Lets this (clean) build join the pins of the paper labels, after it reproduced stored runs.
paper-pin: build
	@for sweep in $(PAPER_SWEEPS); do $(USERDP) sweep pin $$sweep --label $(PAPER_LABEL) || exit 1; done

## Pre-flight of the paper sweeps: run counts, sigma per privacy setting, the wall-time estimate.
paper-plan: build
	@userdp=$$(scripts/pinned-userdp results/paper-mechanisms/$(PAPER_LABEL)) && \
	for sweep in $(PAPER_SWEEPS); do $$userdp sweep run $$sweep --label $(PAPER_LABEL) --dry-run | grep -v '^[0-9a-f]\{12\} '; done

## Every table, figure and claim check of docs/RESULTS.md from the committed results/
## (analysis/spec.json declares them; matplotlib from Debian's python3-matplotlib).
analysis: build
	/usr/bin/python3 analysis/make.py --userdp $(USERDP)

## Runs analysis/make.py's tests, then fails when the committed analysis/ outputs differ from a
## fresh regeneration.
analysis-check: build
	/usr/bin/python3 -B -m unittest analysis/test_make.py
	@scratch=$$(mktemp -d); cp -r analysis/. $$scratch/; \
	/usr/bin/python3 analysis/make.py --userdp $(USERDP) --out $$scratch >/dev/null && \
	if diff -r -q analysis $$scratch >/dev/null; then echo "analysis/ is up to date"; rm -rf $$scratch; \
	else diff -r -q analysis $$scratch; echo "analysis/ is out of date: run make analysis and commit it"; rm -rf $$scratch; exit 1; fi
	@/usr/bin/python3 analysis/make.py --check-doc

## Opens every page of analysis/report/ in headless Chromium (scripts/check-report): no console
## error, every image shown, every link to an existing file, a screenshot that is not blank; and
## first, pages broken on purpose must fail. Checks the committed pages (analysis-check keeps
## them equal to a regeneration), so it needs no build. SCREENSHOTS=DIR keeps the screenshots.
report-check:
	$(call apt_install,$(REPORT_APT_PACKAGES))
	/usr/bin/python3 scripts/check-report $(if $(SCREENSHOTS),--screenshots $(SCREENSHOTS))

## All unit and end-to-end tests, under the environment's OpenBLAS kernel and then under a
## second kernel the CPU supports (scripts/second-kernel), so that a result depending on the
## kernel cannot pass unseen. OPENBLAS_CORETYPE is set for the second run only, never changed
## inside the tests.
test: deps
	$(SWIFT) test
	@second=$$(scripts/second-kernel); \
	if [ -n "$$second" ]; then \
	  echo "== the suite again under OPENBLAS_CORETYPE=$$second"; \
	  OPENBLAS_CORETYPE=$$second $(SWIFT) test --skip-build; \
	else echo "== no second OpenBLAS kernel for this CPU: one run only"; fi

## The Slurm launcher against a real one-node Slurm on this machine (needs root): start munged,
## slurmctld and slurmd (scripts/slurm-test-cluster, installs slurm-wlm and munge if missing),
## run the Slurm suites with USERDP_SLURM_TESTS=1, and stop the daemons whatever happened. Fails
## when the real-cluster suite was skipped instead of run.
SLURM_TEST_LOG ?= .build/test-slurm.log
test-slurm: deps
	$(SWIFT) build --build-tests
	@trap 'scripts/slurm-test-cluster stop' EXIT INT TERM; \
	scripts/slurm-test-cluster start || exit 1; \
	{ USERDP_SLURM_TESTS=1 $(SWIFT) test --skip-build --filter 'SlurmLauncherTests|SlurmSubmissionTests|SlurmCommandLineTests' 2>&1; \
	  echo $$? > $(SLURM_TEST_LOG).status; } | tee $(SLURM_TEST_LOG); \
	status=$$(cat $(SLURM_TEST_LOG).status); [ "$$status" = 0 ] || exit 1; \
	grep -q 'Suite "sweep run --launcher slurm on a real Slurm (make test-slurm)" passed' $(SLURM_TEST_LOG) || \
	  { echo "test-slurm: the real-Slurm suite did not run (see $(SLURM_TEST_LOG))" >&2; exit 1; }

clean:
	rm -rf .build
