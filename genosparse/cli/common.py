"""What every ``genosparse`` subcommand shares: argument types and error handling."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from genosparse.errors import ConfigError, GenosparseError
from genosparse.io import is_stream
from genosparse.models import GenomicModel
from genosparse.pretrained import DEFAULT_MODEL, PRETRAINED, resolve_checkpoint
from genosparse.scoring.prepare import default_device, load_on_device

log = logging.getLogger(__name__)
ModelBody = Callable[[argparse.Namespace, GenomicModel, torch.device, Callable[[], float]], None]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def device(text: str | None) -> torch.device:
    """The device a user asked for (default CUDA when available, else CPU), checked to exist.

    Raises:
        ConfigError: unknown device string, or CUDA asked for where there is none.
    """
    if text is None:
        return default_device()
    try:
        dev = torch.device(text)
    except RuntimeError as err:
        raise ConfigError(f"unknown device {text!r}; use cpu, cuda or cuda:N") from err
    if dev.type == "cuda" and (not torch.cuda.is_available()
                               or (dev.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"device {text!r} is not available on this machine; use --device cpu")
    return dev


def output_path(text: str) -> Path:
    """argparse type: an output file path, not an existing directory (``-`` is standard output)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name")
    return path


def add_fasta_option(parser: argparse.ArgumentParser, help: str = "FASTA file (plain or bgzip-compressed)") -> None:
    """``-f/--fasta`` (a file: it is read through its index, so never ``-``)."""
    parser.add_argument("-f", "--fasta", required=True, help=help)


def add_output_option(parser: argparse.ArgumentParser, help: str, **kwargs) -> None:
    """``-o/--out``: the output file, or ``-`` for standard output where the format can stream."""
    parser.add_argument("-o", "--out", required=True, type=output_path, help=help, **kwargs)


def add_region_option(parser: argparse.ArgumentParser, **kwargs) -> None:
    """``-r/--region``: samtools-style regions, repeatable."""
    parser.add_argument("-r", "--region", action="append",
                        help="chrom or chrom:start-end (1-based inclusive); repeatable", **kwargs)


def add_region_or_bed_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``-r/--region`` (repeatable) or ``--regions BED`` (names from column 4, ``-`` strand as the reverse
    complement), one or the other; ``what`` says what is done with each BED interval."""
    group = parser.add_mutually_exclusive_group()
    add_region_option(group)
    group.add_argument("--regions", help=f"BED file (0-based): {what}, named by column 4; strand '-' (column 6) as "
                       "the reverse complement")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Device, threads and verbosity, shared by every command that runs a model."""
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("-@", "--threads", type=positive_int, metavar="N",
                        help="CPU threads: torch's intra-op threads of the model, and htslib's reading and "
                             "compressing VCFs (default: torch's; htslib 1)")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log DEBUG messages too")
    verbosity.add_argument("-q", "--quiet", action="store_true",
                           help="no progress bar and no INFO messages (warnings and errors only)")


def checkpoint_name(text: str) -> str:
    """argparse type: a non-empty checkpoint path or shipped model name."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a checkpoint folder, a .ckpt or a shipped model name")
    return text


def add_checkpoint_option(parser: argparse.ArgumentParser, what: str = "checkpoint") -> None:
    """``--checkpoint``: a folder written by ``genosparse train``, a ``.ckpt``, or a shipped model
    (default: the pretrained ``chr20-mlm``; see ``genosparse/pretrained/MODEL_CARD.md``)."""
    parser.add_argument("--checkpoint", default=DEFAULT_MODEL, type=checkpoint_name, help=(
        f"{what} folder written by `genosparse train`, a Lightning .ckpt, or a shipped model: "
        f"{', '.join(PRETRAINED)} (default: {DEFAULT_MODEL}, an MLM pretrained on human chr20)"))


def add_inference_options(parser: argparse.ArgumentParser) -> None:
    """The options every scoring command shares: window, batch size, strands, and :func:`add_run_options`."""
    parser.add_argument("--window", type=positive_int, help="window in bases (default: the model's context length)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass (default: 8)")
    parser.add_argument("--no-rc-average", dest="rc_average", action="store_false",
                        help="score the forward strand only")
    add_run_options(parser)


def summary(args: argparse.Namespace, text: str) -> None:
    """Print a command's summary line: to stdout, or to stderr when stdout carries the output (``-o -``)."""
    print(text, file=sys.stderr if is_stream(getattr(args, "out", "")) else sys.stdout)


def add_resume_option(parser: argparse.ArgumentParser) -> None:
    """``--resume``: continue from the chunks an interrupted run left beside the output."""
    parser.add_argument("--resume", action="store_true", help=(
        "continue an interrupted run (SIGTERM, SIGKILL, a crash) from the chunks it completed, kept in "
        "the hidden folder .<out name>.resume beside --out; give the same inputs and options (default: "
        "start from zero, replacing that folder)"))


_HIDDEN_OUTPUT = re.compile(r"/\.(?P<name>[^/\s'\"`]+?)\.[a-z0-9_]{8}(?:\.part)?(?:/[^\s'\"`:]*)?(?=$|[\s'\"`:,;)])")
"""A writer's hidden temporary file or folder beside an output, ``<dir>/.<name>.<8 random>[.part][/...]``
(see :mod:`genosparse.io.files`)."""


def user_message(err: BaseException) -> str:
    """``err`` as a message that names the user's output instead of a writer's hidden temporary file."""
    return _HIDDEN_OUTPUT.sub(lambda match: "/" + match["name"], str(err))


class _Terminated(SystemExit):
    """SIGTERM, unwinding the command like Ctrl-C; exits ``128 + SIGTERM``."""


def _terminate(signum, frame) -> None:
    raise _Terminated(128 + signum)


_UNWRITTEN = "no output file written (data already sent to standard output is incomplete)"


def run_command(name: str, body: Callable[[], None]) -> None:
    """Run a subcommand's ``body``: input errors become one line on stderr and exit status 2,
    Ctrl-C exits 130, SIGTERM (``kill``, ``timeout``, SLURM) unwinds like Ctrl-C, so atomic
    writers remove their temporary files."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        body()
    except (GenosparseError, OSError) as err:
        print(f"genosparse {name}: error: {user_message(err)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"genosparse {name}: interrupted; {_UNWRITTEN}", file=sys.stderr)
        sys.exit(130)
    except _Terminated:
        print(f"genosparse {name}: stopped by SIGTERM; {_UNWRITTEN}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)  # callers that run a command in-process keep their handler


def run_model_command(name: str, parser: argparse.ArgumentParser, argv: list[str], body: ModelBody) -> None:
    """Run a command that scores with a checkpoint: parse ``argv``, log to stderr (INFO; DEBUG with
    ``--verbose``, warnings only with ``--quiet``), set ``--threads``, load
    ``--checkpoint`` on ``--device`` (:func:`~genosparse.scoring.prepare.load_on_device`; the scorer
    then prepares genome and window through the same path) and call ``body(args, model, device,
    elapsed)`` under :func:`run_command`; ``elapsed()`` gives the seconds since the command started."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")  # to stderr
    if args.threads:
        torch.set_num_threads(args.threads)

    def run() -> None:
        started = time.perf_counter()
        log.debug("genosparse %s %s", name, " ".join(f"{key}={value}" for key, value in vars(args).items()))
        model, dev = load_on_device(args.checkpoint, device(args.device))
        log.info("model %s (%s): %s head, %d layers, d_model %d, context %d bases", args.checkpoint,
                 resolve_checkpoint(args.checkpoint).resolve(), model.config.head, model.config.num_layers,
                 model.config.d_model, model.config.context_length)
        body(args, model, dev, lambda: time.perf_counter() - started)

    logger = logging.getLogger("genosparse")
    level = logger.level
    logger.setLevel(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
    try:
        run_command(name, run)
    finally:
        logger.setLevel(level)  # a caller running commands in-process keeps its own
