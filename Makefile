# genosparse: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data
FASTA ?= $(DATA_DIR)/20.fa.gz
DEMO_DIR ?= runs/demo
DEMO_REGION ?= 20:62,000,001-62,020,000
TRACK_REGION ?= 20:30,000,001-31,000,000

# as root, apt would warn that its sandbox user cannot write here; download as the current user
APT_DOWNLOAD := apt-get -q -o APT::Sandbox::User=$$(id -un) download vt-examples

.PHONY: demo test setup data track bench clean

setup: $(VENV)/.installed

# torch is pinned first to the CPU build on this machine's disk; the package itself declares torch>=2.4.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q triton==3.6.0
	$(PY) -m pip install -q -e '.[dev,workflows]'
	touch $@

data: $(DATA_DIR)/20.fa.gz

# Human chr20 (GRCh37) as Debian's vt-examples ships it: BGZF FASTA with .fai and a gzipped .gzi.
$(DATA_DIR)/20.fa.gz:
	@mkdir -p $(DATA_DIR)/.download
	cd $(DATA_DIR)/.download && { $(APT_DOWNLOAD) || { apt-get update -qq && $(APT_DOWNLOAD); }; }
	dpkg-deb -x $(DATA_DIR)/.download/vt-examples_*.deb $(DATA_DIR)/.download/root
	cp $(DATA_DIR)/.download/root/usr/share/doc/vt/examples/ref/20.fa.gz* $(DATA_DIR)/
	rm -rf $(DATA_DIR)/.download

# Trains the small demo MLM (about 2 min), then scores 20 kb of chr20 that neither model trained on
# with the shipped pretrained chr20-mlm (the default checkpoint) and with the demo model.
demo: setup data
	@start=$$(date +%s); \
	$(VENV)/bin/genosparse train experiment=demo data_dir=$(DATA_DIR) data.fasta=$(FASTA) hydra.run.dir=$(DEMO_DIR) \
	&& $(VENV)/bin/genosparse score --fasta $(FASTA) --region $(DEMO_REGION) --window 4096 \
	     --out $(DEMO_DIR)/scores_chr20-mlm.bedgraph \
	&& $(VENV)/bin/genosparse score --checkpoint $(DEMO_DIR)/checkpoint --fasta $(FASTA) --region $(DEMO_REGION) \
	     --out $(DEMO_DIR)/scores_demo.bedgraph \
	&& echo "demo finished in $$(( $$(date +%s) - start )) s" \
	&& echo "outputs: $(DEMO_DIR)/checkpoint (demo model), $(DEMO_DIR)/logs/metrics.csv, $(DEMO_DIR)/training_curves.png," \
	&& echo "         $(DEMO_DIR)/scores_chr20-mlm.bedgraph and scores_demo.bedgraph: mean masked log-likelihood per" \
	&& echo "         window of $(DEMO_REGION), held out from both models (higher is better; uniform guess -1.386)"

# Per-base log-likelihood bigWig of TRACK_REGION (1 Mb of chr20) with the demo model (trained first if missing);
# the shipped chr20-mlm, 16 times larger, is much slower per base on a CPU (see its model card).
track: setup data
	test -f $(DEMO_DIR)/checkpoint/model.safetensors || $(MAKE) demo
	$(VENV)/bin/genosparse track --checkpoint $(DEMO_DIR)/checkpoint --fasta $(FASTA) --region $(TRACK_REGION) \
	  --out $(DEMO_DIR)/track.bw --device cpu

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/attention.py

clean:
	rm -rf $(VENV) runs .pytest_cache
