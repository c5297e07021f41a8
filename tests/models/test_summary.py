import pytest
from conftest import tiny_config
from configs import lenet5_1998
from flax import nnx

from lenet_jax.models import summary
from lenet_jax.models.lenet5 import LeNet5

PAPER_TABLE = {  # LeCun et al. 1998, section II.B: (trainable parameters, connections)
    "C1": (156, 122_304), "S2": (12, 5_880), "C3": (1_516, 151_600), "S4": (32, 2_000),
    "C5": (48_120, 48_120), "F6": (10_164, 10_164),
}


def test_1998_table_matches_the_paper():
  config = lenet5_1998.get_config()
  model = LeNet5(activation="scaled_tanh", pooling="subsample", c3="table", output="rbf",
                 init="paper", rngs=nnx.Rngs(0))
  rows = summary.rows(model, (32, 32, 1))
  got = {r.name: (r.params, r.connections) for r in rows}
  for name, expected in PAPER_TABLE.items():
    assert got[name] == expected, name
  assert sum(r[2] for r in rows) == 60_000
  assert sum(r[3] for r in rows) == 340_908
  assert [r[1] for r in rows][:5] == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16),
                                      (1, 1, 120)]
  text = summary.summarize(config)
  assert "60,000" in text and "340,908" in text and "151,600" in text


def test_modern_total():
  text = summary.summarize(tiny_config())
  assert text.splitlines()[-1].split()[3] == "61,706"


@pytest.mark.full_xla
def test_alexnet_table_columns_stay_apart_and_split_weights_from_biases():
  from configs import alexnet
  text = summary.summarize(alexnet.get_config("data=synthetic"))
  header, *_, total = text.splitlines()
  assert header.split() == ["layer", "output", "weights", "biases", "params", "connections",
                            "FLOPs"]
  assert total.split() == ["total", "60,954,656", "10,568", "60,965,224", "725,066,088",
                           "1,450,132,176"]
  conv1 = next(line for line in text.splitlines() if line.startswith("conv1")).split()
  assert conv1[2:5] == ["34,848", "96", "34,944"]  # the paper's count for conv1
