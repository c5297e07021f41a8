"""Loading a config file and validating a config once."""
