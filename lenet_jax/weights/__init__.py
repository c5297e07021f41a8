"""Weights trained elsewhere, each foreign format in its own module, converted to the models' own parameter trees."""
