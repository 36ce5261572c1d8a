"""Bad input, everywhere: every command refuses a bad file or argument the same way.

Each row of :data:`CASES` is one bad input (a file of the corpus in ``tests/bad_inputs/``, made by
``tests/bad_inputs/make_corpus.py``, or a bad argument / output path) and the words its error line
must hold: the file or argument, what is wrong and the fix. For every row the command must

- exit with status 2,
- print exactly one line on stderr, ``surrogate COMMAND: error: ...``, holding those words,
- print no traceback and no warning,
- print nothing on stdout (every check happens before any work: no header, no table, no solve),
- write nothing (the temporary folder is unchanged: no output file, no stray ``.tmp``).

The rows run in this process (``main([...])``, fd-level capture, so C-level output would be seen
too); a sample also runs as real subprocesses, and ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from surrogate.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "bad_inputs"
NET = "{B}/ok/net.onnx"
PROP = "{B}/ok/prop.vnnlib"
SMOKE = str(Path(__file__).resolve().parents[2] / "problems" / "smoke.toml")


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    expect: tuple[str, ...]  # substrings of the one error line (after placeholders are filled)


def _c(id: str, argv: str, *expect: str) -> Case:
    return Case(id, tuple(argv.split()), expect)


ONNX_CASES = [
    _c("onnx-truncated", "verify {B}/onnx/truncated.onnx " + PROP,
       "truncated.onnx is not a valid ONNX model", "copy it again whole or re-export it"),
    _c("onnx-not-onnx", "prune {B}/onnx/not_onnx.onnx --sparsity 0.5",
       "not_onnx.onnx is not a valid ONNX model", "not ONNX"),
    _c("onnx-empty", "compare --model {B}/onnx/empty.onnx",
       "empty.onnx is not a valid ONNX model: the file is empty", "copy it again"),
    _c("onnx-random-bytes", "verify {B}/onnx/random_bytes.onnx " + PROP,
       "random_bytes.onnx is not a valid ONNX model", "re-export it"),
    _c("onnx-nan-weight", "verify {B}/onnx/nan_weight.onnx " + PROP,
       "nan_weight.onnx: node 'layer0.gemm' (Gemm, layer 0): constant 'w1' holds 1 NaN value(s)",
       "first at index (1, 0)", "re-export it with finite weights"),
    _c("onnx-inf-weight", "prune {B}/onnx/inf_weight.onnx --sparsity 0.5",
       "inf_weight.onnx: node 'layer1.gemm' (Gemm, layer 1): constant 'w2' holds 1 inf value(s)",
       "first at index (0, 2)", "re-export it with finite weights"),
    _c("onnx-inf-bias", "compare --model {B}/onnx/inf_bias.onnx",
       "inf_bias.onnx: node 'layer0.gemm' (Gemm, layer 0): constant 'b1' holds 1 inf value(s)"),
    _c("onnx-unsupported-op", "verify {B}/onnx/sigmoid.onnx " + PROP,
       "sigmoid.onnx: node 'layer0.sigmoid' (Sigmoid) is not supported",
       "Only chains of affine layers and ReLUs can be read"),
    _c("onnx-conv", "prune {B}/onnx/conv.onnx --sparsity 0.5",
       "conv.onnx: node 'conv0' (Conv) is not supported"),
    _c("onnx-wrong-shapes", "verify {B}/onnx/wrong_shapes.onnx " + PROP,
       "wrong_shapes.onnx is not a valid ONNX model: node 'layer1.gemm' (Gemm): A has 3 columns",
       "re-export the network"),
    _c("onnx-output-shape", "verify {B}/onnx/output_shape.onnx " + PROP,
       "output_shape.onnx is not a valid ONNX model: output 'output' is declared with shape (1, 5)",
       "re-export the network"),
    _c("onnx-two-inputs", "verify {B}/onnx/two_inputs.onnx " + PROP,
       "two_inputs.onnx: the graph has 2 inputs ('input', 'other')", "exactly one input"),
    _c("onnx-int-input", "verify {B}/onnx/int_input.onnx " + PROP,
       "int_input.onnx: input 'input' is not a floating-point tensor",
       "export the network with a float input"),
    _c("onnx-symbolic-axis", "verify {B}/onnx/symbolic_axis.onnx " + PROP,
       "symbolic_axis.onnx: input 'input' has an unknown size at axis 1 (n)",
       "only the batch axis 0 may be symbolic"),
    _c("onnx-skip-connection", "verify {B}/onnx/skip_connection.onnx " + PROP,
       "skip_connection.onnx: tensor 'input' feeds 2 nodes", "only a plain chain of layers"),
    _c("onnx-no-layer", "prune {B}/onnx/no_layer.onnx --sparsity 0.5",
       "no_layer.onnx: the graph contains no layer", "at least one dense layer"),
    _c("onnx-custom-domain", "verify {B}/onnx/custom_domain.onnx " + PROP,
       "custom_domain.onnx: node 'fancy0' (FancyRelu) is from the custom domain 'com.example'",
       "supported ops: Add"),
    _c("onnx-directory-verify", "verify {T}/adir " + PROP,
       "adir is a directory, not an ONNX file"),
    _c("onnx-directory-compare", "compare --model {T}/adir",
       "model {T}/adir is a directory, not an ONNX file", "give the path of an .onnx file"),
    _c("onnx-missing", "compare --model {T}/nope.onnx",
       "model file {T}/nope.onnx not found", "check the path"),
]

VNNLIB_CASES = [
    _c("vnnlib-unbalanced-close", "verify " + NET + " {B}/vnnlib/unbalanced_close.vnnlib",
       "unbalanced_close.vnnlib:9: unbalanced parentheses: ')' without a matching '('",
       "remove it or add the missing '('"),
    _c("vnnlib-unclosed", "verify " + NET + " {B}/vnnlib/unclosed.vnnlib",
       "unclosed.vnnlib:9: unbalanced parentheses: this '(' is never closed",
       "add the missing ')'"),
    _c("vnnlib-undeclared", "verify " + NET + " {B}/vnnlib/undeclared.vnnlib",
       "undeclared.vnnlib:9: undeclared variable 'Y_7'", "(declare-const Y_7 Real)"),
    _c("vnnlib-three-inputs", "verify " + NET + " {B}/vnnlib/three_inputs.vnnlib",
       "three_inputs.vnnlib: the property declares 3 inputs (X_0 .. X_2) but n_inputs=2",
       "use the property written for this network"),
    _c("vnnlib-three-outputs", "verify " + NET + " {B}/vnnlib/three_outputs.vnnlib",
       "three_outputs.vnnlib: the property declares 3 outputs (Y_0 .. Y_2) but n_outputs=2"),
    _c("vnnlib-empty", "verify " + NET + " {B}/vnnlib/empty.vnnlib",
       "empty.vnnlib: no X_ variable is declared", "(declare-const X_0 Real)"),
    _c("vnnlib-comments-only", "verify " + NET + " {B}/vnnlib/comments_only.vnnlib",
       "comments_only.vnnlib: no X_ variable is declared"),
    _c("vnnlib-nonlinear", "verify " + NET + " {B}/vnnlib/nonlinear.vnnlib",
       "nonlinear.vnnlib:9: nonlinear term", "only a constant times a linear term"),
    _c("vnnlib-mixed", "verify " + NET + " {B}/vnnlib/mixed.vnnlib",
       "mixed.vnnlib:9: the constraint mixes inputs and outputs (X_0, Y_0)"),
    _c("vnnlib-several-inputs", "verify " + NET + " {B}/vnnlib/several_inputs.vnnlib",
       "several_inputs.vnnlib:9: linear constraint over several inputs (X_0, X_1)"),
    _c("vnnlib-missing-bound", "verify " + NET + " {B}/vnnlib/missing_bound.vnnlib",
       "missing_bound.vnnlib: input X_1 has no upper bound", "assert both (>= X_1 ...)"),
    _c("vnnlib-empty-box", "verify " + NET + " {B}/vnnlib/empty_box.vnnlib",
       "empty_box.vnnlib: the input box is empty: X_0 has lower bound 2.0 > upper bound 1.0",
       "fix the input bounds"),
    _c("vnnlib-all-branches-empty", "verify " + NET + " {B}/vnnlib/all_branches_empty.vnnlib",
       "all_branches_empty.vnnlib: the input box is empty in every one of the 2 branches"),
    _c("vnnlib-unknown-command", "verify " + NET + " {B}/vnnlib/unknown_command.vnnlib",
       "unknown_command.vnnlib:10: unknown command 'push'", "expected declare-const or assert"),
    _c("vnnlib-unknown-operator", "verify " + NET + " {B}/vnnlib/unknown_operator.vnnlib",
       "unknown_operator.vnnlib:9: unknown operator 'abs'", "supported: and, or"),
    _c("vnnlib-bad-number", "verify " + NET + " {B}/vnnlib/bad_number.vnnlib",
       "bad_number.vnnlib:9: bad number '0.5.5'", "write numbers like 0.5"),
    _c("vnnlib-declared-twice", "verify " + NET + " {B}/vnnlib/declared_twice.vnnlib",
       "declared_twice.vnnlib:5: variable 'X_1' is declared twice (first on line 2)",
       "remove one declaration"),
    _c("vnnlib-index-gap", "verify " + NET + " {B}/vnnlib/index_gap.vnnlib",
       "index_gap.vnnlib: X_2 is declared but X_1 is not", "declare X_0 .. X_2"),
    _c("vnnlib-int-sort", "verify " + NET + " {B}/vnnlib/int_sort.vnnlib",
       "int_sort.vnnlib:2: variable 'X_1' has sort 'Int'", "(declare-const X_1 Real)"),
    _c("vnnlib-no-outputs", "verify " + NET + " {B}/vnnlib/no_outputs.vnnlib",
       "no_outputs.vnnlib: no Y_ variable is declared", "(declare-const Y_0 Real)"),
    _c("vnnlib-not-utf8", "verify " + NET + " {B}/vnnlib/latin1.vnnlib",
       "latin1.vnnlib as UTF-8 text", "save it as UTF-8"),
    _c("vnnlib-corrupt-gz", "verify " + NET + " {B}/vnnlib/corrupt.vnnlib.gz",
       "corrupt.vnnlib.gz as UTF-8 text", "whole gzip"),
    _c("vnnlib-directory", "verify " + NET + " {T}/adir",
       "{T}/adir is a directory, not a VNN-LIB file"),
    _c("vnnlib-missing", "verify " + NET + " {T}/nope.vnnlib",
       "VNN-LIB file not found: {T}/nope.vnnlib", "check the path"),
]

OUT = "--out {T}/campaign"
SWEEP_CASES = [
    _c("sweep-invalid-toml", "bench run {B}/sweep/invalid_toml.toml " + OUT,
       "invalid_toml.toml: invalid TOML"),
    _c("sweep-no-sweep-table", "bench run {B}/sweep/no_sweep_table.toml " + OUT,
       "no_sweep_table.toml: missing [sweep] table"),
    _c("sweep-unknown-key", "bench run {B}/sweep/unknown_key.toml " + OUT,
       "unknown_key.toml:8: unknown key 'workers' in [sweep]", "allowed: name"),
    _c("sweep-sparsity", "bench run {B}/sweep/sparsity_too_big.toml " + OUT,
       "sparsity_too_big.toml:6: sparsities must lie in [0, 1), got 1.5"),
    _c("sweep-unknown-network", "bench run {B}/sweep/unknown_network.toml " + OUT,
       "unknown_network.toml:4: unknown network 'digits-9x9'", "shipped models: digits-2x32"),
    _c("sweep-unknown-method", "bench run {B}/sweep/unknown_method.toml " + OUT,
       "unknown_method.toml:5: unknown pruning method 'bogus'", "available: bandit"),
    _c("sweep-bad-norm", "bench run {B}/sweep/bad_norm.toml " + OUT,
       "bad_norm.toml:11: 'norm' must be 'l1' or 'linf', got 'l3'"),
    _c("sweep-negative-eps", "bench run {B}/sweep/negative_eps.toml " + OUT,
       "negative_eps.toml:12: 'eps' must be finite numbers >= 0"),
    _c("sweep-zero-time-limit", "bench run {B}/sweep/zero_time_limit.toml " + OUT,
       "zero_time_limit.toml:3: 'time_limit_s' must be a number > 0, got 0"),
    _c("sweep-empty-networks", "bench run {B}/sweep/empty_networks.toml " + OUT,
       "empty_networks.toml:4: 'networks' must be a non-empty list"),
    _c("sweep-wrong-suffix", "bench run {B}/sweep/spec.txt " + OUT,
       "cannot tell what", "spec.txt", "ends in .toml (sweep) or .csv"),
    _c("csv-missing-file", "bench run {B}/sweep/missing_file.csv " + OUT,
       "missing_file.csv:1: file ok/nope.vnnlib not found"),
    _c("csv-bad-timeout", "bench run {B}/sweep/bad_timeout.csv " + OUT,
       "bad_timeout.csv:1: timeout must be > 0 seconds, got -5"),
    _c("csv-empty", "bench run {B}/sweep/empty.csv " + OUT,
       "empty.csv: no instances", "expected rows 'onnx,vnnlib,timeout_s'"),
    _c("spec-directory", "bench run {T}/adir " + OUT,
       "campaign spec {T}/adir is a folder without any instances*.csv",
       "give a VNN-COMP benchmark folder (with instances.csv files)"),
    _c("spec-missing", "bench run {T}/nope.toml " + OUT,
       "campaign spec {T}/nope.toml not found"),
]

ARGUMENT_CASES = [
    # compare: every check before the header and the dense solve
    _c("compare-method-bogus", "compare --method bogus --time-limit 30",
       "--method: unknown pruning method 'bogus'", "choose one of", "magnitude"),
    _c("compare-method-needs-data", "compare --method bandit",
       "--method bandit needs training data", "choose a method that needs none"),
    _c("compare-method-exact", "compare --method exact",
       "--method exact cannot prune here: exact compression is lossless and takes sparsity 0",
       "choose another method, e.g. magnitude"),
    _c("verify-jobs-0", f"verify {NET} {PROP} --jobs 0", "--jobs must be >= 1, got 0"),
    _c("compare-time-limit-nan", "compare --time-limit nan",
       "--time-limit must be a finite number of seconds > 0, got nan"),
    _c("compare-time-limit-inf", "compare --time-limit inf",
       "--time-limit must be a finite number of seconds > 0, got inf"),
    _c("compare-time-limit-text", "compare --time-limit soon",
       "argument --time-limit: invalid float value: 'soon'", "see `surrogate compare --help`"),
    _c("compare-sparsities-1.5", "compare --sparsities 0.5,1.5",
       "--sparsities must be a number in [0, 1), got 1.5", "give e.g. 0.5"),
    _c("compare-sparsities-nan", "compare --sparsities nan",
       "--sparsities must be a number in [0, 1), got nan"),
    _c("compare-sparsities-text", "compare --sparsities 0.5,half",
       "argument --sparsities: expected comma-separated numbers, got '0.5,half'"),
    _c("compare-eps-nan", "compare --eps nan", "--eps must be a finite number >= 0, got nan"),
    _c("compare-norm", "compare --norm l3", "argument --norm: invalid choice: 'l3'"),
    _c("compare-target-word", "compare --target some", "--target must be top2, any or a class"),
    _c("compare-target-range", "compare --target 12",
       "--target 12 is not a class of digits-2x64 (classes 0 .. 9)"),
    _c("compare-image-range", "compare --image 100000", "--image must be in [0, 449), got 100000"),
    _c("compare-output-range", "compare --task maximize --output 10",
       "--output 10 is not an output of digits-2x64 (outputs 0 .. 9)"),
    _c("compare-json-out-dir", "compare --json-out {T}/adir",
       "--json-out {T}/adir is a directory", "give a file name instead, e.g. {T}/adir/runs.json"),
    _c("compare-json-out-under-file", "compare --json-out {T}/plain.txt/runs.json",
       "--json-out {T}/plain.txt/runs.json: {T}/plain.txt is a file, not a folder",
       "choose another path"),
    _c("compare-json-out-readonly", "compare --json-out {RO}/runs.json",
       "--json-out {RO}/runs.json: cannot write in", "choose a writable place"),
    _c("compare-x0-missing", "compare --x0 {T}/nope.txt",
       "--x0 {T}/nope.txt not found", "check the path"),
    _c("compare-x0-size", "compare --model " + NET + " --x0 {B}/ok/x0_wrong_size.txt",
       "--x0 {B}/ok/x0_wrong_size.txt holds 3 numbers, the network takes 2 inputs"),
    _c("compare-unknown-model", "compare --model digits-9x9",
       "unknown model 'digits-9x9'; shipped models: digits-2x32"),
    # verify: checks before the attack and the solve
    _c("verify-counterexample-dir", "verify " + NET + " " + PROP + " --counterexample {T}/adir",
       "--counterexample {T}/adir is a directory", "e.g. {T}/adir/cex.txt"),
    _c("verify-counterexample-under-file",
       "verify " + NET + " " + PROP + " --counterexample {T}/plain.txt/cex.txt",
       "{T}/plain.txt is a file, not a folder"),
    _c("verify-json-out-readonly", "verify " + NET + " " + PROP + " --json-out {RO}/v.json",
       "--json-out {RO}/v.json: cannot write in", "choose a writable place"),
    _c("verify-no-fallback-alone", "verify " + NET + " " + PROP + " --no-fallback",
       "--no-fallback only applies to a pruned search", "add --prune METHOD --sparsity P"),
    _c("verify-time-limit-negative", "verify " + NET + " " + PROP + " --time-limit -1",
       "--time-limit must be a finite number of seconds > 0, got -1"),
    _c("verify-time-limit-nan", "verify " + NET + " " + PROP + " --time-limit nan",
       "--time-limit must be a finite number of seconds > 0, got nan"),
    _c("verify-sparsity", "verify " + NET + " " + PROP + " --sparsity 1.5",
       "--sparsity must be a number in (0, 1), got 1.5"),
    _c("verify-prune-bogus", "verify " + NET + " " + PROP + " --prune bogus --sparsity 0.5",
       "--prune: unknown pruning method 'bogus'", "choose one of"),
    _c("verify-prune-needs-data", "verify " + NET + " " + PROP + " --prune bandit --sparsity 0.5",
       "--prune bandit needs training data", "e.g. magnitude"),
    _c("verify-prune-no-sparsity", "verify " + NET + " " + PROP + " --prune magnitude",
       "--prune magnitude needs --sparsity P"),
    _c("verify-missing-argument", "verify " + NET,
       "the following arguments are required: PROP.vnnlib", "see `surrogate verify --help`"),
    # prune: the output path is checked before pruning
    _c("prune-output-dir", "prune digits-2x32 --method magnitude --sparsity 0.5 -o {T}/adir",
       "-o {T}/adir is a directory", "e.g. {T}/adir/pruned.onnx"),
    _c("prune-output-under-file", "prune digits-2x32 --sparsity 0.5 -o {T}/plain.txt/x.onnx",
       "-o {T}/plain.txt/x.onnx: {T}/plain.txt is a file, not a folder"),
    _c("prune-output-readonly", "prune digits-2x32 --sparsity 0.5 -o {RO}/x.onnx",
       "-o {RO}/x.onnx: cannot write in", "choose a writable place"),
    _c("prune-output-slash", "prune digits-2x32 --sparsity 0.5 -o {T}/newdir/",
       "-o {T}/newdir/ ends in '/'", "give a file name"),
    _c("prune-sparsity", "prune digits-2x32 --sparsity 1.5",
       "--sparsity must be a number in [0, 1), got 1.5"),
    _c("prune-method", "prune digits-2x32 --method bogus --sparsity 0.5",
       "--method: unknown pruning method 'bogus'"),
    _c("prune-option", "prune digits-2x32 --sparsity 0.5 --option oops",
       "--option takes KEY=VALUE", "'oops'"),
    _c("prune-rounds", "prune digits-2x32 --sparsity 0.5 --rounds 0", "--rounds must be >= 1"),
    # train: the output path is checked before training
    _c("train-output-dir", "train --hidden 8 --epochs 1 -o {T}/adir",
       "-o {T}/adir is a directory", "e.g. {T}/adir/model.onnx"),
    _c("train-output-under-file", "train --hidden 8 --epochs 1 -o {T}/plain.txt/m.onnx",
       "{T}/plain.txt is a file, not a folder"),
    _c("train-output-readonly", "train --hidden 8 --epochs 1 -o {RO}/m.onnx",
       "-o {RO}/m.onnx: cannot write in"),
    _c("train-hidden-zero", "train --hidden 8 0 -o {T}/m.onnx", "--hidden widths must be >= 1"),
    _c("train-epochs-zero", "train --hidden 8 --epochs 0 -o {T}/m.onnx", "--epochs must be >= 1"),
    _c("train-lr-nan", "train --hidden 8 --lr nan -o {T}/m.onnx",
       "--lr must be a finite number > 0, got nan"),
    _c("train-models-dir-file", "train --all --models-dir {T}/plain.txt",
       "--models-dir {T}/plain.txt is a file, not a folder", "the folder holding models.json"),
    _c("train-models-dir-empty", "train --all --models-dir {T}/adir",
       "no model list at {T}/adir/models.json"),
    # perf: the output folder (and every argument) is checked before the campaign starts
    _c("perf-out-is-file", "perf --suite build --out {T}/plain.txt",
       "--out {T}/plain.txt is a file, not a folder"),
    _c("perf-out-under-file", "perf --suite build --out {T}/plain.txt/run",
       "{T}/plain.txt is a file, not a folder"),
    _c("perf-out-readonly", "perf --suite build --out {RO}/run", "cannot write in"),
    _c("perf-time-limit-nan", "perf --suite digits --time-limit nan --out {T}/run",
       "--time-limit must be a finite number of seconds > 0, got nan"),
    _c("perf-jobs", "perf --suite digits --jobs 0 --out {T}/run", "--jobs must be >= 1, got 0"),
    _c("perf-suite-unknown", "perf --suite fast --out {T}/run",
       "--suite fast: give one of build, mnist_fc, digits, maximize, presets, all"),
    _c("perf-suite-missing-file", "perf --suite {T}/nope.toml --out {T}/run",
       "--suite {T}/nope.toml not found"),
    _c("perf-no-vnncomp", "perf --suite mnist_fc --vnncomp {T}/adir --out {T}/run",
       "no mnist_fc/ folder under {T}/adir: pass --vnncomp DIR"),
    _c("perf-missing-out", "perf --suite build",
       "the following arguments are required: --out"),
    # bench
    _c("bench-out-is-file", "bench run " + SMOKE + " --out {T}/plain.txt",
       "--out {T}/plain.txt is a file, not a folder"),
    _c("bench-out-readonly", "bench run " + SMOKE + " --out {RO}/campaign", "cannot write in"),
    _c("bench-jobs", "bench run " + SMOKE + " --out {T}/c --jobs 0", "--jobs must be >= 1, got 0"),
    _c("bench-time-limit", "bench run " + SMOKE + " --out {T}/c --time-limit nan",
       "--time-limit must be a finite number of seconds > 0, got nan"),
    _c("bench-report-file", "bench report {T}/plain.txt",
       "DIR {T}/plain.txt is a file, not a results folder", "bench run --out"),
    _c("bench-report-empty-dir", "bench report {T}/adir",
       "DIR {T}/adir holds no results.sqlite"),
    _c("bench-report-missing", "bench report {T}/nothing",
       "results folder {T}/nothing not found"),
    _c("prune-study-out-file", "prune-study --out {T}/plain.txt",
       "--out {T}/plain.txt is a file, not a folder"),
    _c("prune-study-method", "prune-study --methods bogus --out {T}/study",
       "--methods: bogus is not a pruning method"),
    _c("unknown-command", "frobnicate", "argument COMMAND: invalid choice: 'frobnicate'"),
]

CASES = ONNX_CASES + VNNLIB_CASES + SWEEP_CASES + ARGUMENT_CASES


def test_corpus_is_large_and_every_file_is_used() -> None:
    files = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*")
             if p.is_file() and p.suffix != ".py" and "ok" not in p.relative_to(CORPUS).parts}
    used = {a.replace("{B}/", "") for c in CASES for a in c.argv if a.startswith("{B}/")}
    assert files - used == set(), "corpus files no case uses"
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


def _readonly_place(tmp: Path) -> Path | None:
    """A folder nothing can be written in: a read-only folder, or (for root, who may write in
    those) a place in /sys."""
    if os.geteuid() != 0:
        ro = tmp / "readonly"
        ro.mkdir()
        ro.chmod(0o555)
        return ro
    place = Path("/sys")
    try:
        fd, probe = tempfile.mkstemp(dir=place)
    except OSError:
        return place / "surrogate-test"
    os.close(fd)
    os.unlink(probe)
    return None


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "adir").mkdir()
    (work / "plain.txt").write_text("just a file\n")
    ro = _readonly_place(tmp_path)
    yield {"B": str(CORPUS), "T": str(work), "RO": str(ro) if ro else ""}
    if ro is not None and ro.is_relative_to(tmp_path):
        ro.chmod(0o755)


def _fill(text: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        text = text.replace("{" + key + "}", value)
    return text


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def _check_line(err: str, expect: list[str]) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("surrogate") and ": error: " in line, line
    for words in expect:
        assert words in line, f"{words!r} not in {line!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, places: dict[str, str], capfd: pytest.CaptureFixture[str]) -> None:
    if "{RO}" in " ".join(case.argv) and not places["RO"]:
        pytest.skip("no read-only place on this machine")
    argv = [_fill(a, places) for a in case.argv]
    expect = [_fill(e, places) for e in case.expect]
    work = Path(places["T"])
    before = _snapshot(work)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
    elapsed = time.perf_counter() - t0
    out, err = capfd.readouterr()
    assert code == 2, f"exit {code}; stderr:\n{err}"
    _check_line(err, expect)
    assert out == "", "work started before the check (stdout is not empty)"
    shown = [w for w in caught
             if not issubclass(w.category, DeprecationWarning | PendingDeprecationWarning)]
    assert not shown, [str(w.message) for w in shown]
    assert _snapshot(work) == before, "something was written"
    assert not list(work.rglob("*.tmp"))
    assert elapsed < 15, f"took {elapsed:.1f} s: the check came after some work"


# ------------------------------------------------------------------------ real subprocesses
SUBPROCESS_SAMPLE = ["onnx-inf-weight", "vnnlib-directory", "compare-method-bogus",
                     "compare-time-limit-nan", "verify-counterexample-dir", "prune-output-dir",
                     "perf-out-is-file", "compare-norm"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    return subprocess.run([sys.executable, "-m", "surrogate", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_bad_inputs_in_real_processes(places: dict[str, str]) -> None:
    """The true stderr of a process: one line (no warning, no banner, no C-level logging)."""
    by_id = {c.id: c for c in CASES}
    for name in SUBPROCESS_SAMPLE:
        case = by_id[name]
        r = _run(*[_fill(a, places) for a in case.argv])
        assert r.returncode == 2, (name, r.stderr)
        assert r.stdout == "", name
        _check_line(r.stderr, [_fill(e, places) for e in case.expect])


def test_debug_shows_the_traceback(places: dict[str, str]) -> None:
    inf = f"{CORPUS}/onnx/inf_weight.onnx"
    for argv in (["--debug", "prune", inf, "--sparsity", "0.5"],
                 ["prune", inf, "--sparsity", "0.5", "--debug"]):
        r = _run(*argv)
        assert r.returncode == 2
        assert "Traceback (most recent call last)" in r.stderr
        assert "surrogate.errors.ModelFileError" in r.stderr
        assert r.stderr.splitlines()[-1].startswith("surrogate prune: error: ")
    r = _run("prune", inf, "--sparsity", "0.5")
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1


def test_output_parents_are_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The one rule for output paths: missing folders are created (then the file written whole)."""
    out = tmp_path / "a" / "b" / "pruned.onnx"
    assert main(["prune", "digits-2x32", "--sparsity", "0.5", "-o", str(out)]) == 0
    assert out.is_file()
    assert f"wrote {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["pruned.onnx"]  # no stray .tmp
