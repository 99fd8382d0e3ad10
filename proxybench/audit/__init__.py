"""Privacy audits of plugins: their declared mechanisms (with positive controls) and the black-box replay of a real run."""
