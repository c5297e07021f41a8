"""evaluate refuses data that does not fit the run, naming what each side has."""

import pytest

from conftest import override
from configs import alexnet
from lenet_jax.common.errors import UserError
from lenet_jax.runs import validation
from lenet_jax.runs import evaluate


def test_a_class_mismatch_names_both_counts():
  # A 1000-class two-tower run scored on a 3-class set: the class counts, not the towers
  trained = override(alexnet.get_config("data=synthetic"), **{"data.synthetic_classes": 1000})
  given = override(trained, **{"data.synthetic_classes": 3})
  with pytest.raises(UserError) as info:
    evaluate.check_same_shapes(validation.validate(trained), validation.validate(given), "runs/a")
  message = str(info.value)
  assert "1000 classes" in message and "3 classes" in message and "tower" not in message
  evaluate.check_same_shapes(validation.validate(trained), validation.validate(trained), "runs/a")
