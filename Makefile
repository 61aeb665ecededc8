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

SHARED_DATA ?= ../shared/data
TEST_DATA := $(DATA_DIR)/test

# as root, apt would warn that its sandbox user cannot write here; download as the current user
apt_download = { apt-get -q -o APT::Sandbox::User=$$(id -un) download $(1) || \
                 { apt-get update -qq && apt-get -q -o APT::Sandbox::User=$$(id -un) download $(1); }; }

.PHONY: demo test test-data setup data track bench clean

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
	cd $(DATA_DIR)/.download && $(call apt_download,vt-examples)
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

test: setup test-data
	$(PY) -m pytest -q

# The real files the tests read: the project's shared folder when it is beside the checkout, else the same
# files from Debian's packages and tests/data/ (see tests/data/README.md), assembled in $(TEST_DATA).
test-data:
	@if [ -d $(SHARED_DATA) ]; then echo "tests read $(SHARED_DATA)"; else $(MAKE) --no-print-directory $(TEST_DATA)/.complete; fi

$(TEST_DATA)/.complete: $(DATA_DIR)/20.fa.gz
	[ ! -d $(TEST_DATA) ] || chmod -R u+w $(TEST_DATA); rm -rf $(TEST_DATA) && mkdir -p $(TEST_DATA)/.download $(TEST_DATA)/reference $(TEST_DATA)/variants \
	  $(TEST_DATA)/fasta_edge_cases $(TEST_DATA)/promoters
	cd $(TEST_DATA)/.download && $(call apt_download,python-pysam-tests python-pyfaidx-examples)
	for deb in $(TEST_DATA)/.download/*.deb; do dpkg-deb -x $$deb $(TEST_DATA)/.download/root; done
	cp $(DATA_DIR)/20.fa.gz $(DATA_DIR)/20.fa.gz.fai $(DATA_DIR)/20.fa.gz.gzi.gz $(TEST_DATA)/reference/
	cp $(addprefix $(TEST_DATA)/.download/root/usr/share/doc/python-pysam/tests/tabix_data/vcf/,20.vcf.gz 5.vcf.gz 16.vcf.gz) \
	  $(TEST_DATA)/variants/
	cp $(addprefix $(TEST_DATA)/.download/root/usr/share/doc/python-pyfaidx-examples/examples/,issue_141.fasta \
	  issue_83.fasta chr17.hg19.part.fa) $(TEST_DATA)/fasta_edge_cases/
	cp tests/data/promoters/*.tsv $(TEST_DATA)/promoters/
	rm -rf $(TEST_DATA)/.download && chmod -R a-w $(TEST_DATA)/* && touch $@  # read-only, as the shared folder

bench: setup
	$(PY) benchmarks/attention.py

clean:
	rm -rf $(VENV) runs .pytest_cache
