import pytest
from conftest import lenet5_model, tiny_config
from configs import lenet5_1998
from flax import nnx

from lenet_jax.models import summary
from lenet_jax.runs import validation

PAPER_TABLE = {  # LeCun et al. 1998, section II.B: (trainable parameters, connections)
    "C1": (156, 122_304), "S2": (12, 5_880), "C3": (1_516, 151_600), "S4": (32, 2_000),
    "C5": (48_120, 48_120), "F6": (10_164, 10_164),
}


def test_1998_table_matches_the_paper():
  config = lenet5_1998.get_config()
  model = lenet5_model(activation="scaled_tanh", pooling="subsample", c3="table", output="rbf",
                 init="paper", rngs=nnx.Rngs(0))
  rows = summary.rows(model, (32, 32, 1))
  got = {r.name: (r.params, r.connections) for r in rows}
  for name, expected in PAPER_TABLE.items():
    assert got[name] == expected, name
  assert sum(r[2] for r in rows) == 60_000
  assert sum(r[3] for r in rows) == 340_908
  assert [r[1] for r in rows][:5] == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16),
                                      (1, 1, 120)]
  text = summary.summarize(config, validation.validate(config))
  assert "60,000" in text and "340,908" in text and "151,600" in text


def test_modern_total():
  text = summary.summarize(tiny_config(), validation.validate(tiny_config()))
  assert text.splitlines()[-1].split()[3] == "61,706"


def _alexnet_by_hand(towers=2, width=1.0):
  """{layer: [weights, biases, params, connections, FLOPs]} worked out from AlexNet's
  layer sizes (Krizhevsky et al. 2012, section 3.5 and figure 2; the sides as in Caffe's
  bvlc_alexnet, which takes 227x227 inputs), apart from the library: the second
  computation of the summary table. With two towers conv2, conv4 and conv5 read only
  their own tower's maps (half of the maps below them); conv3 and the fc layers read all.
  `width` scales conv1-conv4's kernel counts (section 3.2's one-GPU net: 0.5)."""
  k1, k2, k3, k4 = (round(n * width) for n in (96, 256, 384, 384))
  layers = {  # kernels, kernel side, maps a kernel reads, side of the layer's output
      "conv1": (k1, 11, 3, 55),  # (227 - 11) / 4 + 1; 3x3 stride-2 pooling -> 27
      "conv2": (k2, 5, k1 // towers, 27),  # padding 2; pooling -> 13
      "conv3": (k3, 3, k2, 13),
      "conv4": (k4, 3, k3 // towers, 13),
      "conv5": (256, 3, k4 // towers, 13),  # pooling -> 6
      "fc6": (4096, 6, 256, 1),  # a unit reads all of pooled conv5's 6x6x256
      "fc7": (4096, 1, 4096, 1),
      "fc8": (1000, 1, 4096, 1),
  }
  table = {}
  for name, (kernels, side, maps, out) in layers.items():
    weights, fan_in = kernels * side * side * maps, side * side * maps
    connections = out * out * kernels * (fan_in + 1)  # a bias counts as one input
    table[name] = [weights, kernels, weights + kernels, connections, 2 * connections]
  return table


def _columns(text):
  """{row name: [weights, biases, params, connections, FLOPs]} of a printed table."""
  return {line.split()[0]: [int(v.replace(",", "")) for v in line.split()[-5:]]
          for line in text.splitlines()[3:] if line[:1].isalpha()}


@pytest.mark.full_xla
@pytest.mark.parametrize("towers, width, params", [
    (2, 1.0, 60_965_224),  # bvlc_alexnet's count (1,000 classes)
    (1, 1.0, 62_378_344),  # one tower: conv2, conv4, conv5 read all maps below them
    (1, 0.5, 59_798_312),  # section 3.2's one-GPU net: half the kernels in conv1-conv4
])
def test_alexnet_table_equals_the_layer_sizes_worked_out(towers, width, params):
  from configs import alexnet
  from conftest import override
  config = override(alexnet.get_config("data=synthetic"),
                    **{"model.towers": towers, "model.width": width})
  text = summary.summarize(config, validation.validate(config))
  header = text.splitlines()[0]
  assert header.split() == ["layer", "output", "weights", "biases", "params", "connections",
                            "FLOPs"]
  want = _alexnet_by_hand(towers, width)
  got = _columns(text)
  assert got.pop("total") == [sum(col) for col in zip(*want.values())]
  assert got == want
  assert sum(row[2] for row in want.values()) == params
